"""Proactive pacing against the simulator's rate limiter: no 429, honest counters.

The simulator enforces PagerDuty's fixed-window budget and sends ``ratelimit-*`` headers on
every answer. The budget here is 20 requests per 3-second window (the rate of
``--rate-limit 400``, with windows short enough for a test): the incidents fetch and
``with_ack_times`` need well over three windows of it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_canvas.pagerduty import incidents, with_ack_times
from atlas_canvas.simulator import SimulatorConfig, create_app, serve_in_thread
from atlas_canvas.simulator._ratelimit import RateLimiter
from tests.conftest import PLANTED_SECRET

from .simenv import TOKEN_VARIABLE, apply_env, write_config

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
BUDGET, WINDOW = 20, 3.0


class Counting(RateLimiter):
    """The simulator's limiter, counting what it allowed and what it refused."""

    def __init__(self) -> None:
        super().__init__(BUDGET, window=WINDOW)
        self.allowed = 0
        self.refused = 0

    def hit(self, key: str) -> tuple[bool, list[tuple[bytes, bytes]]]:
        ok, headers = super().hit(key)
        if ok:
            self.allowed += 1
        else:
            self.refused += 1
        return ok, headers


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[Path, Counting]]:
    app = create_app(
        SimulatorConfig(seed=11, incidents=3000, months=1, token=PLANTED_SECRET, now=NOW)
    )
    limiter = Counting()
    app.simulator.limiter = limiter
    base_url, stop = serve_in_thread(app=app)
    undo = apply_env({TOKEN_VARIABLE: PLANTED_SECRET})
    try:
        yield write_config(tmp_path / "atlas.yml", base_url), limiter
    finally:
        undo()
        stop()


def test_a_large_fetch_and_ack_times_get_no_429(limited: tuple[Path, Counting]) -> None:
    config, limiter = limited
    started = time.monotonic()
    df = incidents(date_range="all", config=config, progress=False)
    elapsed = time.monotonic() - started
    fetch = df.attrs["fetch"]
    assert len(df) == 3000 and fetch["requests"] == 30
    assert fetch["rate_limited"] == 0 and fetch["retries"] == 0
    assert fetch["paced_waits"] >= 1 and fetch["paced_seconds"] > 0  # it did have to wait
    # wall time with requests held back, not the sum over the requests waiting together
    assert fetch["paced_seconds"] <= elapsed

    out = with_ack_times(df, config=config, progress=False)
    acks = out.attrs["ack_times"]
    assert acks["rate_limited"] == 0 and acks["requests"] > BUDGET
    assert out.acknowledged_at.notna().sum() > df.acknowledged_at.notna().sum()

    # Honest: what the frames say is what the simulator saw, and it refused nothing.
    assert limiter.refused == 0
    assert limiter.allowed == fetch["requests"] + acks["requests"]
