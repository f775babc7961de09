"""Message content in the shapes the major toolkits write, and per-message fields.

Content is a string or a list of typed parts: text (OpenAI {"type": "text", "text"}, responses
input_text / output_text, "content" / "value" keys, untyped {"text"}), reasoning (Anthropic
thinking, OpenAI responses reasoning with a summary, {"type": "reasoning"}), tool calls
(Anthropic tool_use, responses function_call) and tool results (tool_result,
function_call_output). Media parts are refused (MediaRow): this studio trains text models.
Beside the content a message may carry its reasoning (reasoning_content, reasoning, thinking)
and a training weight (axolotl weight 0/1, ms-swift loss, train / training).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from studio.core.data.types import type_name

MEDIA_PART_TYPES = {"image_url": "image", "image": "image", "input_image": "image",
                    "input_audio": "audio", "audio": "audio", "audio_url": "audio",
                    "video": "video", "video_url": "video", "input_video": "video"}
# Typed content parts, in the shapes the major toolkits write (OpenAI chat and responses,
# Anthropic, Gemini-style untyped {"text"}, TRL / ms-swift / LLaMA-Factory / axolotl rows).
TEXT_PART_TYPES = ("text", "input_text", "output_text")
TEXT_KEYS = ("text", "content", "value")
REASONING_PART_TYPES = ("thinking", "reasoning", "reasoning_text", "reasoning_content")
REASONING_KEYS = ("thinking", "reasoning", "reasoning_content", "text", "content", "value")
SKIPPED_PART_TYPES = ("redacted_thinking",)  # encrypted: nothing a model can learn from
CALL_PART_TYPES = ("tool_use", "tool_call", "function_call")
RESULT_PART_TYPES = ("tool_result", "tool_response", "function_call_output")
# Message-level fields: reasoning beside the content, and per-message training weights.
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
WEIGHT_FIELDS = ("weight", "loss", "train", "training")


class BadRow(Exception):
    """This row cannot be trained on; the message is the reason."""


class MediaRow(BadRow):
    def __init__(self, kind: str):
        super().__init__(f"has {kind} input; this studio trains text models")
        self.kind = kind


@dataclass
class Parts:
    """A message's content split by kind of part."""
    texts: list = field(default_factory=list)
    reasoning: list = field(default_factory=list)
    calls: list = field(default_factory=list)      # {"name", "arguments"}
    results: list = field(default_factory=list)    # tool results, as text


def content_text(content: Any, where: str) -> str:
    """A message's text: a string, or a list of parts of which only text is allowed here."""
    parts = split_parts(content, where)
    if parts.calls or parts.results:
        raise BadRow(f"{where} has a tool call or result where a reply's text belongs")
    return "\n".join(parts.texts)


def split_parts(content: Any, where: str) -> Parts:
    """A string, or a list of typed parts: text, reasoning, tool calls and results. Media
    parts raise MediaRow; anything else is a BadRow naming the part."""
    if isinstance(content, str):
        return Parts(texts=[content])
    if content is None:
        raise BadRow(f"{where} has no content (null)")
    if isinstance(content, dict):  # one part on its own
        content = [content]
    if not isinstance(content, list):
        raise BadRow(f"{where} content is {type_name(content)}, expected text")
    out = Parts()
    for part in content:
        if isinstance(part, str):
            out.texts.append(part)
            continue
        if not isinstance(part, dict):
            raise BadRow(f"{where} has a content part {type_name(part)} that is not text")
        kind = part.get("type")
        if kind in MEDIA_PART_TYPES:
            raise MediaRow(MEDIA_PART_TYPES[kind])
        text = _first_text(part, TEXT_KEYS)
        if (kind in TEXT_PART_TYPES or kind is None) and text is not None:
            out.texts.append(text)
        elif kind in REASONING_PART_TYPES:
            out.reasoning.append(_reasoning_text(part, where))
        elif kind in CALL_PART_TYPES:
            out.calls.append(_call_part(part, where))
        elif kind in RESULT_PART_TYPES:
            out.results.append(_result_text(part, where))
        elif kind not in SKIPPED_PART_TYPES:
            what = f"of type {kind!r}" if isinstance(kind, str) else "without a type or text"
            raise BadRow(f"{where} has a content part {what} that is not text")
    return out


def _first_text(part: dict, keys: tuple[str, ...]) -> Optional[str]:
    return next((part[k] for k in keys if isinstance(part.get(k), str)), None)


def _reasoning_text(part: dict, where: str) -> str:
    text = _first_text(part, REASONING_KEYS)
    if text is None and isinstance(part.get("summary"), list):  # OpenAI responses reasoning
        text = "\n".join(s.get("text", "") if isinstance(s, dict) else str(s)
                         for s in part["summary"])
    if text is None:
        raise BadRow(f"{where} has a reasoning part without its text")
    return text


def _call_part(part: dict, where: str) -> dict:
    """Anthropic tool_use {name, input}; OpenAI responses function_call {name, arguments}."""
    fn = part.get("function", part)
    name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise BadRow(f"{where} has a tool call part without a function name")
    args = fn.get("input", fn.get("arguments", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            pass  # keep the arguments as the text they are
    return {"name": name, "arguments": args}


def _result_text(part: dict, where: str) -> str:
    """Anthropic tool_result {content: text or text parts}; OpenAI function_call_output."""
    value = next((part[k] for k in ("content", "output", "result", "text") if k in part), None)
    if isinstance(value, (list, dict)):
        return content_text(value, where)
    if value is None:
        raise BadRow(f"{where} has a tool result part without its content")
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def message_weight(m: dict, where: str) -> Optional[bool]:
    """A per-message training weight, or None when the message has none."""
    key = next((k for k in WEIGHT_FIELDS if m.get(k) is not None), None)
    if key is None:
        return None
    value = m[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise BadRow(f"{where} has {key} {str(value)[:20]!r}: use 0 or 1 (true or false)")


def message_reasoning(m: dict, parts: Parts) -> str:
    field_text = next((m[k] for k in REASONING_FIELDS if isinstance(m.get(k), str)), "")
    return "\n".join([t for t in [field_text, *parts.reasoning] if t.strip()])
