"""ProbeService: jobs run in its worker thread, results arrive in the GUI thread, the newest
request wins, cancel stops long jobs, errors arrive as one line, models stay cached."""

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from lane_state import loaded_models
from loop_check import assert_responsive, idle_baseline
from PySide6.QtCore import QCoreApplication, QObject, Slot

from studio.core.errors import UserError
from studio.core.probes.attention import ProbeTarget, resolve_target
from studio.paths import resource
from studio.services.engine_host import engine_host
from studio.services.latency import LatencyProbe
from studio.services.probe_worker import ProbeService

SAMPLES = resource("samples", "alpaca_shaped.json")  # 200 alpaca rows


class Collector(QObject):
    """Records what the service emits, and in which thread."""

    def __init__(self, service):
        super().__init__()
        self.results, self.errors, self.progress, self.threads = [], [], [], set()
        self.messages = []
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
        self.messages.append(message)


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


# The window's side of a real attention probe, in a fresh interpreter (run with -c: the engine
# host is spawned, and a script file would be run again in it).
WINDOW_PROBE = """
import sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication
app = QCoreApplication([])
from studio.core.probes.attention import ProbeTarget
from studio.services.probe_worker import ProbeService
svc = ProbeService()
got = []
svc.sig_result.connect(lambda kind, result: got.append(result))
svc.sig_error.connect(lambda kind, reason, details: got.append(reason))
svc.attention(ProbeTarget(model=Path(sys.argv[1])), "hello world")
assert svc.wait_idle(240)
svc.shutdown()
print(type(got[0]).__name__, got[0].maps.is_causal)
print(",".join(m for m in ("torch", "transformers", "peft") if m in sys.modules) or "none")
"""


def test_the_window_process_never_imports_the_engine(tiny_model_dir):
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=root)
    r = subprocess.run([sys.executable, "-c", WINDOW_PROBE, str(tiny_model_dir)], env=env,
                       cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result, heavy = r.stdout.split("\n")[-3:-1]
    assert result == "AttentionResult True"  # a real probe ran, in the host
    assert heavy == "none"


def test_the_models_stay_in_the_host_until_shutdown(qapp, tiny_model_dir):
    svc = ProbeService()
    svc.attention(ProbeTarget(model=tiny_model_dir), "hello")
    assert svc.wait_idle(120)
    lane = svc._lane
    assert engine_host().run(loaded_models, lane=lane) == 1
    svc.shutdown()
    assert engine_host().run(loaded_models, lane=lane) == 0  # runs after the lane's drop


def test_shutdown_is_final(qapp, tiny_model_dir):
    svc = ProbeService()
    svc.shutdown()
    svc.shutdown()
    with pytest.raises(UserError):
        svc.tokens(ProbeTarget(model=tiny_model_dir), "x")
    assert QCoreApplication.instance() is qapp


@pytest.fixture
def host_with_this_env():
    """huggingface_hub reads HF_HOME, HF_HUB_OFFLINE and HF_ENDPOINT once, when the engine host
    imports it: restart the host so that it starts with the test's, and again after the test so
    that later tests do not inherit them."""
    engine_host().close()
    yield
    engine_host().close()


def test_a_hub_id_is_probed_from_the_cache_offline(hub_cache, host_with_this_env, service):
    got = Collector(service)
    target = resolve_target(hub_cache)  # kept as the hub id: fetched when a view asks
    service.tokens(target, "你好 world")
    service.attention(target, "hello world")
    assert service.wait_idle(120)
    assert not got.errors, got.errors
    assert [k for k, _ in got.results] == ["tokens", "attention"]


HUB_REPO = "studio-tests/downloadable"
HUB_REV = "89abcdef0123456789abcdef0123456789abcdef"
MB = 2**20


class FakeHub(BaseHTTPRequestHandler):
    """Just enough of the hub's API for snapshot_download: two 1 MB files that arrive 0.2 s
    and 0.5 s after they are asked for, and a large one that streams only once `release` is
    set, for as long as the client reads it."""

    release = threading.Event()
    files = {"a.safetensors": (MB, 0.2), "b.safetensors": (MB, 0.5),
             "c.safetensors": (1024 * MB, None)}

    def do_GET(self):
        self._answer(body=True)

    def do_HEAD(self):
        self._answer(body=False)

    def _answer(self, body):
        path = self.path.split("?")[0]
        if path == f"/api/models/{HUB_REPO}/revision/main":
            return self._json({"id": HUB_REPO, "sha": HUB_REV,
                               "siblings": [{"rfilename": f} for f in self.files]})
        if path == f"/api/models/{HUB_REPO}/tree/{HUB_REV}":
            return self._json([{"type": "file", "path": f, "size": size, "oid": f"oid-{f}"}
                               for f, (size, _) in self.files.items()])
        name = path.rsplit("/", 1)[-1]
        if not path.startswith(f"/{HUB_REPO}/resolve/") or name not in self.files:
            return self._json({"error": f"no {path}"}, status=404)
        size, delay = self.files[name]
        self.send_response(200)
        for key, value in (("Content-Length", size), ("X-Repo-Commit", HUB_REV),
                           ("ETag", f'"etag-{name}"'),
                           ("Content-Type", "application/octet-stream")):
            self.send_header(key, str(value))
        self.end_headers()
        if body:
            self.wfile.flush()  # the headers now: the client learns every file's size first
            self._stream(size, delay)

    def _stream(self, size, delay):
        try:
            if delay is None:  # the large file: until the client stops reading (or 60 s)
                self.release.wait(60)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    self.wfile.write(bytes(MB))
            else:
                time.sleep(delay)
                self.wfile.write(bytes(size))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the download was stopped

    def _json(self, data, status=200):
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    """A hub at a local address, and an empty cache: downloads are real, from FakeHub."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeHub.release.clear()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    yield HUB_REPO
    FakeHub.release.set()  # a stream still waiting ends
    server.shutdown()
    server.server_close()


def test_a_hub_download_reports_progress_and_its_cancel_stops_it(fake_hub, host_with_this_env,
                                                                 service):
    # huggingface_hub's own byte counting is tested in tests/core/model/test_hub.py; here the
    # path from the probe job to the view: progress while fetching, cancel reaching the fetch
    got = Collector(service)
    service.attention(ProbeTarget(model=Path(fake_hub)), "hi")
    two_mb = f"fetching {fake_hub}: 2.0 MB of "
    deadline = time.monotonic() + 120
    while not any(m.startswith(two_mb) for m in got.messages) and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    assert any(m.startswith(two_mb) for m in got.messages), got.messages
    service.cancel("attention")
    FakeHub.release.set()  # the large file streams now: its next chunk meets the cancel
    assert service.wait_idle(60)
    assert any(0 < f < 1 for k, f in got.progress if k == "attention")
    assert not got.results
    (kind, reason), = got.errors
    assert kind == "attention" and "stopped" in reason
