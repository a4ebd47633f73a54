"""The simulator's public Python API: lazy and cheap to import, honest __all__, sub-resources."""

from __future__ import annotations

import subprocess
import sys

import httpx

import atlas_canvas.simulator as simulator
from atlas_canvas.simulator import SimulatorWsgiApp


def test_all_is_honest() -> None:
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None, name
    assert sorted(dir(simulator)) == sorted(simulator.__all__)


def test_import_is_cheap() -> None:
    code = (
        "import sys, atlas_canvas.simulator as s\n"
        "s.SimulatorConfig; s.create_app; s.generate_account\n"
        "heavy = {'uvicorn', 'starlette', 'pandas', 'aiohttp', 'IPython'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_log_entry_and_alert_filters(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    inc = next(i for i in ro_app.simulator.account.incidents if i.alerts >= 3 and i.escalated_at)
    logs = ro_api.get(f"/incidents/{inc.id}/log_entries").json()["log_entries"]
    overview = ro_api.get(
        f"/incidents/{inc.id}/log_entries", params={"is_overview": "true"}
    ).json()["log_entries"]
    assert "notify_log_entry" in {e["type"] for e in logs}
    assert "notify_log_entry" not in {e["type"] for e in overview}
    assert len(overview) < len(logs)
    first = logs[-1]["created_at"]
    later = ro_api.get(
        f"/incidents/{inc.id}/log_entries", params={"since": logs[-3]["created_at"]}
    ).json()["log_entries"]
    assert all(e["created_at"] >= logs[-3]["created_at"] for e in later) and first
    expanded = ro_api.get(
        f"/incidents/{inc.id}/log_entries", params={"include[]": ["services", "incidents", "teams"]}
    ).json()["log_entries"]
    assert expanded[0]["service"]["type"] == "service"
    assert expanded[0]["incident"]["type"] == "incident"
    assert expanded[0]["teams"][0]["type"] == "team"
    assert (
        ro_api.get(
            f"/incidents/{inc.id}/log_entries", params={"include[]": "everything"}
        ).status_code
        == 400
    )

    alerts = ro_api.get(f"/incidents/{inc.id}/alerts").json()
    assert alerts["alerts"][0]["alert_key"] == inc.key and len(alerts["alerts"]) == inc.alerts
    key = alerts["alerts"][1]["alert_key"]
    one = ro_api.get(f"/incidents/{inc.id}/alerts", params={"alert_key": key}).json()["alerts"]
    assert [a["alert_key"] for a in one] == [key]
    desc = ro_api.get(f"/incidents/{inc.id}/alerts", params={"sort_by": "created_at:desc"}).json()
    assert [a["id"] for a in desc["alerts"]] == [a["id"] for a in alerts["alerts"]][::-1]
    status = "resolved" if inc.status == "resolved" else "triggered"
    other = "triggered" if status == "resolved" else "resolved"
    assert (
        ro_api.get(f"/incidents/{inc.id}/alerts", params={"statuses[]": other}).json()["alerts"]
        == []
    )
    full = ro_api.get(
        f"/incidents/{inc.id}/alerts",
        params={"include[]": ["services", "incidents", "first_trigger_log_entries"]},
    ).json()["alerts"][0]
    assert full["service"]["type"] == "service" and full["incident"]["type"] == "incident"
    assert full["first_trigger_log_entry"]["type"] == "trigger_log_entry"
    assert ro_api.get(f"/incidents/{inc.id}/alerts", params={"statuses[]": "x"}).status_code == 400


def test_resource_filters(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    a = ro_app.simulator.account
    team = a.teams[2]
    services = ro_api.get("/services", params={"team_ids[]": team.id}).json()["services"]
    assert services and all(s["teams"][0]["id"] == team.id for s in services)
    assert (
        ro_api.get("/services", params={"query": "kafka"}).json()["services"][0]["name"] == "Kafka"
    )
    names = [
        s["name"]
        for s in ro_api.get("/services", params={"sort_by": "name:desc"}).json()["services"]
    ]
    assert names == sorted(names, key=str.lower, reverse=True)
    users = ro_api.get("/users", params={"team_ids[]": team.id, "limit": 100}).json()["users"]
    assert len(users) == 6
    user = a.users[4]
    eps = ro_api.get("/escalation_policies", params={"user_ids[]": user.id}).json()
    assert [e["id"] for e in eps["escalation_policies"]] == [
        a.escalation_policies[user.teams[0]].id
    ]
    oncalls = ro_api.get("/oncalls", params={"limit": 100}).json()["oncalls"]
    assert len(oncalls) == 2 * len(a.escalation_policies)
    mine = ro_api.get("/oncalls", params={"user_ids[]": oncalls[0]["user"]["id"]}).json()["oncalls"]
    assert mine and all(o["user"]["id"] == oncalls[0]["user"]["id"] for o in mine)
    month = ro_api.get(
        "/oncalls",
        params={
            "since": "2026-04-01T00:00:00Z",
            "until": "2026-05-01T00:00:00Z",
            "limit": 100,
            "escalation_policy_ids[]": a.escalation_policies[0].id,
        },
    ).json()["oncalls"]
    # Two levels of weekly shifts, cut by the weekend layer and overrides: exactly the
    # final-schedule segments of the policy's schedules that overlap the month.
    lo, hi = 1775001600, 1777593600  # 2026-04-01, 2026-05-01 UTC
    expected = sum(
        sum(1 for b, e, _ in a.schedules[s].segments if b <= hi and e > lo)
        for _, _, s in a.escalation_policies[0].rules
    )
    assert len(month) == expected and expected >= 8
    assert (
        ro_api.get("/oncalls", params={"since": "2026-01-01", "until": "2026-06-01"}).status_code
        == 400
    )
    assert ro_api.get("/priorities").json()["priorities"][0]["name"] == "P1"
