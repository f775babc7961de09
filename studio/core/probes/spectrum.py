"""What a method changed: the spectrum of each LoRA update, or the size of each weight change.

LoRA-family runs: for every adapted layer the update is delta W = (alpha / r) * B @ A, with
B (out x r) and A (r x in). Its singular values come from the r x r core: B = Qb Rb and
A^T = Qa Ra (thin QR), so B @ A = Qb (Rb Ra^T) Qa^T and svdvals(B @ A) = svdvals(Rb Ra^T),
exact and cheap even for 4096 x 4096 layers. At most r of them are non-zero.
  effective rank  exp(entropy of s / sum(s))  (1 when one direction carries everything, r when
                  all r are equal)
  top-k energy    sum of the k largest s^2 over sum s^2: the share of the update those k
                  directions carry
Full / freeze runs: per layer the Frobenius norm of W_tuned - W_base and that norm relative
to ||W_base||.

Reads safetensors only (checkpoints' trainable.safetensors, adapter/adapter_model.safetensors,
the base model's weights); torch is imported inside the functions.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from studio.core import runs
from studio.core.errors import UserError

TOP_K = (1, 4)  # energy shares reported


@dataclass(frozen=True)
class LayerSpectrum:
    layer: str                    # module path, e.g. model.layers.0.self_attn.q_proj
    singular_values: list[float]  # descending, r of them
    effective_rank: float
    energy_top: dict[int, float]  # k -> share of sum(s^2) in the k largest


@dataclass(frozen=True)
class LayerChange:
    layer: str
    norm: float                   # ||W_tuned - W_base||_F
    relative: float               # norm / ||W_base||_F


def update_singular_values(B: Any, A: Any, scale: float = 1.0) -> Any:
    """Singular values (descending) of scale * B @ A; B (out x r), A (r x in)."""
    import torch

    B, A = B.float(), A.float()
    _, rb = torch.linalg.qr(B)                      # (r, r)
    _, ra = torch.linalg.qr(A.T)                    # (r, r)
    return torch.linalg.svdvals(rb @ ra.T) * abs(scale)


def summarise(layer: str, s: Any) -> LayerSpectrum:
    vals = [float(v) for v in s]
    total = sum(vals)
    p = [v / total for v in vals if v > 0] if total > 0 else []
    eff = math.exp(-sum(q * math.log(q) for q in p)) if p else 0.0
    energy = [v * v for v in vals]
    e_total = sum(energy) or 1.0
    return LayerSpectrum(layer, vals, eff,
                         {k: sum(energy[:k]) / e_total for k in TOP_K if k <= len(vals)})


_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[^.]+)?\.weight$")


def lora_spectra(weights: dict[str, Any], scale: float) -> list[LayerSpectrum]:
    """Per adapted layer, from a state dict holding lora_A / lora_B weights (any PEFT naming:
    with or without the adapter name)."""
    pairs: dict[str, dict[str, Any]] = {}
    for key, tensor in weights.items():
        m = _LORA_KEY.match(key)
        if m:
            pairs.setdefault(m.group(1), {})[m.group(2)] = tensor
    out = [summarise(layer, update_singular_values(ab["B"], ab["A"], scale))
           for layer, ab in pairs.items() if "A" in ab and "B" in ab]
    return sorted(out, key=lambda x: _layer_order(x.layer))


def _layer_order(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in name.split("."))


# --- from a run ---------------------------------------------------------------------------------

def _weights_at(run: runs.RunDir, step: Optional[int]) -> dict[str, Any]:
    from safetensors.torch import load_file

    if step is not None:
        path = runs.checkpoint_path(run, step) / "trainable.safetensors"
    else:
        cfg = runs.load_config(run)
        path = run.adapter_dir / "adapter_model.safetensors" if cfg.is_peft else \
            _model_weights(run.model_dir)
    if not path.is_file():
        raise UserError(f"run {run.path} has no weights at {path.relative_to(run.path)}")
    return load_file(str(path))


def _model_weights(folder: Path) -> Path:
    return folder / "model.safetensors"


def run_spectra(run_dir: str | Path, step: Optional[int] = None) -> list[LayerSpectrum]:
    """The LoRA spectra of a run's checkpoint `step` (None: the final adapter)."""
    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    if cfg.method not in ("lora", "qlora", "dora"):
        raise UserError(f"the spectrum is for LoRA-family runs; this run used {cfg.method} "
                        "(full / freeze runs: see the weight change per layer)")
    return lora_spectra(_weights_at(run, step), cfg.lora_alpha / cfg.lora_r)


def weight_changes(base: dict[str, Any], tuned: dict[str, Any]) -> list[LayerChange]:
    """Per 2-D weight present in both: how far tuning moved it."""
    out = []
    for name, w in tuned.items():
        w0 = base.get(name)
        if w0 is None or w.dim() != 2 or w0.shape != w.shape:
            continue
        norm = float((w.float() - w0.float()).norm())
        out.append(LayerChange(name.removesuffix(".weight"), norm,
                               norm / max(float(w0.float().norm()), 1e-12)))
    return sorted(out, key=lambda x: _layer_order(x.layer))


def run_weight_changes(run_dir: str | Path, step: Optional[int] = None) -> list[LayerChange]:
    """Full / freeze runs: the change of every trained weight matrix against the base model."""
    from safetensors.torch import load_file

    from studio.core.model import load as model_mod

    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    if cfg.is_peft:
        raise UserError(f"{cfg.method} leaves the base weights unchanged; see the spectrum of "
                        "its update instead")
    base_dir = model_mod.resolve_model(cfg.model, trust_remote_code=cfg.trust_remote_code,
                                       allow_pickle=cfg.allow_pickle)
    base: dict[str, Any] = {}
    for f in sorted(base_dir.glob("*.safetensors")):
        base.update(load_file(str(f)))
    return weight_changes(base, _weights_at(run, step))


# --- what the Inspect page draws ------------------------------------------------------------------

@dataclass(frozen=True)
class RunChanges:
    """A run's change at one checkpoint, ready to draw (computed off the GUI thread)."""
    kind: str                            # "spectrum" (LoRA family) | "norm" (full / freeze)
    step: Optional[int]                  # None: the final weights
    steps: list[int]                     # the checkpoints there are
    rank: int                            # lora_r (spectrum)
    spectra: list[LayerSpectrum]
    changes: list[LayerChange]

    def summary(self) -> str:
        if self.kind == "spectrum" and self.spectra:
            effs = sorted(s.effective_rank for s in self.spectra)
            top = sorted(s.energy_top.get(1, 0.0) for s in self.spectra)
            return (f"{len(self.spectra)} adapted layers, rank {self.rank}: median effective "
                    f"rank {effs[len(effs) // 2]:.1f}; the top direction carries a median "
                    f"{top[len(top) // 2]:.0%} of each update's energy")
        if self.changes:
            big = max(self.changes, key=lambda c: c.relative)
            return (f"{len(self.changes)} weight matrices changed; the most: {big.layer} by "
                    f"{big.relative:.1%} of its norm")
        return "nothing changed"


def run_changes(run_dir: str | Path, step: Optional[int] = None) -> RunChanges:
    run = runs.open_run(run_dir)
    cfg = runs.load_config(run)
    steps = runs.checkpoint_steps(run)
    if cfg.method in ("lora", "qlora", "dora"):
        return RunChanges("spectrum", step, steps, cfg.lora_r, run_spectra(run.path, step), [])
    if cfg.is_peft:
        raise UserError(f"{cfg.method} adds no weight update to decompose; the spectrum is for "
                        "LoRA-family runs, the weight change for full / freeze runs")
    return RunChanges("norm", step, steps, 0, [], run_weight_changes(run.path, step))
