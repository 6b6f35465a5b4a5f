"""Failed sign-ins per client address: after ``CONSOLE_LOGIN_ATTEMPTS`` failures within
``CONSOLE_LOGIN_WINDOW_S`` the address is refused until the oldest failure leaves the window.

Kept in memory, per process: a replica's count is its own, so N replicas allow N times the
attempts (docs/console.md). Behind a reverse proxy every client shares the proxy's address, and the
limit then holds for everyone together: a lock-out rather than a way round it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginLimiter"]

_MAX_ADDRESSES = 10_000  # a flood of addresses must not grow memory without bound


class LoginLimiter:
    def __init__(self, attempts: int, window_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(address, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(address, None)
        return failures

    def retry_after(self, address: str) -> float | None:
        """Seconds until ``address`` may try again, or None when it may try now."""
        failures = self._recent(address)
        if len(failures) < self.attempts:
            return None
        return max(failures[0] + self.window_s - self._clock(), 1.0)

    def failed(self, address: str) -> None:
        failures = self._recent(address)
        if not failures:
            if len(self._failures) >= _MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))
            self._failures[address] = failures
        failures.append(self._clock())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
