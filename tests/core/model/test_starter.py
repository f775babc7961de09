"""The starter model: a real HF folder, a byte-level tokenizer for Chinese + English, a ChatML
template whose turns end in EOS, and determinism for a seed."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio.core.errors import UserError
from studio.core.model.load import count_parameters, load_model, load_tokenizer
from studio.core.model.starter import BOS, EOS, IM_START, PAD, new_model

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


def test_folder_loads_through_the_normal_loaders(tiny_model_dir, tok):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert not any(n.endswith(".bin") for n in names)
    model = load_model(tiny_model_dir)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size == len(tok)            # no unused embedding rows
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    trainable, total = count_parameters(model)
    assert 200_000 < total < 600_000 and trainable == total
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (BOS, EOS, PAD)
    assert model.config.eos_token_id == tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id


@pytest.mark.parametrize("text", [
    "The model learns LoRA weights quickly.",
    "早上天气很好，阳光照进窗户。小明六点半就起床了。",
    "混合 mixed 文本 text: 12 乘以 15 等于 180。",
    "Rare: Ω≈ç√∫ 𝔘𝔫𝔦 ÿ ß 🙂🚀 \t tabs\nnew lines ０１２",
])
def test_tokenizer_round_trips_any_text_without_unknown_tokens(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok.unk_token_id is None or tok.unk_token_id not in ids


def test_tokenizer_learned_merges_for_both_languages(tok):
    # byte-level: one Chinese character is 3 bytes; trained merges make common ones 1 token
    zh = "我们今天学习语言模型"
    en = "The weather is good in the morning"
    assert len(tok(zh, add_special_tokens=False)["input_ids"]) < len(zh.encode()) / 2
    assert len(tok(en, add_special_tokens=False)["input_ids"]) <= len(en.split()) * 2


def test_special_tokens_are_single_ids(tok):
    for t in (BOS, EOS, PAD, IM_START, "<tool_call>", "</tool_call>"):
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == t


def test_chat_template_renders_every_role_and_ends_turns_with_eos(tok):
    msgs = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "你好"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "tool", "content": '{"ok": true}'},
            {"role": "user", "content": "again"}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n"
                    "<|im_start|>assistant\nHi!<|im_end|>\n<|im_start|>tool\n{\"ok\": true}"
                    "<|im_end|>\n<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n")
    no_prompt = tok.apply_chat_template(msgs[:3], tokenize=False)
    assert no_prompt.endswith("Hi!<|im_end|>\n")


def test_assistant_mask_covers_the_reply_and_its_eos_only(tok):
    msgs = [{"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "和 3+3 呢？"},
            {"role": "assistant", "content": "是 6。"}]
    out = tok.apply_chat_template(msgs, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    learned = [i for i, m in zip(ids, mask) if m]
    assert tok.decode(learned) == "4<|im_end|>是 6。<|im_end|>"
    assert learned.count(tok.eos_token_id) == 2


def test_chat_template_renders_tools_and_tool_calls(tok):
    tools = [{"type": "function", "function": {"name": "calc", "parameters": {}}}]
    msgs = [{"role": "system", "content": "You help."},
            {"role": "user", "content": "234*19?"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"type": "function",
                             "function": {"name": "calc", "arguments": {"e": "234*19"}}}]}]
    text = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
    assert text.startswith("<|im_start|>system\nYou help.\n\n")
    assert text.count("<|im_start|>system") == 1            # system merged with the tools
    assert '"name": "calc"' in text
    assert '<tool_call>{"name": "calc", "arguments": {"e": "234*19"}}</tool_call><|im_end|>' in text


def test_unknown_role_is_refused(tok):
    with pytest.raises(Exception, match="unknown chat role: robot"):
        tok.apply_chat_template([{"role": "robot", "content": "x"}], tokenize=False)


def test_generation_config_stops_at_end_of_turn(tiny_model_dir, tok):
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert tok.eos_token_id in gen["eos_token_id"] and tok.pad_token_id in gen["eos_token_id"]
    assert gen["pad_token_id"] == tok.pad_token_id
    model = load_model(tiny_model_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}],
                                     add_generation_prompt=True, return_tensors="pt",
                                     return_dict=True)
    out = model.generate(**prompt, max_new_tokens=5, do_sample=False)
    assert out.shape[1] <= prompt["input_ids"].shape[1] + 5


def test_same_seed_same_files_other_seed_other_weights(tmp_path, tiny_model_dir):
    again = new_model(tmp_path / "again", seed=0)
    other = new_model(tmp_path / "other", seed=1)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    assert (other / "model.safetensors").read_bytes() != (again / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (again / "tokenizer.json").read_bytes()


def test_qwen2_ties_embedding_and_head(tiny_qwen_dir):
    model = load_model(tiny_qwen_dir)
    assert model.config.model_type == "qwen2" and model.config.tie_word_embeddings
    assert model.lm_head.weight is model.get_input_embeddings().weight
    assert model.model.layers[0].self_attn.q_proj.bias is not None


def test_small_has_a_few_million_parameters(tmp_path):
    model = load_model(new_model(tmp_path / "small", size="small"))
    assert 2_000_000 < count_parameters(model)[1] < 10_000_000


def test_user_corpus_trains_its_own_tokenizer(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("zebra quantum zebra quantum xylophone " * 200, encoding="utf-8")
    out = new_model(tmp_path / "m", corpus=corpus)
    tok = load_tokenizer(out)
    assert len(tok("zebra", add_special_tokens=False)["input_ids"]) == 1
    assert len(tok) < 1000  # a tiny corpus yields few merges; vocab follows the tokenizer
    assert load_model(out).config.vocab_size == len(tok)


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing.txt", "not found"),
    (lambda d: (d / "short.txt").write_text("hi") and d / "short.txt", "too short"),
    (lambda d: (d / "bin.txt").write_bytes(b"\xff\xfe\x00" * 100) and d / "bin.txt", "UTF-8"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no .txt"),
])
def test_bad_corpus_is_refused_in_one_line(tmp_path, make, match):
    with pytest.raises(UserError, match=match):
        new_model(tmp_path / "m", corpus=make(tmp_path))


def test_non_empty_folder_needs_overwrite(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "pytorch_model.bin").write_bytes(b"stale")
    with pytest.raises(UserError, match="not empty"):
        new_model(out)
    new_model(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep me"      # user files stay
    assert not (out / "pytorch_model.bin").exists()          # stale weights do not
    with pytest.raises(UserError, match="unknown size"):
        new_model(tmp_path / "x", size="huge")


def test_tiny_trains_several_steps_per_second(tiny_model_dir, tok):
    import torch

    model = load_model(tiny_model_dir)
    ids = tok(["早上天气很好，阳光照进窗户。The morning was cool and clear. " * 3] * 8,
              return_tensors="pt")["input_ids"][:, :64]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a busy 2-core box spin against each other
    try:
        for _ in range(6):
            start = time.perf_counter()
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    # The best step, so other processes on a shared box do not decide the result: ~0.1 s
    # at load 9 on 2 cores, less when idle; a model grown 10x would miss the bound.
    assert min(times) < 0.5


def test_cli_writes_a_model_and_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "cli-model"
    cmd = [sys.executable, "main.py", "new-model", str(out), "--arch", "qwen2", "--seed", "3"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "qwen2 tiny model" in r.stdout and (out / "model.safetensors").is_file()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {out} is not empty; choose a new folder "
                                             "or pass --overwrite"]


def test_real_model_shapes_pad_the_vocabulary_and_reshape_the_body(tmp_path):
    """new-model --vocab / --hidden / --layers: a Llama-2-sized vocabulary on a tiny body
    (rows above the tokenizer are padding), and a reshaped body; bad shapes are refused."""
    from studio.core.model.starter import custom_size

    out = new_model(tmp_path / "m", size=custom_size("tiny", vocab=32_000, hidden=128,
                                                     layers=1), arch="qwen2")
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"]) == (32_000, 128, 1)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"]) == (2, 1)
    assert cfg["intermediate_size"] == 352 and cfg["intermediate_size"] % 32 == 0
    assert len(load_tokenizer(out)) < 3000  # the tiny size's tokenizer: padding above it
    model = load_model(out, device="cpu")
    assert model.get_output_embeddings().weight.shape == (32_000, 128)
    for bad in ({"hidden": 100}, {"vocab": 0.5}, {"layers": 10_000}):
        with pytest.raises(UserError):
            custom_size("tiny", **bad)
