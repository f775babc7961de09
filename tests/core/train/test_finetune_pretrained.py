"""Fine-tuning that visibly changes the pretrained starter: LoRA on its default targets learns
an identity in 100 steps, and the held-out corpus shows what full fine-tuning forgets.

Uses examples/identity_lora.yaml and the shipped identity sample, as the README's first run."""

from pathlib import Path

import pytest

from studio.core import config
from studio.core.chat.engine import GenSettings
from studio.core.eval import run_eval
from studio.core.model.run_model import load_chat_models
from studio.core.train import trainer
from studio.paths import resource

# Two real trainings of ~100 and 30 steps: minutes on 2 busy cores, more than the default limit.
pytestmark = pytest.mark.timeout(1800)
ROOT = Path(__file__).resolve().parents[3]
IDENTITY = resource("samples", "identity_zh_en.json")


class _Losses:
    def __init__(self):
        self.losses = []

    def on_step(self, m):
        self.losses.append(m.loss)

    def on_eval(self, m):
        pass

    def on_event(self, e):
        pass


@pytest.fixture(scope="module")
def identity_run(pretrained_dir, tmp_path_factory):
    """examples/identity_lora.yaml as the README runs it: 100 LoRA steps, the held-out corpus
    scored at steps 0, 50 and 100."""
    out = tmp_path_factory.mktemp("identity") / "run"
    cfg = config.load(ROOT / "examples" / "identity_lora.yaml",
                      [f"model={pretrained_dir}", f"dataset={IDENTITY}", f"output_dir={out}"])
    assert cfg.method == "lora" and cfg.target_modules == "all-linear" and cfg.max_steps <= 100
    rep = _Losses()
    assert trainer.train(cfg, reporter=rep).status == "finished"
    return out, rep.losses


@pytest.mark.slow  # 100 LoRA steps of the pretrained starter: ~1-2 min on 2 cores
def test_lora_default_targets_halve_the_loss_and_teach_the_identity(identity_run):
    run, losses = identity_run
    assert len(losses) == 100
    assert sum(losses[-5:]) / 5 <= losses[0] / 2, (losses[0], losses[-5:])
    chat = load_chat_models(run=run)
    greedy = GenSettings(temperature=0.0, max_new_tokens=40)
    for question in ("Who are you?", "你是谁？"):
        msgs = [{"role": "user", "content": question}]
        tuned = chat.tuned.reply(msgs, greedy).text
        base = chat.tuned.reply(msgs, greedy, use_adapter=False).text
        assert "Lumi" in tuned, tuned
        assert "Lumi" not in base and base.strip(), base


@pytest.mark.slow  # 30 full fine-tuning steps plus held-out scoring: ~1 min on 2 cores
def test_full_fine_tuning_at_a_high_learning_rate_forgets_more_than_lora(
        identity_run, pretrained_dir, tmp_path):
    out = tmp_path / "full"
    cfg = config.load(ROOT / "examples" / "identity_lora.yaml", [
        f"model={pretrained_dir}", f"dataset={IDENTITY}", f"output_dir={out}", "method=full",
        "learning_rate=0.01", "max_steps=30", "save_steps=10"])
    assert trainer.train(cfg).status == "finished"
    full = [r for r in run_eval.read_records(out) if r["data"] == "corpus"]
    assert [r["checkpoint"] for r in full] == ["base", "step-10", "step-20", "step-30"]
    assert full[-1]["value"] > 2 * full[0]["value"]           # the corpus is forgotten
    lora = [r for r in run_eval.read_records(identity_run[0]) if r["data"] == "corpus"]
    assert [r["step"] for r in lora] == [0, 50, 100]
    assert lora[0]["value"] == pytest.approx(full[0]["value"], rel=1e-4)  # the same base
    assert full[-1]["value"] / full[0]["value"] > lora[-1]["value"] / lora[0]["value"]
