"""Tokenizing with the model's chat template: loss on assistant replies + their end-of-turn token
only, for several template styles; truncation that leaves nothing to learn is reported."""

import copy
import itertools
import json
from pathlib import Path

import pytest
from data_files import write_rows

from studio.core.data.doctor import (
    IGNORE_INDEX,
    Message,
    Sample,
    inspect_dataset,
    load_samples,
    tokenize_dataset,
    tokenize_sample,
)
from studio.core.errors import DataError

SHARED = Path(__file__).resolve().parents[4] / "shared" / "datasets"
IM_END = "<|im_end|>"

# Llama 3 style: header tokens, <|eot_id|> ends a turn, content trimmed, no {% generation %}.
LLAMA3 = ("{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + "
          "message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + "
          "'<|eot_id|>' }}{%- endfor %}{%- if add_generation_prompt %}{{- "
          "'<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")

# Qwen2.5's template (tools in the system prompt, tool calls in <tool_call> tags, tool results
# folded into a user turn, a default system prompt).
QWEN25 = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}"
    "{{- messages[0]['content'] }}{%- else %}{{- 'You are Qwen, a helpful assistant.' }}"
    "{%- endif %}{{- '\\n\\n# Tools\\n\\n<tools>' }}{%- for tool in tools %}{{- '\\n' }}"
    "{{- tool | tojson }}{%- endfor %}{{- '\\n</tools><|im_end|>\\n' }}{%- else %}"
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + "
    "messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are "
    "Qwen, a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}"
    "{%- for message in messages %}{%- if (message.role == 'user') or (message.role == "
    "'system' and not loop.first) or (message.role == 'assistant' and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- elif message.role == 'assistant' %}{{- '<|im_start|>' + message.role }}"
    "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
    "{%- for tool_call in message.tool_calls %}{%- if tool_call.function is defined %}"
    "{%- set tool_call = tool_call.function %}{%- endif %}{{- '\\n<tool_call>\\n{\"name\": \"' }}"
    "{{- tool_call.name }}{{- '\", \"arguments\": ' }}{{- tool_call.arguments | tojson }}"
    "{{- '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}"
    "{%- elif message.role == 'tool' %}{%- if (loop.index0 == 0) or "
    "(messages[loop.index0 - 1].role != 'tool') %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}"
    "{%- if loop.last or (messages[loop.index0 + 1].role != 'tool') %}{{- '<|im_end|>\\n' }}"
    "{%- endif %}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")

# Writes no end-of-turn marker at all: EOS must still be learned after the last reply.
PLAIN = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
         "{% if add_generation_prompt %}assistant: {% endif %}")

# Rewrites history (like Qwen3 with its <think> blocks): only the LAST assistant turn gets an
# empty think block, so earlier prefixes are not prefixes of the whole conversation.
REWRITES = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
            "{% if m['role'] == 'assistant' and loop.last %}{{ '<think>\\n\\n</think>\\n\\n' }}"
            "{% endif %}{{ m['content'] + '<|im_end|>\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

# Mistral style: refuses anything but strict user/assistant alternation.
STRICT = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
          "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
          "{{ '[INST] ' + m['content'] + ' [/INST]' if m['role'] == 'user' else m['content'] + "
          "eos_token }}{% endfor %}")


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    """The starter model's tokenizer (ChatML template, EOS <|im_end|>), loaded as any model's."""
    from studio.core.model.load import load_tokenizer

    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def llama3_tokenizer(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.add_tokens(["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], special_tokens=True)
    tok.chat_template = LLAMA3
    return tok


def _with_template(tokenizer, template):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    return tok


def _learned_runs(tok, t):
    """The decoded text of each run of consecutive labelled tokens."""
    assert len(t.input_ids) == len(t.labels)
    for token, label in zip(t.input_ids, t.labels):
        assert label in (IGNORE_INDEX, token)  # a label is its own input token (the model shifts)
    runs = itertools.groupby(zip(t.input_ids, t.labels), key=lambda p: p[1] != IGNORE_INDEX)
    return [tok.decode([i for i, _ in run]) for learned, run in runs if learned]


def chat(*turns, tools=None, row=1):
    return Sample(row, messages=tuple(Message(r, c) for r, c in turns), tools=tools)


CONV = chat(("system", "Be kind."), ("user", "Hi there"), ("assistant", "Hello! How are you?"),
            ("user", "Fine, thanks. 你好吗?"), ("assistant", "我很好，谢谢。"))


def test_chatml_learns_each_reply_and_its_end_token(tokenizer):
    t = tokenize_sample(CONV, tokenizer, None)
    assert _learned_runs(tokenizer, t) == ["Hello! How are you?" + IM_END,
                                           "我很好，谢谢。" + IM_END]
    assert not t.truncated
    eos = tokenizer.eos_token_id
    assert tokenizer.convert_ids_to_tokens(eos) == IM_END and t.labels.count(eos) == 2


def test_chatml_mask_matches_the_templates_generation_markers(tokenizer):
    # The starter template marks replies with {% generation %}: transformers' own mask must
    # cover the same text as the prefix-rendering method (which does not need the markers).
    msgs = [{"role": m.role, "content": m.content} for m in CONV.messages]
    out = tokenizer.apply_chat_template(msgs, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    theirs = [tokenizer.decode([i for i, _ in run]) for on, run in
              itertools.groupby(zip(ids, mask), key=lambda p: p[1] == 1) if on]
    assert theirs == _learned_runs(tokenizer, tokenize_sample(CONV, tokenizer, None))


def test_llama3_style_template(llama3_tokenizer):
    t = tokenize_sample(CONV, llama3_tokenizer, None)
    assert _learned_runs(llama3_tokenizer, t) == ["Hello! How are you?<|eot_id|>",
                                                  "我很好，谢谢。<|eot_id|>"]
    assert llama3_tokenizer.eos_token_id not in t.input_ids  # <|eot_id|> ends turns here


def test_template_without_end_marker_gets_eos_learned(tokenizer):
    tok = _with_template(tokenizer, PLAIN)
    t = tokenize_sample(CONV, tok, None)
    assert _learned_runs(tok, t) == ["Hello! How are you?", "我很好，谢谢。" + IM_END]


def test_template_that_rewrites_history(tokenizer):
    tok = _with_template(tokenizer, REWRITES)
    runs = _learned_runs(tok, tokenize_sample(CONV, tok, None))
    assert runs == ["Hello! How are you?" + IM_END,
                    "<think>\n\n</think>\n\n我很好，谢谢。" + IM_END]


def test_train_on_prompt_learns_everything(tokenizer):
    t = tokenize_sample(CONV, tokenizer, None, train_on_prompt=True)
    assert t.labels == t.input_ids


def test_tools_and_tool_calls_in_qwen_style(tokenizer):
    tok = _with_template(tokenizer, QWEN25)
    tools = json.dumps([{"name": "add", "parameters": {"type": "object"}}])
    s = Sample(1, messages=(
        Message("user", "1+1?"),
        Message("assistant", '{"name": "add", "arguments": {"a": 1}}', tool_call=True),
        Message("tool", "2"), Message("assistant", "It is 2.")), tools=tools)
    t = tokenize_sample(s, tok, None)
    text = tok.decode(t.input_ids)
    assert '<tools>\n{"name": "add"' in text and "<tool_response>\n2\n</tool_response>" in text
    # The generation prompt "<|im_start|>assistant\n" ends with the newline the template writes
    # before a call, so the call itself starts at <tool_call>.
    assert _learned_runs(tok, t) == [
        '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>' + IM_END,
        "It is 2." + IM_END]


def test_tools_go_into_the_system_prompt_when_the_template_ignores_them(llama3_tokenizer):
    tools = json.dumps([{"name": "lookup_weather", "parameters": {}}])
    s = chat(("user", "Weather?"), ("assistant", "Sunny."), tools=tools)
    t = tokenize_sample(s, llama3_tokenizer, None)
    text = llama3_tokenizer.decode(t.input_ids)
    assert text.index("lookup_weather") < text.index("Weather?")
    assert _learned_runs(llama3_tokenizer, t) == ["Sunny.<|eot_id|>"]


def test_glaive_rows_with_the_starter_template(tokenizer):
    path = SHARED / "glaive_toolcall_en_demo.json"
    if not path.exists():
        pytest.skip(f"sample dataset {path} is not on this machine")
    samples, _ = load_samples(path, max_rows=20)
    tokenized, problems = tokenize_dataset(samples, tokenizer, 4096)
    assert problems == [] and len(tokenized) == 20
    for s, t in zip(samples, tokenized):
        runs = _learned_runs(tokenizer, t)
        replies = [m for m in s.messages if m.role == "assistant"]
        assert len(runs) == len(replies)
        for run, m in zip(runs, replies):
            assert run.endswith(IM_END)
            if m.tool_call:
                assert run.startswith("<tool_call>") and json.loads(
                    run[len("<tool_call>"):-len("</tool_call>" + IM_END)]) == json.loads(m.content)
            else:
                assert run == m.content + IM_END


def test_pretrain_text_learns_every_token_and_eos(tokenizer):
    t = tokenize_sample(Sample(1, text="Plain text to learn."), tokenizer, None, stage="pretrain")
    assert t.labels == t.input_ids and t.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(t.input_ids, skip_special_tokens=True) == "Plain text to learn."


def test_pretrain_chat_rows_are_rendered(tokenizer):
    t = tokenize_sample(CONV, tokenizer, None, stage="pretrain")
    assert t.labels == t.input_ids
    assert tokenizer.decode(t.input_ids).endswith("我很好，谢谢。" + IM_END)


def test_pretrain_splits_long_text_into_windows(tokenizer):
    s = Sample(4, text=" ".join(f"word{i}" for i in range(300)))
    whole = tokenize_sample(s, tokenizer, None, stage="pretrain").input_ids
    windows, problems = tokenize_dataset([s], tokenizer, 64, stage="pretrain")
    assert problems == [] and len(windows) == -(-len(whole) // 64)
    assert all(len(w.input_ids) <= 64 and w.row == 4 for w in windows)
    assert [i for w in windows for i in w.input_ids] == whole


def test_sft_refuses_text_samples(tokenizer):
    with pytest.raises(DataError, match="use stage: pretrain"):
        tokenize_sample(Sample(2, text="x"), tokenizer, 64)


def test_truncation_keeps_a_partial_answer_and_reports_an_empty_one(tokenizer):
    long_prompt = chat(("user", "Tell me. " * 200), ("assistant", "Short answer."), row=7)
    short = chat(("user", "Hi"), ("assistant", "Hello " * 50), row=8)
    ok = chat(("user", "Hi"), ("assistant", "Yo"), row=9)
    out, problems = tokenize_dataset([long_prompt, short, ok], tokenizer, 32)
    assert [t.row for t in out] == [8, 9]
    assert out[0].truncated and len(out[0].input_ids) == 32 and not out[1].truncated
    assert any(label != IGNORE_INDEX for label in out[0].labels)
    assert [p.row for p in problems] == [7]
    assert "nothing to learn" in problems[0].reason and "max_length (32)" in problems[0].reason
    assert tokenize_sample(long_prompt, tokenizer, 32).truncated


def test_template_refusals_and_missing_templates_are_row_problems(tokenizer):
    tok = _with_template(tokenizer, STRICT)
    bad = chat(("user", "a"), ("assistant", "b"), ("tool", "c"), ("assistant", "d"), row=5)
    good = chat(("user", "a"), ("assistant", "b"), row=6)
    out, problems = tokenize_dataset([bad, good], tok, 64)
    assert [t.row for t in out] == [6]
    assert [p.row for p in problems] == [5]
    assert "roles must alternate" in problems[0].reason
    none = _with_template(tokenizer, None)
    with pytest.raises(DataError, match="no chat template"):
        tokenize_sample(good, none, 64)
    assert tokenize_sample(good, none, 64, chat_template=PLAIN).labels  # an explicit template


def test_inspect_with_a_tokenizer_reports_lengths(tmp_path, tokenizer):
    rows = [{"instruction": "Hi", "input": "", "output": "Yo"},
            {"instruction": "Tell me. " * 100, "input": "", "output": "Ok."},
            {"instruction": "Hi", "input": "", "output": "word " * 60}]
    report = inspect_dataset(write_rows(tmp_path, "jsonl", rows), tokenizer=tokenizer,
                             max_length=64)
    assert report.length_stats.count == 3 and len(report.lengths) == 3
    short = tokenize_sample(load_samples(write_rows(tmp_path, "jsonl", rows[:1], "one"))[0][0],
                            tokenizer, None)
    assert report.length_stats.min == report.lengths[0] == len(short.input_ids)
    assert report.length_stats.max > 64
    assert report.over_max_length == 2
    assert report.all_masked_rows == [2]  # row 3 is cut too, but keeps part of its answer


@pytest.mark.parametrize("prompt_words,reply_chars", [(3, 5_000), (3, 20_000), (300, 5_000)])
def test_a_huge_sft_text_is_cut_before_tokenizing_without_changing_the_kept_tokens(
        tokenizer, monkeypatch, prompt_words, reply_chars):
    # Small caps stand in for the real ones (1 MiB of characters; 256 per token of max_length).
    # The last case cuts inside the prompt: it has nothing to learn within max_length either way.
    from studio.core.data import tokenize as dt

    s = chat(("user", "Summarise this: " + "长文本 and words, " * prompt_words),
             ("assistant", ("A reply. " * reply_chars)[:reply_chars]))
    whole = tokenize_sample(s, tokenizer, 64)
    whole_kept, whole_problems = tokenize_dataset([s], tokenizer, 64)
    monkeypatch.setattr(dt, "MIN_TEXT_CAP", 1000)
    monkeypatch.setattr(dt, "CHARS_PER_TOKEN_MAX", 16)  # the starter's tokens are <= 16 chars
    cut = tokenize_sample(s, tokenizer, 64)
    assert (cut.input_ids, cut.labels) == (whole.input_ids, whole.labels)
    assert cut.truncated and whole.truncated
    (_, streamed), = list(dt.tokenize_stream([s], tokenizer, max_length=64))
    assert streamed.truncated and streamed.input_ids[:64] == whole.input_ids
    kept, problems = tokenize_dataset([s], tokenizer, 64)
    assert [p.row for p in problems] == [p.row for p in whole_problems]
    for p, w in zip(problems, whole_problems):  # the cut one knows a lower bound only
        assert p.reason.startswith("nothing to learn: the prompt is over ")
        assert w.reason.startswith("nothing to learn: the prompt is ")
    assert [k.input_ids for k in kept] == [k.input_ids for k in whole_kept]
    assert all(k.truncated for k in kept)


def test_pretrain_text_is_never_cut_by_the_cap(tokenizer, monkeypatch):
    from studio.core.data import tokenize as dt

    monkeypatch.setattr(dt, "MIN_TEXT_CAP", 100)
    s = Sample(5, text=" ".join(f"word{i}" for i in range(400)))
    kept, _ = tokenize_dataset([s], tokenizer, 32, stage="pretrain")
    assert sum(len(w.input_ids) for w in kept) > 400  # every word is in some window
