"""GRPO rewards without a model: the built-in ones, their weights, the user's file and its
trust by hash, a reward that raises."""

import pytest

from studio.core import config
from studio.core.errors import ConfigError
from studio.core.train.grpo.rewards import (
    Completion,
    RewardError,
    Scorer,
    file_sha256,
    literal_start,
    parse_rewards,
)


def cfg(**kw):
    base = {"model": "m", "dataset": "d", "stage": "grpo"}
    return config.from_dict({**base, **kw})


def c(text, reference=None, tokens=4, ended=True, row=7):
    return Completion(text, tokens, ended, "What colour is the sky?", reference, row)


def test_names_and_weights_are_parsed_and_bad_entries_named():
    assert parse_rewards("format:1, ends_turn:0.2,exact") == [
        ("format", 1.0), ("ends_turn", 0.2), ("exact", 1.0)]
    for bad, words in [("format:x", "weight of format"), ("", "empty"),
                       ("a-b:1", "not a reward name"), ("exact,exact", "twice"),
                       ("exact:inf", "finite")]:
        with pytest.raises(ConfigError, match=words):
            parse_rewards(bad)


def test_literal_start_of_a_pattern():
    assert literal_start(r"Answer: (\w+)") == "Answer: "
    assert literal_start(r"^Answer\: \d+") == "Answer: "
    assert literal_start(r"\d+") == ""
    assert literal_start("abc*") == "ab"


def test_format_gives_full_inner_and_partial_credit():
    s = Scorer(cfg(grpo_rewards="format", grpo_format_regex=r"Answer: \w+"))
    assert s.scores(c("Answer: blue"))["format"] == 1.0
    assert s.scores(c("I think Answer: blue"))["format"] == 0.5
    assert s.scores(c("Ans"))["format"] == pytest.approx(0.5 * 3 / 8)
    assert s.scores(c("xAnwer"))["format"] == pytest.approx(0.5 * 5 / 8)  # in order, with gaps
    assert s.scores(c("blue"))["format"] == pytest.approx(0.5 * 1 / 8)  # its "e"
    assert s.scores(c("1234"))["format"] == 0.0


def test_exact_numeric_length_ends_turn_and_the_weighted_total():
    s = Scorer(cfg(grpo_rewards="exact:2,numeric,length:0.5,ends_turn",
                   grpo_answer_regex=r"Answer: (\S+)", grpo_max_completion=8))
    got = s.scores(c("Answer: Blue", reference="blue", tokens=4, ended=False))
    assert got == {"exact": 1.0, "numeric": 0.0, "length": -0.5, "ends_turn": 0.0}
    assert s.total(got) == pytest.approx(2 * 1 - 0.25)
    assert s.scores(c("Answer: 3.50", reference="It is 3.5"))["numeric"] == 1.0
    assert s.scores(c("Answer: 4", reference=None))["exact"] == 0.0


def test_settings_are_checked_before_anything_runs():
    with pytest.raises(ConfigError, match="grpo_format_regex"):
        Scorer(cfg(grpo_rewards="format", grpo_format_regex=""))
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        Scorer(cfg(grpo_format_regex="(unclosed"))
    with pytest.raises(ConfigError, match="name a grpo_reward_file"):
        Scorer(cfg(grpo_rewards="mine"))


def test_a_user_file_runs_only_with_its_hash(tmp_path):
    marker = tmp_path / "ran"
    f = tmp_path / "my_rewards.py"
    f.write_text(f"open({str(marker)!r}, 'w').close()\n"
                 "def polite(completion, prompt, reference):\n"
                 "    return 1.0 if 'please' in completion else 0.0\n", encoding="utf-8")
    digest = file_sha256(f)
    with pytest.raises(ConfigError) as e:
        Scorer(cfg(grpo_rewards="polite", grpo_reward_file=str(f)))
    assert str(f) in str(e.value) and digest in str(e.value)
    assert f"grpo_reward_file_sha256={digest}" in str(e.value)
    assert not marker.exists()  # nothing of the file ran
    with pytest.raises(ConfigError, match="changed since you trusted it"):
        Scorer(cfg(grpo_rewards="polite", grpo_reward_file=str(f),
                   grpo_reward_file_sha256="0" * 64))
    s = Scorer(cfg(grpo_rewards="polite", grpo_reward_file=str(f),
                   grpo_reward_file_sha256=digest))
    assert marker.exists()
    assert s.scores(c("yes please"))["polite"] == 1.0
    with pytest.raises(ConfigError, match="defines no function rude"):
        Scorer(cfg(grpo_rewards="rude", grpo_reward_file=str(f), grpo_reward_file_sha256=digest))


def test_a_reward_that_raises_is_named_with_its_row(tmp_path):
    f = tmp_path / "r.py"
    f.write_text("def picky(completion, prompt, reference):\n"
                 "    raise ValueError('cannot judge this')\n"
                 "def nan(completion, prompt, reference):\n    return float('nan')\n")
    s = Scorer(cfg(grpo_rewards="picky", grpo_reward_file=str(f),
                   grpo_reward_file_sha256=file_sha256(f)))
    with pytest.raises(RewardError, match=r"reward picky raised ValueError: cannot judge this "
                                          r"\(row 7"):
        s.scores(c("x"))
    s = Scorer(cfg(grpo_rewards="nan", grpo_reward_file=str(f),
                   grpo_reward_file_sha256=file_sha256(f)))
    with pytest.raises(RewardError, match="reward nan returned nan \\(row 7\\)"):
        s.scores(c("x"))
