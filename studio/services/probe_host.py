"""The Inspect page's probes, run in the engine host (services/engine_host.py): the jobs, the
models they keep loaded between jobs, and the plain results they send back to the window.

Why a separate process: a model load, torch's import and a forward pass hold the GIL for long
stretches, and the window's GUI thread waits for it each time it paints (engine_host.py). The
window side (services/probe_worker.py, ProbeService) sends `run(job, *args)` to the host on the
lane of its service; this module is what runs there. No Qt here: only the results' classes are
imported in the window, and they need numpy at most (torch and transformers are imported inside
the functions, so only in the host).

A lane's calls run one after another in one host thread, so the caches in the lane's state need
no lock and two probes never run torch on one model at once. At most MAX_MODELS models stay
loaded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from studio.core.errors import Cancelled, UserError
from studio.core.probes.attention import AttentionMaps, ProbeTarget

if TYPE_CHECKING:
    import numpy as np  # at run time only where used: the window imports this module early

MAX_MODELS = 2
PROGRESS = "progress"  # the event kind a job's progress travels as: (fraction, message)


# --- results (plain data, pickled back to the window) -------------------------------------------

@dataclass(frozen=True)
class AttentionResult:
    maps: AttentionMaps
    base: Optional[AttentionMaps]          # the same text through the base model
    entropy: np.ndarray                    # (layers, heads) bits
    patterns: dict                         # name -> (layers, heads) shares (probes.head_patterns)
    special: np.ndarray                    # (T,) bool

    @property
    def diff(self) -> Optional[np.ndarray]:
        return None if self.base is None else self.maps.attention - self.base.attention


@dataclass(frozen=True)
class PointsResult:
    """Points to draw: words or dataset samples, projected; base points for drift arrows."""

    labels: tuple[str, ...]
    coords: np.ndarray                     # (N, 2|3)
    base_coords: Optional[np.ndarray]      # (N, 2|3) or None
    vectors: np.ndarray                    # (N, D) original vectors (neighbours, re-projection)
    base_vectors: Optional[np.ndarray]
    method: str
    groups: tuple[str, ...] = ()           # per point: a colour group ("train"/"eval") or ()
    values: Optional[np.ndarray] = None    # per point: a value to colour by (loss) or None
    explained: Optional[np.ndarray] = None
    axis_names: tuple[str, str] = ("", "")
    note: str = ""


@dataclass(frozen=True)
class NeighbourResult:
    query: str
    neighbours: tuple                      # probes_embed.Neighbour
    terms: tuple = ()


@dataclass(frozen=True)
class TokenResult:
    split: Any                             # probes_tokens.TokenSplit
    template: Any                          # probes_tokens.TemplateSplit or None
    model: str


# --- running a job in the host ------------------------------------------------------------------

def run(host_ctx: Any, job: Callable[..., Any], *args: Any) -> Any:
    """The engine host's entry for one probe: job(ctx, *args) with the lane's caches."""
    from studio.services.engine_import import import_engine

    # The host imports the engine in a thread of its own as it starts; a job that imported
    # transformers meanwhile got the half-built module ("cannot import name 'AutoTokenizer'").
    # Every probe needs the engine, so wait for that import (later calls cost nothing).
    import_engine()
    return job(_Context(host_ctx), *args)


class _Context:
    """What a job gets: the lane's model cache, progress reporting and its cancel flag."""

    def __init__(self, host_ctx: Any):
        self._host = host_ctx
        self.cancel = host_ctx.cancel  # set when the window cancels this call
        self._last = 0.0
        # the lane's state outlives the call: loaded models serve the service's next probes
        self._models: OrderedDict[ProbeTarget, Any] = host_ctx.state.setdefault(
            "models", OrderedDict())
        self._tokenizers: dict[ProbeTarget, Any] = host_ctx.state.setdefault("tokenizers", {})
        self._indexes: dict[ProbeTarget, Any] = host_ctx.state.setdefault("indexes", {})

    def model(self, target: ProbeTarget) -> Any:
        self.fetch(target, files="all")
        return self._load_model(target)

    def tokenizer(self, target: ProbeTarget) -> Any:
        self.fetch(target, files="tokenizer")
        if target in self._models:
            return self._models[target].tokenizer
        if target not in self._tokenizers:
            from studio.core.model import load as model_mod

            folder = model_mod.resolve_model(target.model, tokenizer_only=True)
            self._tokenizers[target] = model_mod.load_tokenizer(folder)
        return self._tokenizers[target]

    def fetch(self, target: ProbeTarget, files: str) -> None:
        """A hub id's files into the Hugging Face cache first, as on the Train page: progress
        in the view's status line, this job's cancel stopping the download (what arrived stays
        for the next try), nothing fetched when cached; offline, the cached snapshot."""
        from studio.core.model.hub import fetch, is_hub_id

        if not is_hub_id(str(target.model)):
            return

        def progress(done: int, total: int, message: str) -> None:
            self.progress(min(done / total, 0.99) if total else 0.0, message)

        fetch(str(target.model), files=files, progress=progress, cancelled=self.cancel.is_set)

    def vocab_index(self, target: ProbeTarget) -> Any:
        from studio.core.probes.embed import VocabIndex

        pm = self.model(target)
        if target not in self._indexes:
            self._indexes[target] = VocabIndex(pm)
        return self._indexes[target]

    def progress(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last < 0.05:  # at most ~20 events a second
            return
        self._last = now
        self._host.emit(PROGRESS, (float(fraction), message))

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def _load_model(self, target: ProbeTarget) -> Any:
        from studio.core.probes.attention import load_probe_model  # lazy: torch

        if target in self._models:
            self._models.move_to_end(target)
            return self._models[target]
        while len(self._models) >= MAX_MODELS:
            old, _ = self._models.popitem(last=False)
            self._indexes.pop(old, None)
        pm = load_probe_model(target)
        self._models[target] = pm
        return pm


# --- the jobs (run in the host, in the lane of the service that asked) ------------------------

def attention_job(ctx: _Context, target: ProbeTarget, text: str,
                  compare: bool) -> AttentionResult:
    from studio.core.probes import attention as probes  # lazy: torch

    ctx.progress(0.0, "loading model")
    pm = ctx.model(target)
    ctx.check()
    ctx.progress(0.3, "capturing attention")
    maps = probes.capture_attention(pm, text)
    base = None
    if compare:
        ctx.check()
        base = _base_attention(ctx, pm, target, text)
    special = probes.special_mask(pm, maps.tokens)
    ctx.progress(1.0, "")
    return AttentionResult(maps=maps, base=base, entropy=probes.attention_entropy(maps.attention),
                           patterns=probes.head_patterns(maps.attention, special),
                           special=special)


def _base_attention(ctx: _Context, pm: Any, target: ProbeTarget, text: str) -> AttentionMaps:
    from studio.core.probes import attention as probes

    if pm.has_adapter:
        return probes.capture_attention(pm, text, adapter=False)
    if target.base is not None:
        return probes.capture_attention(ctx.model(ProbeTarget(model=target.base)), text)
    raise UserError(f"{target.label} has no base to compare with: pick a trained run")


def tokens_job(ctx: _Context, target: ProbeTarget, text: str) -> TokenResult:
    from studio.core.probes.tokens import split_text, template_split

    tok = ctx.tokenizer(target)
    return TokenResult(split=split_text(tok, text), template=template_split(tok, text),
                       model=target.label)


def _vectors(ctx: _Context, target: ProbeTarget, words: list[str], layer: Optional[int],
             compare: bool) -> tuple[np.ndarray, Optional[np.ndarray]]:
    from studio.core.probes.embed import word_vectors

    pm = ctx.model(target)
    tuned = word_vectors(pm, words, layer).vectors
    if not compare:
        return tuned, None
    if pm.has_adapter:
        return tuned, word_vectors(pm, words, layer, adapter=False).vectors
    if target.base is not None:
        return tuned, word_vectors(ctx.model(ProbeTarget(model=target.base)), words,
                                   layer).vectors
    raise UserError(f"{target.label} has no base to compare with: pick a trained run")


def words_job(ctx: _Context, target: ProbeTarget, words: list[str], layer: Optional[int],
              method: str, dims: int, compare: bool, axes: Any) -> PointsResult:
    ctx.progress(0.0, "loading model")
    words = list(dict.fromkeys(words + ([w for pair in axes if pair for w in pair]
                                        if axes else [])))
    vecs, base = _vectors(ctx, target, words, layer, compare)
    ctx.check()
    if axes:
        return _axis_points(words, vecs, base, axes)
    return _project_points(ctx, tuple(words), vecs, base, method, dims)


def _axis_points(words: list[str], vecs: np.ndarray, base: Optional[np.ndarray],
                 axes: Any) -> PointsResult:
    from studio.core.probes import projection as project

    v = dict(zip(words, vecs))
    px = (v[axes[0][0]], v[axes[0][1]])
    py = (v[axes[1][0]], v[axes[1][1]]) if axes[1] else None
    coords = project.analogy_plane(vecs, px, py).coords
    base_coords = None if base is None else project.analogy_plane(base, px, py).coords
    names = (f"{axes[0][0]} → {axes[0][1]}",
             f"{axes[1][0]} → {axes[1][1]}" if axes[1] else "PC1 of the rest")
    return PointsResult(labels=tuple(words), coords=coords, base_coords=base_coords,
                        vectors=vecs, base_vectors=base, method="axis", axis_names=names)


def _project_points(ctx: _Context, labels: tuple[str, ...], vecs: np.ndarray,
                    base: Optional[np.ndarray], method: str, dims: int, **extra: Any
                    ) -> PointsResult:
    import numpy as np

    from studio.core.probes import projection as project

    # base and tuned share one projection, so the arrows show real movement
    stacked = vecs if base is None else np.vstack([vecs, base])
    proj = project.project(stacked, method, dims, progress=ctx.progress, cancel=ctx.cancel)
    n = len(vecs)
    return PointsResult(labels=labels, coords=proj.coords[:n],
                        base_coords=None if base is None else proj.coords[n:], vectors=vecs,
                        base_vectors=base, method=method, explained=proj.explained,
                        axis_names=_axis_names(method), **extra)


def _axis_names(method: str) -> tuple[str, str]:
    return {"pca": ("PC1", "PC2"), "umap": ("UMAP 1", "UMAP 2"),
            "tsne": ("t-SNE 1", "t-SNE 2")}.get(method, ("", ""))


def samples_job(ctx: _Context, target: ProbeTarget, dataset: str, layer: int, method: str,
                dims: int, max_rows: int) -> PointsResult:
    from studio.core.probes.embed import dataset_vectors

    ctx.progress(0.0, "loading model")
    pm = ctx.model(target)
    sv = dataset_vectors(pm, dataset, max_rows=max_rows, layer=layer,
                         progress=lambda f, m: ctx.progress(0.8 * f, "encoding samples"),
                         cancel=ctx.cancel, **_split_settings(target))
    labels = tuple(f"row {r}" for r in sv.rows)
    return _project_points(ctx, labels, sv.vectors, None, method, dims, groups=sv.splits,
                           values=sv.losses,
                           note=f"{len(labels)} samples, layer {sv.layer}")


def _split_settings(target: ProbeTarget) -> dict:
    """eval_split / seed of the run the adapter came from, so colours match its split."""
    import yaml

    run = target.adapter.parent if target.adapter is not None else (
        target.model.parent if target.base is not None else None)
    cfg_file = run / "config.yaml" if run is not None else None
    if cfg_file is None or not cfg_file.is_file():
        return {}
    try:
        cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    out = {}
    if isinstance(cfg.get("eval_split"), (int, float)):
        out["eval_split"] = float(cfg["eval_split"])
    if isinstance(cfg.get("seed"), int):
        out["seed"] = int(cfg["seed"])
    return out


def neighbours_job(ctx: _Context, target: ProbeTarget, query: str, k: int) -> NeighbourResult:
    from studio.core.probes import embed as pe

    pm = ctx.model(target)
    index = ctx.vocab_index(target)
    terms = pe.parse_arithmetic(query)
    if len(terms) == 1 and terms[0][0] > 0:
        near = pe.word_neighbours(pm, terms[0][1], k=k, index=index)
        return NeighbourResult(query=query, neighbours=tuple(near), terms=tuple(terms))
    res = pe.arithmetic(pm, query, k=k, index=index)
    return NeighbourResult(query=query, neighbours=res.neighbours, terms=res.terms)
