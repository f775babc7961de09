"""The pretrained starter: the corpus split, the held-out bound against the unigram baseline,
continuations in words of the corpus, and that the shipped weights are what the documented
pre-training command produces."""

import math
import re
from pathlib import Path

import pytest

from studio.core.eval.perplexity import perplexity, tokenized_file, unigram_perplexity
from studio.core.model import pretrained
from studio.core.model.load import load_model, load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
# Greedy continuations of held-out openings: the least share of their English words / Chinese
# character bigrams that occur in the corpus. The shipped starter scores 0.92 / 0.80, a random
# starter 0.49 / 0.57 (docs/performance.md).
EN_WORDS = 0.9
ZH_BIGRAMS = 0.75


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


_HAN = re.compile(r"[\u4e00-\u9fff]+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z]+(?:'[a-z]+)?", text)]


def _han_bigrams(text: str) -> list[str]:
    return [run[i:i + 2] for run in _HAN.findall(text) for i in range(len(run) - 1)]


def _held_out_prose_prefixes() -> tuple[list[str], list[str]]:
    """The openings of the held-out prose paragraphs: (English: 6 words, Chinese: 12 chars)."""
    english, chinese = [], []
    for para in pretrained.corpus_split()[1]:
        if pretrained.chat_turns(para) is None:
            if _HAN.search(para):
                chinese.append(para[:12])
            else:
                english.append(" ".join(para.split()[:6]))
    return english, chinese


def _greedy(model, tok, prompt: str, new_tokens: int = 32) -> str:
    import torch

    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=new_tokens, do_sample=False)
    return tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)


def _continuations_in_corpus_words(folder: Path) -> tuple[float, float]:
    """(share of the English continuations' words that occur in the corpus, share of the
    Chinese continuations' character bigrams that occur in it), greedy, over the held-out
    prose openings: a model that strings word-like pieces together scores low on both."""
    train, held = pretrained.corpus_split()
    corpus = "\n".join(train + held)
    words, bigrams = set(_words(corpus)), set(_han_bigrams(corpus))
    model, tok = load_model(folder).eval(), load_tokenizer(folder)
    english, chinese = _held_out_prose_prefixes()
    # the last word of an English continuation may be cut by the token limit: not counted
    en = [w for p in english for w in _words(_greedy(model, tok, p))[:-1]]
    zh = [b for p in chinese for b in _han_bigrams(_greedy(model, tok, p))]
    assert len(en) >= 200 and len(zh) >= 100, (len(en), len(zh))  # enough text to judge
    return (sum(w in words for w in en) / len(en), sum(b in bigrams for b in zh) / len(zh))


def test_shipped_starter_continues_held_out_sentences_in_words_of_the_corpus(pretrained_dir):
    english, chinese = _continuations_in_corpus_words(pretrained_dir)
    assert english >= EN_WORDS and chinese >= ZH_BIGRAMS, (english, chinese)


def test_a_random_starter_continues_in_pieces(tiny_model_dir):
    english, chinese = _continuations_in_corpus_words(tiny_model_dir)  # the bound can fail
    assert english < EN_WORDS and chinese < ZH_BIGRAMS, (english, chinese)


@pytest.mark.slow  # the whole pre-training again: ~3 CPU-minutes, run beside the other tests
@pytest.mark.timeout(1800)  # and more when other jobs share the cores
def test_the_documented_command_reproduces_the_shipped_weights(starter_retrain):
    import torch
    from safetensors.torch import load_file

    code, output = starter_retrain.wait(timeout=1700)  # started when collection ended
    assert code == 0, output[-2000:]
    out = starter_retrain.out
    steps = pretrained.RECIPE.max_steps
    assert f"pre-training step {steps}/{steps}" in output
    shipped = load_file(str(pretrained.SHIPPED_DIR / "model.safetensors"))
    again = load_file(str(out / "model.safetensors"))
    assert shipped.keys() == again.keys()
    for name, w in shipped.items():   # float sums may differ in order between CPUs: a tolerance
        assert torch.allclose(w.float(), again[name].float(), atol=2e-2, rtol=0), name
    assert (pretrained.SHIPPED_DIR / "tokenizer.json").read_text(encoding="utf-8") == \
        (out / "tokenizer.json").read_text(encoding="utf-8")
