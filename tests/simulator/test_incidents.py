"""GET /incidents behaviour: paging, the 10,000 cap, date windows, filters, sorting."""

from __future__ import annotations

import calendar
import datetime as dt
import zoneinfo
from typing import Any

import httpx
import pytest

from atlas_canvas.simulator import SimulatorWsgiApp, create_wsgi_app
from atlas_canvas.simulator._timefmt import add_months

from .conftest import NOW, client_for, make_config

NOW_TS = calendar.timegm(NOW.utctimetuple())
# Bounds without an offset, and the default windows, are read in the account's zone.
ACCOUNT_ZONE = zoneinfo.ZoneInfo("America/New_York")


def walk(api: httpx.Client, params: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """Page like python-pagerduty does: advance by what came back, stop when more=false."""
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = api.get("/incidents", params={**params, "limit": limit, "offset": offset})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["limit"] == limit and body["offset"] == offset
        out.extend(body["incidents"])
        offset += len(body["incidents"])
        if not body["more"]:
            return out


def ts(text: str) -> int:
    return calendar.timegm(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).utctimetuple())


@pytest.mark.parametrize(
    "params",
    [
        {"date_range": "all"},
        {"date_range": "all", "statuses[]": "resolved", "urgencies[]": "low"},
        {"date_range": "all", "statuses[]": ["triggered", "acknowledged"]},
        {"since": "2026-01-01T00:00:00+0000", "until": "2026-04-01T00:00:00+0000"},
        {"date_range": "all", "sort_by": "urgency:desc,created_at:desc"},
        {"date_range": "all", "sort_by": "resolved_at"},
    ],
)
def test_pagination_walks_every_incident_exactly_once(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp, params: dict[str, Any]
) -> None:
    seen = walk(ro_api, params, limit=97)
    ids = [i["id"] for i in seen]
    assert len(ids) == len(set(ids))
    total = ro_api.get("/incidents", params={**params, "total": "true", "limit": 1}).json()["total"]
    assert len(ids) == total
    # The same set as an independent filter over the account's data.
    expected = _expected(ro_app, params)
    assert set(ids) == expected


def _expected(app: SimulatorWsgiApp, params: dict[str, Any]) -> set[str]:
    def as_list(v: Any) -> list[str]:
        return v if isinstance(v, list) else [v]

    out = set()
    for inc in app.simulator.account.incidents:
        if "statuses[]" in params and inc.status not in as_list(params["statuses[]"]):
            continue
        if "urgencies[]" in params and inc.urgency not in as_list(params["urgencies[]"]):
            continue
        if "since" in params and not ts(params["since"].replace("+0000", "Z")) <= inc.created_at:
            continue
        if "until" in params and not inc.created_at < ts(params["until"].replace("+0000", "Z")):
            continue
        out.add(inc.id)
    return out


def test_default_order_is_oldest_first_and_sort_by_works(ro_api: httpx.Client) -> None:
    seen = walk(ro_api, {"date_range": "all"})
    numbers = [i["incident_number"] for i in seen]
    assert numbers == sorted(numbers)
    desc = walk(ro_api, {"date_range": "all", "sort_by": "created_at:desc"})
    created = [ts(i["created_at"]) for i in desc]
    assert created == sorted(created, reverse=True) and len(desc) == len(numbers)
    two = walk(ro_api, {"date_range": "all", "sort_by": "urgency:desc,incident_number:desc"})
    keys = [(i["urgency"] == "high", i["incident_number"]) for i in two]
    assert keys == sorted(keys, reverse=True)
    resolved = walk(ro_api, {"date_range": "all", "sort_by": "resolved_at:asc"})
    times = [i["resolved_at"] for i in resolved if i["resolved_at"]]
    assert times == sorted(times)
    # Unresolved incidents come last when ascending.
    assert all(i["resolved_at"] is None for i in resolved[len(times) :])


def test_limit_defaults_and_clamps(ro_api: httpx.Client) -> None:
    body = ro_api.get("/incidents", params={"date_range": "all"}).json()
    assert body["limit"] == 25 and len(body["incidents"]) == 25
    assert body["total"] is None and body["more"] is True
    body = ro_api.get("/incidents", params={"date_range": "all", "limit": 500}).json()
    assert body["limit"] == 100 and len(body["incidents"]) == 100
    for bad in ("0", "-3", "ten"):
        r = ro_api.get("/incidents", params={"limit": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == 2001
    r = ro_api.get("/incidents", params={"offset": "-1"})
    assert r.status_code == 400


def test_total_accepts_true_and_1(ro_api: httpx.Client) -> None:
    a = ro_api.get("/incidents", params={"date_range": "all", "total": "true"}).json()["total"]
    b = ro_api.get("/incidents", params={"date_range": "all", "total": "1"}).json()["total"]
    assert a == b == 1500
    assert ro_api.get("/incidents", params={"total": "false"}).json()["total"] is None
    assert ro_api.get("/incidents", params={"total": "maybe"}).status_code == 400


def test_offset_cap_gives_the_real_2002_body() -> None:
    app = create_wsgi_app(make_config(incidents=10_050, seed=3))
    with client_for(app) as api:
        ok = api.get("/incidents", params={"date_range": "all", "limit": 100, "offset": 9900})
        assert ok.status_code == 200 and ok.json()["more"] is True
        r = api.get("/incidents", params={"date_range": "all", "limit": 100, "offset": 9901})
        assert r.status_code == 400
        assert r.json() == {
            "error": {
                "message": "Arguments Caused Error",
                "code": 2002,
                "errors": [
                    "Offset+limit exceeds maximum allowed value of 10000. Please try to refine "
                    "your search to reduce the returned set of records below this number, like "
                    "adding a date range."
                ],
            }
        }
        # The cap counts the limit actually used: limit=500 is served as 100.
        assert api.get("/incidents", params={"limit": 500, "offset": 9900}).status_code == 200
        assert api.get("/incidents", params={"limit": 25, "offset": 9976}).status_code == 400


def test_default_window_is_the_last_month(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    got = {i["id"] for i in walk(ro_api, {})}
    month_ago = add_months(NOW_TS, -1, ACCOUNT_ZONE)
    expected = {
        i.id for i in ro_app.simulator.account.incidents if month_ago <= i.created_at <= NOW_TS
    }
    assert got == expected and 0 < len(got) < 1500


def test_one_bound_gives_one_month(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    incidents = ro_app.simulator.account.incidents
    since = ts("2025-09-10T00:00:00Z")
    got = {i["id"] for i in walk(ro_api, {"since": "2025-09-10T00:00:00Z"})}
    assert got == {
        i.id for i in incidents if since <= i.created_at < add_months(since, 1, ACCOUNT_ZONE)
    }
    until = ts("2025-11-20T00:00:00Z")
    got = {i["id"] for i in walk(ro_api, {"until": "2025-11-20T00:00:00+00:00"})}
    assert got == {
        i.id for i in incidents if add_months(until, -1, ACCOUNT_ZONE) <= i.created_at < until
    }


def test_range_limit_is_180_days_whatever_the_start(ro_api: httpx.Client) -> None:
    # Issue 10: an explicit ~182-day window was refused while 183 days passed, depending on
    # where the six calendar months fell; the limit is now 180 days from any start date,
    # and the error names the parameter.
    for since in ("2025-06-01T04:00:00Z", "2025-09-01T00:00:00Z", "2025-12-10T07:30:00Z"):
        start = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
        at_limit = (start + dt.timedelta(days=180)).isoformat()
        assert ro_api.get("/incidents", params={"since": since, "until": at_limit}).is_success
        for days in (180.0001, 182, 183):
            until = (start + dt.timedelta(days=days)).isoformat()
            r = ro_api.get("/incidents", params={"since": since, "until": until})
            assert r.status_code == 400, (since, days)
            error = r.json()["error"]
            assert error["message"] == "Invalid Input Provided" and error["code"] == 2001
            assert error["errors"] == [
                "Until is invalid: since and until may be at most 180 days "
                "(PagerDuty's 6-month maximum) apart; split the range."
            ]
    # Naive bounds are read in the account's zone (here across the DST change, one hour
    # longer than the dates say); the length is what counts.
    naive = {"since": "2025-06-01", "until": "2025-11-27T23:00:00"}
    assert ro_api.get("/incidents", params=naive).is_success
    naive["until"] = "2025-11-28"
    assert ro_api.get("/incidents", params=naive).status_code == 400
    # date_range=all ignores the bounds and their limit.
    r = ro_api.get(
        "/incidents", params={"since": "2020-01-01", "until": "2026-01-01", "date_range": "all"}
    )
    assert r.status_code == 200


def test_timestamp_forms_clients_send(ro_api: httpx.Client) -> None:
    forms = [
        ("2026-02-01T00:00:00+0000", "2026-03-01T00:00:00+0000"),
        ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        ("2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"),
        ("2026-01-31T19:00:00-05:00", "2026-02-28T19:00:00-05:00"),
    ]
    results = [{i["id"] for i in walk(ro_api, {"since": s, "until": u})} for s, u in forms]
    assert all(r == results[0] for r in results) and results[0]
    r = ro_api.get("/incidents", params={"since": "yesterday"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 2004
    r = ro_api.get("/incidents", params={"since": "2026-03-01", "until": "2026-02-01"})
    assert r.status_code == 400


def test_naive_bounds_are_read_in_the_account_or_given_zone(ro_api: httpx.Client) -> None:
    # The account lives in America/New_York: a naive bound is 05:00Z in February.
    naive = walk(ro_api, {"since": "2026-02-01T00:00:00", "until": "2026-02-10T00:00:00"})
    explicit = walk(ro_api, {"since": "2026-02-01T05:00:00Z", "until": "2026-02-10T05:00:00Z"})
    assert [i["id"] for i in naive] == [i["id"] for i in explicit]
    tokyo = walk(
        ro_api,
        {"since": "2026-02-01T09:00:00", "until": "2026-02-10T09:00:00", "time_zone": "Asia/Tokyo"},
    )
    utc = walk(ro_api, {"since": "2026-02-01T00:00:00Z", "until": "2026-02-10T00:00:00Z"})
    assert [i["id"] for i in tokyo] == [i["id"] for i in utc]
    assert tokyo[0]["created_at"].endswith("+09:00")


def test_filters_and_across_or_within(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    a = ro_app.simulator.account
    svc = [a.services[0], a.services[3]]
    team = a.teams[1]
    base = {"date_range": "all"}
    by_services = walk(ro_api, {**base, "service_ids[]": [s.id for s in svc]})
    assert {i["service"]["id"] for i in by_services} == {s.id for s in svc}
    one = walk(ro_api, {**base, "service_ids[]": svc[0].id})
    two = walk(ro_api, {**base, "service_ids[]": svc[1].id})
    assert len(by_services) == len(one) + len(two)  # OR within
    both = walk(ro_api, {**base, "service_ids[]": [s.id for s in svc], "urgencies[]": "high"})
    assert {i["id"] for i in both} == {i["id"] for i in by_services if i["urgency"] == "high"}
    by_team = walk(ro_api, {**base, "team_ids[]": team.id, "statuses[]": "resolved"})
    assert by_team and all(
        i["teams"][0]["id"] == team.id and i["status"] == "resolved" for i in by_team
    )
    # Bare names (without []) are accepted too.
    assert walk(ro_api, {**base, "statuses": "resolved", "team_ids": team.id}) == by_team


def test_user_ids_match_current_assignees_of_open_incidents(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp
) -> None:
    open_incidents = [i for i in ro_app.simulator.account.incidents if i.status != "resolved"]
    user = ro_app.simulator.account.users[open_incidents[-1].assignees[0]]
    got = walk(ro_api, {"date_range": "all", "user_ids[]": user.id})
    assert got
    assert {i["id"] for i in got} == {i.id for i in open_incidents if user.idx in i.assignees}
    assert all(i["assignments"][0]["assignee"]["id"] == user.id for i in got)


def test_incident_key_matches_incidents_and_alert_keys(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp
) -> None:
    grouped = next(i for i in ro_app.simulator.account.incidents if i.alerts >= 3)
    got = walk(ro_api, {"date_range": "all", "incident_key": grouped.key})
    assert grouped.id in {i["id"] for i in got} and all(
        i["incident_key"] == grouped.key for i in got
    )
    alerts = ro_api.get(f"/incidents/{grouped.id}/alerts").json()["alerts"]
    second_key = alerts[1]["alert_key"]
    got = walk(ro_api, {"date_range": "all", "incident_key": second_key})
    # A check that flaps re-uses its keys, so other incidents may match too, but only ones
    # that have such a second alert.
    assert grouped.id in {i["id"] for i in got}
    assert all(i["incident_key"] == grouped.key and i["alert_counts"]["all"] >= 2 for i in got)


def test_bad_filter_values_are_400(ro_api: httpx.Client) -> None:
    cases = [
        {"statuses[]": "open"},
        {"urgencies[]": "urgent"},
        {"include[]": "everything"},
        {"sort_by": "title"},
        {"sort_by": "created_at:sideways"},
        {"sort_by": "created_at,urgency,incident_number"},
        {"time_zone": "Mars/Olympus"},
        {"date_range": "some"},
    ]
    for params in cases:
        r = ro_api.get("/incidents", params=params)
        assert r.status_code == 400, params
        assert r.json()["error"]["code"] == 2001, params
    body = ro_api.get("/incidents", params={"statuses[]": "open"}).json()
    assert body["error"]["errors"] == [
        "Status must be a list of triggered, acknowledged, or resolved."
    ]


def test_include_expands_references(ro_api: httpx.Client) -> None:
    params = {
        "date_range": "all",
        "statuses[]": "acknowledged",
        "include[]": [
            "services",
            "assignees",
            "acknowledgers",
            "teams",
            "escalation_policies",
            "first_trigger_log_entries",
        ],
    }
    inc = ro_api.get("/incidents", params=params).json()["incidents"][0]
    assert inc["service"]["type"] == "service" and "escalation_policy" in inc["service"]
    assert inc["assignments"][0]["assignee"]["type"] == "user"
    assert inc["acknowledgements"][0]["acknowledger"]["type"] == "user"
    assert inc["teams"][0]["type"] == "team"
    assert inc["escalation_policy"]["type"] == "escalation_policy"
    assert inc["first_trigger_log_entry"]["type"] == "trigger_log_entry"
    plain = ro_api.get(f"/incidents/{inc['id']}").json()["incident"]
    assert plain["service"]["type"] == "service_reference"
    assert plain["first_trigger_log_entry"]["id"] == inc["first_trigger_log_entry"]["id"]


def test_get_by_number_and_404(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    inc = ro_app.simulator.account.incidents[41]
    by_id = ro_api.get(f"/incidents/{inc.id}").json()
    assert ro_api.get(f"/incidents/{inc.number}").json() == by_id
    for missing in (
        "/incidents/QNOPE",
        "/incidents/99999",
        "/incidents/QNOPE/log_entries",
        "/services/PNOPE",
        "/nothing/here",
        "/users/PNOPE",
        "/log_entries/RNOPE",
    ):
        r = ro_api.get(missing)
        assert r.status_code == 404, missing
        assert r.json() == {"error": {"message": "Not Found", "code": 2100}}


def test_self_and_html_url_follow_region_and_public_url() -> None:
    eu = create_wsgi_app(make_config(incidents=50, region="eu"))
    with client_for(eu) as api:
        inc = api.get("/incidents", params={"date_range": "all", "limit": 1}).json()["incidents"][0]
    assert inc["self"] == f"https://api.eu.pagerduty.com/incidents/{inc['id']}"
    assert inc["html_url"] == f"https://acme.eu.pagerduty.com/incidents/{inc['id']}"
    local = create_wsgi_app(make_config(incidents=50, public_url="http://127.0.0.1:9/pd/"))
    with client_for(local) as api:
        inc = api.get("/pd/incidents", params={"date_range": "all", "limit": 1}).json()[
            "incidents"
        ][0]
        assert inc["self"] == f"http://127.0.0.1:9/pd/incidents/{inc['id']}"
        assert inc["service"]["self"].startswith("http://127.0.0.1:9/pd/services/")
        # Following `self` (path under the public URL's prefix) comes back here.
        assert api.get(f"/pd/incidents/{inc['id']}").status_code == 200


def test_time_zone_renders_offsets(ro_api: httpx.Client) -> None:
    utc = ro_api.get("/incidents", params={"date_range": "all", "limit": 1}).json()["incidents"][0]
    ny = ro_api.get(
        "/incidents", params={"date_range": "all", "limit": 1, "time_zone": "America/New_York"}
    ).json()["incidents"][0]
    assert utc["created_at"].endswith("Z")
    assert ny["created_at"][-6:] in ("-05:00", "-04:00")
    assert ts(ny["created_at"]) == ts(utc["created_at"])
