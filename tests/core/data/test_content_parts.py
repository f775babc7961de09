"""Message content as a list of typed parts, in the shapes the major toolkits write; reasoning
rendered as the template supports; tool-call parts; per-message training weights."""

import json

import pytest

from studio.core.data.formats import BadRow, MediaRow, normalise
from studio.core.data.tokenize import IGNORE_INDEX, tokenize_sample
from studio.core.model.load import load_tokenizer


def chat(*messages):
    return {"messages": list(messages)}


def user(content, **kw):
    return {"role": "user", "content": content, **kw}


def assistant(content, **kw):
    return {"role": "assistant", "content": content, **kw}


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def trained_text(tok, sample, **kw):
    t = tokenize_sample(sample, tok, None, **kw)
    return tok.decode([i for i, lab in zip(t.input_ids, t.labels) if lab != IGNORE_INDEX])


@pytest.mark.parametrize("parts", [
    [{"type": "text", "text": "Hello there"}],                      # OpenAI chat, Anthropic
    [{"type": "output_text", "text": "Hello there"}],               # OpenAI responses
    [{"type": "text", "content": "Hello there"}],                   # "content" key
    [{"type": "text", "value": "Hello there"}],                     # "value" key
    [{"text": "Hello there"}],                                      # untyped (Gemini parts)
    {"type": "text", "text": "Hello there"},                        # one part, not in a list
    [{"type": "text", "text": "Hello"}, "there"],                   # mixed with a bare string
])
def test_text_parts_under_every_key(parts):
    sample = normalise(chat(user([{"type": "input_text", "text": "Hi"}]), assistant(parts)),
                       1, "messages")
    assert sample.messages[0].content == "Hi"
    assert sample.messages[1].content.replace("\n", " ") == "Hello there"


@pytest.mark.parametrize("reply", [
    assistant([{"type": "thinking", "thinking": "Add them.", "signature": "x"},  # Anthropic
               {"type": "text", "text": "2"}]),
    assistant([{"type": "reasoning", "summary": [{"type": "summary_text",   # OpenAI responses
                                                  "text": "Add them."}]},
               {"type": "output_text", "text": "2"}]),
    assistant([{"type": "reasoning", "text": "Add them."}, {"type": "text", "text": "2"}]),
    assistant("2", reasoning_content="Add them."),                  # DeepSeek / Qwen3 / TRL
    assistant("2", thinking="Add them."),                           # gpt-oss
    assistant([{"type": "redacted_thinking", "data": "..."},
               {"type": "thinking", "thinking": "Add them."}, {"type": "text", "text": "2"}]),
])
def test_reasoning_in_every_shape(reply):
    sample = normalise(chat(user("1 + 1?"), reply), 1, "messages")
    assert (sample.messages[1].content, sample.messages[1].reasoning) == ("2", "Add them.")


def test_reasoning_is_rendered_as_the_template_supports(tok):
    sample = normalise(chat(user("1 + 1?"), assistant("2", reasoning_content="Add them.")), 1,
                       "messages")
    # the starter's ChatML template knows no reasoning: <think> tags before the reply, learned
    learned = trained_text(tok, sample)
    assert "<think>\nAdd them.\n</think>" in learned and learned.rstrip().endswith("2<|im_end|>")
    # a template that reads reasoning_content (as Qwen3's does) writes it its own way
    template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n"
                "{% if m.reasoning_content %}[R:{{ m.reasoning_content }}]{% endif %}"
                "{{ m.content }}<|im_end|>\n{% endfor %}"
                "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    learned = trained_text(tok, sample, chat_template=template)
    assert "[R:Add them.]2" in learned and "<think>" not in learned


def test_tool_call_and_tool_result_parts():
    row = chat(user("Weather in Paris?"),
               assistant([{"type": "tool_use", "id": "t1", "name": "weather",      # Anthropic
                           "input": {"city": "Paris"}}]),
               user([{"type": "tool_result", "tool_use_id": "t1",
                      "content": [{"type": "text", "text": "18 C"}]}]),
               assistant("It is 18 C."))
    s = normalise(row, 1, "messages")
    assert [m.role for m in s.messages] == ["user", "assistant", "tool", "assistant"]
    assert s.messages[1].tool_call
    assert json.loads(s.messages[1].content) == {"name": "weather",
                                                 "arguments": {"city": "Paris"}}
    assert s.messages[2].content == "18 C"
    responses = chat(user("Weather?"),                                           # OpenAI responses
                     assistant([{"type": "function_call", "name": "weather",
                                 "arguments": "{\"city\": \"Oslo\"}", "call_id": "c"}]),
                     {"role": "tool", "content": [{"type": "function_call_output",
                                                   "call_id": "c", "output": "3 C"}]},
                     assistant("3 C."))
    s = normalise(responses, 1, "messages")
    assert json.loads(s.messages[1].content)["arguments"] == {"city": "Oslo"}
    assert s.messages[2].content == "3 C"


@pytest.mark.parametrize("off", [{"weight": 0}, {"loss": False}, {"train": False},
                                 {"training": False}, {"weight": 0.0}])
def test_per_message_weights_keep_a_reply_as_context_only(tok, off):
    row = chat(user("First question"), assistant("First answer", **off),
               user("Second question"), assistant("Second answer", weight=1))
    sample = normalise(row, 1, "messages")
    assert sample.messages[1].train is False and sample.messages[3].train is True
    learned = trained_text(tok, sample)
    assert "Second answer" in learned and "First answer" not in learned
    assert "First answer" in tok.decode(tokenize_sample(sample, tok, None).input_ids)
    assert "First answer" in trained_text(tok, sample, train_on_prompt=True)


def test_sharegpt_weights_on_every_turn(tok):
    row = {"conversations": [{"from": "human", "value": "Q1", "weight": 0},
                             {"from": "gpt", "value": "A1", "weight": 0},
                             {"from": "human", "value": "Q2", "weight": 0},
                             {"from": "gpt", "value": "A2", "weight": 1}]}
    learned = trained_text(tok, normalise(row, 1, "sharegpt"))
    assert "A2" in learned and "A1" not in learned and "Q2" not in learned


@pytest.mark.parametrize("row, reason", [
    (chat(user("Hi"), assistant("Hello", weight=0.5)), "weight '0.5'.*0 or 1"),
    (chat(user("Hi"), assistant([{"type": "text", "text": "Let me look."},
                                 {"type": "tool_use", "name": "f", "input": {}}])),
     "text and a tool call"),
    (chat(user([{"type": "tool_use", "name": "f", "input": {}}]), assistant("x")),
     "only assistants call"),
    (chat(user([{"type": "table", "rows": []}]), assistant("x")), "part of type 'table'"),
    (chat(user([{"type": "thinking"}]), assistant("x")), "reasoning part without its text"),
])
def test_parts_that_cannot_be_read_say_why(row, reason):
    with pytest.raises(BadRow, match=reason):
        normalise(row, 1, "messages")


@pytest.mark.parametrize("part, kind", [({"type": "image_url", "image_url": {"url": "x"}},
                                         "image"),
                                        ({"type": "input_audio", "input_audio": {}}, "audio")])
def test_media_parts_are_still_refused(part, kind):
    with pytest.raises(MediaRow, match=f"{kind} input"):
        normalise(chat(user([{"type": "text", "text": "Look"}, part]), assistant("x")), 1,
                  "messages")
