"""Column mapping: read a file whose fields have other names (config key `columns`).

A mapping says which field (or path into a row) plays which role:

    prompt=q_text,response=a_text                       written on the command line
    {prompt: q_text, response: a_text}                  the same in YAML
    messages=data.dialog,user_tag=q,assistant_tag=a     turns nested in the row

Roles: prompt, query (extra input, joined under the prompt), response, system, history (earlier
[question, answer] pairs), messages (a list of turns), chosen, rejected, label, text, tools.
Tags say how to read the turns of messages / history: role_tag and content_tag name the fields
of a turn object ({"from": "human", "value": ...}), user_tag / assistant_tag / system_tag the
role values; a turn object without a role field holds one user and one assistant field, named
by user_tag and assistant_tag (or recognised by name: human / assistant, q / a, ...).

A path reaches nested fields with dots (`chat.turn_1.Human`; a number indexes a list from 0); a
field whose own name holds a dot is found first. Turns may be a list, or an object whose values
are the turns in order ({"turn_1": {...}, "turn_2": {...}}). A mapping decides the shape:
messages -> messages, prompt + response -> alpaca, text -> text, chosen / rejected / label ->
preference (checked and reported; training on it comes later).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

from studio.core.data import formats
from studio.core.data.parts import content_text
from studio.core.data.types import Message, Sample, shown_name, type_name
from studio.core.errors import DataError

ROLES = ("prompt", "query", "response", "system", "history", "messages", "chosen", "rejected",
         "label", "text", "tools")
TAGS = ("role_tag", "content_tag", "user_tag", "assistant_tag", "system_tag")

# Turn fields recognised without tags, in order of preference.
ROLE_KEYS = ("from", "role", "speaker", "sender", "author")
CONTENT_KEYS = ("value", "content", "text", "message", "utterance")
USER_KEYS = ("human", "user", "question", "q", "prompt", "query", "instruction", "input",
             "ask", "问", "问题", "用户")
ASSISTANT_KEYS = ("assistant", "gpt", "bot", "answer", "a", "response", "reply", "output",
                  "completion", "target", "model", "答", "回答", "助手")
ROLE_VALUES = {**formats.ROLE_MAP, "bot": "assistant", "ai": "assistant", "chatbot": "assistant",
               "助手": "assistant", "用户": "user", "系统": "system"}

_ITEM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)')
MISSING = object()


@dataclass(frozen=True)
class Columns:
    """A parsed mapping: (role, field path) pairs in the order written. Hashable and
    immutable, so it can stand where a format name stands (formats.normalise reads rows
    through `sample`)."""

    pairs: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def __str__(self) -> str:
        return ",".join(f"{role}={quote_path(path)}" for role, path in self.pairs)

    def get(self, role: str) -> Optional[str]:
        return next((p for r, p in self.pairs if r == role), None)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    @property
    def format(self) -> str:
        """The shape rows read through this mapping have (see the module docstring)."""
        roles = {r for r, _ in self.pairs}
        if roles & {"chosen", "rejected", "label"}:
            return "preference"
        if "messages" in roles:
            return "messages"
        if roles & {"prompt", "response"}:
            return "alpaca"
        return "text"

    def fields(self) -> list[str]:
        """The row's top-level fields the mapping reads (for the doctor's unknown fields)."""
        return [p.split(".")[0] for r, p in self.pairs if r not in TAGS]

    def unknown_fields(self, value: Any) -> list[str]:
        if not isinstance(value, dict):
            return []
        used = {p for r, p in self.pairs if r not in TAGS} | set(self.fields())
        return [k for k in value if k not in used and k not in formats.MEDIA_KEYS]

    def missing_everywhere(self, rows: Iterable[tuple[int, Any]]) -> Optional[str]:
        """A one-line reason when a mapped field is in none of these (row number, value)
        rows (a typo, most often), naming the field and the first row."""
        rows = [(n, v) for n, v in rows if isinstance(v, dict)]
        if not rows:
            return None
        for role, path in self.pairs:
            if role in TAGS:
                continue
            broken = ""
            for n, v in rows:
                try:
                    if find_path(v, path) is not MISSING:
                        break
                except formats.BadRow as e:
                    broken = broken or f"row {n}: {e}"
            else:
                if broken:
                    return f"columns: {role}: {broken}"
                have = ", ".join(map(shown_name, list(rows[0][1])[:10]))
                return (f"columns: field {shown_name(path, quoted=True)} ({role}) is in none of "
                        f"the first {len(rows)} rows; row {rows[0][0]} has fields: {have}")
        return None

    # --- reading a row -----------------------------------------------------------------------
    def sample(self, value: dict, row: int) -> Sample:
        """One row -> Sample; raises formats.BadRow naming the field."""
        got = {role: self._read(value, role) for role in ROLES if self.get(role)}
        fmt = self.format
        if fmt == "text":
            text = self._text(got, "text", required=True)
            if not text.strip():
                raise formats.BadRow(f"empty text (field {self._name('text')})")
            return Sample(row, text=text)
        system = self._text(got, "system")
        tools = formats._tools(got.get("tools"))
        if fmt == "preference" and not self.get("label"):
            prompt = self._conversation(got, system, end="user")
            chosen = formats._reply({self.get("chosen"): got.get("chosen")}, self.get("chosen"))
            formats._reply({self.get("rejected"): got.get("rejected")}, self.get("rejected"))
            return Sample(row, messages=(*prompt, Message("assistant", chosen)), tools=tools)
        messages = self._conversation(got, system, end="assistant")
        if self.get("label"):
            _check_label(got.get("label"), self.get("label"))
        return Sample(row, messages=messages, tools=tools)

    def _read(self, value: dict, role: str) -> Any:
        path = self.get(role)
        found = find_path(value, path)
        if found is MISSING:
            return None
        if role in ("messages", "history", "chosen", "rejected", "tools") and \
                isinstance(found, str) and found.lstrip()[:1] in ("[", "{"):
            try:  # a CSV cell holding JSON turns
                return json.loads(found)
            except (ValueError, RecursionError):
                return found
        return found

    def _name(self, role: str) -> str:
        return shown_name(self.get(role), quoted=True)

    def _text(self, got: dict, role: str, required: bool = False) -> str:
        path = self.get(role)
        if path is None:
            return ""
        v = got.get(role)
        if v is None:
            if required:
                raise formats.BadRow(f"missing field {self._name(role)} ({role})")
            return ""
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return str(v)  # a numeric answer (a label, a year) reads as its text
        if not isinstance(v, str):
            raise formats.BadRow(f"field {self._name(role)} ({role}) is {type_name(v)}, "
                                 "expected text")
        return v

    def _conversation(self, got: dict, system: str, end: str) -> tuple[Message, ...]:
        if self.get("messages"):
            turns = self._turns(got.get("messages"), "messages")
            return formats._checked_conversation(turns, system, end=end)
        prompt = "\n".join(p for p in (self._text(got, "prompt", required=True),
                                       self._text(got, "query")) if p.strip())
        if not prompt.strip():
            raise formats.BadRow(f"empty prompt (field {self._name('prompt')})")
        turns = [*self._history(got.get("history")), Message("user", prompt)]
        if end == "assistant":
            reply = self._text(got, "response", required=True)
            if not reply.strip():
                raise formats.BadRow(f"empty assistant reply (field {self._name('response')})")
            turns.append(Message("assistant", reply))
        head = (Message("system", system),) if system.strip() else ()
        return head + tuple(turns)

    def _history(self, history: Any) -> list[Message]:
        if isinstance(history, list) and history and all(isinstance(h, dict) for h in history):
            pairs = []
            for i, h in enumerate(history, 1):
                user, assistant = self._pair_keys(h, f"history item {i}")
                pairs.append([h.get(user), h.get(assistant)])
            history = pairs
        return formats._history(history)

    def _turns(self, turns: Any, role: str) -> list[Message]:
        name = self._name(role)
        if turns is None:
            raise formats.BadRow(f"missing field {name} ({role})")
        if isinstance(turns, dict):
            turns = list(turns.values())  # turns nested under keys: turn_1, turn_2, ...
        if not isinstance(turns, list):
            raise formats.BadRow(f"field {name} ({role}) is {type_name(turns)}, expected a "
                                 "list of turns")
        if turns and all(isinstance(t, str) for t in turns):  # alternating user / assistant
            return [Message("user" if i % 2 == 0 else "assistant", t)
                    for i, t in enumerate(turns)]
        out: list[Message] = []
        for i, t in enumerate(turns, 1):
            where = f"turn {i} of {name}"
            if not isinstance(t, dict):
                raise formats.BadRow(f"{where} is {type_name(t)}, expected an object")
            role_key = self.get("role_tag") or next((k for k in ROLE_KEYS if k in t), None)
            if role_key is not None and role_key in t:
                out.append(self._role_turn(t, role_key, where))
                continue
            user, assistant = self._pair_keys(t, where)
            out += [Message("user", content_text(t.get(user), f"{where} ({user})")),
                    Message("assistant", content_text(t.get(assistant),
                                                          f"{where} ({assistant})"))]
        return out

    def _role_turn(self, t: dict, role_key: str, where: str) -> Message:
        raw = t[role_key]
        tags = {self.get("user_tag"): "user", self.get("assistant_tag"): "assistant",
                self.get("system_tag"): "system"}
        role = (tags.get(raw) or ROLE_VALUES.get(raw.strip().lower())) \
            if isinstance(raw, str) else None
        if role is None:
            raise formats.BadRow(f"{where} has a role it does not understand: "
                                 f"{str(raw)[:40]!r}; set user_tag / assistant_tag to say "
                                 "which is which")
        content_key = self.get("content_tag") or next(
            (k for k in CONTENT_KEYS if k in t and k != role_key), None)
        if content_key is None or content_key not in t:
            raise formats.BadRow(f"{where} has no content field "
                                 f"({shown_name(content_key or 'value')}); set content_tag")
        content = content_text(t[content_key], where)
        return Message(role, content,
                       tool_call=raw == "function_call" and formats._is_call(content))

    def _pair_keys(self, t: dict, where: str) -> tuple[str, str]:
        """The user and assistant fields of a turn object that holds one of each."""
        user = self.get("user_tag") if self.get("user_tag") in t else named_key(t, USER_KEYS)
        assistant = self.get("assistant_tag") if self.get("assistant_tag") in t else \
            named_key(t, ASSISTANT_KEYS, not_=user)
        if user is None or assistant is None:
            have = ", ".join(map(shown_name, list(t)[:6])) or "none"
            raise formats.BadRow(f"{where} has no role field and no user / assistant pair "
                                 f"(its fields: {have}); set role_tag and content_tag, or "
                                 "user_tag and assistant_tag")
        return user, assistant


def named_key(t: dict, names: tuple[str, ...], not_: Optional[str] = None) -> Optional[str]:
    """The key of `t` that is one of `names` (any case), in the order of `names`."""
    by_lower = {str(k).lower(): k for k in t if k != not_}
    return next((by_lower[n] for n in names if n in by_lower), None)


def _check_label(v: Any, path: str) -> None:
    if isinstance(v, bool) or (isinstance(v, str) and v.strip().lower() in
                               ("true", "false", "1", "0", "yes", "no")) or v in (0, 1):
        return
    raise formats.BadRow(f"field {shown_name(path, quoted=True)} (label) is "
                         f"{str(v)[:20]!r}, expected true or false")


def find_path(value: Any, path: str) -> Any:
    """The value at `path` in a row, MISSING when a step is absent. A step into a value that
    is neither an object nor a list is a BadRow naming where the path broke."""
    if not isinstance(value, dict):
        raise formats.BadRow(f"the row is {type_name(value)}, expected an object with fields")
    if path in value:
        return value[path]
    cur: Any = value
    walked: list[str] = []
    for step in path.split("."):
        if isinstance(cur, dict):
            if step not in cur:
                return MISSING
            cur = cur[step]
        elif isinstance(cur, list) and step.isdigit():
            if int(step) >= len(cur):
                return MISSING
            cur = cur[int(step)]
        else:
            raise formats.BadRow(f"field {shown_name(path, quoted=True)}: "
                                 f"{shown_name('.'.join(walked), quoted=True)} is "
                                 f"{type_name(cur)}, not an object with field "
                                 f"{shown_name(step, quoted=True)}")
        walked.append(step)
    return cur


# --- parsing -------------------------------------------------------------------------------------

def parse_columns(spec: Any) -> Columns:
    """`prompt=q,response=a`, a mapping {role: path}, or a Columns -> Columns (empty for ""
    or None). DataError with one line for an unknown role, a role given twice, a field
    given two roles, or roles that do not make a conversation."""
    if isinstance(spec, Columns):
        return spec
    if spec in (None, "", {}):
        return Columns()
    if isinstance(spec, Mapping):
        pairs = [(str(k).strip(), _path(v, str(k))) for k, v in spec.items()]
    elif isinstance(spec, str):
        pairs = _split(spec)
    else:
        raise DataError(f"columns must be role=field pairs (prompt=q_text,response=a_text) or "
                        f"a mapping; got {type_name(spec)}")
    _check(pairs)
    return Columns(tuple(pairs))


def _path(v: Any, role: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise DataError(f"columns: {role} needs a field name; got {v!r}")
    return v.strip()


def _split(text: str) -> list[tuple[str, str]]:
    pairs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _ITEM.match(text, pos)
        if not m or m.end() == pos:
            bad = text[pos:].split(",")[0].strip()
            raise DataError(f"columns: {bad!r} is not role=field; write it like "
                            "prompt=q_text,response=a_text")
        raw = m.group(2).strip()
        path = json.loads(raw) if raw.startswith('"') else raw
        pairs.append((m.group(1), _path(path, m.group(1))))
        pos = m.end()
    return pairs


def _check(pairs: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for role, path in pairs:
        if role not in ROLES + TAGS:
            raise DataError(f"columns: unknown role {role!r}; roles are "
                            f"{', '.join(ROLES + TAGS)}")
        if role in seen:
            raise DataError(f"columns: role {role} is assigned twice ({shown_name(seen[role])} "
                            f"and {shown_name(path)})")
        seen[role] = path
    fields = [(r, p) for r, p in pairs if r not in TAGS]
    for i, (role, path) in enumerate(fields):
        other = next((r for r, p in fields[:i] if p == path), None)
        if other:
            raise DataError(f"columns: field {shown_name(path, quoted=True)} is mapped to both "
                            f"{other} and {role}")
    roles = set(seen)
    if "text" in roles and roles - {"text"}:
        raise DataError("columns: text is plain text for pre-training; it cannot be mixed with "
                        f"{', '.join(sorted(roles - {'text'}))}")
    if "messages" in roles and roles & {"prompt", "query", "response", "history"}:
        raise DataError("columns: messages holds the whole conversation; map either messages "
                        "or prompt / response, not both")
    if roles & set(TAGS) and not roles & {"messages", "history"}:
        raise DataError("columns: role_tag, content_tag and the other tags read the turns of "
                        "messages or history; map one of them too")
    if "query" in roles and "prompt" not in roles:
        raise DataError("columns: query is extra input under the prompt; map prompt too")
    if "label" in roles and roles & {"chosen", "rejected"}:
        raise DataError("columns: label marks one reply good or bad; chosen / rejected pair "
                        "two replies: map one or the other")
    chat = roles & {"messages", "prompt"}
    if roles & {"chosen", "rejected"}:
        if not {"chosen", "rejected"} <= roles or not chat:
            raise DataError("columns: preference rows need chosen, rejected and the prompt "
                            "(prompt or messages)")
    elif "prompt" in roles and "response" not in roles:
        raise DataError("columns: prompt needs response (the reply to learn)")
    elif "response" in roles and "prompt" not in roles:
        raise DataError("columns: response needs prompt (what it answers)")
    if not roles & {"messages", "prompt", "text"}:
        raise DataError("columns: map the conversation: prompt and response, messages, or text")


def quote_path(path: str) -> str:
    """A field path as the written form needs it: quoted when it holds , " or =."""
    return json.dumps(path, ensure_ascii=False) if re.search(r'[,"=]|^\s|\s$', path) else path
