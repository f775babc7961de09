"""Word and sample vectors, nearest tokens and arithmetic on MiniLM and the tiny decoder."""

import threading

import numpy as np
import pytest

from studio.core.errors import UserError
from studio.core.probes import attention as probes
from studio.core.probes import embed as pe
from studio.core.probes.projection import Cancelled, analogy_plane, axis_coordinates

WORDS = ["king", "queen", "man", "woman"]


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    return probes.load_probe_model(minilm_dir)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return probes.load_probe_model(tiny_model_dir)


def test_king_minus_man_plus_woman_is_near_queen(minilm):
    res = pe.arithmetic(minilm, "king - man + woman")
    top = [n.token for n in res.neighbours]
    assert top[0] == "queen"
    assert not {"king", "man", "woman"} & set(top)  # the inputs are left out
    assert res.terms == ((1.0, "king"), (-1.0, "man"), (1.0, "woman"))
    with_inputs = [n.token for n in pe.arithmetic(minilm, "king - man + woman",
                                                  exclude_inputs=False).neighbours]
    assert with_inputs[:2] == ["king", "queen"]
    cos = [n.cosine for n in res.neighbours]
    assert cos == sorted(cos, reverse=True)


def test_analogy_axis_separates_man_and_woman(minilm):
    wv = pe.word_vectors(minilm, WORDS)
    v = dict(zip(wv.words, wv.vectors))
    gender = axis_coordinates(wv.vectors, v["man"], v["woman"])
    np.testing.assert_allclose(gender[[2, 3]], [-1.0, 1.0], atol=1e-5)
    assert gender[1] > gender[0], "queen lies further towards woman than king"
    plane = analogy_plane(wv.vectors, (v["man"], v["woman"]), (v["man"], v["king"])).coords
    assert plane[0, 1] == pytest.approx(1.0, abs=1e-5)       # king ends the royalty axis
    assert plane[1, 1] > plane[3, 1]                          # queen is more royal than woman


def test_nearest_neighbours_by_cosine(minilm):
    near = [n.token for n in pe.word_neighbours(minilm, "paris", k=5)]
    assert "france" in near and "paris" not in near


def test_word_vectors_pool_sub_tokens_and_layers(minilm):
    ids = pe.word_token_ids(minilm, "unbelievably")
    assert len(ids) > 1
    wv = pe.word_vectors(minilm, ["unbelievably", "cat"])
    table = minilm.input_embeddings()
    np.testing.assert_allclose(wv.vectors[0], table[ids].mean(0), rtol=1e-5)
    assert wv.token_counts[0] == len(ids) and wv.layer is None
    deep = pe.word_vectors(minilm, ["unbelievably", "cat"], layer=-1)
    assert deep.layer == minilm.num_layers and deep.vectors.shape == (2, 384)
    assert not np.allclose(deep.vectors, wv.vectors)
    with pytest.raises(UserError, match="layers 0..6"):
        pe.word_vectors(minilm, ["cat"], layer=7)


def test_parse_words_and_expressions():
    assert pe.parse_words("king, queen,,man\nwoman，king") == ["king", "queen", "man", "woman"]
    with pytest.raises(UserError):
        pe.parse_words(" , ")
    assert pe.parse_arithmetic("-man+woman") == [(-1.0, "man"), (1.0, "woman")]
    assert pe.parse_arithmetic("well-known + x") == [(1.0, "well-known"), (1.0, "x")]
    with pytest.raises(UserError, match="missing"):
        pe.parse_arithmetic("king - ")
    with pytest.raises(UserError):
        pe.parse_arithmetic("  ")


def test_dataset_vectors_with_split_and_loss(tiny, shared_dataset):
    sv = pe.dataset_vectors(tiny, str(shared_dataset), max_rows=24, eval_split=0.25, seed=3)
    assert sv.vectors.shape == (24, 64) and len(sv.rows) == 24
    assert sv.splits.count("eval") == 6
    assert sv.losses is not None and np.isfinite(sv.losses).all() and (sv.losses > 0).all()
    # a random-weight model with 2k tokens: loss near log(vocab)
    assert abs(float(sv.losses.mean()) - np.log(len(tiny.tokenizer))) < 1.5


def test_dataset_vectors_can_be_cancelled(tiny, shared_dataset):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        pe.dataset_vectors(tiny, str(shared_dataset), max_rows=8, cancel=stop)


@pytest.fixture(scope="module")
def shared_dataset():
    from pathlib import Path

    path = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / \
        "alpaca_en_demo.json"
    if not path.is_file():
        pytest.skip(f"shared dataset absent: {path}")
    return path
