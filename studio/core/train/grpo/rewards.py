"""GRPO reward functions: the built-in ones, a user's Python file, and their weighted sum.

Standard library only (the config check and the app's trust question import it without torch).

`grpo_rewards` names the rewards and their weights: "format:1,ends_turn:0.2". Built in:

  exact      1 when the answer equals the row's reference answer (stripped, case-folded)
  numeric    1 when the last number of the answer equals the reference's last number
  format     1 when the whole completion matches grpo_format_regex; 0.5 when the pattern only
             occurs inside it; otherwise partial credit 0.5 x the share of the pattern's literal
             start ("Answer: " of "Answer: \\w+") whose characters the completion's beginning
             has in the same order (literal_credit). The partial credit is what gives a small
             model a gradient before it ever writes the whole format.
  length     -(completion tokens) / grpo_max_completion: a penalty that prefers short replies
  ends_turn  1 when the completion ended with the model's end-of-turn token (not cut off)

"The answer" is the whole completion, or the first group of grpo_answer_regex where it matches.
Any other name is a function of the user's file (grpo_reward_file):

    def my_reward(completion: str, prompt: str, reference: str | None) -> float

That file is Python: it runs only when grpo_reward_file_sha256 equals its sha256 (the app asks,
naming the file and its hash; the CLI refuses with the line to add).
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from studio.core.errors import ConfigError, UserError

BUILT_IN = ("exact", "numeric", "format", "length", "ends_turn")
NEEDS_REFERENCE = ("exact", "numeric")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")
_META = set(".^$*+?{}[]|()\\")


class RewardError(UserError):
    """A reward function raised or returned something that is not a number: named, with the
    dataset row. The run stops with a checkpoint."""


@dataclass(frozen=True)
class Completion:
    """What a reward sees of one sampled completion."""
    text: str            # decoded, without the end-of-turn token
    tokens: int          # completion tokens (the end-of-turn token included)
    ended: bool          # stopped at the end-of-turn token (not at grpo_max_completion)
    prompt: str          # the last user message
    reference: Optional[str]
    row: int             # 1-based row of the dataset


# --- parsing the settings ------------------------------------------------------------------------

def parse_rewards(text: str) -> list[tuple[str, float]]:
    """'format:1,ends_turn:0.2' -> [("format", 1.0), ("ends_turn", 0.2)]; a name without a
    weight weighs 1. ConfigError on a bad entry."""
    out: list[tuple[str, float]] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        name = name.strip()
        if not name.isidentifier():
            raise ConfigError(f"grpo_rewards: {name!r} is not a reward name (built in: "
                              f"{', '.join(BUILT_IN)}, or a function of grpo_reward_file)")
        try:
            w = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise ConfigError(f"grpo_rewards: the weight of {name} must be a number; got "
                              f"{weight.strip()!r}") from None
        if not math.isfinite(w):
            raise ConfigError(f"grpo_rewards: the weight of {name} must be finite; got {w}")
        if any(n == name for n, _ in out):
            raise ConfigError(f"grpo_rewards names {name} twice")
        out.append((name, w))
    if not out:
        raise ConfigError("grpo_rewards is empty: name at least one reward, e.g. format:1")
    return out


def check_settings(cfg: Any) -> None:
    """The reward settings of a grpo config, before anything loads (ConfigError)."""
    rewards = parse_rewards(cfg.grpo_rewards)
    names = [n for n, _ in rewards]
    for key in ("grpo_format_regex", "grpo_answer_regex"):
        _compile(key, getattr(cfg, key))
    if "format" in names and not cfg.grpo_format_regex:
        raise ConfigError("reward format needs grpo_format_regex (e.g. Answer: \\w+)")
    user = [n for n in names if n not in BUILT_IN]
    if user and not cfg.grpo_reward_file:
        raise ConfigError(f"reward {user[0]} is not built in ({', '.join(BUILT_IN)}); name a "
                          "grpo_reward_file that defines it")


def _compile(key: str, pattern: str) -> Optional[re.Pattern]:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ConfigError(f"{key} is not a valid regular expression: {e}") from None


# --- the user's file -----------------------------------------------------------------------------

def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_trusted(path: str, sha256: str) -> str:
    """The file's sha256 when the user trusts it (grpo_reward_file_sha256 equals it); else
    ConfigError naming the file and its hash. Nothing of the file runs here."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"grpo_reward_file {p} does not exist")
    try:
        digest = file_sha256(p)
    except OSError as e:
        raise ConfigError(f"grpo_reward_file {p} cannot be read: {e.strerror}") from None
    if sha256.strip().lower() != digest:
        what = "changed since you trusted it" if sha256.strip() else "is Python code"
        raise ConfigError(f"grpo_reward_file {p} {what} (sha256 {digest}); read it, then "
                          f"allow it with --set grpo_reward_file_sha256={digest}")
    return digest


def load_user_rewards(path: str, sha256: str, names: list[str]) -> dict[str, Callable]:
    """Run the trusted file and return its functions named in `names`."""
    import runpy

    check_trusted(path, sha256)
    try:
        namespace = runpy.run_path(str(Path(path).expanduser()), run_name="studio_rewards")
    except Exception as e:  # the user's code: any error is theirs to fix, said in one line
        raise ConfigError(f"grpo_reward_file {path} failed to load: {type(e).__name__}: "
                          f"{_first_line(e)}") from None
    out = {}
    for name in names:
        fn = namespace.get(name)
        if not callable(fn):
            have = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("_"))
            raise ConfigError(f"grpo_reward_file {path} defines no function {name} (it has: "
                              f"{', '.join(have) or 'none'})")
        out[name] = fn
    return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# --- scoring -------------------------------------------------------------------------------------

class Scorer:
    """Every reward of a run: scores(c) -> {name: value}; total(scores) -> the weighted sum."""

    def __init__(self, cfg: Any):
        check_settings(cfg)
        self.weights = parse_rewards(cfg.grpo_rewards)
        self.format = _compile("grpo_format_regex", cfg.grpo_format_regex)
        self.literal = literal_start(cfg.grpo_format_regex)
        self.answer = _compile("grpo_answer_regex", cfg.grpo_answer_regex)
        self.max_tokens = cfg.grpo_max_completion
        user = [n for n, _ in self.weights if n not in BUILT_IN]
        self.user = load_user_rewards(cfg.grpo_reward_file, cfg.grpo_reward_file_sha256,
                                      user) if user else {}

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.weights]

    def scores(self, c: Completion) -> dict[str, float]:
        return {name: self._one(name, c) for name, _ in self.weights}

    def total(self, scores: dict[str, float]) -> float:
        return sum(w * scores[n] for n, w in self.weights)

    def _one(self, name: str, c: Completion) -> float:
        try:
            if name in self.user:
                value = self.user[name](completion=c.text, prompt=c.prompt, reference=c.reference)
            else:
                value = getattr(self, f"_{name}")(c)
            value = float(value)
        except Exception as e:  # a reward is user code or a user's pattern: name it, row too
            raise RewardError(f"reward {name} raised {type(e).__name__}: {_first_line(e)} "
                              f"(row {c.row}, completion {c.text[:60]!r})") from None
        if not math.isfinite(value):
            raise RewardError(f"reward {name} returned {value} (row {c.row}); rewards must be "
                              "finite numbers")
        return value

    def _answer(self, text: str) -> str:
        if self.answer is not None:
            m = self.answer.search(text)
            if m:
                return (m.group(1) if m.groups() else m.group(0)).strip()
        return text.strip()

    def _exact(self, c: Completion) -> float:
        if c.reference is None:
            return 0.0
        return float(self._answer(c.text).casefold() == c.reference.strip().casefold())

    def _numeric(self, c: Completion) -> float:
        got, want = last_number(self._answer(c.text)), last_number(c.reference or "")
        if got is None or want is None:
            return 0.0
        return float(math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9))

    def _format(self, c: Completion) -> float:
        text = c.text.strip()
        if self.format.fullmatch(text):
            return 1.0
        if self.format.search(text):
            return 0.5
        return 0.5 * literal_credit(text, self.literal)

    def _length(self, c: Completion) -> float:
        return -c.tokens / max(1, self.max_tokens)

    def _ends_turn(self, c: Completion) -> float:
        return float(c.ended)


def literal_credit(text: str, literal: str) -> float:
    """Share of the literal start's characters that the completion's beginning (twice the
    literal's length) has in the same order: 1 for the literal itself, 0.5 for "Aswr" against
    "Answer: ", so every step towards the format earns a little."""
    import difflib

    if not literal:
        return 0.0
    head = text[:2 * len(literal)]
    blocks = difflib.SequenceMatcher(None, head, literal, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(literal)


def last_number(text: str) -> Optional[float]:
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", "."))
    except ValueError:
        return None


def literal_start(pattern: str) -> str:
    """The literal text a pattern starts with: "Answer: " of "Answer: (\\w+)", "" of "\\d+".
    Escaped punctuation counts as itself; a quantified last character is left out."""
    out: list[str] = []
    i = 1 if pattern.startswith("^") else 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            ch, i = pattern[i + 1], i + 2
        elif ch in _META:
            break
        else:
            i += 1
        if i < len(pattern) and pattern[i] in "*+?{":
            break  # "ab*": b is optional or repeated, not literal
        out.append(ch)
    return "".join(out)
