"""Per-network token buckets: a fine limit beside the WAF's coarse one.

Keyed by the *keyed hash* of the client's network prefix (IPv4 /24, IPv6 /48), the same
value the ledger keeps, so no address is held even in memory. Each bucket holds up to
``burst`` tokens and refills at ``per_minute``; a request takes one token or is refused
with the seconds until one is back.

The state is per process (a Lambda execution environment, or ``serve``): bounded to
``max_networks`` buckets, least recently used dropped first. A dropped bucket restarts
full, which only ever errs towards letting honest voters through.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # when ``tokens`` was last computed (seconds, any monotonic origin)


class NetworkLimiter:
    """Thread-safe token buckets, one per network hash. ``now`` is passed in (pure)."""

    def __init__(self, burst: int, per_minute: int, *, max_networks: int = 100_000) -> None:
        if burst < 1 or per_minute < 1 or max_networks < 1:
            raise ValueError("burst, per_minute and max_networks must be positive")
        self.burst = burst
        self.rate = per_minute / 60.0  # tokens per second
        self._max = max_networks
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, network: str, now: float) -> float:
        """Take one token: 0.0 if allowed, else the seconds until a token is available."""
        with self._lock:
            bucket = self._buckets.pop(network, None)
            if bucket is None:
                tokens = float(self.burst)
            else:
                # max(0, ...): a clock that steps back must not mint tokens.
                elapsed = max(0.0, now - bucket.at)
                tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            if tokens >= 1.0:
                self._buckets[network] = Bucket(tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[network] = Bucket(tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        """Whole seconds for ``Retry-After`` (at least 1)."""
        return max(1, math.ceil(wait))
