"""Attention probes on a real pretrained encoder (MiniLM) and the tiny starter decoder."""

import json

import numpy as np
import pytest

from studio.core.errors import ModelError, UserError
from studio.core.probes import attention as probes

SENTENCE = "The quick brown fox jumps over the lazy dog because it was bored."


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return probes.load_probe_model(minilm_dir)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return probes.load_probe_model(tiny_model_dir)


@pytest.fixture(scope="module")
def tuned_adapter(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model after a few real optimizer steps on one sentence."""
    import torch
    from peft import LoraConfig, get_peft_model

    from studio.core.model.load import load_model, load_tokenizer

    tok = load_tokenizer(tiny_model_dir)
    model = get_peft_model(load_model(tiny_model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj"]))
    batch = tok(["the cat sat on the mat and looked at the dog"] * 2, return_tensors="pt")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-2)
    torch.manual_seed(0)
    for _ in range(5):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("runs") / "adapter"
    model.save_pretrained(out)
    return out


# --- encoder: MiniLM -----------------------------------------------------------------------------

def test_minilm_is_an_encoder_with_full_squares(minilm):
    maps = probes.capture_attention(minilm, SENTENCE)
    layers, heads, t = maps.shape
    assert (layers, heads) == (6, 12) and not maps.is_causal
    assert maps.tokens[0] == "[CLS]" and maps.tokens[-1] == "[SEP]"
    assert maps.attention.dtype == np.float32
    np.testing.assert_allclose(maps.attention.sum(-1), 1.0, atol=1e-4)
    upper = np.triu(maps.attention, 1).sum(-1).sum(-1) / t  # weight on later tokens per row
    assert upper.mean() > 0.2, "an encoder attends to tokens on both sides"


def test_minilm_attends_to_special_tokens_and_has_a_previous_token_head(minilm):
    maps = probes.capture_attention(minilm, SENTENCE)
    t = maps.shape[2]
    special = probes.special_mask(minilm, maps.tokens)
    assert special.sum() == 2
    pats = probes.head_patterns(maps.attention, special)
    # [CLS]+[SEP] are 2 of 16 tokens (12.5% if uniform) but take far more of the weight
    assert pats["special"].mean() > 0.35 > 2 / t
    # a trained BERT has a head in the first layer that looks at the previous token
    assert pats["previous"][0].max() > 0.9
    assert int(pats["previous"][0].argmax()) == 2


def test_capture_restores_the_attention_implementation(minilm):
    before = minilm.inner().config._attn_implementation
    assert before != "eager"  # loaded with the fast default
    probes.capture_attention(minilm, "short text")
    assert minilm.inner().config._attn_implementation == before


# --- decoder: tiny starter model -----------------------------------------------------------------

def test_decoder_attention_is_an_exact_causal_triangle(tiny):
    maps = probes.capture_attention(tiny, "Hello there, how are you today? 你好世界")
    assert maps.is_causal
    layers, heads, t = maps.shape
    assert (layers, heads) == (tiny.num_layers, tiny.num_heads) and t > 10
    assert np.triu(maps.attention, 1).max() == 0.0
    np.testing.assert_allclose(maps.attention.sum(-1), 1.0, atol=1e-5)
    assert maps.attention[..., 0, 0].min() == pytest.approx(1.0)  # the first token sees itself


def test_byte_pieces_of_one_character_are_labelled(tiny):
    maps = probes.capture_attention(tiny, "世界")
    assert "世" in maps.tokens and any(t.startswith("·") for t in maps.tokens)


def test_long_text_is_cut_at_the_cap_and_says_so(tiny):
    maps = probes.capture_attention(tiny, "word " * 700)
    assert maps.truncated and maps.shape[2] == probes.MAX_TOKENS
    short = probes.capture_attention(tiny, "word " * 10)
    assert not short.truncated


def test_empty_text_is_refused(tiny):
    with pytest.raises(UserError, match="no text"):
        probes.capture_attention(tiny, "   ")


# --- summaries -----------------------------------------------------------------------------------

def test_head_summary_entropy_and_token_weights():
    t = 4
    uniform = np.full((1, 1, t, t), 1 / t, dtype=np.float32)
    onehot = np.broadcast_to(np.eye(t, dtype=np.float32), (1, 1, t, t))
    att = np.concatenate([uniform, onehot], axis=1)      # (1 layer, 2 heads, 4, 4)
    ent = probes.attention_entropy(att)
    assert ent.shape == (1, 2)
    assert ent[0, 0] == pytest.approx(2.0) and ent[0, 1] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(probes.head_summary(att, "mean")[0], (uniform[0, 0] + np.eye(t)) / 2)
    np.testing.assert_allclose(probes.head_summary(att, "max")[0],
                               np.maximum(uniform[0, 0], np.eye(t)))
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(probes.token_weights(m, 1, "from"), [4, 5, 6, 7])
    np.testing.assert_array_equal(probes.token_weights(m, 1, "to"), [1, 5, 9, 13])
    with pytest.raises(UserError):
        probes.token_weights(m, 4)
    with pytest.raises(UserError):
        probes.head_summary(att, "median")


# --- base vs tuned ------------------------------------------------------------------------------

def test_base_vs_tuned_difference(tiny, tiny_model_dir, tuned_adapter):
    pm = probes.load_probe_model(probes.resolve_target(tiny_model_dir, tuned_adapter))
    assert pm.has_adapter and pm.target.can_compare
    text = "the cat sat on the mat"
    tuned = probes.capture_attention(pm, text)
    base = probes.capture_attention(pm, text, adapter=False)
    plain = probes.capture_attention(tiny, text)
    np.testing.assert_allclose(base.attention, plain.attention, atol=1e-6)
    diff = probes.attention_difference(tuned, base)
    assert diff.shape == tuned.attention.shape
    assert np.abs(diff).max() > 1e-3, "a trained adapter changes attention"
    assert np.triu(diff, 1).max() == 0.0  # both maps are causal
    np.testing.assert_allclose(diff.sum(-1), 0.0, atol=1e-5)  # rows of both sum to 1
    other = probes.capture_attention(pm, "a different text entirely")
    with pytest.raises(UserError, match="different tokens"):
        probes.attention_difference(other, base)


def test_token_logprobs_base_vs_tuned(tiny_model_dir, tuned_adapter, minilm):
    pm = probes.load_probe_model(probes.resolve_target(tiny_model_dir, tuned_adapter))
    text = "the cat sat on the mat and looked at the dog"
    tuned = probes.token_logprobs(pm, text)
    base = probes.token_logprobs(pm, text, adapter=False)
    assert np.isnan(tuned.logprobs[0]) and len(tuned.logprobs) == len(tuned.tokens)
    assert (tuned.logprobs[1:] <= 0).all()
    # the adapter was trained on this very sentence: it finds it more likely than the base
    assert tuned.logprobs[1:].mean() > base.logprobs[1:].mean() + 0.1
    with pytest.raises(UserError, match="encoder"):
        probes.token_logprobs(minilm, text)


# --- targets ------------------------------------------------------------------------------------

def test_resolve_target_from_run_directories(tmp_path, tiny_model_dir, tuned_adapter):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"model: {tiny_model_dir}\n", encoding="utf-8")
    with pytest.raises(UserError, match="no final weights"):
        probes.resolve_target(run)
    (run / "adapter").symlink_to(tuned_adapter)
    t = probes.resolve_target(run)
    assert t.model == tiny_model_dir and t.adapter == run / "adapter" and t.can_compare

    full = tmp_path / "full"
    (full / "model").mkdir(parents=True)
    (full / "config.yaml").write_text(f"model: {tiny_model_dir}\n", encoding="utf-8")
    (full / "model" / "config.json").write_text("{}", encoding="utf-8")
    t = probes.resolve_target(full)
    assert t.model == full / "model" and t.base == tiny_model_dir and t.adapter is None

    t = probes.resolve_target(tuned_adapter)  # an adapter folder names its base
    assert t.adapter == tuned_adapter
    assert t.model == __import__("pathlib").Path(
        json.loads((tuned_adapter / "adapter_config.json").read_text())["base_model_name_or_path"])


def test_bad_targets_are_one_line_errors(tmp_path, tiny_model_dir):
    with pytest.raises(ModelError, match="not found"):
        probes.resolve_target(tmp_path / "missing")
    with pytest.raises(ModelError, match="not a PEFT adapter"):
        probes.resolve_target(tiny_model_dir, tmp_path)
    with pytest.raises(ModelError):
        probes.load_probe_model(tmp_path)  # an empty folder is no model


def test_decoder_detection_from_config():
    assert probes.is_decoder_config({"architectures": ["LlamaForCausalLM"]})
    assert not probes.is_decoder_config({"architectures": ["BertModel"], "model_type": "bert"})
    assert probes.is_decoder_config({"model_type": "gpt2"})
