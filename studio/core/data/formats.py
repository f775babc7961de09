"""Dataset shapes: detect which one a file uses, and turn each row into a Sample or a reason.

Shapes (docs/contract.md, "Dataset shapes"):
  alpaca     instruction / input / output, system?, history? [[q, a], ...]
             (prompt/completion, question/answer and query/response are read the same way)
  sharegpt   conversations [{from, value}] with human / gpt / function_call / observation / system,
             system?, tools?
  messages   OpenAI style: messages [{role, content}], content a string or a list of typed parts
             (text, reasoning, tool calls and results: parts.py), per-message weights
  text       {"text": ...} rows, bare strings, or the paragraphs of a .txt file
  preference chosen / rejected next to a sharegpt conversation, OpenAI messages, an alpaca
             instruction or a prompt (text or a list of messages)
  kto        one reply labelled good or bad: a conversation, an alpaca row or prompt +
             completion, with `label` (or `kto_tag`) true / false
  prompt     stage grpo: a prompt (alpaca instruction / input, a conversation ending with a
             user turn, or a prompt as a list of messages) and an optional reference answer
             (output / answer / solution / reference / ground_truth, or a final assistant turn)

Roles normalise to system / user / assistant / tool: a sharegpt function_call becomes an assistant
turn whose content is the call, an observation becomes a tool turn. Rows with image / audio /
video input are refused: this studio trains text models.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Optional

from studio.core.data.parts import (
    BadRow,
    MediaRow,
    Parts,
    content_text,
    message_reasoning,
    message_weight,
    split_parts,
)
from studio.core.data.types import Message, Sample, type_name

INSTRUCTION_KEYS = ("instruction", "prompt", "question", "query")
INPUT_KEYS = ("input",)
OUTPUT_KEYS = ("output", "completion", "response", "answer")

MEDIA_KEYS = {"images": "image", "image": "image", "videos": "video", "video": "video",
              "audios": "audio", "audio": "audio"}
MEDIA_TOKENS = {"<image>": "image", "<video>": "video", "<audio>": "audio"}

ROLE_MAP = {"human": "user", "user": "user",
            "gpt": "assistant", "assistant": "assistant", "model": "assistant",
            "function_call": "assistant",
            "observation": "tool", "tool": "tool", "function": "tool", "ipython": "tool",
            "system": "system"}

KNOWN_FIELDS = {
    "alpaca": {*INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "system", "history"},
    "sharegpt": {"conversations", "system", "tools"},
    "messages": {"messages", "system", "tools"},
    "text": {"text"},
    "preference": {"chosen", "rejected", "conversations", "messages", "system", "tools",
                   *INSTRUCTION_KEYS, *INPUT_KEYS, "history"},
    "kto": {"label", "kto_tag", "conversations", "messages", "system", "tools",
            *INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "history"},
    "prompt": {*INSTRUCTION_KEYS, *INPUT_KEYS, *OUTPUT_KEYS, "solution", "reference",
               "ground_truth", "conversations", "messages", "system", "tools", "history"},
}
REFERENCE_KEYS = (*OUTPUT_KEYS, "solution", "reference", "ground_truth")
PROMPT_SHAPES = ("alpaca", "sharegpt", "messages")  # read as prompts by stage grpo
KTO_LABEL_KEYS = ("label", "kto_tag")  # TRL's unpaired rows; LLaMA-Factory's kto_tag
DETECT_ROWS = 200  # rows whose keys decide the format

# Which turn may follow which. A tool result follows an assistant call (or another result).
_FOLLOWS = {"user": ("assistant",), "assistant": ("user", "tool"), "tool": ("assistant", "tool")}


# --- detection ---------------------------------------------------------------------------------

def classify(value: Any) -> Optional[str]:
    """The shape one row looks like, from its keys alone."""
    if isinstance(value, str):
        return "text"
    if not isinstance(value, dict):
        return None
    if "chosen" in value and "rejected" in value:
        return "preference"
    if any(isinstance(value.get(k), bool) for k in KTO_LABEL_KEYS):
        return "kto"
    if "conversations" in value:
        return "sharegpt"
    if "messages" in value:
        return "messages"
    has_inst = any(k in value for k in INSTRUCTION_KEYS)
    has_out = any(k in value for k in OUTPUT_KEYS)
    if has_inst and has_out:
        return "alpaca"
    if "text" in value:
        return "text"
    if has_inst or "output" in value:
        return "alpaca"  # half an alpaca row: validation names the missing field
    return None


def detect_format(values: Iterable[Any]) -> str:
    """The most common shape among the rows ("" when none fits)."""
    votes = Counter(c for c in map(classify, values) if c)
    if not votes:
        return ""
    order = ("preference", "kto", "sharegpt", "messages", "alpaca", "text")
    return max(votes, key=lambda f: (votes[f], -order.index(f)))


def unknown_fields(value: Any, fmt: str) -> list[str]:
    if not isinstance(value, dict):
        return []
    known = KNOWN_FIELDS.get(fmt, set())
    return [k for k in value if k not in known and k not in MEDIA_KEYS]


# --- rows -> samples -----------------------------------------------------------------------------

def normalise(value: Any, row: int, fmt: Any) -> Sample:
    """One row of the given shape -> Sample; raises BadRow (or MediaRow) with the reason.
    `fmt` is a format name, or a column mapping (data.columns.Columns) that reads the row."""
    if fmt == "text" and isinstance(value, str):  # a bare string row
        sample = _text_sample({"text": value}, row)
        _check_encodable(sample)  # a lone surrogate ("\ud800") would crash the tokenizer
        return sample
    if not isinstance(value, dict):
        raise BadRow(f"the row is {type_name(value)}, expected an object with fields")
    for key, kind in MEDIA_KEYS.items():
        if value.get(key) not in (None, "", [], {}):
            raise MediaRow(kind)
    sample = _NORMALISERS[fmt](value, row) if isinstance(fmt, str) else fmt.sample(value, row)
    _check_media_tokens(sample)
    _check_encodable(sample)
    return sample


def _text_sample(value: dict, row: int) -> Sample:
    text = _text_field(value, "text", required=True)
    if not text.strip():
        raise BadRow("empty text")
    return Sample(row, text=text)


def _alpaca_sample(value: dict, row: int) -> Sample:
    inst = _text_field(value, _first_key(value, INSTRUCTION_KEYS), required=True)
    inp = _text_field(value, "input")
    out = _text_field(value, _first_key(value, OUTPUT_KEYS), required=True)
    prompt = "\n".join(p for p in (inst, inp) if p.strip())
    if not prompt.strip():
        raise BadRow("empty prompt: instruction and input are both empty")
    if not out.strip():
        raise BadRow("empty assistant reply (field 'output')")
    turns = [*_history(value.get("history")), Message("user", prompt), Message("assistant", out)]
    system = _text_field(value, "system")
    if system.strip():
        turns.insert(0, Message("system", system))
    return Sample(row, messages=tuple(turns))


def _chat_sample(value: dict, row: int, key: str) -> Sample:
    turns = _turns(value, key)
    messages = _checked_conversation(turns, _text_field(value, "system"), end="assistant")
    return Sample(row, messages=messages, tools=_tools(value.get("tools")))


def _preference_sample(value: dict, row: int) -> Sample:
    """Checks a preference row; the Sample holds the prompt + the chosen reply (for previews)."""
    key = "conversations" if "conversations" in value else "messages" if "messages" in value \
        else "prompt" if isinstance(value.get("prompt"), list) else None
    system = _text_field(value, "system")
    if key:
        prompt = _checked_conversation(_turns(value, key), system, end="user")
    else:
        prompt = _alpaca_prompt(value, system)
    chosen = _reply(value, "chosen")
    rejected = _reply(value, "rejected")
    if chosen.strip() == rejected.strip():
        raise BadRow("the chosen and rejected replies are the same text: nothing to prefer")
    return Sample(row, messages=(*prompt, Message("assistant", chosen)),
                  tools=_tools(value.get("tools")), rejected=rejected)


def _alpaca_prompt(value: dict, system: str) -> tuple:
    """An alpaca row's prompt turns (system?, history, instruction + input) without a reply:
    what preference and grpo rows ask."""
    inst = _text_field(value, _first_key(value, INSTRUCTION_KEYS), required=True)
    text = "\n".join(p for p in (inst, _text_field(value, "input")) if p.strip())
    if not text.strip():
        raise BadRow("empty prompt: instruction and input are both empty")
    return ((Message("system", system),) if system.strip() else ()) \
        + (*_history(value.get("history")), Message("user", text))


def _kto_sample(value: dict, row: int) -> Sample:
    """A reply labelled good (label true) or bad, in any conversation shape."""
    label = _kto_label(value)
    if "conversations" in value or "messages" in value:
        sample = _chat_sample(value, row, "conversations" if "conversations" in value
                              else "messages")
    elif isinstance(value.get("prompt"), list):  # TRL's conversational prompt + completion
        prompt = _checked_conversation(_turns(value, "prompt"), _text_field(value, "system"),
                                       end="user")
        sample = Sample(row, (*prompt, Message("assistant", _reply(value, "completion"))),
                        _tools(value.get("tools")))
    else:
        sample = _alpaca_sample(value, row)
    return Sample(row, sample.messages, sample.tools, label=label)


def _kto_label(value: dict) -> bool:
    key = next((k for k in KTO_LABEL_KEYS if k in value), KTO_LABEL_KEYS[0])
    v = value.get(key)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0"):
        return v.strip().lower() in ("true", "1")  # a CSV cell
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if v is None:
        raise BadRow(f"field '{key}' is null" if key in value else
                     "missing field 'label' (true for a good reply, false for a bad one)")
    raise BadRow(f"field '{key}' is {type_name(v)}, expected true (a good reply) or false")


def _prompt_sample(value: dict, row: int) -> Sample:
    """stage grpo: the prompt, and the reference answer (when the row has one) as a final
    assistant turn."""
    key = "conversations" if "conversations" in value else "messages" if "messages" in value \
        else "prompt" if isinstance(value.get("prompt"), list) else None
    system = _text_field(value, "system")
    reference = ""
    if key:
        turns = _turns(value, key)
        if turns and turns[-1].role == "assistant":  # the reference answer
            reference, turns = turns[-1].content, turns[:-1]
            if not turns:
                raise BadRow("no prompt: the conversation holds only an assistant reply")
        prompt = _checked_conversation(turns, system, end="user")
    else:
        prompt = _alpaca_prompt(value, system)
    ref_key = next((k for k in REFERENCE_KEYS if value.get(k) is not None), None)
    if ref_key and not reference:
        v = value[ref_key]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)  # a numeric answer
        reference = _text_field({ref_key: v}, ref_key)
    answer = (Message("assistant", reference),) if reference.strip() else ()
    return Sample(row, messages=(*prompt, *answer), tools=_tools(value.get("tools")))


_NORMALISERS = {
    "alpaca": _alpaca_sample,
    "sharegpt": lambda v, r: _chat_sample(v, r, "conversations"),
    "messages": lambda v, r: _chat_sample(v, r, "messages"),
    "text": _text_sample,
    "preference": _preference_sample,
    "kto": _kto_sample,
    "prompt": _prompt_sample,
}


# --- fields --------------------------------------------------------------------------------------

def _first_key(value: dict, keys: tuple[str, ...]) -> str:
    return next((k for k in keys if k in value), keys[0])


def _text_field(value: dict, key: str, required: bool = False) -> str:
    """A text field. Missing or null optional fields read as empty."""
    if key not in value or value[key] is None:
        if required:
            raise BadRow(f"field '{key}' is null" if key in value else f"missing field '{key}'")
        return ""
    v = value[key]
    if not isinstance(v, str):
        raise BadRow(f"field '{key}' is {type_name(v)}, expected text")
    return v


def _history(history: Any) -> list[Message]:
    if history in (None, "", []):
        return []
    if not isinstance(history, list):
        raise BadRow(f"field 'history' is {type_name(history)}, expected a list of "
                     "[question, answer] pairs")
    turns = []
    for i, pair in enumerate(history, 1):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2
                and all(isinstance(p, str) for p in pair)):
            raise BadRow(f"history item {i} is not a [question, answer] pair of texts")
        if not pair[0].strip() or not pair[1].strip():
            raise BadRow(f"history item {i} has an empty question or answer")
        turns += [Message("user", pair[0]), Message("assistant", pair[1])]
    return turns


def _tools(tools: Any) -> Optional[str]:
    """Tool schemas as a JSON string holding a list (None when there are none)."""
    if tools in (None, "", [], {}):
        return None
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except (ValueError, RecursionError):
            raise BadRow("field 'tools' is not valid JSON") from None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRow("field 'tools' must be a list of tool descriptions (JSON objects)")
    return json.dumps(tools, ensure_ascii=False) if tools else None


def _tool_calls_text(calls: Any, where: str) -> str:
    """OpenAI assistant tool_calls -> the call as JSON text, the way sharegpt writes it."""
    if not isinstance(calls, list) or not calls:
        raise BadRow(f"{where} has tool_calls that are not a list of calls")
    out = []
    for call in calls:
        fn = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRow(f"{where} has a tool call without a function name")
        args = fn.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except (ValueError, RecursionError):
                pass  # keep the arguments as the text they are
        out.append({"name": fn["name"], "arguments": args})
    return json.dumps(out[0] if len(out) == 1 else out, ensure_ascii=False)


def _turn(m: Any, i: int) -> Message:
    where = f"message {i}"
    if not isinstance(m, dict):
        raise BadRow(f"{where} is {type_name(m)}, expected an object with from/value "
                     "(or role/content)")
    # Parquet structs carry every key seen in the column, null where a row does not use it.
    role_key, content_key = ("from", "value") if m.get("from") is not None \
        else ("role", "content")
    if role_key not in m:
        raise BadRow(f"{where} has no 'from' or 'role'")
    raw = m[role_key]
    role = ROLE_MAP.get(raw.strip().lower()) if isinstance(raw, str) else None
    if role is None:
        raise BadRow(f"{where} has a role it does not understand: {str(raw)[:40]!r}")
    if m.get(content_key) is None and m.get("content") is not None:
        content_key = "content"  # {"from": ..., "content": ...} also happens
    train = message_weight(m, where) if role == "assistant" else None  # only replies are learned
    if role == "assistant" and m.get("tool_calls") and not m.get(content_key):
        return Message(role, _tool_calls_text(m["tool_calls"], where), tool_call=True,
                       reasoning=message_reasoning(m, Parts()), train=train)
    if content_key not in m:
        raise BadRow(f"{where} has no '{content_key}'")
    parts = split_parts(m[content_key], where)
    reasoning = message_reasoning(m, parts)
    if parts.results:  # Anthropic sends tool results as user turns of tool_result parts
        if parts.texts or parts.calls:
            raise BadRow(f"{where} mixes tool results with other content")
        return Message("tool", "\n".join(parts.results))
    if parts.calls:
        if role != "assistant":
            raise BadRow(f"{where} is a {role} turn with a tool call (only assistants call)")
        if any(t.strip() for t in parts.texts):
            raise BadRow(f"{where} has text and a tool call in one turn: put the text in a "
                         "turn of its own or in a reasoning part")
        calls = parts.calls
        return Message(role, json.dumps(calls[0] if len(calls) == 1 else calls,
                                        ensure_ascii=False), tool_call=True,
                       reasoning=reasoning, train=train)
    content = "\n".join(parts.texts)
    return Message(role, content, tool_call=raw == "function_call" and _is_call(content),
                   reasoning=reasoning if role == "assistant" else "", train=train)


def _is_call(content: str) -> bool:
    """Is this function_call text a JSON call ({"name", "arguments"} or a list of them)?"""
    try:
        calls = json.loads(content)
    except (ValueError, RecursionError):
        return False
    calls = calls if isinstance(calls, list) else [calls]
    return bool(calls) and all(isinstance(c, dict) and isinstance(c.get("name"), str)
                               for c in calls)


def _turns(value: dict, key: str) -> list[Message]:
    if key not in value:
        raise BadRow(f"missing field '{key}'")
    turns = value[key]
    if turns is None:
        raise BadRow(f"field '{key}' is null")
    if isinstance(turns, str) and not turns.strip():  # an empty CSV cell: a row of other shape
        raise BadRow(f"field '{key}' is empty")
    if not isinstance(turns, list):
        raise BadRow(f"field '{key}' is {type_name(turns)}, expected a list of messages")
    return [_turn(m, i) for i, m in enumerate(turns, 1)]


def _checked_conversation(turns: list[Message], system: str, end: str) -> tuple[Message, ...]:
    """Checks the order of turns; `end` is the role the conversation must end with."""
    if not turns:
        raise BadRow("the conversation is empty")
    numbered = list(enumerate(turns, 1))
    if turns[0].role == "system":
        if system.strip():
            raise BadRow("has a system prompt both in 'system' and as the first message")
        system, numbered = turns[0].content, numbered[1:]
    if not numbered:
        raise BadRow("the conversation holds only a system prompt")
    prev = None
    for i, m in numbered:
        _check_turn(m, i, prev)
        prev = m.role
    if end == "assistant" and prev != "assistant":
        if not any(m.role == "assistant" for _, m in numbered):
            raise BadRow("the conversation has no assistant turn")
        raise BadRow(f"the conversation ends with {_a(prev)} turn, with no assistant reply "
                     "after it")
    if end == "user" and prev != "user":
        raise BadRow(f"the prompt ends with {_a(prev)} turn; it must end with a user turn")
    head = (Message("system", system),) if system.strip() else ()
    return head + tuple(m for _, m in numbered)


def _check_turn(m: Message, i: int, prev: Optional[str]) -> None:
    if m.role == "system":
        raise BadRow(f"message {i} is a system message after the conversation started")
    if prev is None and m.role != "user":
        raise BadRow(f"the conversation starts with {_a(m.role)} turn (message {i}); it "
                     "must start with a user turn")
    if prev is not None and m.role not in _FOLLOWS[prev]:
        if m.role == prev:
            raise BadRow(f"two {m.role} turns in a row (messages {i - 1} and {i})")
        raise BadRow(f"a {m.role} turn cannot follow a {prev} turn (message {i})")
    if m.role in ("user", "assistant") and not m.content.strip():
        raise BadRow(f"empty {m.role} {'reply' if m.role == 'assistant' else 'message'} "
                     f"(message {i})")


def _a(role: str) -> str:
    return f"an {role}" if role == "assistant" else f"a {role}"  # roles: see ROLES


def _reply(value: dict, key: str) -> str:
    """A preference reply: text, one message, or a list of messages ending with the reply."""
    v = value.get(key)
    if isinstance(v, list) and v:
        v = v[-1]
    if isinstance(v, dict):
        v = v.get("value", v.get("content"))
        v = content_text(v, f"the {key} reply") if v is not None else None
    if v is None:
        raise BadRow(f"field '{key}' is null" if key in value else f"missing field '{key}'")
    if not isinstance(v, str):
        raise BadRow(f"field '{key}' is {type_name(v)}, expected a reply")
    if not v.strip():
        raise BadRow(f"empty {key} reply")
    return v


def _texts(sample: Sample) -> list[str]:
    if sample.text is not None:
        return [sample.text]
    return [m.content for m in sample.messages] + [sample.rejected or ""]


def _check_media_tokens(sample: Sample) -> None:
    texts = _texts(sample)
    for text in texts:
        if "<" in text:
            for token, kind in MEDIA_TOKENS.items():
                if token in text:
                    raise MediaRow(kind)


def _check_encodable(sample: Sample) -> None:
    """A JSON escape can spell half a UTF-16 pair ("\\ud800"): Python keeps it as a lone
    surrogate, which is no character; the tokenizer (and UTF-8) cannot take it."""
    for text in [*_texts(sample), sample.tools or ""]:
        if text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise BadRow(f"holds {text[e.start]!r}, half of a UTF-16 surrogate pair (a broken "
                         "\\u escape): not a character; fix or remove it") from None
