"""Per-token request budgets, as PagerDuty's ``ratelimit-*`` headers describe them.

A fixed one-minute window per token: ``ratelimit-limit`` is the budget, ``-remaining`` what
is left in the window and ``-reset`` the whole seconds until the window ends.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Example::

    limiter = RateLimiter(960)
    allowed, headers = limiter.hit("token-key")
    """

    def __init__(
        self, per_minute: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        # key -> [window start, requests counted in it]
        self._windows: dict[str, list[float]] = {}

    def hit(self, key: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        """Count one request for ``key``; return whether it is allowed and the headers."""
        now = self._clock()
        state = self._windows.get(key)
        if state is None or now - state[0] >= self.window:
            if len(self._windows) > 10_000:
                self._windows.clear()
            state = self._windows[key] = [now, 0.0]
        allowed = state[1] < self.per_minute
        if allowed:
            state[1] += 1
        remaining = self.per_minute - int(state[1])
        reset = max(1, math.ceil(state[0] + self.window - now))
        headers = [
            (b"ratelimit-limit", str(self.per_minute).encode()),
            (b"ratelimit-remaining", str(remaining).encode()),
            (b"ratelimit-reset", str(reset).encode()),
        ]
        return allowed, headers
