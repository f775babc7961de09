"""Hypothesis strategies for hostile dataset files: rows of every shape (alpaca, sharegpt,
messages, text, preference) mixed with broken rows, written as every file type with hostile
bytes around them (BOMs, CRLF, blank and junk lines, GBK, UTF-16, lone surrogates).

Not a test module (no test_ prefix); tests/ is on sys.path (its conftest.py), so the tests under
tests/core and tests/cli both import it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

KINDS = ("jsonl", "json", "csv", "tsv", "txt", "parquet")

# Pieces that break naive code: full-width and other Unicode spaces, CJK, emoji (and a ZWJ
# sequence), RTL text and marks, line separators, NUL, BOM, template syntax, media tokens,
# the ChatML end marker, quote and delimiter characters.
PIECES = ["a", "Hello", "word ", " ", "\u3000", "\t", "\n", "\r\n", "\r", "中文", "你好世界", "😀",
          "👩\u200d👩\u200d👧", "\u200f", "مرحبا", "שלום", "\u2028", "\u0085", "\x00", "\x1f",
          "\ufeff", "<image>", "{", "}", "[", '"', ",", "\\", "'", "{{ x }}", "{% if x %}",
          "<|im_end|>", "<|im_start|>", "</s>", "null", "é", "e\u0301"]
LONE_SURROGATES = ["\ud800", "\udfff", "\udc80"]
BLANKS = ["", " ", "\u3000\u3000", "\n", " \t\r\n"]
HUGE = "长文本 " * 40_000  # ~120k characters, ~360 KB of UTF-8

WORDS = st.sampled_from(["Hello", "world", "中文", "question", "answer", "😀", "مرحبا", "x"])


def weighted(*options: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, picked in proportion to its weight (st.one_of leans towards the
    simple branches, which would make most rows broken)."""
    return st.sampled_from([s for w, s in options for _ in range(w)]).flatmap(lambda s: s)


def rarely(n: int = 10) -> st.SearchStrategy[bool]:
    return st.sampled_from([False] * (n - 1) + [True])


def texts(surrogates: bool = True, huge: bool = True) -> st.SearchStrategy[str]:
    """Text that is usually worth learning (has a word), sometimes blank or absurd."""
    worded = st.tuples(WORDS, st.lists(st.sampled_from(PIECES), max_size=5)).map(
        lambda t: t[0] + "".join(t[1]))
    # A lone surrogate is rare on purpose: written raw it makes a whole file invalid UTF-8.
    lone = st.tuples(worded, st.sampled_from(LONE_SURROGATES)).map("".join)
    return weighted((30, worded), (2, st.lists(st.sampled_from(PIECES), max_size=6).map("".join)),
                    (2, st.sampled_from(BLANKS)), (2, st.text(max_size=12)),
                    (1 if surrogates else 0, lone), (1 if huge else 0, st.just(HUGE)))


# Values of the wrong type where text goes.
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                 st.floats(allow_nan=False, allow_infinity=False),
                 st.lists(st.sampled_from(["a", "中"]), max_size=2),
                 st.fixed_dictionaries({"nested": st.sampled_from(["a", "b"])}),
                 st.just({"type": "image_url", "image_url": "x.png"}))

ROLE_NAMES = ["human", "gpt", "user", "assistant", "system", "tool", "observation",
              "function_call", "model", "Human ", "bogus", ""]
KEYS = ["instruction", "input", "output", "text", "conversations", "messages", "system",
        "tools", "history", "chosen", "rejected", "images", "prompt", "completion", "from",
        "value", "role", "content", "extra", "中文键", "we\nird", " "]


def value(surrogates: bool = True) -> st.SearchStrategy[Any]:
    return weighted((6, texts(surrogates)), (1, JUNK))


def _turn(role: st.SearchStrategy, content: st.SearchStrategy, sharegpt: bool):
    keys = ("from", "value") if sharegpt else ("role", "content")
    return st.fixed_dictionaries({keys[0]: role, keys[1]: content})


def conversations(sharegpt: bool, surrogates: bool, end: str = "assistant"):
    """Mostly well-ordered user/assistant turns, some with a system turn first; else any list
    of turns (roles out of order, unknown roles, wrong types, missing keys)."""
    user, bot = ("human", "gpt") if sharegpt else ("user", "assistant")
    t = texts(surrogates)

    def ordered(draw_pairs):
        pairs, system, last_user = draw_pairs
        turns = []
        if system is not None:
            turns.append({"from" if sharegpt else "role": "system",
                          "value" if sharegpt else "content": system})
        for q, a in pairs:
            turns.append(_pair(sharegpt, user, q))
            turns.append(_pair(sharegpt, bot, a))
        if end == "user":
            turns.append(_pair(sharegpt, user, last_user))
        return turns

    good = st.tuples(st.lists(st.tuples(t, t), min_size=1 if end == "assistant" else 0,
                              max_size=3), st.none() | t, t).map(ordered)
    any_turn = st.one_of(_turn(st.sampled_from(ROLE_NAMES) | JUNK, value(surrogates), sharegpt),
                         st.dictionaries(st.sampled_from(KEYS), value(surrogates), max_size=3),
                         JUNK)
    tool = tool_turns(sharegpt, surrogates).map(lambda calls: [_pair(sharegpt, user, "Weather?"),
                                                               *calls])
    return weighted((12, good), (2, tool), (1, good.flatmap(st.permutations)),
                    (2, st.lists(any_turn, max_size=4)), (1, JUNK))


CALLS = [{"name": "get_weather", "arguments": {"city": "北京"}}, {"name": "f"},
         [{"name": "a", "arguments": "{\"x\": 1}"}, {"name": "b", "arguments": "not json"}],
         {"arguments": {}}, [], {"name": 5}]


def tool_turns(sharegpt: bool, surrogates: bool):
    """An assistant tool call (well formed or not), its result, then the reply: sharegpt's
    function_call / observation, or OpenAI's tool_calls and tool role."""
    t = texts(surrogates)
    call = st.sampled_from(CALLS)
    if sharegpt:
        head = weighted((3, call.map(json.dumps)), (1, t)).map(
            lambda c: [_pair(True, "function_call", c)])
        result = st.sampled_from(["observation", "tool"])
    else:
        head = st.one_of(
            call.map(lambda c: [{"role": "assistant", "content": None, "tool_calls": [
                {"type": "function", "function": x} for x in (c if isinstance(c, list) else [c])]
            }]),
            st.sampled_from(CALLS + ["x", None]).map(
                lambda c: [{"role": "assistant", "content": "", "tool_calls": c}]))
        result = st.just("tool")
    return st.tuples(head, result, t, t).map(
        lambda h: [*h[0], _pair(sharegpt, h[1], h[2]), _pair(sharegpt, "gpt" if sharegpt
                                                               else "assistant", h[3])])


def _pair(sharegpt: bool, role: str, content: Any) -> dict:
    return {"from": role, "value": content} if sharegpt else {"role": role, "content": content}


def _optional(required: dict, optional: dict):
    return st.fixed_dictionaries(required, optional=optional)


def shape_rows(shape: str, surrogates: bool = True) -> st.SearchStrategy[Any]:
    """Rows meant to be of `shape`; many are good, some break its rules."""
    v, t = value(surrogates), texts(surrogates)
    history = st.one_of(st.just([]), st.lists(st.tuples(t, t).map(list), max_size=2), JUNK)
    tools = st.one_of(st.just([{"name": "f", "parameters": {}}]), st.just('[{"name": "g"}]'),
                      st.just("not json"), JUNK)
    if shape == "alpaca":
        return _optional({"instruction": v, "output": v},
                         {"input": v, "system": v, "history": history})
    if shape in ("sharegpt", "messages"):
        key = "conversations" if shape == "sharegpt" else "messages"
        return _optional({key: conversations(shape == "sharegpt", surrogates)},
                         {"system": v, "tools": tools})
    if shape == "text":
        return st.one_of(st.fixed_dictionaries({"text": v}), t)
    if shape == "preference":
        reply = st.one_of(t, st.fixed_dictionaries({"from": st.just("gpt"), "value": v}), JUNK)
        return _optional({"conversations": conversations(True, surrogates, end="user"),
                          "chosen": reply, "rejected": reply}, {"system": v})
    raise ValueError(shape)


def broken_rows(surrogates: bool = True) -> st.SearchStrategy[Any]:
    return st.one_of(st.dictionaries(st.sampled_from(KEYS), value(surrogates), max_size=4),
                     st.just({"images": ["a.png"], "instruction": "Describe", "output": "A cat"}),
                     st.just({"instruction": "Look <image>", "output": "A cat"}),
                     JUNK)


SHAPES = ("alpaca", "sharegpt", "messages", "text", "preference")


@dataclass(repr=False)
class HostileFile:
    kind: str
    content: bytes
    note: str  # how it was written, for a readable failing example

    def write(self, folder: Path) -> Path:
        path = folder / f"hostile.{self.kind}"
        path.write_bytes(self.content)
        return path

    def __repr__(self) -> str:
        cut = f"...({len(self.content)} bytes)" if len(self.content) > 400 else ""
        return f"HostileFile({self.kind!r}, {self.note}, {self.content[:400]!r}{cut})"

    def _repr_pretty_(self, p, cycle) -> None:  # hypothesis prints failing examples with this
        p.text(repr(self))


@st.composite
def hostile_files(draw, kinds=KINDS, max_rows: int = 8, huge: bool = True) -> HostileFile:
    """A dataset file of one of `kinds`: rows of one shape, mixed with rows of other shapes
    and broken rows, then written with hostile bytes."""
    kind = draw(st.sampled_from(kinds))
    shape = draw(st.sampled_from(SHAPES))
    surrogates = kind in ("json", "jsonl", "csv", "tsv", "txt")
    mine = shape_rows(shape, surrogates)
    other = st.sampled_from(SHAPES).flatmap(lambda s: shape_rows(s, surrogates))
    rows = draw(st.lists(weighted((6, mine), (1, other), (1, broken_rows(surrogates))),
                         min_size=0, max_size=max_rows))
    if not huge:
        rows = [_shrink_huge(r) for r in rows]
    writer = {"jsonl": _jsonl, "json": _json, "csv": _csv, "tsv": _csv, "txt": _txt,
              "parquet": _parquet}[kind]
    content, note = writer(draw, kind, rows)
    return HostileFile(kind, content, f"shape {shape}, {len(rows)} rows, {note}")


def _shrink_huge(v: Any) -> Any:
    if isinstance(v, str):
        return v[:2000] if v is HUGE or len(v) > 2000 else v
    if isinstance(v, list):
        return [_shrink_huge(x) for x in v]
    if isinstance(v, dict):
        return {k: _shrink_huge(x) for k, x in v.items()}
    return v


def _encode(draw, text: str) -> tuple[bytes, str]:
    """UTF-8 mostly; sometimes with a BOM, UTF-16, or GBK (what Excel in China writes)."""
    enc = draw(st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "utf-16", "gbk"]))
    if enc == "utf-16":
        return text.encode("utf-16", "surrogatepass"), enc
    if enc == "gbk":
        return text.encode("gbk", "replace"), enc
    # A lone surrogate written raw is invalid UTF-8: the file must be refused, not crash.
    return text.encode(enc, "surrogatepass"), enc


JUNK_LINES = ["not json", "{", "[1, 2", '{"a": 1e999999}', "123", '"a bare string"', "[]", "null",
              "[" * 3000, "1" * 5000, '{"instruction": "q", "output": "a",}', "\u3000", "\x00"]


def _newline(draw) -> str:
    return draw(st.sampled_from(["\n", "\n", "\r\n"]))


def _jsonl(draw, kind, rows) -> tuple[bytes, str]:
    ascii_only = draw(st.booleans())
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in rows]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(JUNK_LINES + [""])))
    nl = _newline(draw)
    content, enc = _encode(draw, nl.join(lines) + draw(st.sampled_from(["", nl, nl + nl])))
    if draw(rarely()):  # a line of random bytes
        content += draw(st.binary(min_size=1, max_size=20)) + b"\n"
    return content, f"{enc}, ensure_ascii={ascii_only}, newline={nl!r}"


def _json(draw, kind, rows) -> tuple[bytes, str]:
    ascii_only = draw(st.booleans())
    indent = draw(st.sampled_from([None, 1, "\t"]))
    text = json.dumps(rows, ensure_ascii=ascii_only, indent=indent)
    wrap = draw(st.sampled_from(["array", "array", "wrapped", "lines"]))
    if wrap == "wrapped":
        text = '{"version": 2, "data": ' + text + "}"
    elif wrap == "lines":  # JSON lines under a .json name, a common mix-up
        text = "\n".join(json.dumps(r, ensure_ascii=ascii_only) for r in rows)
    if draw(rarely(6)):
        text = text[:draw(st.integers(0, len(text)))]  # cut off half way
    text = text.replace("\n", _newline(draw))
    content, enc = _encode(draw, text)
    return content, f"{enc}, {wrap}, ensure_ascii={ascii_only}, indent={indent!r}"


def _cell(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _csv(draw, kind, rows) -> tuple[bytes, str]:
    rows = [r if isinstance(r, dict) else {"text": r} for r in rows]
    header = list(dict.fromkeys(k for r in rows for k in r)) or ["text"]
    out = io.StringIO(newline="")
    nl = _newline(draw)
    w = csv.writer(out, delimiter="\t" if kind == "tsv" else ",", lineterminator=nl)
    w.writerow(header)
    for r in rows:
        w.writerow([_cell(r.get(h, "")) for h in header])
    text = out.getvalue()
    # records with the wrong number of cells, junk
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        text += draw(st.sampled_from(['a,b,c,d,e,f,g', 'only', '"unclosed, quote', "\t\t", nl]))
        text += nl
    content, enc = _encode(draw, text)
    return content, f"{enc}, newline={nl!r}, header={header}"


def _txt(draw, kind, rows) -> tuple[bytes, str]:
    paras = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    seps = st.sampled_from(["\n\n", "\r\n\r\n", "\n \n", "\n\u3000\n", "\n", "\n\n\n"])
    text = "".join(p + draw(seps) for p in paras)
    content, enc = _encode(draw, text)
    return content, enc


def _parquet(draw, kind, rows) -> tuple[bytes, str]:
    rows = [r if isinstance(r, dict) else {"text": r} for r in rows]
    group = draw(st.sampled_from([2, 1000]))
    # Mixed types in one column (or an empty struct) make no Parquet file: keep the rows that
    # fit with the ones before them; with none left, store every cell as text.
    kept: list[dict] = []
    for r in rows:
        if _parquet_bytes(kept + [r], group) is not None:
            kept.append(r)
    content = _parquet_bytes(kept, group)
    note = f"kept {len(kept)} of {len(rows)} rows"
    if content is None or not kept and rows:
        content = _parquet_bytes([{k: _cell(v) for k, v in r.items()} for r in rows], group)
        note = "as text"
    if draw(rarely()):  # a truncated or damaged file
        content = content[:draw(st.integers(0, len(content)))]
        note += ", truncated"
    return content, note


def _parquet_bytes(rows: list[dict], group: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    try:
        pq.write_table(pa.Table.from_pylist(rows), buf, row_group_size=group)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    return buf.getvalue()
