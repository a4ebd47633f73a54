"""Proactive rate limiting: spend PagerDuty's per-key budget without ever hitting a 429.

PagerDuty allows 960 requests a minute per key (shared by every tool using it) and reports
where a key stands on every answer: ``ratelimit-limit``, ``ratelimit-remaining`` (left in the
current window) and ``ratelimit-reset`` (whole seconds until the window ends). One
:class:`RatePacer` per adapter and target is shared by everything in the process that talks
to it (``incidents()``, ``with_ack_times``, the store's sync, on-call), so they spend one
budget together:

- every answer's headers update the estimate of what is left, minus the requests still in
  flight (the server may not have counted them yet, so it errs on the safe side);
- when nothing is left, requests wait until the window resets, then go again;
- until the first answer says how much budget there is, one request goes alone (a probe);
  an API that sends no ``ratelimit-*`` headers is not paced at all;
- a 429 (someone else spent the budget) empties the estimate until ``ratelimit-reset``;
  the caller's retry then waits here instead of hammering the API.

Example::

    pacer = pacer_for(("in-process", "atlas.yml"), "pagerduty")
    waited = await pacer.acquire()      # seconds spent waiting for budget
    try:
        r = await send(...)
    finally:
        pacer.release(r.headers if r else None, status=r.status if r else None)
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["RatePacer", "pacer_for"]

#: Wait this long past the announced reset: the server's clock and ours differ a little.
RESET_MARGIN = 0.1
#: While a probe is out, others look again this often.
PROBE_POLL = 0.02
#: A 429 without ``ratelimit-reset``: assume the window ends this far away.
DEFAULT_RESET = 1.0

Sleep = Callable[[float], Awaitable[None]]


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


class RatePacer:
    """The budget of one PagerDuty key as seen from this process (thread- and loop-safe).

    Counters (for reports): ``waits`` (times a request waited for budget), ``waited``
    (seconds), ``requests`` (requests let through).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._paced = True  # until an answer shows there are no ratelimit headers
        self._known = False  # an answer has told us the budget
        self._limit: int | None = None
        self._tokens = 0.0  # estimated requests left in the current window
        self._window_end = 0.0  # monotonic time the current window ends
        self._in_flight = 0
        self.waits = 0
        self.waited = 0.0
        self.requests = 0

    def __repr__(self) -> str:
        return (
            f"<RatePacer limit={self._limit} left~{self._tokens:.0f} "
            f"in_flight={self._in_flight} waits={self.waits}>"
        )

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> float:
        """Wait until a request may go; return the seconds waited. Pair with :meth:`release`."""
        waited = 0.0
        counted = False
        while True:
            with self._lock:
                delay, window_end = self._decide()
                if delay <= 0:
                    self._in_flight += 1
                    self.requests += 1
                    if waited:
                        self.waited += waited
                    return waited
                if not counted and delay > PROBE_POLL:
                    self.waits += 1
                    counted = True
            await sleep(delay)
            waited += delay
            if window_end < 0:
                with self._lock:
                    # Out of budget, no reset announced, nothing in flight to tell us more:
                    # after a pause, one request goes alone and its answer says where we are.
                    if self._tokens < 1 and not self._window_end:
                        self._known = False
            elif window_end:
                with self._lock:
                    # The window we waited for is over (even if a fake sleep moved no clock):
                    # start the next one, unless an answer meanwhile told us something newer.
                    if self._window_end == window_end and self._tokens <= 0:
                        self._tokens = float(self._limit or 1)
                        self._known = self._limit is not None
                        self._window_end = 0.0

    def _decide(self) -> tuple[float, float]:
        """(seconds to wait, the window end waited for, 0, or -1: probe after the wait).

        Called under the lock.
        """
        if not self._paced:
            return 0.0, 0.0
        if not self._known:
            # Nobody has told us the budget yet: one probe at a time.
            return (PROBE_POLL, 0.0) if self._in_flight else (0.0, 0.0)
        now = self._clock()
        if self._window_end and now >= self._window_end and self._tokens <= 0:
            self._tokens = float(self._limit or 1)
            self._window_end = 0.0
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0, 0.0
        if not self._window_end:
            # Out of budget with no reset announced: let the answers in flight tell us more,
            # or (none in flight) probe again after a pause.
            return (PROBE_POLL, 0.0) if self._in_flight else (DEFAULT_RESET, -1.0)
        return max(self._window_end - now, 0.0) + RESET_MARGIN, self._window_end

    def release(self, headers: Mapping[str, str] | None, *, status: int | None = None) -> None:
        """Record an answer (its headers and status), or a request that failed without one."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if headers is None:
                return
            remaining = _header_float(headers, "ratelimit-remaining")
            reset = _header_float(headers, "ratelimit-reset")
            limit = _header_float(headers, "ratelimit-limit")
            if status == 429:
                self._paced = True
                self._known = True
                self._tokens = 0.0
                self._window_end = self._clock() + (reset if reset is not None else DEFAULT_RESET)
                if limit is not None:
                    self._limit = int(limit)
                return
            if remaining is None:
                if not self._known:
                    self._paced = False  # an API without rate-limit headers: nothing to pace
                return
            self._paced = True
            if limit is not None:
                self._limit = int(limit)
            elif self._limit is None:
                self._limit = int(remaining) + 1
            # Requests still out may not be counted in `remaining` yet: assume they were not.
            left = remaining - self._in_flight
            end = self._clock() + reset if reset is not None else 0.0
            new_window = not self._known or (
                end and self._window_end and end > self._window_end + 1.5
            )
            if new_window or not self._window_end:
                self._tokens = left
            else:
                self._tokens = min(self._tokens, left)
            if end:
                self._window_end = end if new_window or not self._window_end else self._window_end
            self._known = True

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a 429 that gave no ``ratelimit-reset``: back off)."""
        with self._lock:
            self._paced = True
            self._known = True
            self._tokens = 0.0
            self._window_end = max(self._window_end, self._clock() + seconds)

    def snapshot(self) -> dict[str, Any]:
        """What the pacer knows, for reports and tests."""
        with self._lock:
            return {
                "limit": self._limit,
                "remaining": max(0, int(self._tokens)) if self._known else None,
                "waits": self.waits,
                "waited": round(self.waited, 3),
                "requests": self.requests,
            }


_pacers: dict[tuple[Any, ...], RatePacer] = {}
# Injected transports are keyed by the object itself (weakly): an id() could be reused by a
# later transport and hand it a stale budget.
_by_transport: weakref.WeakKeyDictionary[Any, dict[str, RatePacer]] = weakref.WeakKeyDictionary()
_pacers_lock = threading.Lock()


def pacer_for(target_key: tuple[Any, ...], adapter: str, *, transport: Any = None) -> RatePacer:
    """The process-wide pacer of ``adapter`` behind the target with ``target_key``.

    Pass ``transport`` for an injected transport: its pacers live as long as it does.
    """
    with _pacers_lock:
        if transport is not None:
            pacers = _by_transport.setdefault(transport, {})
            pacer = pacers.get(adapter)
            if pacer is None:
                pacer = pacers[adapter] = RatePacer()
            return pacer
        key = (*target_key, adapter)
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = RatePacer()
        return pacer
