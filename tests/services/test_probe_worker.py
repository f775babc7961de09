"""ProbeService: jobs run in its worker thread, results arrive in the GUI thread, the newest
request wins, cancel stops long jobs, errors arrive as one line, models stay cached."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from loop_check import assert_responsive, idle_baseline
from PySide6.QtCore import QCoreApplication, QObject, Slot

from studio.core.errors import UserError
from studio.core.probes.attention import ProbeTarget, resolve_target
from studio.paths import resource
from studio.services.latency import LatencyProbe
from studio.services.probe_worker import ProbeService

SAMPLES = resource("samples", "alpaca_shaped.json")  # 200 alpaca rows


class Collector(QObject):
    """Records what the service emits, and in which thread."""

    def __init__(self, service):
        super().__init__()
        self.results, self.errors, self.progress, self.threads = [], [], [], set()
        service.sig_result.connect(self.on_result)
        service.sig_error.connect(self.on_error)
        service.sig_progress.connect(self.on_progress)

    @Slot(str, object)
    def on_result(self, kind, result):
        self.threads.add(threading.current_thread().name)
        self.results.append((kind, result))

    @Slot(str, str, str)
    def on_error(self, kind, reason, details):
        self.errors.append((kind, reason))

    @Slot(str, float, str)
    def on_progress(self, kind, fraction, message):
        self.progress.append((kind, fraction))


@pytest.fixture
def service(qapp):
    svc = ProbeService()
    yield svc
    svc.shutdown()


def test_attention_result_arrives_in_the_gui_thread(service, tiny_model_dir):
    got = Collector(service)
    service.attention(ProbeTarget(model=tiny_model_dir), "hello world")
    assert service.wait_idle(120)
    assert not got.errors
    (kind, result), = got.results
    assert kind == "attention" and result.maps.is_causal
    assert result.entropy.shape == result.maps.attention.shape[:2]
    assert got.threads == {threading.main_thread().name}
    assert any(k == "attention" for k, _ in got.progress)


def test_newest_request_wins_and_models_stay_cached(service, tiny_model_dir):
    got = Collector(service)
    target = ProbeTarget(model=tiny_model_dir)
    for text in ("one", "one two", "one two three"):
        service.tokens(target, text)
    assert service.wait_idle(60) and service.pending == 0
    assert [r.split.text for _, r in got.results] == ["one two three"]
    service.attention(target, "first")
    service.wait_idle(120)
    t0 = time.monotonic()
    service.attention(target, "second")  # the model is loaded already: quick
    service.wait_idle(60)
    assert time.monotonic() - t0 < 5
    assert got.results[-1][1].maps.tokens != got.results[-2][1].maps.tokens


def test_errors_are_one_line(service, tmp_path):
    got = Collector(service)
    service.attention(ProbeTarget(model=tmp_path / "missing"), "hi")
    service.wait_idle(30)
    (kind, reason), = got.errors
    assert kind == "attention" and "not found" in reason and "\n" not in reason


def test_cancel_stops_a_samples_job(service, tiny_model_dir):
    got = Collector(service)
    service.samples(ProbeTarget(model=tiny_model_dir), str(SAMPLES),
                    max_rows=400)
    service.cancel("embeddings")
    service.wait_idle(120)
    assert got.errors == [("embeddings", "cancelled")] and not got.results


def test_words_drift_from_base_on_a_trained_run(service, trained_run):
    got = Collector(service)
    target = resolve_target(trained_run("lora"))
    assert target.adapter is not None
    service.words(target, ["one", "two", "plus", "It"], layer=-1, compare=True)
    service.wait_idle(120)
    assert not got.errors, got.errors
    _, pts = got.results[-1]
    assert pts.base_coords.shape == pts.coords.shape == (4, 2)
    assert np.abs(pts.vectors - pts.base_vectors).max() > 0  # tuning moved the hidden states


def test_the_gui_thread_keeps_running_while_a_model_loads(service, minilm_dir, qtbot):
    idle = idle_baseline(qtbot)
    probe = LatencyProbe()
    probe.start()
    t0 = time.monotonic()
    service.attention(ProbeTarget(model=minilm_dir), "The cat sat on the mat. " * 20)
    service.wait_idle(120)
    elapsed = time.monotonic() - t0
    probe.stop()
    # judged against this loop idle, not a clock: a load on the GUI thread is one block of
    # most of the phase (tests/loop_check.py)
    print("model load:", assert_responsive(probe, elapsed, idle))


def test_shutdown_is_final(qapp, tiny_model_dir):
    svc = ProbeService()
    svc.shutdown()
    svc.shutdown()
    with pytest.raises(UserError):
        svc.tokens(ProbeTarget(model=tiny_model_dir), "x")
    assert QCoreApplication.instance() is qapp


def test_a_hub_id_is_probed_from_the_cache_offline(service, hub_cache):
    got = Collector(service)
    target = resolve_target(hub_cache)  # kept as the hub id: fetched when a view asks
    service.tokens(target, "你好 world")
    service.attention(target, "hello world")
    assert service.wait_idle(120)
    assert not got.errors, got.errors
    assert [k for k, _ in got.results] == ["tokens", "attention"]


def test_a_hub_download_reports_progress_and_its_cancel_stops_it(service, monkeypatch,
                                                                 tiny_model_dir):
    # huggingface_hub's own byte counting is tested in tests/core/model/test_hub.py; here the
    # path from the probe job to the view: progress while fetching, cancel reaching the fetch
    from studio.core.model import hub

    started = threading.Event()

    def fetch(repo_id, files="all", progress=None, cancelled=None, **_):
        for mb in (1, 2):  # reports ~20 a second reach the view (the context's throttle)
            time.sleep(0.1)
            progress(mb * 2**20, 4 * 2**20, f"fetching {repo_id}: {mb}.0 MB of 4.0 MB")
        started.set()
        while not cancelled():
            time.sleep(0.01)
        raise hub.DownloadCancelled(f"download of {repo_id} stopped")

    monkeypatch.setattr(hub, "fetch", fetch)
    got = Collector(service)
    service.attention(ProbeTarget(model=Path("org/not-cached")), "hi")
    assert started.wait(60)
    service.cancel("attention")
    assert service.wait_idle(60)
    assert ("attention", 0.5) in got.progress
    assert not got.results and got.errors and got.errors[0][0] == "attention"
