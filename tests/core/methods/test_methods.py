"""Every method attaches to a real tiny model and a few plain-torch AdamW steps on a fixed
batch lower the loss; what trains is what the method promises."""

import pytest
import torch

from studio.core.config import METHODS, PEFT_METHODS, RunConfig
from studio.core.errors import ConfigError, ModelError
from studio.core.methods import builders as methods
from studio.core.methods.registry import apply_method, recommended_learning_rate
from studio.core.model.load import count_parameters, load_model, load_tokenizer

# Learning rates for a random tiny model (larger than for a pretrained one); IA3 only rescales
# activations of small random weights, so it needs the largest step to move the loss.
LR = {"ia3": 1e-1, "prompt_tuning": 3e-2, "prefix_tuning": 3e-2, "p_tuning": 3e-2}


@pytest.fixture(scope="module")
def batch(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    enc = tok(["The morning was cool and clear. Anna opened the window.",
               "早上天气很好，阳光照进窗户。小明六点半就起床了。"],
              return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100  # no loss on padding
    return {**enc, "labels": labels}


def _cfg(model_dir, method, **kw):
    return RunConfig(model=str(model_dir), method=method, **kw)


def _train(model, batch, lr, steps=6):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    for step in range(steps):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        methods.after_optimizer_step(model, step + 1)  # before zero_grad: AdaLoRA reads grads
        opt.zero_grad()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("method", METHODS)
def test_method_attaches_and_loss_falls(tiny_model_dir, batch, method):
    torch.manual_seed(0)
    model = load_model(tiny_model_dir, quantize_4bit=method == "qlora")
    base_total = count_parameters(model)[1]
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters()
                     if p.dtype.is_floating_point}
    model = apply_method(model, _cfg(tiny_model_dir, method), total_steps=6)
    trainable, total = count_parameters(model)
    losses = _train(model, batch, LR.get(method, 1e-2))
    assert losses[-1] < losses[0] - 0.03, losses
    if method == "full":
        assert trainable == total == base_total
    else:
        assert 0 < trainable < base_total / 3
    if method in PEFT_METHODS:  # the base weights did not move; only added weights trained
        assert total > base_total
        state = {n.replace(".base_layer", ""): p
                 for n, p in model.get_base_model().named_parameters()}
        for name, before in frozen_before.items():
            assert torch.equal(state[name].detach().to(before.dtype), before), name


def test_freeze_trains_the_last_layers_and_final_norm_only(tiny_model_dir):
    model = apply_method(load_model(tiny_model_dir),
                         _cfg(tiny_model_dir, "freeze", freeze_trainable_layers=1), 10)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(n.startswith("model.layers.1.") or n == "model.norm.weight"
                           for n in trained)
    assert "model.norm.weight" in trained
    assert not any(n.startswith(("model.embed_tokens", "lm_head")) for n in trained)
    with pytest.raises(ConfigError, match="only 2 decoder layers"):
        apply_method(load_model(tiny_model_dir),
                     _cfg(tiny_model_dir, "freeze", freeze_trainable_layers=3), 10)


def test_target_modules_list_and_unknown_names(tiny_model_dir):
    model = apply_method(load_model(tiny_model_dir),
                         _cfg(tiny_model_dir, "lora", target_modules="q_proj, v_proj"), 10)
    # names look like ...self_attn.q_proj.lora_A.default.weight
    adapted = {n.split(".")[-4] for n, p in model.named_parameters() if "lora_A" in n}
    assert adapted == {"q_proj", "v_proj"}
    with pytest.raises(ConfigError, match="nope_proj not found.*q_proj.*down_proj"):
        apply_method(load_model(tiny_model_dir),
                     _cfg(tiny_model_dir, "lora", target_modules="q_proj,nope_proj"), 10)


def test_lora_rank_sets_the_adapter_shapes(tiny_model_dir):
    model = apply_method(load_model(tiny_model_dir), _cfg(tiny_model_dir, "lora", lora_r=4), 10)
    q = model.base_model.model.model.layers[0].self_attn.q_proj
    assert tuple(q.lora_A["default"].weight.shape) == (4, 64)      # r x in
    assert tuple(q.lora_B["default"].weight.shape) == (64, 4)      # out x r
    assert q.scaling["default"] == pytest.approx(32.0 / 4)          # alpha / r


def test_ia3_uses_standard_modules_per_architecture(tiny_model_dir, tiny_qwen_dir):
    for folder, expected in ((tiny_model_dir, {"k_proj", "v_proj", "down_proj"}),
                             (tiny_qwen_dir, {"q_proj", "v_proj", "down_proj"})):
        model = apply_method(load_model(folder), _cfg(folder, "ia3"), 10)
        scaled = {n.split(".")[-3] for n, _ in model.named_parameters() if "ia3_l" in n}
        assert scaled == expected
        config = model.peft_config["default"]
        assert set(config.feedforward_modules) == {"down_proj"}


def test_adalora_reallocates_rank_after_optimizer_steps(tiny_model_dir, batch):
    torch.manual_seed(0)
    model = apply_method(load_model(tiny_model_dir), _cfg(tiny_model_dir, "adalora", lora_r=8),
                         total_steps=10)
    singular = [p for n, p in model.named_parameters() if "lora_E" in n]  # (r, 1) each
    _train(model, batch, 1e-2, steps=10)
    kept = sum(int((p != 0).sum()) for p in singular)
    # E starts at zero and learns; the budget then prunes to target_r = r / 2 per matrix on
    # average, so about half the singular values of all matrices survive.
    assert 0 < kept <= 4 * len(singular) < 8 * len(singular)
    assert model.peft_config["default"].rank_pattern  # the final allocation is recorded


def test_after_optimizer_step_is_a_no_op_for_other_methods(tiny_model_dir):
    model = apply_method(load_model(tiny_model_dir), _cfg(tiny_model_dir, "lora"), 10)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    methods.after_optimizer_step(model, 1)
    methods.after_optimizer_step(load_model(tiny_model_dir), 1)  # plain model: no base_model hook
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_qlora_needs_a_4bit_model(tiny_model_dir):
    with pytest.raises(ModelError, match="4-bit"):
        apply_method(load_model(tiny_model_dir), _cfg(tiny_model_dir, "qlora"), 10)


def test_qwen2_with_tied_head_trains_under_lora(tiny_qwen_dir):
    tok = load_tokenizer(tiny_qwen_dir)
    enc = tok(["Hello world, 你好世界。"] * 2, return_tensors="pt")
    batch = {**enc, "labels": enc["input_ids"]}
    model = apply_method(load_model(tiny_qwen_dir), _cfg(tiny_qwen_dir, "lora"), 10)
    losses = _train(model, batch, 1e-2)
    assert losses[-1] < losses[0] - 0.03


def test_recommended_learning_rates():
    assert recommended_learning_rate("lora") == pytest.approx(2e-4)
    for m in ("ia3", "prompt_tuning", "prefix_tuning", "p_tuning"):
        assert 1e-2 <= recommended_learning_rate(m) <= 3e-2  # facts.md
    assert recommended_learning_rate("full") < recommended_learning_rate("lora")
    with pytest.raises(ConfigError):
        recommended_learning_rate("magic")


def test_all_linear_plus_the_output_head(tiny_model_dir):
    from studio.core import config as config_mod
    from studio.core.model import load as model_mod

    m = model_mod.load_model(tiny_model_dir, device="cpu")
    cfg = config_mod.from_dict({"model": str(tiny_model_dir), "dataset": "x", "method": "lora",
                                "target_modules": "all-linear,lm_head"})
    m = apply_method(m, cfg, 10)
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert any("lm_head.lora_A" in n for n in names)
    assert any("q_proj.lora_A" in n for n in names) and any("down_proj.lora_B" in n for n in names)
