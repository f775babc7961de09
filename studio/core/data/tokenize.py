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

import itertools
import json
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

from studio.core.data.types import Message, RowProblem, Sample, TokenizedSample
from studio.core.errors import DataError

IGNORE_INDEX = -100  # label value torch's cross-entropy skips


BATCH = 256  # samples whose pieces go to the (Rust, multi-threaded) tokenizer in one call

# A prompt or reply of millions of characters costs the tokenizer ~150 bytes of memory per
# character (measured: a 5 MB row took 700 MB, so a 50 MB one ~7 GB), though sft keeps only
# the first max_length tokens. No token of a real vocabulary spans more than
# CHARS_PER_TOKEN_MAX characters, so an sft sample's text is cut after max_length x that many
# characters: every token that survives truncation is still there, exactly.
CHARS_PER_TOKEN_MAX = 256
MIN_TEXT_CAP = 1 << 20  # characters always kept (also when no max_length is given)


def tokenize_sample(sample: Sample, tokenizer: Any, max_length: Optional[int], *,
                    stage: str = "sft", train_on_prompt: bool = False,
                    chat_template: Optional[str] = None) -> TokenizedSample:
    """One sample -> ids and labels, cut to max_length (None: no cut). Raises DataError when
    the sample cannot be rendered (no chat template, the template refuses the conversation)."""
    plan = _cap(_plan(sample, tokenizer, stage, train_on_prompt, chat_template), max_length)
    ids, labels = _build(plan, _encode_many(tokenizer, plan.texts, plan.special), tokenizer)
    truncated = plan.capped or (max_length is not None and len(ids) > max_length)
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return TokenizedSample(sample.row, ids, labels, truncated)


def tokenize_stream(samples: Iterable[Sample], tokenizer: Any, *, stage: str = "sft",
                    train_on_prompt: bool = False, chat_template: Optional[str] = None,
                    max_length: Optional[int] = None,
                    ) -> Iterator[tuple[Sample, TokenizedSample | str]]:
    """(sample, its whole untruncated TokenizedSample, or the reason it cannot be tokenized),
    in order. Pieces of BATCH samples are encoded in one tokenizer call: many times faster
    than one call per piece. An sft sample of more than MIN_TEXT_CAP characters (or
    max_length x CHARS_PER_TOKEN_MAX) is cut there first and comes `truncated`: its length is
    then a lower bound, still over max_length."""
    it = iter(samples)
    while batch := list(itertools.islice(it, BATCH)):
        plans: list[tuple[Sample, _Plan | str]] = []
        for sample in batch:
            try:
                plans.append((sample, _cap(_plan(sample, tokenizer, stage, train_on_prompt,
                                                 chat_template), max_length)))
            except DataError as e:
                plans.append((sample, e.one_line()))
        encoded = {}
        for special in (False, True):
            texts = [t for _, p in plans if not isinstance(p, str) and p.special == special
                     for t in p.texts]
            encoded[special] = iter(_encode_many(tokenizer, texts, special))
        for sample, plan in plans:
            if isinstance(plan, str):
                yield sample, plan
                continue
            pieces = [next(encoded[plan.special]) for _ in plan.texts]
            ids, labels = _build(plan, pieces, tokenizer)
            yield sample, TokenizedSample(sample.row, ids, labels, plan.capped)


def tokenize_dataset(samples: list[Sample], tokenizer: Any, max_length: int, *,
                     stage: str = "sft", train_on_prompt: bool = False,
                     chat_template: Optional[str] = None,
                     ) -> tuple[list[TokenizedSample], list[RowProblem]]:
    """Tokenize every sample. sft: longer samples are truncated; a sample with nothing left to
    learn is dropped and reported, never trained on silently. pretrain: a long sample becomes
    several max_length windows."""
    out: list[TokenizedSample] = []
    problems: list[RowProblem] = []
    for sample, tok in tokenize_stream(samples, tokenizer, stage=stage,
                                       train_on_prompt=train_on_prompt,
                                       chat_template=chat_template, max_length=max_length):
        if isinstance(tok, str):
            problems.append(RowProblem(sample.row, tok))
        elif stage == "pretrain":
            out.extend(_windows(tok, max_length))
        elif (reason := nothing_to_learn(tok, max_length)):
            problems.append(RowProblem(sample.row, reason))
        else:
            cut = tok.truncated or len(tok.input_ids) > max_length
            out.append(TokenizedSample(tok.row, tok.input_ids[:max_length],
                                       tok.labels[:max_length], cut))
    return out, problems


def nothing_to_learn(tok: TokenizedSample, max_length: Optional[int]) -> str:
    """Why an (untruncated) sft sample has no label left within max_length ("" if it has)."""
    first = next((i for i, t in enumerate(tok.labels) if t != IGNORE_INDEX), None)
    if first is None:
        return "nothing to learn: the chat template left no assistant tokens"
    if max_length is not None and first >= max_length:
        over = "over " if tok.truncated else ""  # cut at the character cap: a lower bound
        return (f"nothing to learn: the prompt is {over}{first} tokens, so the assistant reply "
                f"starts after max_length ({max_length}); raise max_length or shorten the "
                "prompt")
    return ""


def _windows(tok: TokenizedSample, max_length: int) -> list[TokenizedSample]:
    # A window of one token has no next token to predict; it is dropped.
    return [TokenizedSample(tok.row, tok.input_ids[i:i + max_length],
                            tok.labels[i:i + max_length])
            for i in range(0, len(tok.input_ids), max_length)
            if len(tok.input_ids[i:i + max_length]) > 1]


# --- plans: a sample as text pieces, then ids ----------------------------------------------------

@dataclass
class _Plan:
    texts: list[str]                  # pieces of the rendered sample, in order
    learn: list[bool]                 # is each piece learned?
    special: bool = False             # let the tokenizer add its BOS etc. (plain text only)
    eos_after: Optional[int] = None   # sft: the last reply piece, followed by EOS if it does
    #                                   not end with an end-of-turn token
    eos_at_end: bool = False          # pretrain: EOS last, unless it is there already
    capped: bool = False              # sft text cut at the character cap (_cap)


def _cap(plan: _Plan, max_length: Optional[int]) -> _Plan:
    """Cut an sft plan's text after the characters that can hold max_length tokens (see
    CHARS_PER_TOKEN_MAX). Pretrain keeps everything: its long rows become windows."""
    if plan.special or plan.eos_at_end:  # pretrain plans
        return plan
    cap = max(MIN_TEXT_CAP, (max_length or 0) * CHARS_PER_TOKEN_MAX)
    total = 0
    for k, text in enumerate(plan.texts):
        if total + len(text) > cap:
            plan.texts[k] = text[:cap - total]
            plan.texts[k + 1:] = [""] * (len(plan.texts) - k - 1)
            plan.capped = True
            break
        total += len(text)
    return plan


def _plan(sample: Sample, tokenizer: Any, stage: str, train_on_prompt: bool,
          chat_template: Optional[str]) -> _Plan:
    if stage == "pretrain":
        if sample.is_text:
            return _Plan([sample.text], [True], special=True, eos_at_end=True)
        msgs, tools, template = _template_inputs(sample, tokenizer, chat_template)
        text = _render(tokenizer, msgs, tools, template, False, sample.row).rstrip()
        return _Plan([text], [True], eos_at_end=True)  # the template wrote any BOS
    if sample.is_text:
        raise DataError(f"row {sample.row} is plain text: sft learns assistant replies; use "
                        "stage: pretrain for text")
    msgs, tools, template = _template_inputs(sample, tokenizer, chat_template)
    full = _render(tokenizer, msgs, tools, template, False, sample.row)
    plan = _Plan([], [])
    pos = 0
    # a reply with a training weight of 0 stays in the conversation as context only
    weights = [m.train is not False for m in sample.messages if m.role == "assistant"]
    spans = _reply_spans(sample.row, tokenizer, msgs, tools, template, full)
    for (start, end), learn in zip(spans, weights):
        plan.texts += [full[pos:start], full[start:end]]
        plan.learn += [train_on_prompt, learn or train_on_prompt]
        pos = end
    plan.eos_after = len(plan.texts) - 1 if plan.learn and plan.learn[-1] else -1
    plan.texts.append(full[pos:])
    plan.learn.append(train_on_prompt)
    return plan


def _build(plan: _Plan, pieces: list[list[int]], tokenizer: Any) -> tuple[list[int], list[int]]:
    ids: list[int] = []
    labels: list[int] = []
    eos = tokenizer.eos_token_id
    for k, (piece, learn) in enumerate(zip(pieces, plan.learn)):
        ids.extend(piece)
        labels.extend(piece if learn else [IGNORE_INDEX] * len(piece))
        if k == plan.eos_after and eos is not None and not _ends_turn(piece, tokenizer):
            ids.append(eos)  # the template wrote no end marker: teach EOS anyway
            labels.append(eos)
    if plan.eos_at_end and eos is not None and (not ids or ids[-1] != eos):
        ids.append(eos)
        labels.append(eos)
    return ids, labels


def _encode_many(tokenizer: Any, texts: list[str], special: bool) -> list[list[int]]:
    """Token ids of each text; empty texts are not sent. verbose=False: no "longer than the
    model's maximum" warning, lengths are ours to handle."""
    todo = [t for t in texts if t]
    if not todo:
        return [[] for _ in texts]
    done = iter(tokenizer(todo, add_special_tokens=special, verbose=False)["input_ids"])
    return [list(next(done)) if t else [] for t in texts]


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
        upto = full if i == len(msgs) - 1 else \
            _render(tokenizer, msgs[:i + 1], tools, template, False, row)
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
# Message keys a template reads reasoning from, and how its text refers to them.
REASONING_TEMPLATE_KEYS = {"reasoning_content": ("reasoning_content",),
                           "thinking": ("message.thinking", "message['thinking']",
                                        'message["thinking"]')}


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
    msgs = [_template_message(m, native, template) for m in sample.messages]
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


def _template_message(m: Message, native_calls: bool, template: str) -> dict:
    """One message as the template takes it. Reasoning goes where the template reads it
    (Qwen3 / DeepSeek: reasoning_content; gpt-oss: thinking), else before the reply in
    <think> tags, the convention of open reasoning models."""
    d = _call_dict(m.content) if m.tool_call and native_calls else \
        {"role": m.role, "content": m.content}
    if m.reasoning:
        key = next((k for k, marks in REASONING_TEMPLATE_KEYS.items()
                    if any(mark in template for mark in marks)), None)
        if key:
            d[key] = m.reasoning
        else:
            d["content"] = f"<think>\n{m.reasoning}\n</think>\n\n{d['content']}"
    return d


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
