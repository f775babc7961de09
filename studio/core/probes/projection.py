"""Project high-dimensional vectors to 2D / 3D for plotting.

PCA (numpy, always there, instant: 50,000 x 768 in ~0.3 s) and, when their optional packages
are installed (`pip install 'llm-studio[projection]'`), UMAP (umap-learn) and t-SNE (openTSNE)
with a progress callback and a cancel event. Plus the analogy view: coordinates along the
direction from one word to another ("man -> woman"), scaled so the pair sits at -1 and +1.

Pure numpy; umap / openTSNE are imported inside their functions (numba start-up is slow).
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from studio.core.errors import Cancelled, UserError

Progress = Optional[Callable[[float, str], None]]
INSTALL_HINT = "pip install 'llm-studio[projection]'"
METHODS = ("pca", "umap", "tsne")


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray                   # (N, dims) float32
    method: str                          # pca | umap | tsne | axis
    explained: Optional[np.ndarray] = None  # PCA: share of variance per axis
    mean: Optional[np.ndarray] = None       # PCA: (D,) to project more points the same way
    components: Optional[np.ndarray] = None  # PCA: (dims, D)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project other points with the same PCA (base-vs-tuned drift)."""
        if self.components is None or self.mean is None:
            raise UserError(f"a {self.method} projection cannot place new points; use PCA")
        return ((np.asarray(x, dtype=np.float32) - self.mean) @ self.components.T)


def available_methods() -> dict[str, bool]:
    """Which projections can run here (PCA always)."""
    return {"pca": True, "umap": importlib.util.find_spec("umap") is not None,
            "tsne": importlib.util.find_spec("openTSNE") is not None}


def _check(x: np.ndarray, dims: int, min_points: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise UserError(f"expected a (points, dims) array, got shape {x.shape}")
    if dims not in (2, 3):
        raise UserError(f"can project to 2 or 3 dimensions, not {dims}")
    if x.shape[0] < min_points:
        raise UserError(f"{x.shape[0]} points: need at least {min_points} to project")
    if not np.isfinite(x).all():
        raise UserError("the vectors contain NaN or infinity")
    return x


def pca(x: np.ndarray, dims: int = 2) -> Projection:
    """Principal components: the `dims` directions of largest variance. Signs are fixed (the
    largest loading of each axis is positive) so the same data always looks the same."""
    x = _check(x, dims, min_points=1)
    n, d = x.shape
    mean = x.mean(axis=0)
    if n > d:
        # Many points: eigen-decompose the (D, D) covariance. X^T X is one BLAS call (syrk);
        # centring through the mean (cov = X^T X - n m m^T) avoids a second (N, D) copy.
        gram = (x.T @ x).astype(np.float64) - n * np.outer(mean, mean)
        w, v = np.linalg.eigh((gram / max(n - 1, 1)).astype(np.float32))  # f32: 2x faster
        order = np.argsort(w)[::-1][:dims]
        var, comps, total = w[order], v[:, order].T, max(float(w.sum()), 0.0)
    else:
        # Few points (a word list): the SVD of the small centred matrix.
        _, s, vt = np.linalg.svd((x - mean).astype(np.float64), full_matrices=False)
        sq = s ** 2 / max(n - 1, 1)
        var, comps, total = sq[:dims], vt[:dims], sq.sum()
    if comps.shape[0] < dims:  # fewer points than axes: the missing axes are flat
        comps = np.vstack([comps, np.zeros((dims - comps.shape[0], d))])
        var = np.concatenate([var, np.zeros(dims - len(var))])
    signs = np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])
    comps = (comps * np.where(signs == 0, 1, signs)[:, None]).astype(np.float32)
    coords = x @ comps.T - mean @ comps.T                   # (N, dims)
    explained = (np.clip(var, 0, None) / total if total > 0 else np.zeros(dims))
    explained = explained.astype(np.float32)
    return Projection(coords=coords.astype(np.float32), method="pca", explained=explained,
                      mean=mean, components=comps)


def project(x: np.ndarray, method: str = "pca", dims: int = 2, *, progress: Progress = None,
            cancel: Optional[threading.Event] = None, seed: int = 0) -> Projection:
    """Dispatch to pca / umap_project / tsne_project."""
    if method == "pca":
        return pca(x, dims)
    if method == "umap":
        return umap_project(x, dims, progress=progress, cancel=cancel, seed=seed)
    if method == "tsne":
        return tsne_project(x, dims, progress=progress, cancel=cancel, seed=seed)
    raise UserError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")


def _require(module: str, package: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"{what} needs the optional package {package}, which is not installed "
                        f"({INSTALL_HINT}); PCA works without it")


class _TqdmSink:
    """A file for tqdm: umap reports each layout epoch through tqdm (`tqdm_kwds`); reading
    "n/total" from it gives progress, and raising here stops umap between epochs."""

    def __init__(self, progress: Progress, cancel: Optional[threading.Event]):
        self.progress, self.cancel = progress, cancel

    def write(self, s: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        text = s.strip()
        if self.progress is not None and "/" in text:
            n, _, total = text.partition("/")
            if n.isdigit() and total.isdigit() and int(total):
                self.progress(0.2 + 0.8 * int(n) / int(total), "layout")

    def flush(self) -> None:
        pass


def _release_tqdm_lock() -> None:
    """tqdm writes its bar holding a process-wide lock and does not release it when the write
    raises, so the cancel above leaves it held: every later tqdm bar in the process (a model
    load's, in any thread) would wait forever. Release what this thread still holds."""
    from tqdm import tqdm

    for lock in tqdm.get_lock().locks[::-1]:
        owned = getattr(lock, "_is_owned", None) or \
            getattr(getattr(lock, "_semlock", None), "_is_mine", None)
        while owned is not None and owned():
            lock.release()


def umap_project(x: np.ndarray, dims: int = 2, *, progress: Progress = None,
                 cancel: Optional[threading.Event] = None, seed: int = 0) -> Projection:
    """UMAP (umap-learn). The first call in a process compiles numba code (~25 s here)."""
    _require("umap", "umap-learn", "UMAP")
    x = _check(x, dims, min_points=4)
    if progress is not None:
        progress(0.0, "finding neighbours")
    import umap  # lazy: imports numba, seconds

    sink = _TqdmSink(progress, cancel)
    reducer = umap.UMAP(
        n_components=dims, n_neighbors=min(15, x.shape[0] - 1), random_state=seed,
        verbose=False, tqdm_kwds={"disable": False, "file": sink, "bar_format": "{n}/{total}",
                                  "mininterval": 0.0, "miniters": 1, "ascii": True})
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    with warnings.catch_warnings():  # "n_jobs overridden by random_state": expected, seeded
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        try:
            coords = reducer.fit_transform(x)
        except Cancelled:
            _release_tqdm_lock()
            raise
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    return Projection(coords=np.asarray(coords, dtype=np.float32), method="umap")


def tsne_project(x: np.ndarray, dims: int = 2, *, progress: Progress = None,
                 cancel: Optional[threading.Event] = None, seed: int = 0) -> Projection:
    """t-SNE (openTSNE), 2D. Cancel stops it between optimisation rounds of 10 iterations."""
    _require("openTSNE", "openTSNE", "t-SNE")
    x = _check(x, dims, min_points=5)
    if dims != 2:
        raise UserError("t-SNE here draws 2D maps only; use PCA or UMAP for 3D")
    from openTSNE import TSNE  # lazy: compiled extension, only when asked for

    total = 250 + 500  # early exaggeration + normal phase (openTSNE defaults)
    done = [0]

    def callback(iteration: int, error: float, embedding: np.ndarray) -> bool:
        done[0] += 10
        if progress is not None:
            progress(min(done[0] / total, 1.0), "optimising")
        return bool(cancel is not None and cancel.is_set())  # True stops the optimisation

    if progress is not None:
        progress(0.0, "finding neighbours")
    tsne = TSNE(n_components=2, perplexity=min(30.0, (x.shape[0] - 1) / 3.0),
                random_state=seed, callbacks=callback, callbacks_every_iters=10,
                n_jobs=1, verbose=False)
    emb = tsne.fit(x)
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    return Projection(coords=np.asarray(emb, dtype=np.float32), method="tsne")


# --- the analogy view ---------------------------------------------------------------------------

def axis_coordinates(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where each point lies along the direction a -> b: -1 at a, +1 at b, 0 half-way
    (the component orthogonal to the axis is ignored). (N, D) -> (N,)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    diff = b - a
    length = float(np.linalg.norm(diff))
    if length == 0:
        raise UserError("the two words of an axis have the same vector; pick two different "
                        "words")
    u = diff / length
    mid = (a + b) / 2
    return ((np.asarray(x, dtype=np.float32) - mid) @ u) / (length / 2)


def analogy_plane(x: np.ndarray, pair_x: tuple[np.ndarray, np.ndarray],
                  pair_y: Optional[tuple[np.ndarray, np.ndarray]] = None) -> Projection:
    """2D map with x along pair_x (e.g. man -> woman) and y along pair_y (e.g. man -> king);
    without pair_y, y is the main direction of what the x axis leaves unexplained."""
    x = _check(x, 2, min_points=1)
    cx = axis_coordinates(x, *pair_x)
    if pair_y is not None:
        cy = axis_coordinates(x, *pair_y)
    else:
        u = np.asarray(pair_x[1], np.float32) - np.asarray(pair_x[0], np.float32)
        u = u / np.linalg.norm(u)
        resid = x - np.outer(x @ u, u)
        cy = pca(resid, 2).coords[:, 0] if x.shape[0] > 1 else np.zeros(x.shape[0])
    return Projection(coords=np.stack([cx, cy], axis=1).astype(np.float32), method="axis")
