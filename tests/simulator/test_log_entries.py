"""GET /log_entries: the account-wide log, newest first, with /incidents' paging and windows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from atlas_canvas.simulator import SimulatorWsgiApp

from .conftest import from_header
from .test_conformance import check

WINDOW = {"since": "2026-03-01T00:00:00Z", "until": "2026-06-01T00:00:00Z", "time_zone": "UTC"}


def all_pages(api: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = api.get("/log_entries", params={**params, "limit": 100, "offset": offset}).json()
        out += body["log_entries"]
        if not body["more"]:
            return out
        offset += len(body["log_entries"])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {**WINDOW, "limit": 100, "total": "true"},
        {**WINDOW, "is_overview": "true", "limit": 100, "offset": 300},
        {**WINDOW, "time_zone": "Asia/Kolkata", "limit": 60},
    ],
)
def test_list_log_entries_conforms(ro_api: httpx.Client, params: dict[str, Any]) -> None:
    body = check(ro_api.get("/log_entries", params=params), "/log_entries")
    assert body["log_entries"]


def test_include_expands_references(ro_api: httpx.Client) -> None:
    # (Expanded objects are not what the file's LogEntry schema models, as for the
    # per-incident list: checked by behaviour here.)
    params = {**WINDOW, "include[]": ["incidents", "services", "channels", "teams"], "limit": 30}
    entries = ro_api.get("/log_entries", params=params).json()["log_entries"]
    assert len(entries) == 30
    assert {e["incident"]["type"] for e in entries} == {"incident"}
    assert {e["service"]["type"] for e in entries} == {"service"}
    assert all(e["incident"]["id"] in e["html_url"] for e in entries)


def test_same_entries_as_the_per_incident_lists_newest_first(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp
) -> None:
    params = {**WINDOW, "since": "2026-05-01T00:00:00Z", "is_overview": "true"}
    entries = all_pages(ro_api, params)
    times = [e["created_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert len({e["id"] for e in entries}) == len(entries)
    first = ro_api.get("/log_entries", params={**params, "total": "true"}).json()
    assert first["total"] == len(entries) and first["limit"] == 25 and first["offset"] == 0
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by_incident.setdefault(e["incident"]["id"], []).append(e)
    assert len(by_incident) > 50
    for iid in list(by_incident)[:40]:
        own = ro_api.get(f"/incidents/{iid}/log_entries", params=params).json()["log_entries"]
        assert own == by_incident[iid]
    kinds = {e["type"] for e in entries}
    assert {"trigger_log_entry", "acknowledge_log_entry", "resolve_log_entry"} <= kinds
    assert "notify_log_entry" not in kinds
    everything = ro_api.get("/log_entries", params={**params, "is_overview": "false", "total": 1})
    assert everything.json()["total"] > len(entries)


def test_window_bounds_and_team_filter(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    lo, hi = "2026-05-10T00:00:00Z", "2026-05-12T00:00:00Z"
    entries = all_pages(ro_api, {"since": lo, "until": hi, "time_zone": "UTC"})
    assert entries and all(lo <= e["created_at"] < hi for e in entries)
    # naive bounds are read in time_zone (here UTC+05:30), as on /incidents
    shifted = all_pages(
        ro_api,
        {
            "since": "2026-05-10T05:30:00",
            "until": "2026-05-12T05:30:00",
            "time_zone": "Asia/Kolkata",
        },
    )
    assert [e["id"] for e in shifted] == [e["id"] for e in entries]
    team = ro_app.simulator.account.teams[0]
    mine = all_pages(ro_api, {"since": lo, "until": hi, "team_ids[]": team.id})
    assert 0 < len(mine) < len(entries)
    services = {s.id for s in ro_app.simulator.account.services if s.team == team.idx}
    incidents = {i.id: i for i in ro_app.simulator.account.incidents}
    assert all(
        ro_app.simulator.account.services[incidents[e["incident"]["id"]].service].id in services
        for e in mine
    )


def test_default_window_cap_and_bad_input(ro_api: httpx.Client) -> None:
    recent = ro_api.get("/log_entries", params={"limit": 100, "time_zone": "UTC"}).json()
    # no bounds: the month before "now" (2026-06-01 12:00 UTC)
    assert recent["log_entries"][-1]["created_at"] >= "2026-05-01"
    over = ro_api.get("/log_entries", params={"offset": 9950, "limit": 100})
    assert over.status_code == 400 and over.json()["error"]["code"] == 2002
    too_long = ro_api.get("/log_entries", params={"since": "2025-01-01", "until": "2026-01-01"})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["errors"][0].startswith("Until is invalid: since and until")
    backwards = ro_api.get("/log_entries", params={"since": "2026-05-02", "until": "2026-05-01"})
    assert backwards.status_code == 400
    assert ro_api.get("/log_entries", params={"since": "yesterday"}).status_code == 400
    assert ro_api.get("/log_entries", params={"is_overview": "maybe"}).status_code == 400
    assert ro_api.get("/log_entries", params={"include[]": "users"}).status_code == 400


def test_writes_show_up_in_the_account_log(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    target = next(i for i in reversed(app.simulator.account.incidents) if i.status == "triggered")
    window = {"since": "2026-05-01T00:00:00Z", "until": "2026-07-01T00:00:00Z"}
    before = api.get("/log_entries", params={**window, "total": "true"}).json()["total"]
    r = api.put(
        f"/incidents/{target.id}",
        json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
        headers=from_header(app),
    )
    assert r.status_code == 200
    after = api.get("/log_entries", params={**window, "total": "true", "limit": 5}).json()
    assert after["total"] > before
    assert after["log_entries"][0]["type"] == "acknowledge_log_entry"
    assert after["log_entries"][0]["incident"]["id"] == target.id
