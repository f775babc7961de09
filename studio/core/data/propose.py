"""Propose a column mapping for a file the doctor cannot place, from the field names and the
shape of their values: which fields hold long text, which a list of turns, which look like
roles. A layout common in the wild (a `conversation` list of human / assistant pairs, turns
with speaker / text fields under another name) is `sure`: the doctor reads it without asking.
Anything else is a guess, shown to the user with a preview before it is used.

    describe_fields(rows) -> [FieldInfo]     every field and nested path, with a sample value
    propose(rows) -> Proposal                 the mapping (maybe empty), sure or not, and why
    detect_shape(rows) -> (detected, shape)   a format name, or a Columns for a sure layout
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.data import formats
from studio.core.data.columns import (
    ASSISTANT_KEYS,
    CONTENT_KEYS,
    MISSING,
    ROLE_KEYS,
    ROLE_VALUES,
    USER_KEYS,
    Columns,
    find_path,
    named_key,
    parse_columns,
)
from studio.core.errors import DataError

MAX_DEPTH = 3          # nested objects are described this deep
SAMPLE_CHARS = 80      # a sample value is cut here for display
SURE_SHARE = 0.8       # a sure layout reads at least this share of the first rows

# Field-name words -> role, checked in this order (a name may hold several words).
NAME_ROLES = (
    ("system", {"system", "sys", "persona", "系统"}),
    ("chosen", {"chosen", "preferred", "better", "accepted", "win", "winner"}),
    ("rejected", {"rejected", "worse", "dispreferred", "lose", "loser"}),
    ("response", {"response", "answer", "output", "reply", "completion", "target", "assistant",
                  "gpt", "bot", "solution", "a", "ans", "resp", "tgt", "答", "答案", "回答",
                  "回复", "输出"}),
    ("prompt", {"prompt", "question", "instruction", "q", "query", "human", "user", "ask",
                "problem", "src", "source_text", "问", "问题", "提问", "指令"}),
    ("query", {"input", "context", "输入"}),
    ("text", {"text", "content", "body", "document", "passage", "article"}),
    ("history", {"history"}),
    ("tools", {"tools", "functions"}),
    ("label", {"label", "kto_tag", "desirable"}),
)
NOT_CONTENT = {"id", "uuid", "idx", "index", "lang", "language", "category", "kind", "type",
               "tag", "source", "split", "dataset", "url", "date", "time"}


@dataclass(frozen=True)
class FieldInfo:
    path: str           # dotted path into the row
    kind: str           # text | turns | list | object | number | flag
    share: float        # of the rows looked at, the share that have it
    sample: str         # the first value, one line, cut
    mean_chars: float = 0.0   # text fields: mean length


@dataclass(frozen=True)
class Proposal:
    columns: Columns                 # empty when nothing fits
    sure: bool = False               # a common layout: read without asking
    reason: str = ""                 # what was recognised, for a person
    fields: tuple[FieldInfo, ...] = field(default=())


# --- fields ----------------------------------------------------------------------------------

def describe_fields(rows: list[Any]) -> list[FieldInfo]:
    """Every field and nested field path of these rows, in order of first appearance."""
    seen: dict[str, list[Any]] = {}
    dicts = [r for r in rows if isinstance(r, dict)]
    for row in dicts:
        _walk(row, "", 0, seen)
    out = []
    for path, values in seen.items():
        kinds = Counter(_kind(v) for v in values)
        kind = kinds.most_common(1)[0][0]
        texts = [v for v in values if isinstance(v, str)]
        mean = sum(map(len, texts)) / len(texts) if texts else 0.0
        first = next((v for v in values if v not in (None, "", [], {})), values[0])
        out.append(FieldInfo(path, kind, len(values) / max(1, len(dicts)), _show(first), mean))
    return out


def _walk(value: dict, prefix: str, depth: int, seen: dict[str, list[Any]]) -> None:
    for key, v in value.items():
        path = f"{prefix}{key}"
        seen.setdefault(path, []).append(v)
        if isinstance(v, dict) and depth + 1 < MAX_DEPTH and _kind(v) == "object":
            _walk(v, path + ".", depth + 1, seen)


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "flag"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "turns" if v and all(isinstance(t, (dict, str)) for t in v) else "list"
    if isinstance(v, dict):
        # an object whose values are all objects holds turns under keys (turn_1, turn_2, ...)
        return "turns" if len(v) > 1 and all(isinstance(t, dict) for t in v.values()) \
            else "object"
    return "text" if v is None else type(v).__name__


def _show(v: Any) -> str:
    import json

    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS - 1] + "…"


def name_role(path: str) -> Optional[str]:
    """The role a field's name suggests (its last path step, split into words)."""
    last = path.split(".")[-1]
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+|[^\x00-\x7f]+",
                                           last)} | {last.lower()}
    return next((role for role, names in NAME_ROLES if words & names), None)


# --- the proposal ----------------------------------------------------------------------------

def propose(rows: list[Any]) -> Proposal:
    fields = describe_fields(rows)
    common = [f for f in fields if f.share >= 0.5]
    pairs, reason, sure = _turn_mapping(rows, common)
    if not pairs:
        pairs, reason = _field_mapping(common)
    if pairs and pairs[0][0] == "messages":
        pairs += _beside_turns(common, pairs)
    try:
        columns = Columns(tuple(pairs))
        parse_columns(columns.as_dict())  # the same checks a user's mapping gets
    except DataError:
        return Proposal(Columns(), fields=tuple(fields))
    sure = sure and _reads(columns, rows) >= SURE_SHARE
    return Proposal(columns, sure, reason, tuple(fields))


def _turn_mapping(rows: list[Any], fields: list[FieldInfo]) -> tuple[list, str, bool]:
    """A mapping for the first field that holds turns: (pairs, reason, sure)."""
    for f in fields:
        if f.kind != "turns":
            continue
        turns = [t for v in _values(rows, f.path) for t in
                 (v.values() if isinstance(v, dict) else v)][:400]
        objs = [t for t in turns if isinstance(t, dict)]
        if not objs:
            return [("messages", f.path)], f"{f.path} holds a list of texts (alternating " \
                "user / assistant turns)", False
        # a role field by name, then pairs by name, then a role field by its values, then pairs
        # by position: names are the stronger evidence
        found = _role_turns(objs, f.path, by_name=True) or \
            _pair_turns(objs, f.path, by_name=True) or _role_turns(objs, f.path) or \
            _pair_turns(objs, f.path)
        if found:
            return found
    return [], "", False


def _role_turns(objs: list[dict], path: str,
                by_name: bool = False) -> Optional[tuple[list, str, bool]]:
    keys = [k for k in _common_keys(objs) if all(isinstance(o.get(k), str) for o in objs)]
    role_key = next((k for k in keys if k in ROLE_KEYS), None) if by_name else next(
        (k for k in keys if _role_like([o[k] for o in objs])), None)
    if role_key is None:
        return None
    content_key = next((k for k in keys if k in CONTENT_KEYS and k != role_key), None)
    if content_key is None:
        rest = [k for k in keys if k != role_key]
        if not rest:
            return None
        content_key = max(rest, key=lambda k: sum(len(o[k]) for o in objs))
    pairs = [("messages", path)]
    if (role_key, content_key) not in (("from", "value"), ("role", "content")):
        pairs += [("role_tag", role_key), ("content_tag", content_key)]
    values = list(dict.fromkeys(o[role_key] for o in objs))
    unknown = [v for v in values if v.strip().lower() not in ROLE_VALUES]
    if unknown and len(values) >= 2:
        pairs += [("user_tag", values[0]), ("assistant_tag", values[1])]
    sure = role_key in ROLE_KEYS and content_key in CONTENT_KEYS and not unknown
    return pairs, f"{path} holds turns with a role field '{role_key}' and the text in " \
        f"'{content_key}'", sure


def _pair_turns(objs: list[dict], path: str,
                by_name: bool = False) -> Optional[tuple[list, str, bool]]:
    keys = _common_keys(objs)
    user = named_key({k: 1 for k in keys}, USER_KEYS)
    assistant = named_key({k: 1 for k in keys}, ASSISTANT_KEYS, not_=user)
    sure = user is not None and assistant is not None
    if by_name and not sure:
        return None
    if not sure:
        texts = [k for k in keys if all(isinstance(o.get(k), str) for o in objs)]
        if len(texts) != 2:
            return None
        user, assistant = texts
    return ([("messages", path), ("user_tag", user), ("assistant_tag", assistant)],
            f"{path} holds turns that each pair a question ('{user}') with its answer "
            f"('{assistant}')", sure)


def _beside_turns(fields: list[FieldInfo], pairs: list) -> list:
    """Top-level fields next to a list of turns: a system prompt, tools, and chosen /
    rejected replies (which make the rows preference data)."""
    used = {p for _, p in pairs}
    named: dict[str, str] = {}
    for f in fields:
        role = name_role(f.path)
        if "." not in f.path and f.path not in used and role not in named and \
                role in ("system", "tools", "chosen", "rejected") and \
                (f.kind == "text" or role != "system"):
            named[role] = f.path
    if not {"chosen", "rejected"} <= named.keys():
        named.pop("chosen", None)
        named.pop("rejected", None)
    return [(role, named[role]) for role in ("system", "tools", "chosen", "rejected")
            if role in named]


def _field_mapping(fields: list[FieldInfo]) -> tuple[list, str]:
    """prompt / response (or text, or chosen / rejected) from top-level and nested fields."""
    by_role: dict[str, str] = {}
    for f in fields:
        role = name_role(f.path)
        kinds = {"history": ("turns", "list"), "tools": ("turns", "list", "text"),
                 "label": ("flag", "number", "text")}.get(role, ("text",))
        if role and role not in by_role and f.kind in kinds:
            by_role[role] = f.path
    if "query" in by_role and "prompt" not in by_role:
        by_role["prompt"] = by_role.pop("query")  # input / target: input is the prompt
    if "label" in by_role and not {"prompt", "response"} <= by_role.keys():
        by_role.pop("label")
    if {"chosen", "rejected"} <= by_role.keys() and "prompt" in by_role:
        keep = ("prompt", "query", "system", "chosen", "rejected")
        return [(r, by_role[r]) for r in keep if r in by_role], "fields named like a prompt " \
            "and chosen / rejected replies"
    by_role.pop("chosen", None)
    by_role.pop("rejected", None)
    if {"prompt", "response"} <= by_role.keys():
        by_role.pop("text", None)
        keep = ("prompt", "query", "response", "system", "history", "tools", "label")
        return [(r, by_role[r]) for r in keep if r in by_role], "fields named like a prompt " \
            "and a response"
    texts = [f for f in fields if f.kind == "text" and f.path.split(".")[-1].lower()
             not in NOT_CONTENT and f.mean_chars >= 2 and name_role(f.path) != "system"]
    if len(texts) >= 2:
        return [("prompt", texts[0].path), ("response", texts[1].path)], \
            f"the first two text fields ({texts[0].path}, {texts[1].path}): a guess from " \
            "their order"
    if len(texts) == 1:
        return [("text", texts[0].path)], f"one text field ({texts[0].path}): plain text"
    return [], ""


def _common_keys(objs: list[dict]) -> list[str]:
    counts = Counter(k for o in objs for k in o)
    return [k for k, n in counts.items() if n >= 0.8 * len(objs)]


def _role_like(values: list[str]) -> bool:
    """Few distinct short words, each used many times: role names, not texts."""
    distinct = set(values)
    return 2 <= len(distinct) <= 4 and all(re.fullmatch(r"\w{1,16}", v) for v in distinct) \
        and len(values) >= 3 * len(distinct)


def _values(rows: list[Any], path: str) -> list[Any]:
    out = []
    for r in rows:
        try:
            v = find_path(r, path)
        except formats.BadRow:
            continue
        if v is not MISSING and isinstance(v, (list, dict)):
            out.append(v)
    return out


def _reads(columns: Columns, rows: list[Any]) -> float:
    """The share of these rows the mapping reads as good samples."""
    good = 0
    for r in rows:
        try:
            formats.normalise(r, 0, columns)
            good += 1
        except formats.BadRow:
            pass
    return good / max(1, len(rows))


# --- detection ---------------------------------------------------------------------------------

def detect_shape(rows: list[Any]) -> tuple[str, Any]:
    """(detected format name, the shape to read with): a known format name; a Columns for a
    layout common in the wild (also for `conversations` / `messages` whose turns are pairs
    with no role field); ("", "") when nothing fits without the user's word."""
    detected = formats.detect_format(rows)
    if detected in ("", "sharegpt", "messages"):
        key = {"sharegpt": "conversations", "messages": "messages"}.get(detected)
        if key and not _pair_objects(rows, key):
            return detected, detected
        p = propose(rows)
        if p.sure:
            return p.columns.format, p.columns
    return detected, detected


def _pair_objects(rows: list[Any], key: str) -> bool:
    turns = [t for r in rows if isinstance(r, dict) and isinstance(r.get(key), list)
             for t in r[key]][:100]
    return bool(turns) and all(isinstance(t, dict) and not (set(ROLE_KEYS) & t.keys())
                               for t in turns)
