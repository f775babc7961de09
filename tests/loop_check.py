"""Is the GUI thread free while work runs elsewhere? Judged by ratios within one run, never
against a fixed number of milliseconds (a busy CI machine stretches every tick alike).

The latency probe (a 10 ms timer; studio/services/latency.py) records how late each tick fires.
First the same event loop runs with nothing heavy to do (`idle_baseline`): what this machine's
load costs. Then the work runs. Work done on the GUI thread blocks the loop for all of its
duration, so two ratios separate it from work done elsewhere whatever the machine's speed:

  blocked share  the delays summed over the phase's wall time: ~1 when the GUI thread did the
                 work; at most the idle share + 0.6 when it only drew (0.51 against an
                 idle 0.15: the 200k-row check in a child process, load 14 on 2 cores)
  longest stall  the largest delay over the phase's wall time: ~1 for one blocking call; below
                 half when the work ran in a worker or a child process
"""

from __future__ import annotations

import time
from typing import Optional

from studio.services.latency import LatencyProbe


def blocked_share(delays_ms: list[float], seconds: float) -> float:
    return sum(delays_ms) / (1000.0 * seconds) if seconds > 0 else 0.0


def idle_baseline(qtbot, seconds: float = 1.0) -> float:
    """The blocked share of this event loop doing nothing heavy, measured now."""
    probe = LatencyProbe()
    probe.start()
    started = time.perf_counter()
    qtbot.wait(int(seconds * 1000))
    probe.stop()
    return blocked_share(probe.delays_ms, time.perf_counter() - started)


def assert_responsive(probe: LatencyProbe, seconds: float, idle_share: float,
                      share_margin: Optional[float] = 0.6) -> str:
    """Fail when the phase the probe measured (`seconds` long) looks like work on the GUI
    thread; returns a line of figures for the test's output. share_margin None: the phase is
    drawing-heavy by design (its share says how loaded the machine is, not where the work
    ran), so only the longest stall is judged."""
    delays = probe.delays_ms
    share = blocked_share(delays, seconds)
    longest = max(delays, default=0.0) / (1000.0 * seconds)
    line = (f"{probe.line()}; {seconds:.1f} s: blocked share {share:.2f} (idle {idle_share:.2f}),"
            f" longest stall {longest:.2f} of the phase")
    assert len(delays) >= max(5, seconds / probe.interval / 3), line  # a third of the ticks came
    if share_margin is not None:  # an "idle" loop still busy with earlier work counts 0.3
        assert share <= min(idle_share, 0.3) + share_margin, line
    assert longest <= 0.5, line
    return line
