"""Loading what a run produced: final weights and checkpoints rebuilt exactly, base and tuned
sharing one model where the method allows it, and saying so where it does not."""

from __future__ import annotations

import pytest
import torch

from studio.core.chat.engine import ChatEngine, GenSettings, build_prompt_ids
from studio.core.errors import UserError
from studio.core.model import load as model_mod
from studio.core.model.run_model import load_chat_models, load_run_model

GREEDY = GenSettings(temperature=0.0, max_new_tokens=12)
ASK = [{"role": "user", "content": "What is 3 plus one?"}]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return ChatEngine(model_mod.load_model(tiny_model_dir),
                      model_mod.load_tokenizer(tiny_model_dir))


def _logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_base_and_tuned_share_one_model(trained_run, tiny_model_dir, engine):
    models = load_chat_models(run=trained_run("lora"))
    assert models.shared and models.base is models.tuned
    tuned_a = models.reply("tuned", ASK, GREEDY).text
    base = models.reply("base", ASK, GREEDY).text
    assert base == engine.reply(ASK, GREEDY).text  # adapter off == the plain base model
    assert models.reply("tuned", ASK, GREEDY).text == tuned_a  # and back on afterwards
    ids = build_prompt_ids(engine.tokenizer, ASK)
    peft_model = models.tuned.model
    with peft_model.disable_adapter():
        off = _logits(peft_model, ids)
    assert (off - _logits(peft_model, ids)).abs().max() > 1e-3  # the adapter does change it


def test_full_run_base_is_a_second_copy_and_says_so(trained_run):
    models = load_chat_models(run=trained_run("full"))
    assert not models.shared and models.base is not models.tuned
    assert "second copy" in models.note
    assert models.reply("base", ASK, GREEDY).tokens > 0


def test_checkpoint_is_rebuilt_exactly(trained_run, engine):
    run = trained_run("lora")
    final = load_run_model(run)
    step4 = load_run_model(run, step=4)
    step2 = load_run_model(run, step=2)
    ids = build_prompt_ids(engine.tokenizer, ASK)
    assert torch.allclose(_logits(final.model, ids), _logits(step4.model, ids), atol=1e-6)
    assert (_logits(step2.model, ids) - _logits(step4.model, ids)).abs().max() > 1e-4
    assert step2.label.endswith("step 2)")


def test_prompt_tuning_base_answer_skips_the_virtual_tokens(trained_run, engine):
    models = load_chat_models(run=trained_run("prompt_tuning"))
    assert models.reply("base", ASK, GREEDY).text == engine.reply(ASK, GREEDY).text
    assert models.reply("tuned", ASK, GREEDY).tokens > 0


def test_missing_checkpoint_names_the_ones_there(trained_run):
    with pytest.raises(UserError, match="complete checkpoints: 2, 4"):
        load_run_model(trained_run("lora"), step=3)
    with pytest.raises(UserError, match="not a run directory|not found"):
        load_run_model("/nonexistent/run")
