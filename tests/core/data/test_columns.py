"""Column mapping (config key `columns`): files whose fields have other names, turns nested
under keys, the proposal for a file the doctor cannot place, and bad mappings as one line."""

import pytest
from data_files import write_rows

from studio.core.config import from_dict, load
from studio.core.data.columns import parse_columns
from studio.core.data.doctor import Message, inspect_dataset, load_samples, propose_for_file
from studio.core.errors import ConfigError, DataError


def qa_rows(n=4):
    """Company export: column names no format knows."""
    return [{"id": i, "q_text": f"What is {i} + {i}?", "a_text": f"It is {2 * i}.",
             "lang": "en"} for i in range(n)]


def conversation_pair_rows(n=4):
    """The Chinese community shape: a `conversation` list of human / assistant pairs."""
    return [{"conversation_id": i, "category": "闲聊",
             "conversation": [{"human": "你好", "assistant": "你好！有什么可以帮你？"},
                              {"human": f"讲个笑话 {i}", "assistant": "好的，从前有座山……"}]}
            for i in range(n)]


def nested_turn_rows(n=4):
    """Turns two levels down, in objects whose field names say nothing known."""
    return [{"meta": {"source": "crm"},
             "data": {"dialog": [{"ask_text": f"Order {i} status?", "reply_text": "Shipped."},
                                 {"ask_text": "When?", "reply_text": "Tomorrow."}]}}
            for i in range(n)]


NESTED_COLUMNS = "messages=data.dialog,user_tag=ask_text,assistant_tag=reply_text"


# --- reading through a mapping -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_unknown_field_names_read_through_a_mapping(tmp_path, kind):
    path = write_rows(tmp_path, kind, qa_rows())
    with pytest.raises(DataError, match="cannot tell the shape"):
        load_samples(path)
    samples, report = load_samples(path, columns="prompt=q_text,response=a_text")
    assert (report.format, report.columns, report.good_rows) == \
        ("alpaca", "prompt=q_text,response=a_text", 4)
    assert samples[1].messages == (Message("user", "What is 1 + 1?"),
                                   Message("assistant", "It is 2."))
    assert report.unknown_fields == ["id", "lang"]


def test_a_yaml_mapping_and_the_written_form_are_the_same_key(tmp_path):
    a = from_dict({"columns": {"prompt": "q_text", "response": "a_text", "system": "sys"}})
    b = from_dict({"columns": "prompt=q_text,response=a_text,system=sys"})
    assert a.columns == b.columns == "prompt=q_text,response=a_text,system=sys"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\ndataset: d.jsonl\noutput_dir: o\n", "utf-8")
    assert load(cfg, ["columns=prompt=q_text,response=a_text"]).columns == \
        "prompt=q_text,response=a_text"


def test_query_system_and_history_roles(tmp_path):
    row = {"task": "Translate:", "src": "你好", "tgt": "Hello", "persona": "You translate.",
           "before": [{"u": "Hi", "b": "Hey"}]}
    samples, _ = load_samples(write_rows(tmp_path, "json", [row]), columns={
        "prompt": "task", "query": "src", "response": "tgt", "system": "persona",
        "history": "before", "user_tag": "u", "assistant_tag": "b"})
    assert samples[0].messages == (
        Message("system", "You translate."), Message("user", "Hi"), Message("assistant", "Hey"),
        Message("user", "Translate:\n你好"), Message("assistant", "Hello"))


def test_messages_with_role_and_content_tags(tmp_path):
    row = {"chat": [{"who": "customer", "says": "Broken screen"},
                    {"who": "agent", "says": "Sorry! Send it in."}]}
    samples, report = load_samples(write_rows(tmp_path, "jsonl", [row]), columns=(
        "messages=chat,role_tag=who,content_tag=says,user_tag=customer,assistant_tag=agent"))
    assert report.format == "messages"
    assert samples[0].messages == (Message("user", "Broken screen"),
                                   Message("assistant", "Sorry! Send it in."))


def test_turns_nested_under_keys_and_paths_into_them(tmp_path):
    row = {"chat": {"turn_1": {"Human": "Hi", "Assistant": "Hello"},
                    "turn_2": {"Human": "Bye", "Assistant": "See you"}}}
    path = write_rows(tmp_path, "jsonl", [row])
    samples, _ = load_samples(path, columns="messages=chat")
    assert [m.content for m in samples[0].messages] == ["Hi", "Hello", "Bye", "See you"]
    samples, _ = load_samples(path, columns="prompt=chat.turn_2.Human,"
                                            "response=chat.turn_2.Assistant")
    assert samples[0].messages == (Message("user", "Bye"), Message("assistant", "See you"))


def test_text_and_preference_roles(tmp_path):
    path = write_rows(tmp_path, "jsonl", [{"body": "Plain paragraph.", "q": "Q?", "good": "A",
                                           "bad": "B"}])
    report = inspect_dataset(path, columns="text=body")
    assert (report.format, report.preview[0].text) == ("text", "Plain paragraph.")
    report = inspect_dataset(path, columns="prompt=q,chosen=good,rejected=bad")
    assert report.is_preference and report.good_rows == 1
    with pytest.raises(DataError, match="train it with stage: dpo"):   # not with stage sft
        load_samples(path, columns="prompt=q,chosen=good,rejected=bad")


def test_a_label_makes_kto_style_preference_rows(tmp_path):
    rows = [{"q": "Q?", "a": "A", "ok": v} for v in (True, "false", "maybe")]
    report = inspect_dataset(write_rows(tmp_path, "jsonl", rows),
                             columns="prompt=q,response=a,label=ok")
    assert report.is_preference and report.good_rows == 2
    assert [str(p) for p in report.problems] == [
        "row 3: field 'ok' (label) is 'maybe', expected true or false"]


# --- detection and proposals ---------------------------------------------------------------------

def test_conversation_pairs_are_detected_without_a_mapping(tmp_path):
    samples, report = load_samples(write_rows(tmp_path, "json", conversation_pair_rows()))
    assert (report.format, report.detected_format) == ("messages", "messages")
    assert report.columns == "messages=conversation,user_tag=human,assistant_tag=assistant"
    assert [m.role for m in samples[0].messages] == ["user", "assistant"] * 2
    assert samples[0].messages[1].content == "你好！有什么可以帮你？"
    assert report.unknown_fields == ["conversation_id", "category"]


def test_conversations_key_holding_pairs_is_read_as_pairs(tmp_path):
    rows = [{"conversations": [{"user": "Hi", "assistant": "Hello"}]}]
    samples, report = load_samples(write_rows(tmp_path, "jsonl", rows))
    assert report.columns == "messages=conversations,user_tag=user,assistant_tag=assistant"
    assert samples[0].messages == (Message("user", "Hi"), Message("assistant", "Hello"))


def test_known_formats_are_not_remapped(tmp_path):
    rows = [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]}]
    report = inspect_dataset(write_rows(tmp_path, "jsonl", rows))
    assert (report.format, report.columns) == ("sharegpt", "")


@pytest.mark.parametrize("rows,expected,sure", [
    (qa_rows(), "prompt=q_text,response=a_text", False),
    (conversation_pair_rows(), "messages=conversation,user_tag=human,assistant_tag=assistant",
     True),
    (nested_turn_rows(), NESTED_COLUMNS, False),
    ([{"问题": "1+1=?", "答案": "2", "备注": "x"}] * 3, "prompt=问题,response=答案", False),
    ([{"title": "Some long article title", "body": "Body text of the article."}] * 3,
     "prompt=title,response=body", False),
    ([{"dialog": [{"speaker": "user", "text": "Hi"}, {"speaker": "bot", "text": "Yo"}]}] * 3,
     "messages=dialog,role_tag=speaker,content_tag=text", True),
    ([{"post": "A paragraph of plain text to learn from."}] * 3, "text=post", False),
    ([{"n": 1, "m": 2}] * 3, "", False),
    ([{"sys_prompt": "Be kind.", "question": "Q?", "answer": "A."}] * 3,
     "prompt=question,response=answer,system=sys_prompt", False),
    ([{"turns": [{"role": "user", "content": "Q"}], "better": "A", "worse": "B",
       "tools": "[]"}] * 3, "messages=turns,tools=tools,chosen=better,rejected=worse", True),
])
def test_the_proposal(tmp_path, rows, expected, sure):
    proposal = propose_for_file(write_rows(tmp_path, "jsonl", rows))
    assert (str(proposal.columns), proposal.sure) == (expected, sure)
    if expected:
        assert proposal.reason
        assert {f.path for f in proposal.fields} >= set(parse_columns(expected).fields())


def test_a_file_it_cannot_place_names_the_proposal(tmp_path):
    with pytest.raises(DataError) as e:
        load_samples(write_rows(tmp_path, "jsonl", nested_turn_rows()))
    assert f"the fields look like columns {NESTED_COLUMNS}" in str(e.value)
    samples, report = load_samples(write_rows(tmp_path, "jsonl", nested_turn_rows()),
                                   columns=NESTED_COLUMNS)
    assert samples[0].messages[0] == Message("user", "Order 0 status?")


# --- bad mappings: one line naming the field (and the row) ----------------------------------------

@pytest.mark.parametrize("spec,message", [
    ("prompt=q_txt,response=a_text",
     "columns: field 'q_txt' (prompt) is in none of the first 4 rows; row 1 has fields: id, "
     "q_text, a_text, lang"),
    ("prompt=q_text,prompt=a_text,response=a_text",
     "columns: role prompt is assigned twice (q_text and a_text)"),
    ("prompt=q_text,response=q_text", "columns: field 'q_text' is mapped to both prompt and "
                                      "response"),
    ("prompt=q_text.en,response=a_text",
     "columns: prompt: row 1: field 'q_text.en': 'q_text' is a string, not an object with field "
     "'en'"),
    ("promt=q_text,response=a_text", "columns: unknown role 'promt'; roles are prompt, query,"),
    ("prompt=q_text", "columns: prompt needs response (the reply to learn)"),
    ("prompt q_text", "columns: 'prompt q_text' is not role=field;"),
    ("text=q_text,response=a_text", "columns: text is plain text for pre-training;"),
    ("prompt=q_text,label=id,chosen=a_text,rejected=lang",
     "columns: label marks one reply good or bad;"),
])
def test_bad_mappings_are_one_line(tmp_path, spec, message):
    path = write_rows(tmp_path, "jsonl", qa_rows())
    with pytest.raises(DataError) as e:
        inspect_dataset(path, columns=spec)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
    with pytest.raises((DataError, ConfigError)) as e:
        from_dict({"columns": spec})
        inspect_dataset(path, columns=from_dict({"columns": spec}).columns)
    assert "\n" not in e.value.one_line()


def test_a_field_missing_in_some_rows_is_a_bad_row_naming_it(tmp_path):
    rows = qa_rows()
    del rows[2]["a_text"]
    rows[3]["q_text"] = {"en": "nested"}
    report = inspect_dataset(write_rows(tmp_path, "jsonl", rows),
                             columns="prompt=q_text,response=a_text")
    assert [str(p) for p in report.problems] == [
        "row 3: missing field 'a_text' (response)",
        "row 4: field 'q_text' (prompt) is an object, expected text"]


def test_a_mapping_that_disagrees_with_format_is_refused(tmp_path):
    with pytest.raises(DataError, match="reads rows as alpaca, but format is set to sharegpt"):
        inspect_dataset(write_rows(tmp_path, "jsonl", qa_rows()), "sharegpt",
                        columns="prompt=q_text,response=a_text")


@pytest.mark.parametrize("name", ["a,b", 'say "x"', "k=v"])
def test_field_names_with_commas_quotes_or_equals_round_trip(name):
    cols = parse_columns({"prompt": name, "response": "r"})
    assert parse_columns(str(cols)) == cols
