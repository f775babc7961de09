"""ChatService: loads and answers in the engine host (never in the window's process), signals
arrive in the GUI thread in order, stop cancels the reply and the queued sides, errors come back
as signals."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from studio.core.chat.engine import GenSettings
from studio.core.errors import UserError
from studio.services.chat_worker import ChatService, ChatSource

MSGS = [{"role": "user", "content": "Hello?"}]


@pytest.fixture
def service(qapp):
    s = ChatService()
    yield s
    s.shutdown()


def test_load_then_ask_streams_in_the_gui_thread(qtbot, service, trained_run):
    events, threads = [], set()
    service.sig_loaded.connect(lambda info: events.append(("loaded", info.shared)))
    service.sig_chunk.connect(lambda side, c: (events.append(("chunk", side)),
                                               threads.add(threading.get_ident())))
    service.sig_reply.connect(lambda side, r: events.append(("reply", side, r.tokens)))
    service.sig_done.connect(lambda: events.append(("done", service.busy)))
    service.load(ChatSource(run=str(trained_run("lora")), step=2))
    service.ask({"tuned": MSGS, "base": MSGS}, GenSettings(temperature=0, max_new_tokens=6,
                                                          min_new_tokens=6), ("tuned", "base"))
    assert service.wait_idle(120)
    assert threads == {threading.get_ident()}  # delivered to the GUI thread
    assert events[0] == ("loaded", True)
    kinds = [e[0] for e in events]
    assert kinds.index("reply") > kinds.index("chunk")
    assert [e for e in events if e[0] == "reply"] == [("reply", "tuned", 6), ("reply", "base", 6)]
    assert events[-1] == ("done", False)  # not busy any more when "done" arrives
    assert service.state == "idle" and service.loaded.label.endswith("step 2)")


def test_stop_ends_the_reply_and_skips_the_other_side(qtbot, service, tiny_model_dir):
    replies = []
    service.sig_reply.connect(lambda side, r: replies.append((side, r.stop_reason)))
    service.sig_chunk.connect(lambda side, c: service.stop())
    service.load(ChatSource(model=str(tiny_model_dir)))
    long = GenSettings(temperature=0, max_new_tokens=3000, min_new_tokens=3000)
    service.ask({"base": MSGS}, long, ("base",))
    assert service.wait_idle(120)
    assert replies == [("base", "cancelled")]


def test_errors_come_back_as_signals(qtbot, service, tmp_path):
    errors = []
    service.sig_error.connect(lambda reason, details: errors.append(reason))
    with qtbot.waitSignal(service.sig_done, timeout=30_000):
        service.ask({"base": MSGS}, GenSettings(), ("base",))
    assert "no model is loaded" in errors[0]
    with qtbot.waitSignal(service.sig_error, timeout=30_000):
        service.load(ChatSource(adapter=str(tmp_path)))
    assert "not an adapter folder" in errors[1]
    with pytest.raises(UserError, match="no conversation for side"):
        service.ask({}, GenSettings(), ("tuned",))


def test_unload_frees_the_models_in_the_host(qtbot, service, tiny_model_dir):
    errors, replies = [], []
    service.sig_error.connect(lambda reason, details: errors.append(reason))
    service.sig_reply.connect(lambda side, r: replies.append(side))
    service.load(ChatSource(model=str(tiny_model_dir)))
    short = GenSettings(temperature=0, max_new_tokens=2)
    service.ask({"base": MSGS}, short, ("base",))
    assert service.wait_idle(120) and replies == ["base"] and not errors
    service.unload()  # (it also stops a question still queued)
    service.ask({"base": MSGS}, short, ("base",))  # queued after the unload: nothing to answer
    assert service.wait_idle(120)
    assert replies == ["base"] and len(errors) == 1 and "no model is loaded" in errors[0]
    assert service.loaded is None and service.state == "idle"


def test_shutdown_is_final(service):
    service.shutdown()
    service.shutdown()
    with pytest.raises(UserError, match="shut down"):
        service.load(ChatSource(model="x"))


# Loads a model and answers one question through a ChatService, then names the engine
# libraries this (the window's) process imported: none, the host did the work.
WINDOW = """
import sys
from PySide6.QtCore import QCoreApplication
from studio.core.chat.engine import GenSettings
from studio.services.chat_worker import ChatService, ChatSource

app = QCoreApplication([])
service, replies, errors = ChatService(), [], []
service.sig_reply.connect(lambda side, reply: replies.append((side, reply.tokens)))
service.sig_error.connect(lambda reason, details: errors.append(reason))
service.load(ChatSource(model=sys.argv[1]))
service.ask({"base": [{"role": "user", "content": "Hello?"}]},
            GenSettings(temperature=0, max_new_tokens=3, min_new_tokens=3), ("base",))
assert service.wait_idle(240), "no answer in time"
service.shutdown()
print(replies, errors)
print(sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules))
"""


def test_the_window_process_never_imports_the_engine(tiny_model_dir):
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "-c", WINDOW, str(tiny_model_dir)], cwd=root, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    answered, heavy = r.stdout.strip().splitlines()[-2:]
    assert answered == "[('base', 3)] []"  # a real reply: the host loaded torch and the model
    assert heavy == "[]"
