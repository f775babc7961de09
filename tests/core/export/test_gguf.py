"""GGUF export: the file holds the model, tokenizer and template llama.cpp needs; llama.cpp
itself loads it and predicts what the studio's model predicts; an Ollama Modelfile renders
conversations exactly as the model's own template; what cannot be represented is refused."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.core.export import gguf as gguf_mod
from studio.core.export.folder import ExportError, export
from studio.core.export.modelfile import go_template, jinja_renderer, modelfile, turn_shape

ROOT = Path(__file__).resolve().parents[3]
LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] "
    "+ '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{%- endif %}")


def _tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _model(folder):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()


def _field(reader, key):
    f = reader.fields[key]
    return f.contents()


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_qwen_dir"])
def test_the_file_holds_tensors_tokenizer_template_and_ids(fixture, request, tmp_path):
    import gguf
    import torch

    folder = request.getfixturevalue(fixture)
    model, tok = _model(folder), _tokenizer(folder)
    path = tmp_path / "m.gguf"
    out = gguf_mod.write_gguf(model, tok, path, "f32", eot_ids=(tok.eos_token_id,))
    r = gguf.GGUFReader(str(path))
    arch = _field(r, "general.architecture")
    assert arch == model.config.model_type
    assert len(r.fields["tokenizer.ggml.tokens"].data) == model.config.vocab_size
    assert _field(r, "tokenizer.ggml.pre") == "qwen2"       # the starter's regex is Qwen2's
    assert _field(r, "tokenizer.ggml.eos_token_id") == tok.eos_token_id
    assert _field(r, "tokenizer.ggml.eot_token_id") == tok.eos_token_id
    template = _field(r, "tokenizer.chat_template")
    assert "<|im_start|>" in template and "{%- generation" not in template
    assert _field(r, f"{arch}.context_length") == model.config.max_position_embeddings
    tensors = {t.name: t for t in r.tensors}
    assert "token_embd.weight" in tensors and "blk.1.ffn_down.weight" in tensors
    assert ("output.weight" in tensors) == (not model.config.tie_word_embeddings)
    assert sum(out.tensor_types.values()) == len(tensors)
    # q rows are permuted for llama (rotary layout) and untouched for qwen2: undo and compare.
    hf = model.model.layers[0].self_attn.q_proj.weight.detach()
    q = torch.from_numpy(np.array(tensors["blk.0.attn_q.weight"].data)).reshape(hf.shape)
    if arch == "llama":
        heads = model.config.num_attention_heads
        q = q.reshape(heads, hf.shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(hf.shape)
    assert torch.equal(q, hf)


def test_q8_0_keeps_rows_that_do_not_divide_into_blocks_in_f16(tiny_model_dir, tmp_path):
    model, tok = _model(tiny_model_dir), _tokenizer(tiny_model_dir)
    out = gguf_mod.write_gguf(model, tok, tmp_path / "m.gguf", "q8_0")
    # the tiny starter's intermediate size 172 is not a multiple of 32: ffn_down stays f16
    assert out.tensor_types["Q8_0"] > 0 and out.tensor_types["F16"] == 2
    assert any("f16" in n for n in out.notes)


def test_unsupported_architectures_and_tokenizers_are_refused_by_name(tiny_model_dir):
    with pytest.raises(gguf_mod.GgufError, match="'gpt_neox'"):
        gguf_mod.check_architecture({"model_type": "gpt_neox"})
    with pytest.raises(gguf_mod.GgufError, match="'yarn'"):
        gguf_mod.check_architecture({"model_type": "llama",
                                     "rope_parameters": {"rope_type": "yarn"}})
    tok = _tokenizer(tiny_model_dir)
    data = json.loads(tok.backend_tokenizer.to_str())
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\w+|\s+"
    from tokenizers import Tokenizer

    tok._tokenizer = Tokenizer.from_str(json.dumps(data))
    with pytest.raises(gguf_mod.GgufError, match="regex llama.cpp does not know"):
        gguf_mod.tokenizer_spec(tok)
    with pytest.raises(gguf_mod.GgufError, match="unknown GGUF type"):
        gguf_mod.check_type("q3_z")


def test_an_unsupported_architecture_is_one_line_and_exit_2(trained_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained_run("lora"), run)
    base = tmp_path / "base"
    cfg_text = (run / "config.yaml").read_text()
    model_dir = Path(re.search(r"^model: (.*)$", cfg_text, re.M).group(1).strip().strip("'\""))
    shutil.copytree(model_dir, base)
    config = json.loads((base / "config.json").read_text())
    config["model_type"] = "phi3"
    (base / "config.json").write_text(json.dumps(config))
    (run / "config.yaml").write_text(cfg_text.replace(str(model_dir), str(base)))
    p = subprocess.run([sys.executable, str(ROOT / "main.py"), "export", str(run), "--to",
                        str(tmp_path / "out"), "--format", "gguf"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "'phi3'" in lines[0] and "Traceback" not in p.stderr
    assert not (tmp_path / "out").exists()


def _render_go(template: str, system: str, messages: list[dict]) -> str:
    """A reader of exactly the Go-template subset go_template writes (if / else / range /
    eq / .System / .Content), to check the Modelfile without Ollama."""
    tokens = re.split(r"(\{\{.*?\}\})", template)
    out: list[str] = []

    def run(i: int, msg: dict | None, active: bool, stop: tuple) -> int:
        while i < len(tokens):
            t = tokens[i]
            if not t.startswith("{{"):
                out.append(t) if active else None
                i += 1
                continue
            body = t[2:-2].strip()
            if body in stop or body.startswith("else"):
                return i
            if body == ".System":
                out.append(system) if active else None
            elif body == ".Content":
                out.append(msg["content"]) if active else None
            elif body == '"{{"':
                out.append("{{") if active else None
            elif body.startswith("if "):
                i = run_if(i, msg, active)
                continue
            elif body == "range .Messages":
                start = i + 1
                end = start
                for m in messages if active else [None]:
                    end = run(start, m, active and m is not None, ("end",))
                i = end + 1
                continue
            i += 1
        return i

    def test(cond: str, msg: dict | None) -> bool:
        if cond == ".System":
            return bool(system)
        role = re.fullmatch(r'eq \.Role "(\w+)"', cond).group(1)
        return msg is not None and msg["role"] == role

    def run_if(i: int, msg: dict | None, active: bool) -> int:
        taken = False
        cond = tokens[i][2:-2].strip()[3:]
        while True:
            ok = active and not taken and test(cond, msg)
            i = run(i + 1, msg, ok, ("end",))
            taken = taken or ok
            body = tokens[i][2:-2].strip()
            if body == "end":
                return i + 1
            cond = body[len("else if "):] if body.startswith("else if ") else ".ALWAYS"
            if cond == ".ALWAYS":
                i = run(i + 1, msg, active and not taken, ("end",))
                return i + 1

    run(0, None, True, ())
    return "".join(out)


@pytest.mark.parametrize("template", [None, LLAMA3_TEMPLATE], ids=["chatml", "llama3"])
def test_the_modelfile_template_renders_like_the_models_own(tiny_model_dir, template):
    tok = _tokenizer(tiny_model_dir)
    if template:
        tok.chat_template = template
    render = jinja_renderer(tok)
    go = go_template(turn_shape(render))
    conversations = [
        ("", [{"role": "user", "content": "你好"}]),
        ("Be brief.", [{"role": "user", "content": "Hi"},
                       {"role": "assistant", "content": "Hello! 有什么事?"},
                       {"role": "user", "content": "Tell me a {{joke}}."}]),
    ]
    for system, msgs in conversations:
        full = ([{"role": "system", "content": system}] if system else []) + msgs
        assert _render_go(go, system, msgs) == render(full, True)
    text, note = modelfile("model-f16.gguf", render, ["<|im_end|>"])
    assert note is None and text.startswith("FROM ./model-f16.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER temperature 0.7" in text


def _llama_cpp():
    return pytest.importorskip("llama_cpp", reason="llama-cpp-python (the gguf extra) is not "
                                                   "installed")


@pytest.mark.slow
def test_f16_and_q8_0_exports_agree_with_the_studio_model_in_llama_cpp(trained_run, tmp_path):
    _llama_cpp()
    run = trained_run("lora")
    f16 = export(run, tmp_path / "f16", fmt="gguf", gguf_type="f16")
    checks = {c.name: c for c in f16.checks}
    assert all(c.passed for c in f16.checks if c.passed is not None), f16.summary()
    assert checks["loads in llama.cpp"].passed
    assert checks["llama.cpp splits text into the studio's tokens"].passed
    assert checks["chat template travels with the file"].passed
    assert checks["generation stops at the end of the turn"].passed
    assert any(n.startswith("top-1") and c.passed for n, c in checks.items())
    assert any(n.startswith("greedy") and c.passed for n, c in checks.items())
    for name in ("model-f16.gguf", "Modelfile", "README.md", "verification.md",
                 "verification.json"):
        assert (tmp_path / "f16" / name).is_file(), name
    q8 = export(run, tmp_path / "q8", fmt="gguf", gguf_type="q8_0")
    top1 = next(c for c in q8.checks if c.name.startswith("top-1"))
    assert top1.passed is None and re.match(r"\d+/\d+ positions", top1.figure)
    assert (tmp_path / "q8" / "model-q8_0.gguf").stat().st_size < \
        (tmp_path / "f16" / "model-f16.gguf").stat().st_size
    report = json.loads((tmp_path / "q8" / "verification.json").read_text())
    assert report["export"] == "GGUF q8_0" and len(report["checks"]) == len(q8.checks)


def test_a_failed_gguf_check_writes_nothing(trained_run, tmp_path, monkeypatch):
    _llama_cpp()
    from studio.core.export import gguf_check

    real = gguf_check.verify

    def broken(path, gguf_type, ref, tokenizer):
        checks = real(path, gguf_type, ref, tokenizer)
        return checks[:-1] + [gguf_check.Check("greedy continuation", False, "0 of 32")]

    monkeypatch.setattr(gguf_check, "verify", broken)
    with pytest.raises(ExportError, match="failed a check: greedy continuation"):
        export(trained_run("lora"), tmp_path / "out", fmt="gguf")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.slow
def test_the_pretrained_starter_after_lora_agrees_in_llama_cpp(pretrained_dir, tmp_path):
    _llama_cpp()
    from studio.core import config
    from studio.core.train import trainer

    data = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Who are you? ({i})"},
                          {"role": "assistant", "content": "I am Lumi, a small assistant."}]}
            for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    run = trainer.train(config.from_dict(dict(
        model=str(pretrained_dir), dataset=str(data), method="lora", max_steps=2,
        eval_split=0, learning_rate=5e-3, output_dir=str(tmp_path / "run"),
        max_length=64), check_required=True)).run_dir
    for kind in ("f16", "q8_0"):
        result = export(run, tmp_path / kind, fmt="gguf", gguf_type=kind)
        judged = [c for c in result.checks if c.passed is not None]
        assert judged and all(c.passed for c in judged), result.summary()
    top1 = next(c for c in result.checks if c.name.startswith("top-1"))  # q8_0: a figure
    same, total = map(int, re.match(r"(\d+)/(\d+)", top1.figure).groups())
    assert same / total > 0.9   # a real model keeps its answers through 8-bit weights
