"""Newest request wins: the one rule every worker front (model, data, probes) applies.

Each request of a kind takes a ticket; a result, error or progress report is delivered only
while its ticket is still the newest of its kind. Older jobs may finish (their work can be
cached) or be told to stop, but they never overwrite what the user asked for since.
Plain Python, used from the GUI thread only.
"""

from __future__ import annotations

import itertools


class Latest:
    def __init__(self) -> None:
        self._tickets = itertools.count(1)  # unique across kinds: tickets double as job ids
        self._newest: dict[str, int] = {}

    def take(self, kind: str) -> int:
        """A ticket for a new request of `kind`; every older one of that kind is now stale."""
        ticket = next(self._tickets)
        self._newest[kind] = ticket
        return ticket

    def is_current(self, kind: str, ticket: int) -> bool:
        return self._newest.get(kind) == ticket
