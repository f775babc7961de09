"""The checks an export passes on the way out: logits vs the in-studio model, and an EOS that
ends the chat template's turn."""

from __future__ import annotations

import torch

from studio.core.export import check as chk


def test_eos_check_catches_a_config_without_the_end_of_turn(tiny_model_dir):
    from studio.core.model import load as model_mod

    model = model_mod.load_model(tiny_model_dir)
    tok = model_mod.load_tokenizer(tiny_model_dir)
    model.generation_config.eos_token_id = [0]  # forgot <|im_end|>
    check = chk.eos_check(model, tok)
    assert "<|im_end|>" in check.problem
    model.generation_config.eos_token_id = [10**6]
    assert "outside the vocabulary" in chk.eos_check(model, tok).problem
    with torch.no_grad():  # all logits 0: greedy picks token 0, a stop token -> stops at once
        model.model.norm.weight.zero_()
    model.generation_config.eos_token_id = [0, 3]
    check = chk.eos_check(model, tok)
    assert check.stopped and check.tokens == 1 and not check.problem


def test_probe_covers_template_and_answer(tiny_model_dir):
    from studio.core.model import load as model_mod

    tok = model_mod.load_tokenizer(tiny_model_dir)
    ids = chk.probe_ids(tok, "cpu")
    text = tok.decode(ids[0])
    assert ids.shape[0] == 1 and "<|im_start|>assistant" in text and chk.PROBE_ANSWER in text
    assert chk.max_abs_diff(torch.zeros(1, 2, 3), torch.ones(1, 2, 3)) == 1.0
    assert chk.max_abs_diff(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3)) == float("inf")
