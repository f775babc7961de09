"""Find what the GUI thread was doing when its event loop was late: a stack sampler.

A daemon thread wakes every `interval_ms` and, when the latency probe's last tick is more than
`threshold_ms` old (the loop is stalled), records the GUI thread's stack (and the other
threads'). Each sample stands for `interval_ms` of stall, charged to the GUI
thread's innermost studio frame and innermost frame of all: `report()` ranks them. The thread
needs the GIL to look, so a stall spent in C code that holds the GIL (loading a shared library)
is charged to the Python line that called it once the GIL comes back - which is still that line.
(faulthandler's C watchdog needs no GIL, but walking a running thread's frames without it
crashed the app here: not used.)

The stacks are read with faulthandler.dump_traceback (holding the GIL), not sys._current_frames:
a frame object outlives its function call and then owns its locals, so a function (of the GUI
thread, or a worker's `self`) that returned while the sampler held its frame had its locals
released in the sampler's thread when the sampler let go: Qt objects among them destroyed off
their thread ("QBasicTimer::start: Timers cannot be started from another thread", then a
SIGSEGV in the GUI thread's event loop: about one tour with --stalls in three). faulthandler
walks the interpreter's frames without making objects: the sampler holds nothing of theirs.

    sampler = StallSampler(probe, Path("stalls.txt")).start()
    ...
    sampler.stop(); print(sampler.report())
"""

from __future__ import annotations

import collections
import faulthandler
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from studio.services.latency import LatencyProbe

# faulthandler's lines: 'Thread 0x7f...' or 'Current thread 0x7f...' then one line a frame
_THREAD = re.compile(r"^(?:Current thread|Thread) 0x([0-9a-f]+)", re.M)
_FRAME = re.compile(r'^  File "(.*)", line (\d+|\?\?\?) in (.*)$', re.M)


def thread_stacks(sink) -> dict[int, list[str]]:
    """Every thread's stack as 'file:line function', innermost first, by thread ident.
    `sink`: a binary file with a descriptor (faulthandler writes to it), reused each call."""
    sink.seek(0)
    sink.truncate()
    faulthandler.dump_traceback(sink, all_threads=True)
    sink.seek(0)
    text = sink.read().decode("utf-8", "replace")
    heads = list(_THREAD.finditer(text))
    stacks = {}
    for head, nxt in zip(heads, heads[1:] + [None]):
        block = text[head.end():nxt.start() if nxt else len(text)]
        stacks[int(head.group(1), 16)] = [f"{path}:{line} {name}"
                                          for path, line, name in _FRAME.findall(block)]
    return stacks


def attribute(stack: list[str], inside: str = "/studio/") -> str:
    """Where a sample is charged: the innermost frame of the studio's own code, then the
    innermost frame of all (the library call that was running). `stack`: innermost first.
    A stack whose innermost frame is the entry point's (`app.exec()`, a thread's run loop) is
    "(event loop)": no Python code of its own was running."""
    if not stack:
        return "(no frame)"
    if any(stack[0].endswith(f" {name}") for name in _LOOPS) and \
            (stack[0].split(":")[0].endswith(_ENTRY) or len(stack) <= 4):
        return "(event loop)"
    own = next((f for f in stack if inside in f.split(":")[0]
                and "stall_sampler" not in f), "(no studio frame)")
    return f"{_short(own)}  <-  {_short(stack[0])}"


# where a thread waits with no Python code running: the app's exec() call, a QThread's run
_LOOPS = ("run", "main", "<module>", "wait", "_bootstrap_inner", "_bootstrap")
_ENTRY = ("cli/demo.py", "studio/app.py", "main.py", "threading.py")


def _dump(sample: Sample) -> str:
    out = [f"sample at {sample.at:.3f} (last tick {sample.last_tick:.3f})", "GUI thread:"]
    out += [f"  {f}" for f in sample.gui]
    for name, stack in sample.others.items():
        out.append(f"{name}:")
        out += [f"  {f}" for f in stack]
    return "\n".join(out) + "\n\n"


def _short(frame: str) -> str:
    path, _, rest = frame.partition(":")
    for marker in ("/site-packages/", "/studio/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{rest}"


@dataclass
class Sample:
    at: float  # perf_counter of the sample
    last_tick: float  # the probe's latest tick then: samples with the same one are one stall
    gui: list[str]  # the GUI thread's stack, innermost first, 'file:line function'
    others: dict[str, list[str]]  # every other thread's, by thread name

    def charge(self) -> str:
        """Where it is charged. The GUI thread inside the event loop with no Python frame of
        its own (Qt's C++ at work, or waiting for the GIL): the other threads' studio frames."""
        where = attribute(self.gui)
        if where.startswith("(event loop)"):
            busy = sorted({attribute(st).split("  <-  ")[0] for st in self.others.values()
                           if not attribute(st).startswith("(")})
            where += f"  [others: {'; '.join(busy) or '-'}]"
        return where


class StallSampler:
    """Samples the GUI thread's stack while `probe` reports its loop late; writes to `path`."""

    def __init__(self, probe: LatencyProbe, path: Optional[Path] = None,
                 threshold_ms: float = 50.0, interval_ms: float = 10.0):
        self.probe = probe
        self.path = Path(path) if path else None
        self.threshold = threshold_ms / 1000.0
        self.interval = interval_ms / 1000.0
        self.gui_thread = threading.get_ident()  # built on the GUI thread
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)

    def start(self) -> "StallSampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        names = {}
        with tempfile.TemporaryFile() as sink:
            while not self._stop.wait(self.interval):
                last = self.probe.last_tick  # perf_counter of the latest tick (0: stopped)
                now = time.perf_counter()
                if not last or now - last <= self.threshold:
                    continue
                stacks = thread_stacks(sink)
                if self.gui_thread not in stacks:
                    continue
                if len(names) != threading.active_count():
                    names = {t.ident: t.name for t in threading.enumerate()}
                others = {names.get(k, str(k)): st for k, st in stacks.items()
                          if k not in (self.gui_thread, threading.get_ident())}
                self.samples.append(Sample(now, last, stacks[self.gui_thread], others))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(_dump(s) for s in self.samples), encoding="utf-8")

    def stalls(self) -> list[list[Sample]]:
        """The samples grouped by stall (one stall: the same last tick), longest first."""
        groups: dict[float, list[Sample]] = collections.defaultdict(list)
        for sample in self.samples:
            groups[sample.last_tick].append(sample)
        return sorted(groups.values(), key=lambda g: g[-1].at - g[0].last_tick, reverse=True)

    def report(self, top: int = 12, longest: int = 6) -> str:
        """Where the stall samples were charged (each = interval_ms), and the longest stalls."""
        counts = collections.Counter(s.charge() for s in self.samples)
        ms = int(self.interval * 1000)
        lines = [f"stall samples: {len(self.samples)} x {ms} ms with the GUI loop more than "
                 f"{int(self.threshold * 1000)} ms late (studio frame  <-  innermost frame)"]
        lines += [f"{n:5d}  {where}" for where, n in counts.most_common(top)]
        lines.append("longest stalls (ms at least, samples: where):")
        for group in self.stalls()[:longest]:
            span = 1000 * (group[-1].at - group[0].last_tick)
            where = collections.Counter(s.charge() for s in group).most_common(2)
            lines.append(f"{span:7.0f}  " + " | ".join(f"{n}: {w}" for w, n in where))
        return "\n".join(lines)
