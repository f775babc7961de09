"""The engine host: calls run in one other process, stream their events back, keep a lane's
state between calls, cancel, follow the caller's environment, and fail clearly (then recover)
when the process dies."""

import os
import signal
import threading
import time

import pytest

from studio.core.errors import Cancelled, DataError
from studio.services.child_process import ChildFailed
from studio.services.engine_host import EngineHost


@pytest.fixture
def host():
    h = EngineHost()
    yield h
    h.close()


def where(ctx, n):
    for i in range(n):
        ctx.emit("n", i)
    return os.getpid()


def remember(ctx, key, value):
    ctx.state[key] = value
    return sorted(ctx.state)


def recall(ctx, key):
    return ctx.state.get(key)


def refuse(ctx):
    raise DataError("rows.jsonl has no rows", hint="add some")


def crash(ctx):
    {}["missing"]


def until_cancelled(ctx):
    ctx.emit("started")
    deadline = time.monotonic() + 60
    while not ctx.cancelled() and time.monotonic() < deadline:
        time.sleep(0.01)
    raise Cancelled()


def env_and_cwd(ctx, key):
    return os.environ.get(key), os.getcwd()


def die(ctx):
    ctx.emit("started")
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_call_runs_in_the_host_and_streams_its_events(host):
    got = []
    pid = host.run(where, 30, on_event=lambda k, p: got.append((k, p)))
    assert pid == host.pid and pid != os.getpid()
    assert got == [("n", i) for i in range(30)]
    assert host.run(where, 0) == pid  # one host for every call


def test_a_lane_keeps_its_state_until_dropped(host):
    assert host.run(remember, "model", 1, lane="chat") == ["model"]
    assert host.run(recall, "model", lane="chat") == 1
    assert host.run(recall, "model", lane="chat", serial=False) == 1  # beside, same state
    assert host.run(recall, "model", lane="probes") is None  # lanes do not share
    assert host.run(recall, "model") is None                   # nor does a call without one
    host.drop_lane("chat")
    assert host.run(recall, "model", lane="chat") is None


def test_errors_keep_their_class_or_their_traceback(host):
    with pytest.raises(DataError) as e:
        host.run(refuse)
    assert e.value.one_line() == "rows.jsonl has no rows (add some)"
    with pytest.raises(ChildFailed) as e:
        host.run(crash)
    assert str(e.value) == "KeyError: 'missing'" and "crash" in e.value.details


def test_cancel_reaches_the_running_call_and_other_lanes_go_on(host):
    started = threading.Event()
    call = host.call(until_cancelled, lane="train")
    waiter = threading.Thread(target=lambda: pytest.raises(Cancelled, call.wait,
                                                           lambda k, p: started.set()))
    waiter.start()
    assert started.wait(60)
    assert host.run(where, 2, lane="probes") == host.pid  # not behind the busy lane
    call.cancel()
    waiter.join(60)
    assert not waiter.is_alive()


def test_calls_follow_the_callers_environment_and_folder(host, tmp_path, monkeypatch):
    host.start()
    monkeypatch.setenv("STUDIO_HOST_CHECK", "after start")
    monkeypatch.chdir(tmp_path)
    assert host.run(env_and_cwd, "STUDIO_HOST_CHECK") == ("after start", str(tmp_path))
    monkeypatch.delenv("STUDIO_HOST_CHECK")
    assert host.run(env_and_cwd, "STUDIO_HOST_CHECK")[0] is None


def test_a_dead_host_fails_its_calls_and_the_next_call_starts_another(host):
    first = host.run(where, 0)
    with pytest.raises(ChildFailed, match="ended unexpectedly"):
        host.run(die)
    assert host.run(where, 0) not in (first, None)


def unreadable(ctx):
    import types

    module = types.ModuleType("made_in_the_host")
    module.Thing = type("Thing", (), {"__module__": "made_in_the_host"})
    import sys

    sys.modules["made_in_the_host"] = module
    return module.Thing()


def test_an_answer_the_window_cannot_read_fails_its_call_only(host):
    with pytest.raises(ChildFailed, match="cannot be read here"):
        host.run(unreadable)
    assert host.run(where, 1) == host.pid  # the reader goes on


def test_a_request_the_host_cannot_read_fails_its_call_only(host):
    with pytest.raises(ChildFailed, match="made_in_the_window"):
        host.run(made_in_the_window())
    assert host.run(where, 1) == host.pid


def made_in_the_window():
    import sys
    import types

    module = types.ModuleType("made_in_the_window")
    exec("def fn(ctx):\n    return 1\n", module.__dict__)
    module.fn.__module__ = "made_in_the_window"
    sys.modules["made_in_the_window"] = module
    return module.fn


def chatter_until_cancelled(ctx):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ctx.cancelled():
            raise Cancelled()
        ctx.emit("tick")  # a steady stream of events: the caller never waits idle
        time.sleep(0.001)
    return "never cancelled"


def test_a_stop_event_cancels_a_call_that_streams_without_pause(host):
    stop = threading.Event()
    seen = []

    def on_event(kind, payload):
        seen.append(kind)
        if len(seen) == 50:
            stop.set()

    with pytest.raises(Cancelled):
        host.call(chatter_until_cancelled).wait(on_event, stop=stop)
    assert stop.is_set()


def niceness(ctx):
    return os.nice(0)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="Unix nice levels")
def test_the_host_runs_below_the_window_s_priority(host):
    # The GUI thread gets a core to paint on while the engine's threads train.
    from studio.services.host_main import ENGINE_NICE

    assert host.run(niceness) == min(19, os.nice(0) + ENGINE_NICE)
