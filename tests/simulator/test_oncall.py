"""On-call, schedules, notifications and the Analytics API of the simulator.

Every view comes from the one account model: the tests cross-check them against each other
(on-calls vs rendered schedules vs incident assignments, notifications vs notify log
entries, Analytics figures vs the log) and against the official schema.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import pytest

from atlas_canvas.pagerduty._figures import Event, incident_figures
from atlas_canvas.simulator import SimulatorWsgiApp, create_wsgi_app

from .conftest import USER_TOKEN, client_for, make_config
from .test_conformance import check

MONTH = {"since": "2026-04-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}


def ts(text: str) -> int:
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def all_pages(api: httpx.Client, path: str, key: str, params: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    while True:
        body = api.get(path, params={**params, "limit": 100, "offset": len(out)}).json()
        out += body[key]
        if not body["more"]:
            return out


# -- schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        MONTH,
        {**MONTH, "earliest": "true", "time_zone": "Asia/Kolkata"},
    ],
)
def test_oncalls_conform(ro_api: httpx.Client, params: dict[str, Any]) -> None:
    body = check(ro_api.get("/oncalls", params={**params, "limit": 100}), "/oncalls")
    assert body["oncalls"]


def test_oncalls_include_expands(ro_api: httpx.Client) -> None:
    # (Full objects in place of references are not modelled by the file's Oncall schema.)
    include = {**MONTH, "include[]": ["users", "escalation_policies", "schedules"], "limit": 5}
    for o in ro_api.get("/oncalls", params=include).json()["oncalls"]:
        assert o["user"]["type"] == "user" and o["user"]["time_zone"]
        assert o["escalation_policy"]["type"] == "escalation_policy"
        assert o["schedule"]["type"] == "schedule" and o["schedule"]["schedule_layers"]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-05-01T00:00:00Z", "until": "2026-05-08T00:00:00Z", "limit": 100},
        {
            "since": "2026-05-01T00:00:00Z",
            "until": "2026-05-08T00:00:00Z",
            "filter": "sms_notification",
            "time_zone": "America/Los_Angeles",
        },
    ],
)
def test_notifications_conform(ro_api: httpx.Client, params: dict[str, Any]) -> None:
    body = check(ro_api.get("/notifications", params=params), "/notifications")
    assert body["notifications"]


def test_analytics_conform(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    window = {"created_at_start": "2026-04-01T00:00:00Z", "created_at_end": "2026-05-01T00:00:00Z"}
    raw = ro_api.post("/analytics/raw/incidents", json={"filters": window, "limit": 1000})
    body = check(raw, "/analytics/raw/incidents", "post")
    assert body["data"]
    for group in ("all", "services", "teams"):
        for unit in (None, "week"):
            request = {"filters": window, "time_zone": "Europe/Berlin", "aggregate_unit": unit}
            r = ro_api.post(f"/analytics/metrics/incidents/{group}", json=request)
            assert check(r, f"/analytics/metrics/incidents/{group}", "post")["data"]
    dates = {"date_range_start": "2026-04-01T00:00:00Z", "date_range_end": "2026-05-01T00:00:00Z"}
    r = ro_api.post("/analytics/metrics/responders/all", json={"filters": dates})
    assert check(r, "/analytics/metrics/responders/all", "post")["data"]
    inc = next(i for i in ro_app.simulator.account.incidents if i.escalated_at and i.ack_at)
    r = ro_api.get(f"/analytics/raw/incidents/{inc.id}/responses")
    assert len(check(r, "/analytics/raw/incidents/{id}/responses")["responses"]) == 2
    assert ro_api.post(f"/analytics/raw/incidents/{inc.id}/responses").json() == r.json()


# -- schedules and on-calls ------------------------------------------------------------------


def test_layers_overlap_and_overrides_win(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    a = ro_app.simulator.account
    layered = next(s for s in a.schedules if len(s.layers) > 1)
    body = ro_api.get(f"/schedules/{layered.id}", params=MONTH).json()["schedule"]
    top, base = body["schedule_layers"]
    assert top["restrictions"][0]["type"] == "weekly_restriction"
    assert top["restrictions"][0]["start_day_of_week"] == 6
    final = [
        (ts(e["start"]), ts(e["end"]), e["user"]["id"])
        for e in body["final_schedule"]["rendered_schedule_entries"]
    ]
    assert final[0][0] == ts(MONTH["since"]) and final[-1][1] == ts(MONTH["until"])
    assert all(x[1] == y[0] for x, y in itertools.pairwise(final))  # contiguous

    def who(entries: list[dict[str, Any]], at: int) -> str | None:
        for e in entries:
            if ts(e["start"]) <= at < ts(e["end"]):
                return str(e["user"]["id"])
        return None

    overrides = body["overrides_subschedule"]["rendered_schedule_entries"]
    # At every boundary: an override wins, else the weekend layer, else the weekly one.
    for start, _, user in final:
        expected = (
            who(overrides, start)
            or who(top["rendered_schedule_entries"], start)
            or who(base["rendered_schedule_entries"], start)
        )
        assert user == expected
    # The weekend layer really overrides the weekly one on some weekend of the month.
    assert any(
        who(top["rendered_schedule_entries"], s) != who(base["rendered_schedule_entries"], s)
        for s, _, _ in final
        if who(top["rendered_schedule_entries"], s)
    )
    assert any(s.overrides for s in a.schedules)


def test_an_override_shows_in_oncalls_and_assignments(ro_app: SimulatorWsgiApp) -> None:
    a = ro_app.simulator.account
    sched = next(s for s in a.schedules if any(o.start > a.start for o in s.overrides))
    override = next(o for o in sched.overrides if o.start > a.start)
    with client_for(ro_app) as api:
        mid = dt.datetime.fromtimestamp((override.start + override.end) // 2, dt.timezone.utc)
        found = api.get(
            "/oncalls",
            params={"since": mid.isoformat(), "until": mid.isoformat(), "schedule_ids[]": sched.id},
        ).json()["oncalls"]
    assert [o["user"]["id"] for o in found] == [a.users[override.user].id]
    # Incidents created during the override were assigned to the override's user.
    policy = next(p for p in a.escalation_policies if p.rules[0][2] == sched.idx)
    during = [
        i
        for i in a.incidents
        if override.start <= i.created_at < override.end
        and a.services[i.service].escalation_policy == policy.idx
    ]
    for inc in during:
        events = ro_app.simulator.store.render.log_entries(inc)
        first_assign = [e for e in events if e["type"] == "assign_log_entry"][-1]
        assert first_assign["assignees"][0]["id"] == a.users[override.user].id


def test_shift_spanning_the_window_edges_and_earliest(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp
) -> None:
    a = ro_app.simulator.account
    policy = a.escalation_policies[1]
    params = {**MONTH, "escalation_policy_ids[]": policy.id, "limit": 100}
    shifts = ro_api.get("/oncalls", params=params).json()["oncalls"]
    lo, hi = ts(MONTH["since"]), ts(MONTH["until"])
    # Shifts overlapping the edges come whole: they start before since and end after until.
    assert min(ts(o["start"]) for o in shifts) < lo
    assert max(ts(o["end"]) for o in shifts) > hi
    assert all(ts(o["start"]) < hi and ts(o["end"]) > lo for o in shifts)
    earliest = ro_api.get("/oncalls", params={**params, "earliest": "true"}).json()["oncalls"]
    keys = [(o["escalation_level"], o["user"]["id"]) for o in earliest]
    assert len(keys) == len(set(keys)) < len(shifts)
    for o in earliest:  # the first shift of that user at that level
        same = [
            s
            for s in shifts
            if (s["escalation_level"], s["user"]["id"]) == (o["escalation_level"], o["user"]["id"])
        ]
        assert o["start"] == min(s["start"] for s in same)


def test_a_user_on_two_schedules(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    a = ro_app.simulator.account
    user = a.users[a.escalation_policies[0].rules[1][2] and a.schedules[0].users[0]]
    on = [s for s in a.schedules if user.idx in s.users]
    assert len(on) == 2
    mine = ro_api.get("/oncalls", params={**MONTH, "user_ids[]": user.id, "limit": 100}).json()
    assert {o["schedule"]["id"] for o in mine["oncalls"]} <= {s.id for s in on}
    for schedule in on:
        users = ro_api.get(f"/schedules/{schedule.id}/users").json()["users"]
        assert user.id in {u["id"] for u in users}


def test_oncalls_bad_input(ro_api: httpx.Client) -> None:
    too_long = {"since": "2026-01-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    assert ro_api.get("/oncalls", params=too_long).status_code == 400
    backwards = {"since": "2026-05-01T00:00:00Z", "until": "2026-04-01T00:00:00Z"}
    assert ro_api.get("/oncalls", params=backwards).status_code == 400
    assert ro_api.get("/oncalls", params={"since": "soon"}).json()["error"]["errors"] == [
        "Since is not a valid ISO 8601 date."
    ]
    assert ro_api.get("/oncalls", params={"include[]": "teams"}).status_code == 400
    assert ro_api.get("/schedules/PNOPE00").status_code == 404
    assert ro_api.get("/notifications", params={"since": "2026-05-01"}).status_code == 400
    long = {"since": "2026-01-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}
    assert ro_api.get("/notifications", params=long).status_code == 400
    assert ro_api.get("/notifications", params={**MONTH, "filter": "fax"}).status_code == 400


def test_users_have_zones_and_contact_methods(ro_api: httpx.Client) -> None:
    users = ro_api.get("/users", params={"limit": 100}).json()["users"]
    zones = {u["time_zone"] for u in users}
    assert {"Asia/Kolkata", "America/New_York"} <= zones
    for u in users:
        kinds = {c["type"] for c in u["contact_methods"]}
        assert kinds == {
            "email_contact_method_reference",
            "phone_contact_method_reference",
            "sms_contact_method_reference",
            "push_notification_contact_method_reference",
        }
        assert u["notification_rules"]


# -- notifications agree with the log --------------------------------------------------------


def test_notifications_are_the_notify_log_entries(ro_api: httpx.Client) -> None:
    week = {"since": "2026-05-01T00:00:00Z", "until": "2026-05-08T00:00:00Z"}
    notes = all_pages(ro_api, "/notifications", "notifications", week)
    logs = all_pages(ro_api, "/log_entries", "log_entries", week)
    notify = [e for e in logs if e["type"] == "notify_log_entry"]
    assert len(notes) == len(notify) > 0
    from_log = sorted(
        (e["channel"]["notification"]["id"], e["user"]["id"], e["created_at"]) for e in notify
    )
    assert from_log == sorted((n["id"], n["user"]["id"], n["started_at"]) for n in notes)
    assert [n["started_at"] for n in notes] == sorted(n["started_at"] for n in notes)
    kinds = {n["type"] for n in notes}
    assert {"push_notification", "sms_notification", "email_notification"} <= kinds
    pushes = [n for n in notes if n["type"] == "push_notification"]
    assert all(n["address"] is None for n in pushes)


# -- the Analytics API -----------------------------------------------------------------------


def test_analytics_rows_follow_the_log(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    sim = ro_app.simulator
    a = sim.account
    zones = {u.id: u.time_zone for u in a.users}
    window = {"created_at_start": "2026-04-01T00:00:00Z", "created_at_end": "2026-05-01T00:00:00Z"}
    rows = ro_api.post(
        "/analytics/raw/incidents", json={"filters": window, "limit": 1000, "order": "asc"}
    ).json()["data"]
    expected = [
        i
        for i in a.incidents
        if ts(window["created_at_start"]) <= i.created_at < ts(window["created_at_end"])
    ]
    assert [r["id"] for r in rows] == [i.id for i in expected]
    for row, inc in zip(rows, expected, strict=True):
        entries = sim.store.render.log_entries(inc)
        events = []
        for e in entries:
            kind = e["type"].removesuffix("_log_entry")
            if kind in ("assign", "escalate"):
                user = e["assignees"][0]["id"]
            elif kind == "notify":
                user = e["user"]["id"]
            else:
                user = e["agent"]["id"] if e["agent"]["type"] == "user_reference" else None
            note = e["channel"].get("notification", {}).get("type")
            events.append(Event(kind, ts(e["created_at"]), user, e["channel"]["type"], note))
        figures = incident_figures(inc.created_at, inc.resolved_at or None, events, zones)
        for key, value in figures.items():
            assert row[key] == value, (key, inc)
        if inc.ack_at:
            assert row["seconds_to_first_ack"] == inc.ack_at - inc.created_at
    assert any(r["sleep_hour_interruptions"] for r in rows)
    assert any(r["total_notifications"] and not r["total_interruptions"] for r in rows)


def test_analytics_cursor_paging(ro_api: httpx.Client) -> None:
    window = {"created_at_start": "2025-06-01T00:00:00Z", "created_at_end": "2026-06-01T00:00:00Z"}
    seen: list[str] = []
    body: dict[str, Any] = {"filters": window, "limit": 400}
    pages = 0
    while True:
        page = ro_api.post("/analytics/raw/incidents", json=body).json()
        pages += 1
        seen += [r["id"] for r in page["data"]]
        if not page["more"]:
            break
        body["starting_after"] = page["last"]
    assert len(seen) == len(set(seen)) > 1000 and pages == -(-len(seen) // 400)
    created = [
        r["created_at"]
        for r in ro_api.post(
            "/analytics/raw/incidents", json={"filters": window, "limit": 1000}
        ).json()["data"]
    ]
    assert created == sorted(created, reverse=True)  # newest first by default
    for bad in ({"limit": 1001}, {"limit": 0}, {"starting_after": "nope"}, {"order": "up"}):
        r = ro_api.post("/analytics/raw/incidents", json={"filters": window, **bad})
        assert r.status_code == 400, bad


def test_plan_without_analytics_answers_402(ro_app: SimulatorWsgiApp) -> None:
    app = create_wsgi_app(make_config(incidents=50, plan="professional"))
    with client_for(app) as api:
        for path in ("/analytics/raw/incidents", "/analytics/metrics/responders/all"):
            r = api.post(path, json={})
            assert r.status_code == 402
            assert r.json()["error"]["code"] == 2014
        assert api.get("/oncalls").status_code == 200  # the rest of the API still answers


def test_user_key_needs_team_or_service_filter(
    ro_api: httpx.Client, ro_app: SimulatorWsgiApp
) -> None:
    user = {"Authorization": f"Token token={USER_TOKEN}"}
    r = ro_api.post("/analytics/raw/incidents", json={"filters": {}}, headers=user)
    assert r.status_code == 400
    assert "team_ids or service_ids" in r.json()["error"]["errors"][0]
    team = ro_app.simulator.account.teams[0].id
    ok = ro_api.post(
        "/analytics/raw/incidents", json={"filters": {"team_ids": [team]}}, headers=user
    )
    assert ok.status_code == 200 and all(r["team_id"] == team for r in ok.json()["data"])


def test_responder_metrics_match_oncalls(ro_api: httpx.Client) -> None:
    dates = {"date_range_start": MONTH["since"], "date_range_end": MONTH["until"]}
    data = ro_api.post("/analytics/metrics/responders/all", json={"filters": dates}).json()["data"]
    shifts = all_pages(ro_api, "/oncalls", "oncalls", MONTH)
    lo, hi = ts(MONTH["since"]), ts(MONTH["until"])
    hours: dict[str, int] = {}
    for o in shifts:
        uid = o["user"]["id"]
        hours[uid] = hours.get(uid, 0) + min(ts(o["end"]), hi) - max(ts(o["start"]), lo)
    assert {
        r["responder_id"]: r["total_seconds_on_call"] for r in data if r["total_seconds_on_call"]
    } == hours
    for r in data:
        kinds = (
            r["total_business_hour_interruptions"]
            + r["total_off_hour_interruptions"]
            + r["total_sleep_hour_interruptions"]
        )
        assert kinds == r["total_interruptions"]


def test_same_seed_same_bodies() -> None:
    bodies = []
    for _ in range(2):
        app = create_wsgi_app(make_config(incidents=300))
        with client_for(app) as api:
            bodies.append(
                (
                    api.get("/oncalls", params={**MONTH, "limit": 100}).content,
                    api.get(
                        f"/schedules/{app.simulator.account.schedules[0].id}", params=MONTH
                    ).content,
                    api.get("/notifications", params={**MONTH, "limit": 100}).content,
                    api.post("/analytics/raw/incidents", json={"limit": 1000}).content,
                )
            )
    assert bodies[0] == bodies[1]


def test_two_hundred_users() -> None:
    app = create_wsgi_app(make_config(incidents=200, users=200))
    a = app.simulator.account
    assert len(a.users) == 200 and len({u.id for u in a.users}) == 200
    assert (
        sorted(len([u for u in a.users if t.idx in u.teams]) for t in a.teams)
        == [33] * 4 + [34] * 2
    )
    with pytest.raises(ValueError, match="users"):
        make_config(users=5)


def test_cli_plan_option() -> None:
    from click.testing import CliRunner

    from atlas_canvas._cli_sim import pagerduty_sim

    result = CliRunner().invoke(pagerduty_sim, ["--plan", "enterprise"])
    assert result.exit_code == 2 and "business" in result.output
    assert "--plan [business|professional]" in CliRunner().invoke(pagerduty_sim, ["--help"]).output


def test_analytics_retention_limit() -> None:
    app = create_wsgi_app(make_config(incidents=200, analytics_retention_days=30))
    with client_for(app) as api:
        old = {"created_at_start": "2026-01-01T00:00:00Z", "created_at_end": "2026-02-01T00:00:00Z"}
        r = api.post("/analytics/raw/incidents", json={"filters": old})
        assert r.status_code == 400
        assert r.json()["error"]["errors"] == [
            "created_at_start must be within the last 30 days (analytics data retention)."
        ]
        recent = {"created_at_start": "2026-05-15T00:00:00Z"}
        assert api.post("/analytics/raw/incidents", json={"filters": recent}).status_code == 200
    with pytest.raises(ValueError, match="analytics_retention_days"):
        make_config(analytics_retention_days=-1)


def test_oncalls_bounds_default_to_now(ro_api: httpx.Client) -> None:
    # The fixture's clock is 2026-06-01 12:00 UTC.
    lone = ro_api.get("/oncalls", params={"since": "2026-05-25T00:00:00Z", "limit": 100})
    both = ro_api.get(
        "/oncalls",
        params={"since": "2026-05-25T00:00:00Z", "until": "2026-06-01T12:00:00Z", "limit": 100},
    )
    assert lone.json()["oncalls"] == both.json()["oncalls"]
    now = ro_api.get("/oncalls", params={"limit": 100}).json()["oncalls"]
    assert all(ts(o["start"]) <= ts("2026-06-01T12:00:00Z") < ts(o["end"]) for o in now)


def test_writes_notify_like_generated_incidents(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    a = app.simulator.account
    frm = {"From": a.users[3].email}
    service = a.services[0]
    body = {"incident": {"type": "incident", "title": "Disk full", "urgency": "high",
                         "service": {"id": service.id, "type": "service_reference"}}}  # fmt: skip
    inc = api.post("/incidents", json=body, headers=frm).json()["incident"]
    assignee = inc["assignments"][0]["assignee"]["id"]
    logs = api.get(f"/incidents/{inc['id']}/log_entries").json()["log_entries"]
    notes = [e for e in logs if e["type"] == "notify_log_entry"]
    assert {e["channel"]["notification"]["type"] for e in notes} == {
        "push_notification",
        "email_notification",
    }
    assert {e["user"]["id"] for e in notes} == {assignee}
    now = ts(inc["created_at"])
    window = {
        "since": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(),
        "until": dt.datetime.fromtimestamp(now + 1, dt.timezone.utc).isoformat(),
    }
    listed = api.get("/notifications", params=window).json()
    assert {n["id"] for n in listed["notifications"]} >= {
        e["channel"]["notification"]["id"] for e in notes
    }
    # Assigning yourself and acknowledging in one change notifies nobody.
    me = {"assignee": {"id": a.users[3].id, "type": "user_reference"}}
    mine = api.post(
        "/incidents", json={"incident": {**body["incident"], "assignments": [me]}}, headers=frm
    ).json()["incident"]
    logs = api.get(f"/incidents/{mine['id']}/log_entries").json()["log_entries"]
    assert mine["status"] == "acknowledged"
    assert "notify_log_entry" not in {e["type"] for e in logs}
