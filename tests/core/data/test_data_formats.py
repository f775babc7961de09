"""Shapes: normalised samples, and every kind of broken row named with its 1-based row number."""

import json

import pytest
from data_files import write_rows

from studio.core.data.doctor import Message, inspect_dataset, load_samples
from studio.core.errors import DataError

GOOD_ALPACA = {"instruction": "Add 1 and 1.", "input": "", "output": "2"}
GOOD_SHAREGPT = {"conversations": [{"from": "human", "value": "Hi"},
                                   {"from": "gpt", "value": "Hello!"}]}
GOOD_MESSAGES = {"messages": [{"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello!"}]}


def _problems(tmp_path, rows, fmt="auto"):
    report = inspect_dataset(write_rows(tmp_path, "jsonl", rows), fmt)
    return {p.row: p.reason for p in report.problems}, report


# --- good rows normalise -------------------------------------------------------------------------

def test_alpaca_with_system_history_and_input(tmp_path):
    row = {"instruction": "Translate:", "input": "你好", "output": "Hello",
           "system": "You translate.", "history": [["Hi", "Hey"]]}
    samples, _ = load_samples(write_rows(tmp_path, "json", [row]))
    assert samples[0].messages == (
        Message("system", "You translate."), Message("user", "Hi"), Message("assistant", "Hey"),
        Message("user", "Translate:\n你好"), Message("assistant", "Hello"))


def test_prompt_completion_rows_read_as_alpaca(tmp_path):
    samples, report = load_samples(write_rows(tmp_path, "jsonl",
                                              [{"prompt": "Q?", "completion": "A."}]))
    assert report.format == "alpaca"
    assert samples[0].messages == (Message("user", "Q?"), Message("assistant", "A."))


def test_sharegpt_tool_roles_and_tools(tmp_path):
    tools = [{"name": "add", "description": "adds", "parameters": {"type": "object"}}]
    row = {"conversations": [
        {"from": "system", "value": "Use tools."},
        {"from": "human", "value": "1+1?"},
        {"from": "function_call", "value": '{"name": "add", "arguments": {"a": 1, "b": 1}}'},
        {"from": "observation", "value": "2"},
        {"from": "gpt", "value": "It is 2."}], "tools": json.dumps(tools)}
    samples, _ = load_samples(write_rows(tmp_path, "json", [row]))
    s = samples[0]
    assert [m.role for m in s.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert s.messages[2].content == '{"name": "add", "arguments": {"a": 1, "b": 1}}'
    assert json.loads(s.tools) == tools


def test_empty_tools_are_none(tmp_path):
    rows = [{**GOOD_SHAREGPT, "tools": t} for t in ("", "[]", None)]
    samples, _ = load_samples(write_rows(tmp_path, "json", rows))
    assert [s.tools for s in samples] == [None, None, None]


def test_messages_with_text_parts_and_openai_tool_calls(tmp_path):
    row = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Weather"},
                                     {"type": "text", "text": "in Paris?"}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "assistant", "content": "Sunny."}],
        "tools": [{"type": "function", "function": {"name": "weather"}}]}
    samples, _ = load_samples(write_rows(tmp_path, "json", [row]))
    msgs = samples[0].messages
    assert msgs[0].content == "Weather\nin Paris?"
    assert json.loads(msgs[1].content) == {"name": "weather", "arguments": {"city": "Paris"}}
    assert json.loads(samples[0].tools)[0]["function"]["name"] == "weather"


def test_format_override_beats_detection(tmp_path):
    path = write_rows(tmp_path, "jsonl", [GOOD_SHAREGPT])
    report = inspect_dataset(path, "alpaca")
    assert (report.format, report.detected_format, report.good_rows) == ("alpaca", "sharegpt", 0)
    assert report.problems[0].reason == "missing field 'instruction'"
    with pytest.raises(DataError, match="rows look like sharegpt"):
        load_samples(path, "alpaca")


def test_unknown_format_name_is_refused(tmp_path):
    with pytest.raises(DataError, match="unknown dataset format 'chatml'"):
        inspect_dataset(write_rows(tmp_path, "jsonl", [GOOD_ALPACA]), "chatml")


def test_extra_fields_are_reported(tmp_path):
    rows = [{**GOOD_ALPACA, "id": 1}, {**GOOD_ALPACA, "source": "web", "id": 2}]
    _, report = _problems(tmp_path, rows)
    assert report.unknown_fields == ["id", "source"]
    assert report.good_rows == 2


# --- broken rows -----------------------------------------------------------------------------

@pytest.mark.parametrize("bad,reason", [
    ({"instruction": "x", "input": "", "output": ""}, "empty assistant reply (field 'output')"),
    ({"instruction": "x", "input": "", "output": "   "}, "empty assistant reply (field 'output')"),
    ({"instruction": "x", "input": ""}, "missing field 'output'"),
    ({"instruction": None, "output": "y"}, "field 'instruction' is null"),
    ({"instruction": "x", "output": 42}, "field 'output' is a number, expected text"),
    ({"instruction": "", "input": "", "output": "y"},
     "empty prompt: instruction and input are both empty"),
    ({"instruction": "x", "output": "y", "history": [["q"]]},
     "history item 1 is not a [question, answer] pair of texts"),
    ({"instruction": "x", "output": "y", "history": "q a"},
     "field 'history' is a string, expected a list of [question, answer] pairs"),
    (["not", "an", "object"], "the row is a list, expected an object with fields"),
])
def test_broken_alpaca_rows(tmp_path, bad, reason):
    problems, report = _problems(tmp_path, [GOOD_ALPACA, GOOD_ALPACA, bad, GOOD_ALPACA])
    assert problems == {3: reason}
    assert (report.total_rows, report.good_rows) == (4, 3)


def _conv(*turns):
    return {"conversations": [{"from": f, "value": v} for f, v in turns]}


@pytest.mark.parametrize("bad,reason", [
    (_conv(("human", "Hi"), ("gpt", "")), "empty assistant reply (message 2)"),
    (_conv(("human", "Hi")), "the conversation has no assistant turn"),
    (_conv(("human", "Hi"), ("gpt", "Yo"), ("human", "And?")),
     "the conversation ends with a user turn, with no assistant reply after it"),
    (_conv(("human", "Hi"), ("human", "Hi again"), ("gpt", "Yo")),
     "two user turns in a row (messages 1 and 2)"),
    (_conv(("gpt", "I start"), ("human", "Hi"), ("gpt", "Yo")),
     "the conversation starts with an assistant turn (message 1); it must start with a user turn"),
    (_conv(("human", "Hi"), ("observation", "42"), ("gpt", "Yo")),
     "a tool turn cannot follow a user turn (message 2)"),
    (_conv(("human", "Hi"), ("gpt", "Yo"), ("system", "late"), ("human", "x"), ("gpt", "y")),
     "message 3 is a system message after the conversation started"),
    (_conv(("human", "Hi"), ("robot", "Yo")),
     "message 2 has a role it does not understand: 'robot'"),
    ({"conversations": [{"from": "human", "value": None}, {"from": "gpt", "value": "x"}]},
     "message 1 has no content (null)"),
    ({"conversations": [{"from": "human", "value": 5}, {"from": "gpt", "value": "x"}]},
     "message 1 content is a number, expected text"),
    ({"conversations": [{"from": "human"}, {"from": "gpt", "value": "x"}]},
     "message 1 has no 'value'"),
    ({"conversations": ["Hi", "Yo"]},
     "message 1 is a string, expected an object with from/value (or role/content)"),
    ({"conversations": []}, "the conversation is empty"),
    ({"conversations": None}, "field 'conversations' is null"),
    ({"conversations": "Hi"}, "field 'conversations' is a string, expected a list of messages"),
    ({**_conv(("human", "Hi"), ("gpt", "Yo")), "tools": "{not json"},
     "field 'tools' is not valid JSON"),
    ({**_conv(("system", "A"), ("human", "Hi"), ("gpt", "Yo")), "system": "B"},
     "has a system prompt both in 'system' and as the first message"),
])
def test_broken_sharegpt_rows(tmp_path, bad, reason):
    problems, _ = _problems(tmp_path, [GOOD_SHAREGPT, bad], "sharegpt")
    assert problems == {2: reason}


@pytest.mark.parametrize("bad,reason", [
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"},
                                                {"type": "table", "rows": []}]},
                   {"role": "assistant", "content": "x"}]},
     "message 1 has a content part of type 'table' that is not text"),
    ({"messages": [{"content": "Hi"}, {"role": "assistant", "content": "x"}]},
     "message 1 has no 'from' or 'role'"),
    ({"messages": [{"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": None, "tool_calls": "x"}]},
     "message 2 has tool_calls that are not a list of calls"),
])
def test_broken_messages_rows(tmp_path, bad, reason):
    problems, _ = _problems(tmp_path, [GOOD_MESSAGES, GOOD_MESSAGES, GOOD_MESSAGES, bad])
    assert problems == {4: reason}


def test_broken_text_rows(tmp_path):
    rows = [{"text": "fine"}, {"text": ""}, {"text": None}, {"text": ["a"]}, {"txt": "typo"}]
    problems, _ = _problems(tmp_path, rows, "text")
    assert problems == {2: "empty text", 3: "field 'text' is null",
                        4: "field 'text' is a list, expected text", 5: "missing field 'text'"}


def test_broken_preference_rows(tmp_path):
    good = {"instruction": "Q", "chosen": "good", "rejected": "bad"}
    rows = [good, {**good, "chosen": ""}, {**good, "rejected": None},
            {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}],
             "chosen": "x", "rejected": "y"}]
    problems, report = _problems(tmp_path, rows)
    assert report.is_preference and report.good_rows == 1
    assert problems == {2: "empty chosen reply", 3: "field 'rejected' is null",
                        4: "the prompt ends with an assistant turn; it must end with a user turn"}


# --- media ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("row,kind", [
    ({**GOOD_ALPACA, "images": ["cat.png"]}, "image"),
    ({**GOOD_SHAREGPT, "videos": ["v.mp4"]}, "video"),
    ({**GOOD_SHAREGPT, "audios": ["a.wav"]}, "audio"),
    ({"instruction": "<image>What is this?", "output": "A cat."}, "image"),
    ({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:..."}}]},
        {"role": "assistant", "content": "A cat."}]}, "image"),
    ({"messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "..."}}]},
        {"role": "assistant", "content": "Hello."}]}, "audio"),
])
def test_media_rows_are_refused(tmp_path, row, kind):
    good = GOOD_MESSAGES if "messages" in row else GOOD_SHAREGPT if "conversations" in row \
        else GOOD_ALPACA
    problems, report = _problems(tmp_path, [good, row])
    assert report.media_rows == [2]
    assert problems == {2: f"has {kind} input; this studio trains text models"}
    assert "images" not in report.unknown_fields


def test_media_only_file_cannot_be_trained(tmp_path):
    path = write_rows(tmp_path, "jsonl", [{**GOOD_ALPACA, "image": "x.png"}] * 3)
    with pytest.raises(DataError, match="every row .* has image/audio/video input; this studio "
                                        "trains text models"):
        load_samples(path, skip_bad_rows=True)
