"""RatePacer: spend a PagerDuty key's budget from its ratelimit-* headers, never past it."""

from __future__ import annotations

import asyncio

from atlas_canvas.pagerduty._pacer import PROBE_POLL, RatePacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Records sleeps and moves the fake clock by them."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.now += seconds
        await asyncio.sleep(0)


def headers(remaining: int, reset: int, limit: int = 5) -> dict[str, str]:
    return {
        "ratelimit-limit": str(limit),
        "ratelimit-remaining": str(remaining),
        "ratelimit-reset": str(reset),
    }


async def test_spends_the_budget_then_waits_for_the_reset() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    assert await pacer.acquire(sleeps) == 0  # the probe
    pacer.release(headers(remaining=2, reset=30), status=200)
    for _ in range(2):
        assert await pacer.acquire(sleeps) == 0
        pacer.release(headers(remaining=1, reset=29), status=200)
    waited = await pacer.acquire(sleeps)
    assert 29 <= waited <= 30.5 and pacer.waits == 1
    # a new window: the full budget again
    pacer.release(headers(remaining=4, reset=60), status=200)
    snap = pacer.snapshot()
    assert snap["limit"] == 5 and snap["remaining"] == 4 and snap["requests"] == 4


async def test_one_probe_until_the_budget_is_known() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    await pacer.acquire(sleeps)
    second = asyncio.ensure_future(pacer.acquire(sleeps))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not second.done() and sleeps.calls and sleeps.calls[0] == PROBE_POLL
    pacer.release(headers(remaining=100, reset=60, limit=120), status=200)
    assert await second >= PROBE_POLL


async def test_no_headers_means_no_pacing() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    await pacer.acquire(sleeps)
    pacer.release({}, status=200)
    for _ in range(50):
        assert await pacer.acquire(sleeps) == 0
    assert sleeps.calls == []


async def test_a_429_holds_everyone_until_the_reset() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    await pacer.acquire(sleeps)
    pacer.release(headers(remaining=50, reset=40, limit=60), status=200)
    await pacer.acquire(sleeps)
    pacer.release({"ratelimit-reset": "12"}, status=429)  # someone else spent it
    waited = await pacer.acquire(sleeps)
    assert 12 <= waited <= 12.5


async def test_answers_in_flight_are_counted_against_the_budget() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    await pacer.acquire(sleeps)
    pacer.release(headers(remaining=10, reset=60, limit=10), status=200)
    for _ in range(4):
        await pacer.acquire(sleeps)  # four out, none answered yet
    # the server says 6 left, but may not have counted the three still out: assume 3
    pacer.release(headers(remaining=6, reset=59, limit=10), status=200)
    assert pacer.snapshot()["remaining"] == 3


async def test_hold_backs_off_without_a_reset() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    pacer.hold(3.0)
    waited = await pacer.acquire(sleeps)
    assert 3.0 <= waited <= 3.5


async def test_empty_budget_without_a_reset_probes_again_after_a_pause() -> None:
    clock = Clock()
    sleeps = Sleeps(clock)
    pacer = RatePacer(clock=clock)
    await pacer.acquire(sleeps)
    pacer.release({"ratelimit-remaining": "0"}, status=200)  # no reset header at all
    waited = await asyncio.wait_for(pacer.acquire(sleeps), timeout=5)
    assert waited >= 1.0  # paused, then one probe went
    pacer.release({"ratelimit-remaining": "30"}, status=200)
    assert await pacer.acquire(sleeps) == 0
