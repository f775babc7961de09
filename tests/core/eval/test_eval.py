"""Evaluation on hand-made files whose answers are known: perplexity, exact match, multiple
choice, the question-file format, and eval.jsonl of a run per checkpoint."""

import json
import math

import pytest
import torch

from studio.core.chat.engine import ChatEngine, GenSettings
from studio.core.errors import DataError, UserError
from studio.core.eval import perplexity as ppl_mod
from studio.core.eval import questions, run_eval
from studio.core.model.load import load_model, load_tokenizer


@pytest.fixture(scope="module")
def model_and_tok(pretrained_dir):
    return load_model(pretrained_dir), load_tokenizer(pretrained_dir)


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_text_perplexity_is_the_exp_of_the_models_own_token_loss(model_and_tok, tmp_path):
    model, tok = model_and_tok
    texts = ["The morning was cool and clear.", "Learning a new language takes patience."]
    f = tmp_path / "t.txt"
    f.write_text("\n\n".join(texts) + "\n", encoding="utf-8")
    got = ppl_mod.perplexity(model, tok, f)
    total, n = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok(t).input_ids + [tok.eos_token_id]])  # pre-training ends in EOS
            total += float(model(ids, labels=ids).loss) * (ids.shape[1] - 1)
            n += ids.shape[1] - 1
    assert got.tokens == n and got.scored_on == "all tokens"
    assert got.perplexity == pytest.approx(math.exp(total / n), rel=1e-4)


def test_chat_perplexity_scores_assistant_tokens_only(model_and_tok, tmp_path):
    model, tok = model_and_tok
    f = _write(tmp_path / "c.jsonl",
               [{"instruction": "Hello!", "output": "Hello! How can I help?"}])
    got = ppl_mod.perplexity(model, tok, f)
    reply = len(tok("Hello! How can I help?").input_ids) + 1      # + the end-of-turn token
    assert got.scored_on == "assistant tokens" and got.tokens == reply


def _greedy(model, tok, question):
    return ChatEngine(model, tok).reply([{"role": "user", "content": question}],
                                        GenSettings(temperature=0.0, max_new_tokens=64)).text


def test_exact_match_counts_only_the_known_right_answer(model_and_tok, tmp_path):
    model, tok = model_and_tok
    said = _greedy(model, tok, "Who are you?")
    assert said.strip()
    f = _write(tmp_path / "q.jsonl", [
        {"question": "Who are you?", "answer": "  " + said.upper() + " "},   # right, reformatted
        {"question": "Who are you?", "answer": "A teapot from Mars."}])      # wrong
    kind, qs = questions.read_questions(f)
    acc = questions.exact_match(model, tok, qs)
    assert kind == "exact" and (acc.correct, acc.total) == (1, 2)
    assert run_eval.pick_metric(f) == "exact"


def test_multiple_choice_picks_the_least_surprising_choice(model_and_tok, tmp_path):
    model, tok = model_and_tok
    said = _greedy(model, tok, "What is two plus three?")
    f = _write(tmp_path / "mc.json", [
        {"question": "What is two plus three?", "choices": ["qzx vvk ptt", said], "answer": "B"},
        {"question": "What is two plus three?", "choices": [said, "qzx vvk ptt"], "answer": 1}])
    kind, qs = questions.read_questions(f)
    assert kind == "choice" and [q.correct for q in qs] == [1, 1]
    acc = questions.multiple_choice(model, tok, qs)
    assert (acc.correct, acc.total) == (1, 2)        # it picks `said` both times
    assert [e[2] for e in acc.examples] == [said, said]


@pytest.mark.parametrize("row, message", [
    ({"question": "q"}, "is not a question row"),
    ({"question": "", "answer": "a"}, "non-empty text"),
    ({"question": "q", "choices": ["a"], "answer": 0}, "at least two"),
    ({"question": "q", "choices": ["a", "b"], "answer": 5}, "not an index"),
])
def test_bad_question_rows_are_named(tmp_path, row, message):
    f = _write(tmp_path / "bad.jsonl", [{"question": "ok", "answer": "fine"}, row])
    with pytest.raises(DataError, match=f"row 2.*{message}|{message}"):
        questions.read_questions(f)


def test_metric_must_fit_the_file(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("plain text\n", encoding="utf-8")
    assert run_eval.pick_metric(f) == "perplexity"
    with pytest.raises(UserError, match="not a exact file"):
        run_eval.pick_metric(f, "exact")
    with pytest.raises(UserError, match="only perplexity"):
        run_eval.pick_metric("corpus", "choice")
    with pytest.raises(UserError, match="not found"):
        run_eval.check_eval_data(str(tmp_path / "missing.txt"), "auto")


def test_a_run_is_scored_per_checkpoint_into_eval_jsonl(trained_run, tmp_path):
    import shutil

    run = tmp_path / "run"                             # checkpoints at steps 2 and 4
    shutil.copytree(trained_run("lora"), run)          # scoring writes eval.jsonl: a copy
    data = _write(tmp_path / "d.jsonl", [{"instruction": "What is 3 plus one?",
                                          "output": "It is 4."}])
    before = len(run_eval.read_records(run))
    assert before == 0
    recs = run_eval.evaluate_run(run, data)
    assert [r["checkpoint"] for r in recs] == ["base", "step-2", "step-4"]
    assert all(r["metric"] == "perplexity" and r["value"] > 1 for r in recs)
    assert recs[-1]["value"] < recs[0]["value"]        # it learned this very row's pattern
    assert run_eval.read_records(run)[before:] == recs


def test_eval_data_s_base_record_is_the_model_before_tuning_for_prompt_tuning(tiny_model_dir,
                                                                             tmp_path):
    # Prompt tuning's step-0 model already prepends a random prompt: "base" must not be it.
    from studio.core import config
    from studio.core.train import trainer

    data = _write(tmp_path / "chat.jsonl", [{"instruction": f"What is {i} plus one?",
                                             "output": f"It is {i + 1}."} for i in range(8)])
    held_out = tmp_path / "held_out.txt"
    held_out.write_text("The quick brown fox jumps over the lazy dog. " * 8, encoding="utf-8")
    cfg = config.from_dict(dict(model=str(tiny_model_dir), dataset=str(data),
                                method="prompt_tuning", output_dir=str(tmp_path / "run"),
                                max_steps=1, batch_size=4, max_length=64, eval_split=0,
                                eval_data=str(held_out), device="cpu"), check_required=True)
    result = trainer.train(cfg)
    base = next(r for r in run_eval.read_records(result.run_dir) if r["checkpoint"] == "base")
    plain = run_eval.evaluate(load_model(tiny_model_dir), load_tokenizer(tiny_model_dir),
                              held_out, "perplexity", 64)
    assert base["value"] == pytest.approx(plain["value"], rel=1e-5)
