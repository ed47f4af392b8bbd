"""Throttles of sign-in attempts: at most ``limit`` failures per ``window`` seconds per key.

Keys are an address or the keyed hash of a typed code. Time is passed in (``now``), so the
rules are tested without clocks. Memory is bounded: past ``max_keys`` keys the one whose last
failure is oldest is forgotten.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class Throttle:
    limit: int
    window: float
    max_keys: int = 100_000
    _failures: OrderedDict[object, deque[float]] = field(default_factory=OrderedDict)

    def _recent(self, key: object, now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def blocked(self, key: object, now: float) -> bool:
        """Whether ``key`` has used up its failures in the window ending ``now``."""
        return len(self._recent(key, now)) >= self.limit

    def retry_after(self, key: object, now: float) -> float:
        """Seconds until ``key`` may try again (0 if it may now)."""
        times = self._recent(key, now)
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[len(times) - self.limit] + self.window - now)

    def fail(self, key: object, now: float) -> None:
        """Count one failure of ``key`` at ``now``."""
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
