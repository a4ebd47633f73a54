"""A sync of 20,000 incidents with first-ack times against a 960-requests-a-minute budget gets
no 429 at all: the shared pacer reads ``ratelimit-remaining``/``ratelimit-reset`` on every
answer and holds requests back before the budget runs out.

Part of the default suite on purpose; it takes a little over a minute of wall time (about
1,100 requests: the first minute's budget, a wait for the window to reset, the rest).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest

from atlas_canvas.pagerduty._store import open_store
from tests.pagerduty.store_sim import NOW, SimAccount

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_a_20000_incident_sync_with_ack_times_gets_no_429(tmp_path: Path) -> None:
    acc = SimAccount(20_000, months=12, rate_limit=960, seed=2)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    started = time.monotonic()
    report = store.sync(since=NOW - dt.timedelta(days=370), progress=False)
    elapsed = time.monotonic() - started
    assert report.new == 20_000
    assert acc.status[429] == 0 and report.rate_limited == 0, (acc.status, report)
    assert report.requests == acc.requests > 960  # more than one minute's budget was needed
    assert elapsed >= 55  # ...so the pacer waited for the window to reset instead of a 429
    df = store.incidents()
    resolved = df[df.status == "resolved"]
    assert resolved.acknowledged_at.notna().mean() > 0.5  # MTTA without an extra pass
