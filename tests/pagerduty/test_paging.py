"""Paging of GET /incidents through an adapter: order, concurrency, cap splitting, retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from atlas_canvas._errors import (
    HTTPStatusError,
    NoMatchingInstanceError,
    UpstreamError,
    UpstreamUnreachableError,
    UsageError,
)
from atlas_canvas.pagerduty._pager import fetch_incident_records
from atlas_canvas.pagerduty._query import IncidentQuery, parse_time

from .fakepd import T0, FakePD, make_incident, make_incidents


class Sleeps:
    """Records requested sleeps instead of sleeping (tests stay fast)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


async def fetch(fake: FakePD, sleep: Sleeps | None = None, **query: object):
    return await fetch_incident_records(
        IncidentQuery.build(**query),  # type: ignore[arg-type]
        transport=fake.transport(),
        progress=False,
        sleep=sleep or Sleeps(),
    )


def offsets(fake: FakePD) -> list[int]:
    return [int(r.url.params.get("offset", "0")) for r in fake.requests]


async def test_all_pages_in_order_without_duplicates() -> None:
    fake = FakePD(make_incidents(950))
    records, stats = await fetch(fake)
    assert [r["id"] for r in records] == [i["id"] for i in fake.incidents]
    first = fake.requests[0].url.params
    assert first["total"] == "true" and first["limit"] == "100" and first["offset"] == "0"
    assert sorted(offsets(fake)) == list(range(0, 1000, 100))
    assert stats.requests == 10 and stats.total == 950 and stats.duplicates == 0


async def test_filters_are_sent_as_pagerduty_params() -> None:
    fake = FakePD(make_incidents(30))
    records, _ = await fetch(
        fake,
        statuses="triggered,acknowledged",
        urgencies=["high"],
        since="2025-01-02",
        until="2025-01-20T00:00:00+0000",
    )
    params = fake.requests[0].url.params
    assert params.get_list("statuses[]") == ["triggered", "acknowledged"]
    assert params.get_list("urgencies[]") == ["high"]
    assert params["since"] == "2025-01-02T00:00:00Z" and params["until"] == "2025-01-20T00:00:00Z"
    assert records and all(r["status"] != "resolved" and r["urgency"] == "high" for r in records)


async def test_remaining_pages_are_fetched_concurrently_but_bounded() -> None:
    fake = FakePD(make_incidents(2000))
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return fake.handle(request)

    records, _ = await fetch_incident_records(
        IncidentQuery.build(),
        transport=httpx.MockTransport(handler),
        progress=False,
        concurrency=8,
    )
    assert len(records) == 2000
    assert 2 <= peak <= 8


async def test_past_the_cap_the_range_is_split_without_gaps_or_duplicates() -> None:
    fake = FakePD(make_incidents(23_456, span=timedelta(days=50)))
    records, stats = await fetch(fake, since=T0, until=T0 + timedelta(days=60))
    ids = [r["id"] for r in records]
    assert ids == [i["id"] for i in fake.incidents]  # all, in time order, once each
    assert stats.windows >= 3 and stats.splits >= 1
    # no request went past the cap
    assert all(
        int(r.url.params.get("offset", 0)) + int(r.url.params.get("limit", 25)) <= 10_000
        for r in fake.requests
    )


async def test_boundary_instants_are_not_lost() -> None:
    # Many incidents share the exact second of a window edge.
    incs = make_incidents(12_000, span=timedelta(days=2))
    edge = T0 + timedelta(days=1)
    incs += [make_incident(100_000 + i, created=edge) for i in range(50)]
    incs.sort(key=lambda i: i["created_at"])
    fake = FakePD(incs)
    records, stats = await fetch(fake, since=T0, until=T0 + timedelta(days=2))
    assert Counter(r["id"] for r in records) == Counter(i["id"] for i in incs)
    assert stats.splits >= 1


async def test_open_ended_range_past_the_cap_finds_bounds_with_sort() -> None:
    fake = FakePD(make_incidents(10_500, span=timedelta(days=400)))
    records, _ = await fetch(fake, date_range="all")
    assert len(records) == 10_500 and len({r["id"] for r in records}) == 10_500
    sorts = [r.url.params.get("sort_by") for r in fake.requests if r.url.params.get("sort_by")]
    assert sorted(sorts) == ["created_at:asc", "created_at:desc"]


async def test_long_ranges_are_split_to_the_six_month_maximum() -> None:
    fake = FakePD(make_incidents(400, span=timedelta(days=360)))
    records, _ = await fetch(fake, since=T0, until=T0 + timedelta(days=365))
    assert len(records) == 400
    for r in fake.requests:
        s, u = parse_time(r.url.params["since"]), parse_time(r.url.params["until"])
        assert s is not None and u is not None and u - s <= timedelta(days=180)


async def test_still_refused_says_so() -> None:
    same = datetime(2025, 1, 1, tzinfo=timezone.utc)
    fake = FakePD([make_incident(i, created=same) for i in range(10_050)])
    with pytest.raises(UpstreamError, match="still refuses"):
        await fetch(fake, since=same, until=same + timedelta(seconds=1))


async def test_429_waits_for_ratelimit_reset_then_completes() -> None:
    fake = FakePD(make_incidents(300), fault_on_offset={100: [("429", 7)]})
    sleeps = Sleeps()
    records, stats = await fetch(fake, sleep=sleeps)
    assert len(records) == 300 and stats.rate_limited == 1
    assert any(6.5 < s <= 7.2 for s in sleeps.calls), sleeps.calls
    assert sorted(offsets(fake)) == [0, 100, 100, 200]


async def test_429_without_headers_backs_off_and_is_bounded() -> None:
    fake = FakePD(make_incidents(50), faults=[("429", None)] * 20)
    sleeps = Sleeps()
    with pytest.raises(HTTPStatusError, match="429") as info:
        await fetch(fake, sleep=sleeps)
    assert info.value.status == 429
    assert len(fake.requests) == 9  # 1 + 8 bounded waits


async def test_5xx_and_dropped_connections_are_retried_with_backoff() -> None:
    fake = FakePD(
        make_incidents(250),
        fault_on_offset={200: [("500", None), ("drop", None)]},
        faults=[("502atlas", None)],
    )
    sleeps = Sleeps()
    records, stats = await fetch(fake, sleep=sleeps)
    assert [r["id"] for r in records] == [i["id"] for i in fake.incidents]
    assert stats.retries == 3 and len(sleeps.calls) >= 3
    assert all(0 < s <= 8 for s in sleeps.calls)


async def test_retries_are_bounded() -> None:
    fake = FakePD(make_incidents(10), faults=[("500", None)] * 10)
    with pytest.raises(HTTPStatusError) as info:
        await fetch(fake)
    assert info.value.status == 500
    assert len(fake.requests) == 5  # first try + 4 retries

    fake = FakePD(make_incidents(10), faults=[("drop", None)] * 10)
    with pytest.raises(UpstreamUnreachableError):
        await fetch(fake)


async def test_401_names_the_token_variable_and_region() -> None:
    fake = FakePD(make_incidents(10), faults=[("401", None)])
    with pytest.raises(HTTPStatusError) as info:
        await fetch(fake)
    text = str(info.value)
    assert info.value.status == 401 and "token" in text and "region" in text
    assert "api.eu.pagerduty.com" in text
    assert len(fake.requests) == 1  # never retried


async def test_unknown_adapter_suggests_the_close_name() -> None:
    fake = FakePD(make_incidents(10))
    with pytest.raises(NoMatchingInstanceError) as info:
        await fetch(fake, adapter="pagerduti")
    assert "did you mean 'pagerduty'" in str(info.value)
    assert "known adapters: pagerduty" in str(info.value)


async def test_api_without_total_is_walked_by_more() -> None:
    fake = FakePD(make_incidents(333), honour_total=False)
    records, stats = await fetch(fake)
    assert [r["id"] for r in records] == [i["id"] for i in fake.incidents]
    assert stats.total is None


async def test_empty_result() -> None:
    records, stats = await fetch(FakePD([]))
    assert records == [] and stats.total == 0 and stats.requests == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"statuses": "triggerd"}, "did you mean 'triggered'"),
        ({"urgencies": ["hi"]}, "did you mean 'high'"),
        ({"since": "yesterday-ish"}, "cannot read"),
        ({"since": "2025-02-01", "until": "2025-01-01"}, "must be before"),
        ({"date_range": "week"}, "date_range"),
        ({"adapter": "a/b"}, "bad adapter"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        IncidentQuery.build(**kwargs)  # type: ignore[arg-type]


def test_parse_time_forms() -> None:
    utc = timezone.utc
    assert parse_time("2025-01-01") == datetime(2025, 1, 1, tzinfo=utc)
    assert parse_time("2025-01-01T10:00:00+0200") == datetime(2025, 1, 1, 8, tzinfo=utc)
    assert parse_time("2025-01-01T10:00:00Z") == datetime(2025, 1, 1, 10, tzinfo=utc)
    now = datetime(2025, 3, 1, tzinfo=utc)
    assert parse_time("7d", now=now) == datetime(2025, 2, 22, tzinfo=utc)
    assert parse_time("12h", now=now) == datetime(2025, 2, 28, 12, tzinfo=utc)


async def test_progress_bar_only_when_interactive_and_long(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_canvas.pagerduty import _pager

    fake = FakePD(make_incidents(1_500))
    await fetch_incident_records(IncidentQuery.build(), transport=fake.transport())
    assert "incident" not in capsys.readouterr().err  # not interactive: no bar

    monkeypatch.setattr(_pager, "interactive", lambda: True)
    await fetch_incident_records(IncidentQuery.build(), transport=fake.transport())
    assert "incidents:" in capsys.readouterr().err  # tqdm's text bar on stderr
    await fetch_incident_records(IncidentQuery.build(), transport=fake.transport(), progress=False)
    assert capsys.readouterr().err == ""
    small = FakePD(make_incidents(300))
    await fetch_incident_records(IncidentQuery.build(), transport=small.transport())
    assert capsys.readouterr().err == ""  # short fetches get no bar


async def test_gc_freeze_is_undone_and_never_touches_someone_elses() -> None:
    import gc

    fake = FakePD(make_incidents(500))
    assert gc.get_freeze_count() == 0
    records, _ = await fetch(fake)
    assert len(records) == 500 and gc.get_freeze_count() == 0  # unfrozen again
    gc.freeze()  # e.g. a forking server's own freeze
    try:
        frozen = gc.get_freeze_count()
        await fetch(FakePD(make_incidents(300)))
        # Left alone: not unfrozen by us (a few frozen objects may have been freed meanwhile).
        assert gc.get_freeze_count() > frozen // 2 > 0
    finally:
        gc.unfreeze()
    fake = FakePD(make_incidents(50), faults=[("401", None)])
    with pytest.raises(HTTPStatusError):
        await fetch(fake)
    assert gc.get_freeze_count() == 0  # also after an error
