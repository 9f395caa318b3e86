"""The server's clock, injected everywhere: the real one, or a simulated one for demos.

``--now`` starts a simulated clock at a chosen instant that then advances in real
time, so ``make run`` can show the vote inside its window years later.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    simulated: bool

    def now(self) -> datetime: ...


class SystemClock:
    simulated = False

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    simulated = True

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("--now needs a UTC offset, e.g. 2021-12-30T10:00:00+08:00")
        self._start = start
        self._t0 = time.monotonic()  # monotonic: a host clock step must not move votes

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def make_clock(now: datetime | None) -> Clock:
    return SimulatedClock(now) if now is not None else SystemClock()
