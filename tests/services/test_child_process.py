"""run_in_child: a job in its own process streams its items back, keeps its errors readable,
and stops at once when cancelled."""

import time

import pytest

from studio.core.errors import DataError
from studio.services.child_process import Cancelled, ChildFailed, run_in_child
from studio.services.workers import describe_error


def count_to(emit, n):
    for i in range(n):
        emit("n", i)


def refuse(emit):
    raise DataError("rows.jsonl has no rows", hint="add some")


def crash(emit):
    emit("n", 0)
    {}["missing"]


def sleep_forever(emit):
    emit("started", None)
    time.sleep(600)


def test_items_arrive_in_order():
    got = []
    run_in_child(count_to, (50,), lambda k, p: got.append((k, p)), lambda: False)
    assert got == [("n", i) for i in range(50)]


def test_a_user_error_keeps_its_class_and_hint():
    with pytest.raises(DataError) as e:
        run_in_child(refuse, (), lambda k, p: None, lambda: False)
    assert e.value.one_line() == "rows.jsonl has no rows (add some)"


def test_an_unexpected_error_keeps_the_childs_traceback():
    with pytest.raises(ChildFailed) as e:
        run_in_child(crash, (), lambda k, p: None, lambda: False)
    reason, details = describe_error(e.value)
    assert reason == "KeyError: 'missing'"
    assert "in crash" in details  # the traceback is the child's, not the relay's


def test_cancel_kills_the_child_within_a_poll():
    started = []
    stop_at = []

    def cancelled():
        if started and not stop_at:
            stop_at.append(time.monotonic())
        return bool(started)

    with pytest.raises(Cancelled):
        run_in_child(sleep_forever, (), lambda k, p: started.append(k), cancelled)
    assert time.monotonic() - stop_at[0] < 5  # not the child's 600 s sleep
