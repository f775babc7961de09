"""The spectrum of a LoRA update and the weight change of a full fine-tune."""

import pytest
import torch

from studio.core.errors import UserError
from studio.core.probes import spectrum


def test_rank_r_update_has_at_most_r_nonzero_singular_values():
    torch.manual_seed(0)
    r, out_dim, in_dim = 4, 48, 64
    B, A = torch.randn(out_dim, r), torch.randn(r, in_dim)
    dense = torch.linalg.svdvals(2.0 * B @ A)            # (48,): the whole spectrum
    assert int((dense > dense[0] * 1e-5).sum()) == r      # the update really has rank r
    core = spectrum.update_singular_values(B, A, scale=2.0)
    assert core.shape == (r,)
    torch.testing.assert_close(core, dense[:r], rtol=1e-4, atol=1e-4)


def test_one_direction_has_effective_rank_one_and_all_the_energy():
    s = spectrum.summarise("x", torch.tensor([3.0, 0.0, 0.0, 0.0]))
    assert s.effective_rank == pytest.approx(1.0)
    assert s.energy_top[1] == pytest.approx(1.0)
    flat = spectrum.summarise("y", torch.ones(4))
    assert flat.effective_rank == pytest.approx(4.0)
    assert flat.energy_top[1] == pytest.approx(0.25)


def test_lora_run_spectra_per_layer_and_checkpoint(trained_run):
    run = trained_run("lora")                             # lora_r=4, checkpoints at 2 and 4
    final = spectrum.run_spectra(run)
    at2 = spectrum.run_spectra(run, step=2)
    assert final and len(final) == len(at2)
    assert all(len(layer.singular_values) == 4 for layer in final)
    assert all(1.0 <= layer.effective_rank <= 4.0 for layer in final)
    assert any("q_proj" in layer.layer for layer in final)
    # training moved the update between step 2 and step 4
    assert final[0].singular_values != at2[0].singular_values


def test_full_run_weight_change_and_wrong_method(trained_run):
    changes = spectrum.run_weight_changes(trained_run("full"))
    assert changes and all(c.norm >= 0 for c in changes)
    assert max(c.relative for c in changes) > 0          # full fine-tuning moved some weight
    with pytest.raises(UserError, match="spectrum"):
        spectrum.run_weight_changes(trained_run("lora"))
    with pytest.raises(UserError, match="LoRA-family"):
        spectrum.run_spectra(trained_run("full"))
