"""The pretrained starter: the corpus split, the held-out bound against the unigram baseline,
continuations in words of the corpus, and that the shipped weights are what the documented
pre-training command produces."""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core.eval.perplexity import perplexity, tokenized_file, unigram_perplexity
from studio.core.model import pretrained
from studio.core.model.load import load_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[3]


def test_corpus_split_is_deterministic_disjoint_and_one_in_ten():
    train, held = pretrained.corpus_split()
    assert (train, held) == pretrained.corpus_split()
    assert not set(train) & set(held)
    assert 0.07 < len(held) / (len(train) + len(held)) < 0.12
    assert any(re.search(r"[\u4e00-\u9fff]", p) for p in held)    # Chinese in both halves
    assert any(re.search(r"[A-Za-z]{4}", p) for p in held)


def test_instruction_paragraphs_become_chatml(pretrained_dir):
    tok = load_tokenizer(pretrained_dir)
    para = "User: Who are you?\nAssistant: I am a small model.\nI live here."
    assert pretrained.chat_turns(para) == [
        {"role": "user", "content": "Who are you?"},
        {"role": "assistant", "content": "I am a small model.\nI live here."}]
    text = pretrained.pretraining_text(para, tok)
    assert text.startswith("<|im_start|>user\nWho are you?<|im_end|>")
    assert text.endswith("I live here.<|im_end|>")
    assert pretrained.pretraining_text("Just prose.", tok) == "Just prose."
    assert pretrained.chat_turns("用户：你好\n助手：你好！")[1]["role"] == "assistant"


def _held_out_and_unigram(folder: Path, tmp_path: Path) -> tuple[float, float]:
    tok = load_tokenizer(folder)
    train_file, held_file = pretrained.write_split(tmp_path, tok)
    train, _ = tokenized_file(train_file, tok)
    held, _ = tokenized_file(held_file, tok)
    # the unigram model predicts the same tokens the LM is scored on (all but each first)
    unigram = unigram_perplexity([t.input_ids for t in train], [t.input_ids[1:] for t in held],
                                 len(tok))
    return perplexity(load_model(folder), tok, held_file).perplexity, unigram


def test_shipped_starter_beats_the_unigram_baseline_threefold_on_held_out_text(
        pretrained_dir, tmp_path):
    ppl, unigram = _held_out_and_unigram(pretrained_dir, tmp_path)
    assert math.isfinite(ppl) and ppl * 3 <= unigram, (ppl, unigram)


def test_a_random_starter_does_not(tiny_model_dir, tmp_path):
    ppl, unigram = _held_out_and_unigram(tiny_model_dir, tmp_path)  # the bound can fail
    assert ppl > unigram


@pytest.mark.slow  # the whole pre-training again: ~2-6 min on 2 cores
def test_the_documented_command_reproduces_the_shipped_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "again"
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "new-model", str(out),
                           "--pretrained", "--retrain"], capture_output=True, text=True,
                          cwd=ROOT, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "pre-training step 400/400" in done.stdout
    shipped = load_file(str(pretrained.SHIPPED_DIR / "model.safetensors"))
    again = load_file(str(out / "model.safetensors"))
    assert shipped.keys() == again.keys()
    for name, w in shipped.items():   # float sums may differ in order between CPUs: a tolerance
        assert torch.allclose(w.float(), again[name].float(), atol=2e-2, rtol=0), name
    assert (pretrained.SHIPPED_DIR / "tokenizer.json").read_text(encoding="utf-8") == \
        (out / "tokenizer.json").read_text(encoding="utf-8")
