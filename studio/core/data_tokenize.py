"""Samples -> token ids + labels, through the MODEL's own chat template.

Loss mask (sft): only assistant replies are learned (labels elsewhere are -100). Each reply's
span is found by rendering prefixes of the conversation with the model's template:

    template(messages[:i], add_generation_prompt=True)   ends where reply i starts
    template(messages[:i+1])                             ends after reply i and its end-of-turn

so it works for any template (ChatML / Qwen, Llama 3, ...), not only ones that mark replies
with {% generation %}. The span includes the end-of-turn token (trailing whitespace after it is
not learned): without it the tuned model never stops talking. When a template writes no end
marker after the last reply, the tokenizer's EOS is appended and learned.

Prompt and reply pieces are tokenized separately, as generation sees them (the prompt ends with
the generation header, then the model produces the reply tokens).

Pretrain: every token is learned, EOS appended. Text rows are encoded as they are; chat rows
are rendered by the template first. `tokenize_dataset` splits long pretrain samples into
max_length windows (nothing is lost) and truncates sft samples, reporting the ones left with
nothing to learn.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from studio.core.data_types import RowProblem, Sample, TokenizedSample
from studio.core.errors import DataError

IGNORE_INDEX = -100  # label value torch's cross-entropy skips


def tokenize_sample(sample: Sample, tokenizer: Any, max_length: Optional[int], *,
                    stage: str = "sft", train_on_prompt: bool = False,
                    chat_template: Optional[str] = None) -> TokenizedSample:
    """One sample -> ids and labels, cut to max_length (None: no cut). Raises DataError when
    the sample cannot be rendered (no chat template, the template refuses the conversation)."""
    if stage == "pretrain":
        ids = _pretrain_ids(sample, tokenizer, chat_template)
        labels = list(ids)
    elif sample.is_text:
        raise DataError(f"row {sample.row} is plain text: sft learns assistant replies; use "
                        "stage: pretrain for text")
    else:
        ids, labels = _chat_ids(sample, tokenizer, chat_template, train_on_prompt)
    truncated = max_length is not None and len(ids) > max_length
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return TokenizedSample(sample.row, ids, labels, truncated)


def tokenize_dataset(samples: list[Sample], tokenizer: Any, max_length: int, *,
                     stage: str = "sft", train_on_prompt: bool = False,
                     chat_template: Optional[str] = None,
                     ) -> tuple[list[TokenizedSample], list[RowProblem]]:
    """Tokenize every sample. sft: longer samples are truncated; a sample with nothing left to
    learn is dropped and reported, never trained on silently. pretrain: a long sample becomes
    several max_length windows."""
    out: list[TokenizedSample] = []
    problems: list[RowProblem] = []
    for sample in samples:
        try:
            tok = tokenize_sample(sample, tokenizer, None, stage=stage,
                                  train_on_prompt=train_on_prompt, chat_template=chat_template)
        except DataError as e:
            problems.append(RowProblem(sample.row, e.one_line()))
            continue
        if stage == "pretrain":
            out.extend(_windows(tok, max_length))
            continue
        first = next((i for i, t in enumerate(tok.labels) if t != IGNORE_INDEX), None)
        if first is None:
            problems.append(RowProblem(sample.row, "nothing to learn: the chat template left "
                                                   "no assistant tokens"))
        elif first >= max_length:
            problems.append(RowProblem(
                sample.row, f"nothing to learn: the prompt is {first} tokens, so the assistant "
                            f"reply starts after max_length ({max_length}); raise max_length "
                            "or shorten the prompt"))
        else:
            cut = len(tok.input_ids) > max_length
            out.append(TokenizedSample(tok.row, tok.input_ids[:max_length],
                                       tok.labels[:max_length], cut))
    return out, problems


def _windows(tok: TokenizedSample, max_length: int) -> list[TokenizedSample]:
    # A window of one token has no next token to predict; it is dropped.
    return [TokenizedSample(tok.row, tok.input_ids[i:i + max_length],
                            tok.labels[i:i + max_length])
            for i in range(0, len(tok.input_ids), max_length)
            if len(tok.input_ids[i:i + max_length]) > 1]


# --- pretrain --------------------------------------------------------------------------------

def _pretrain_ids(sample: Sample, tokenizer: Any, chat_template: Optional[str]) -> list[int]:
    if sample.is_text:
        ids = _encode(tokenizer, sample.text, True)  # BOS where the model has one
    else:
        msgs, tools, template = _template_inputs(sample, tokenizer, chat_template)
        text = _render(tokenizer, msgs, tools, template, False, sample.row).rstrip()
        ids = _encode(tokenizer, text, False)  # the template wrote any BOS
    eos = tokenizer.eos_token_id
    if eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
    return ids


def _encode(tokenizer: Any, text: str, special: bool) -> list[int]:
    # verbose=False: no "longer than the model's maximum" warning; lengths are ours to handle.
    return tokenizer.encode(text, add_special_tokens=special, verbose=False)


# --- sft ---------------------------------------------------------------------------------------

def _chat_ids(sample: Sample, tokenizer: Any, chat_template: Optional[str],
              train_on_prompt: bool) -> tuple[list[int], list[int]]:
    msgs, tools, template = _template_inputs(sample, tokenizer, chat_template)
    full = _render(tokenizer, msgs, tools, template, False, sample.row)
    spans = _reply_spans(sample.row, tokenizer, msgs, tools, template, full)
    ids: list[int] = []
    labels: list[int] = []

    def add(text: str, learn: bool) -> list[int]:
        piece = _encode(tokenizer, text, False) if text else []
        ids.extend(piece)
        labels.extend(piece if learn else [IGNORE_INDEX] * len(piece))
        return piece

    pos = 0
    for k, (start, end) in enumerate(spans):
        add(full[pos:start], train_on_prompt)
        reply = add(full[start:end], True)
        if k == len(spans) - 1 and not _ends_turn(reply, tokenizer):
            eos = tokenizer.eos_token_id  # the template wrote no end marker: teach EOS anyway
            if eos is not None:
                ids.append(eos)
                labels.append(eos)
        pos = end
    add(full[pos:], train_on_prompt)
    return ids, labels


def _ends_turn(piece: list[int], tokenizer: Any) -> bool:
    """Does the reply end with a special token (EOS, <|im_end|>, <|eot_id|>, ...)? Added
    special tokens count too: Llama 3's <|eot_id|> is one, and is not in all_special_ids."""
    if not piece:
        return False
    last = piece[-1]
    if last == tokenizer.eos_token_id or last in tokenizer.all_special_ids:
        return True
    added = tokenizer.added_tokens_decoder.get(last)
    return bool(added is not None and added.special)


def _reply_spans(row: int, tokenizer: Any, msgs: list[dict], tools: Optional[list],
                 template: str, full: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of each assistant reply (with its end marker) in `full`."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before = _render(tokenizer, msgs[:i], tools, template, True, row)
        upto = _render(tokenizer, msgs[:i + 1], tools, template, False, row)
        end = len(upto.rstrip())
        if full.startswith(upto) and upto.startswith(before) and cursor <= len(before) < end:
            span = (len(before), end)
        else:  # the template rewrites earlier turns (Qwen3 drops old <think> blocks, ...)
            span = _find_reply(full, m["content"], cursor, tokenizer, row)
        spans.append(span)
        cursor = span[1]
    return spans


def _find_reply(full: str, content: str, cursor: int, tokenizer: Any,
                row: int) -> tuple[int, int]:
    start = full.find(content, cursor) if content else -1
    if start < 0:
        raise DataError(f"row {row}: the model's chat template does not write an assistant reply "
                        "the way it was given, so it cannot be learned")
    end = start + len(content)
    eos = tokenizer.eos_token or ""
    after = len(full) - len(full[end:].lstrip())
    if eos and full.startswith(eos, after):
        end = after + len(eos)  # the end-of-turn marker belongs to the reply
    return start, end


# --- the chat template ----------------------------------------------------------------------

# What a template does with `tools` and with `tool_calls`, probed once per template text.
_RENDERS_TOOLS: dict[str, bool] = {}
_RENDERS_TOOL_CALLS: dict[str, bool] = {}
_PROBE_NAME = "studio_probe_fn"


def _template_inputs(sample: Sample, tokenizer: Any, chat_template: Optional[str],
                     ) -> tuple[list[dict], Optional[list], str]:
    """(messages as template dicts, tools, the template text).

    Tool calls go in as `tool_calls` when the template writes them (so the model learns the
    template's own call syntax, e.g. <tool_call>...</tool_call>), else as the JSON text. When the
    template ignores `tools`, the schemas go into the system prompt so the model still sees them.
    """
    tools = json.loads(sample.tools) if sample.tools else None
    template = _template(tokenizer, chat_template, tools)
    native = any(m.tool_call for m in sample.messages) and _probe(
        _RENDERS_TOOL_CALLS, template, lambda: _PROBE_NAME in _try_render(
            tokenizer, template, [{"role": "user", "content": "x"}, _call_dict(
                json.dumps({"name": _PROBE_NAME, "arguments": {"a": 1}}))], None))
    msgs = [_call_dict(m.content) if m.tool_call and native else
            {"role": m.role, "content": m.content} for m in sample.messages]
    if tools is None or _probe(_RENDERS_TOOLS, template, lambda: _try_render(
            tokenizer, template, msgs[:1], tools) != _try_render(tokenizer, template, msgs[:1],
                                                                 None)):
        return msgs, tools, template
    text = "You can call these tools (JSON schemas):\n" + json.dumps(tools, ensure_ascii=False)
    if msgs[0]["role"] == "system":
        msgs[0] = {"role": "system", "content": msgs[0]["content"] + "\n\n" + text}
    else:
        msgs.insert(0, {"role": "system", "content": text})
    return msgs, None, template


def _call_dict(content: str) -> dict:
    calls = json.loads(content)
    calls = calls if isinstance(calls, list) else [calls]
    return {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": c["name"], "arguments": c.get("arguments", {})}}
        for c in calls]}


def _probe(cache: dict[str, bool], template: str, check: Any) -> bool:
    if template not in cache:
        cache[template] = bool(check())
    return cache[template]


def _try_render(tokenizer: Any, template: str, msgs: list[dict], tools: Optional[list]) -> str:
    try:
        return _render(tokenizer, msgs, tools, template, False, 0)
    except DataError:
        return ""


def _template(tokenizer: Any, chat_template: Optional[str], tools: Optional[list]) -> str:
    try:
        return tokenizer.get_chat_template(chat_template, tools)
    except ValueError:
        raise DataError("the model's tokenizer has no chat template, so conversations cannot be "
                        "rendered; use a chat (instruct) model, give a chat template, or train "
                        "with stage: pretrain") from None


def _render(tokenizer: Any, msgs: list[dict], tools: Optional[list], template: str,
            add_generation_prompt: bool, row: int) -> str:
    if not msgs:
        return ""  # an empty prefix renders as nothing
    import jinja2  # transformers renders templates with jinja2; its errors are the row's

    try:
        return tokenizer.apply_chat_template(
            msgs, tools=tools, chat_template=template, tokenize=False,
            add_generation_prompt=add_generation_prompt)
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, IndexError) as e:
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise DataError(f"row {row}: the model's chat template refused this conversation: "
                        f"{reason}") from None
