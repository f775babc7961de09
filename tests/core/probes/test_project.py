"""Projections: PCA always, UMAP / t-SNE when installed, and the analogy axes."""

import importlib.util
import threading

import numpy as np
import pytest

from studio.core.errors import UserError
from studio.core.probes import projection as project


def _blobs(n=200, d=50, seed=0):
    """Two well-separated Gaussian clusters in d dims -> (points, labels)."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(d)
    centre[0] = 12.0
    x = np.vstack([rng.standard_normal((n, d)), rng.standard_normal((n, d)) + centre])
    return x.astype(np.float32), np.repeat([0, 1], n)


def _separated(coords, labels):
    a, b = coords[labels == 0], coords[labels == 1]
    gap = np.linalg.norm(a.mean(0) - b.mean(0))
    spread = max(a.std(0).max(), b.std(0).max())
    return gap > 3 * spread


def test_pca_finds_the_planted_directions():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((64, 3)))[0].T            # 3 orthonormal rows
    x = (rng.standard_normal((5000, 3)) * [10, 5, 2]) @ basis + 0.1 * rng.standard_normal(
        (5000, 64)) + 7.0
    p = project.pca(x.astype(np.float32), 3)
    assert p.coords.shape == (5000, 3) and p.coords.dtype == np.float32
    overlap = np.abs(p.components @ basis.T)
    np.testing.assert_allclose(np.diag(overlap), 1.0, atol=1e-3)
    assert p.explained[0] > p.explained[1] > p.explained[2] and p.explained.sum() <= 1.0001
    np.testing.assert_allclose(p.coords.mean(0), 0.0, atol=1e-2)         # centred
    np.testing.assert_allclose(p.transform(x[:10]), p.coords[:10], atol=1e-3)
    again = project.pca(x.astype(np.float32), 3)
    np.testing.assert_array_equal(again.coords, p.coords)                # fixed signs


def test_pca_few_points_and_separation():
    x, labels = _blobs(n=3, d=300)
    p = project.pca(x, 2)                     # 6 points in 300 dims: the SVD path
    assert p.coords.shape == (6, 2)
    first = p.coords[:, 0]                    # the clusters' offset is the main direction
    assert first[labels == 0].max() < first[labels == 1].min() or \
        first[labels == 1].max() < first[labels == 0].min()
    two = project.pca(x[:2], 3)              # 2 points cannot fill 3 axes: flat extras
    assert two.coords.shape == (2, 3) and np.allclose(two.coords[:, 1:], 0, atol=1e-4)


def test_bad_input_is_refused():
    with pytest.raises(UserError, match="2 or 3"):
        project.pca(np.zeros((5, 4)), 4)
    with pytest.raises(UserError, match="NaN"):
        project.pca(np.full((5, 4), np.nan), 2)
    with pytest.raises(UserError, match="points, dims"):
        project.pca(np.zeros(5), 2)
    with pytest.raises(UserError, match="unknown projection"):
        project.project(np.zeros((5, 4)), "mds")


def test_missing_optional_package_says_how_to_install():
    with pytest.raises(UserError, match=r"llm-studio\[projection\]") as e:
        project._require("no_such_module_for_studio", "fancy-proj", "Fancy")
    assert "PCA works without it" in str(e.value)


def test_axis_coordinates_and_plane():
    a, b = np.array([1.0, 0, 0]), np.array([3.0, 0, 0])
    pts = np.array([a, b, [2.0, 5, 5], [5.0, 0, 1]])
    np.testing.assert_allclose(project.axis_coordinates(pts, a, b), [-1, 1, 0, 3])
    with pytest.raises(UserError, match="same vector"):
        project.axis_coordinates(pts, a, a)
    plane = project.analogy_plane(pts, (a, b)).coords      # y: main leftover direction
    assert plane.shape == (4, 2) and np.ptp(plane[:, 1]) > 1


@pytest.mark.skipif(importlib.util.find_spec("openTSNE") is None, reason="openTSNE not installed")
def test_tsne_separates_clusters_reports_progress_and_cancels():
    x, labels = _blobs(n=60, d=20)
    seen = []
    p = project.project(x, "tsne", progress=lambda f, msg: seen.append(f))
    assert p.coords.shape == (120, 2) and _separated(p.coords, labels)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    stop = threading.Event()
    stop.set()
    with pytest.raises(project.Cancelled):
        project.tsne_project(x, cancel=stop)


@pytest.mark.slow  # the first UMAP call compiles numba code (~25 s)
@pytest.mark.skipif(importlib.util.find_spec("umap") is None, reason="umap-learn not installed")
def test_umap_separates_clusters_reports_progress_and_cancels():
    x, labels = _blobs(n=60, d=20)
    seen = []
    p = project.project(x, "umap", progress=lambda f, msg: seen.append(f))
    assert p.coords.shape == (120, 2) and _separated(p.coords, labels)
    assert max(seen) == pytest.approx(1.0)
    stop = threading.Event()
    calls = []

    def progress(f, msg):  # cancel part-way through the layout epochs
        calls.append(f)
        if f > 0.5:
            stop.set()
    with pytest.raises(project.Cancelled):
        project.umap_project(x, progress=progress, cancel=stop)
    assert max(calls) < 0.9


def test_a_cancelled_umap_leaves_tqdm_usable_from_other_threads():
    pytest.importorskip("umap")
    from tqdm import tqdm

    x, _ = _blobs(n=60, d=20)
    stop = threading.Event()
    with pytest.raises(project.Cancelled):
        project.umap_project(x, progress=lambda f, msg: f > 0.5 and stop.set(), cancel=stop)
    done = threading.Event()

    def bar():  # what a model load in a worker does: a tqdm bar
        for _ in tqdm(range(3), disable=True):
            pass
        done.set()
    threading.Thread(target=bar, daemon=True).start()
    assert done.wait(10), "tqdm's lock was left held by the cancelled UMAP run"
