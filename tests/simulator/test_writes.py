"""Writes: acknowledge, resolve, reassign, bulk (max 250), create, notes; later reads see them."""

from __future__ import annotations

import httpx

from atlas_canvas.simulator import SimulatorWsgiApp, create_wsgi_app

from .conftest import client_for, from_header, make_config


def _open(app: SimulatorWsgiApp, status: str = "triggered") -> str:
    return next(i.id for i in reversed(app.simulator.account.incidents) if i.status == status)


def test_acknowledge_then_resolve_is_visible_everywhere(
    api: httpx.Client, app: SimulatorWsgiApp
) -> None:
    frm = from_header(app)
    actor = app.simulator.account.users[3]
    inc_id = _open(app)
    r = api.put(
        f"/incidents/{inc_id}",
        json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
        headers=frm,
    )
    assert r.status_code == 200
    inc = r.json()["incident"]
    assert inc["status"] == "acknowledged"
    assert inc["acknowledgements"][0]["acknowledger"]["id"] == actor.id
    assert inc["last_status_change_by"]["id"] == actor.id
    listed = api.get(
        "/incidents", params={"statuses[]": "acknowledged", "date_range": "all", "limit": 100}
    ).json()["incidents"]
    assert inc_id in {i["id"] for i in listed}

    r = api.put(
        f"/incidents/{inc_id}",
        json={
            "incident": {
                "type": "incident_reference",
                "status": "resolved",
                "resolution": "Restarted the pod.",
            }
        },
        headers=frm,
    )
    inc = r.json()["incident"]
    assert inc["status"] == "resolved" and inc["resolved_at"] and inc["assignments"] == []
    assert inc["alert_counts"]["resolved"] == inc["alert_counts"]["all"]
    again = api.get(f"/incidents/{inc_id}").json()["incident"]
    assert again == inc
    logs = api.get(f"/incidents/{inc_id}/log_entries").json()["log_entries"]
    assert logs[0]["type"] == "resolve_log_entry" and logs[0]["note"] == "Restarted the pod."
    assert logs[0]["agent"]["id"] == actor.id
    assert logs[1]["type"] == "acknowledge_log_entry"
    assert logs[-1]["type"] == "trigger_log_entry"
    assert logs[-1]["id"] == inc["first_trigger_log_entry"]["id"]
    # Generated history stays: ids of earlier entries do not change after a write.
    assert len({e["id"] for e in logs}) == len(logs)
    open_ids = {
        i["id"]
        for i in api.get(
            "/incidents",
            params={"statuses[]": ["triggered", "acknowledged"], "date_range": "all", "limit": 100},
        ).json()["incidents"]
    }
    assert inc_id not in open_ids


def test_reassign_and_escalate(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    users = app.simulator.account.users
    inc_id = _open(app, "acknowledged")
    r = api.put(
        f"/incidents/{inc_id}",
        json={
            "incident": {
                "type": "incident_reference",
                "assignments": [{"assignee": {"id": users[7].id, "type": "user_reference"}}],
            }
        },
        headers=frm,
    )
    inc = r.json()["incident"]
    assert [a["assignee"]["id"] for a in inc["assignments"]] == [users[7].id]
    assert inc["assigned_via"] == "direct_assignment"
    assert inc["status"] == "triggered"  # a reassigned incident needs a new acknowledgement
    mine = api.get("/incidents", params={"user_ids[]": users[7].id, "date_range": "all"}).json()
    assert inc_id in {i["id"] for i in mine["incidents"]}
    r = api.put(
        f"/incidents/{inc_id}",
        json={"incident": {"type": "incident_reference", "escalation_level": 2}},
        headers=frm,
    )
    assert r.status_code == 200
    logs = api.get(f"/incidents/{inc_id}/log_entries").json()["log_entries"]
    # Newest first: the escalation, then (newer, same second) the new assignee's notifications.
    changes = [e for e in logs if e["type"] != "notify_log_entry"]
    assert changes[0]["type"] == "escalate_log_entry"
    escalated_to = changes[0]["assignees"][0]["id"]
    assert r.json()["incident"]["assignments"][0]["assignee"]["id"] == escalated_to
    newer = logs[: logs.index(changes[0])]
    assert newer and {e["type"] for e in newer} == {"notify_log_entry"}
    assert {e["user"]["id"] for e in newer} == {escalated_to}
    r = api.put(
        f"/incidents/{inc_id}",
        json={"incident": {"type": "incident_reference", "escalation_level": 9}},
        headers=frm,
    )
    assert r.status_code == 400


def test_update_other_fields_and_validation(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    inc_id = _open(app)
    p1 = app.simulator.account.priorities[0]
    r = api.put(
        f"/incidents/{inc_id}",
        json={
            "incident": {
                "type": "incident",
                "title": "New title",
                "urgency": "low",
                "priority": {"id": p1.id, "type": "priority_reference"},
            }
        },
        headers=frm,
    )
    inc = r.json()["incident"]
    assert (inc["title"], inc["urgency"], inc["priority"]["name"]) == ("New title", "low", "P1")
    assert inc["summary"].endswith("New title")
    before = api.get(f"/incidents/{inc_id}").json()
    for bad in [
        {"type": "incident", "status": "closed"},
        {"type": "service"},
        {"type": "incident", "urgency": "urgent"},
        {"type": "incident", "priority": {"id": "PNOPE"}},
        {"type": "incident", "assignments": [{"assignee": {"id": "PNOPE"}}]},
        {"type": "incident", "title": ""},
        {"type": "incident", "status": "acknowledged", "resolution": "x"},
    ]:
        r = api.put(f"/incidents/{inc_id}", json={"incident": bad}, headers=frm)
        assert r.status_code == 400, bad
    assert api.get(f"/incidents/{inc_id}").json() == before
    assert api.put("/incidents/QNOPE", json={"incident": {}}, headers=frm).status_code == 404


def test_bulk_update_and_the_250_limit(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    incidents = app.simulator.account.incidents
    targets = [i.id for i in incidents[:30]]
    r = api.put(
        "/incidents",
        json={
            "incidents": [
                {"id": i, "type": "incident_reference", "status": "acknowledged"} for i in targets
            ]
        },
        headers=frm,
    )
    assert r.status_code == 200
    body = r.json()
    assert [i["id"] for i in body["incidents"]] == targets
    assert all(i["status"] == "acknowledged" for i in body["incidents"])  # resolved ones reopen
    assert body["more"] is False
    too_many = [
        {"id": i.id, "type": "incident_reference", "status": "resolved"} for i in incidents[:251]
    ]
    r = api.put("/incidents", json={"incidents": too_many}, headers=frm)
    assert r.status_code == 413
    assert api.put("/incidents", json={"incidents": too_many[:250]}, headers=frm).status_code == 200
    # One bad item refuses the whole batch.
    snapshot = api.get(f"/incidents/{incidents[300].id}").json()
    r = api.put(
        "/incidents",
        json={
            "incidents": [
                {"id": incidents[300].id, "status": "triggered"},
                {"id": incidents[301].id, "status": "bogus"},
            ]
        },
        headers=frm,
    )
    assert r.status_code == 400
    assert api.get(f"/incidents/{incidents[300].id}").json() == snapshot


def test_create_incident(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    account = app.simulator.account
    service = account.services[2]
    total = api.get("/incidents", params={"date_range": "all", "total": "true"}).json()["total"]
    body = {
        "incident": {
            "type": "incident",
            "title": "Queue stuck",
            "service": {"id": service.id, "type": "service_reference"},
            "urgency": "low",
            "incident_key": "queue/stuck",
        }
    }
    r = api.post("/incidents", json=body, headers=frm)
    assert r.status_code == 201
    inc = r.json()["incident"]
    assert inc["incident_number"] == total + 1
    assert (inc["status"], inc["urgency"], inc["incident_key"]) == (
        "triggered",
        "low",
        "queue/stuck",
    )
    assert inc["service"]["id"] == service.id and inc["assignments"]
    latest = api.get("/incidents", params={"sort_by": "created_at:desc", "limit": 1}).json()
    assert latest["incidents"][0]["id"] == inc["id"]
    assert api.get(f"/incidents/{inc['incident_number']}").json()["incident"]["id"] == inc["id"]
    # A duplicate open key on the same service is refused.
    assert api.post("/incidents", json=body, headers=frm).status_code == 400
    # Assigning it to yourself creates it acknowledged.
    me = account.users[3]
    r = api.post(
        "/incidents",
        json={
            "incident": {
                "type": "incident",
                "title": "Mine",
                "service": {"id": service.id, "type": "service_reference"},
                "assignments": [{"assignee": {"id": me.id, "type": "user_reference"}}],
            }
        },
        headers=frm,
    )
    assert r.json()["incident"]["status"] == "acknowledged"
    r = api.post(
        "/incidents",
        json={
            "incident": {
                "type": "incident",
                "title": "With details",
                "service": {"id": service.id, "type": "service_reference"},
                "body": {"type": "incident_body", "details": {"disk": "97%"}},
            }
        },
        headers=frm,
    )
    created = r.json()["incident"]
    alerts = api.get(f"/incidents/{created['id']}/alerts").json()["alerts"]
    assert alerts[0]["body"]["details"] == {"disk": "97%"}
    bad_body = {
        "incident": {
            "type": "incident",
            "title": "x",
            "body": {"type": "nope"},
            "service": {"id": service.id, "type": "service_reference"},
        }
    }
    assert api.post("/incidents", json=bad_body, headers=frm).status_code == 400
    for bad in [
        {},
        {"incident": {"type": "incident", "title": "x"}},
        {"incident": {"type": "incident", "title": "x", "service": {"id": "PNOPE"}}},
    ]:
        assert api.post("/incidents", json=bad, headers=frm).status_code == 400


def test_notes(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    inc_id = _open(app)
    r = api.post(
        f"/incidents/{inc_id}/notes", json={"note": {"content": "Paged the DBA."}}, headers=frm
    )
    assert r.status_code == 200
    note = r.json()["note"]
    assert note["content"] == "Paged the DBA."
    assert note["user"]["id"] == app.simulator.account.users[3].id
    notes = api.get(f"/incidents/{inc_id}/notes").json()["notes"]
    assert notes[-1] == note
    logs = api.get(f"/incidents/{inc_id}/log_entries").json()["log_entries"]
    assert logs[0]["type"] == "annotate_log_entry"
    for bad in [{}, {"note": {}}, {"note": {"content": ""}}]:
        assert api.post(f"/incidents/{inc_id}/notes", json=bad, headers=frm).status_code == 400


def test_writes_are_deterministic() -> None:
    def run() -> list[bytes]:
        app = create_wsgi_app(make_config(incidents=200))
        frm = from_header(app)
        out = []
        with client_for(app) as api:
            service = app.simulator.account.services[0]
            out.append(
                api.post(
                    "/incidents",
                    headers=frm,
                    json={
                        "incident": {
                            "type": "incident",
                            "title": "t",
                            "service": {"id": service.id, "type": "service_reference"},
                        }
                    },
                ).content
            )
            target = app.simulator.account.incidents[5].id
            out.append(
                api.post(
                    f"/incidents/{target}/notes", headers=frm, json={"note": {"content": "n"}}
                ).content
            )
            out.append(api.get(f"/incidents/{target}/log_entries").content)
        return out

    assert run() == run()


def test_cached_pages_see_writes(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    params = {"date_range": "all", "limit": 100, "offset": 300}
    before = api.get("/incidents", params=params).json()["incidents"]
    target = before[7]["id"]
    assert api.get("/incidents", params=params).json()["incidents"] == before  # cached
    r = api.put(
        f"/incidents/{target}",
        json={"incident": {"type": "incident_reference", "title": "Renamed"}},
        headers=from_header(app),
    )
    assert r.status_code == 200
    after = api.get("/incidents", params=params).json()["incidents"]
    assert after[7]["title"] == "Renamed" and after[7]["updated_at"] >= before[7]["updated_at"]
    assert [i["id"] for i in after] == [i["id"] for i in before]


def test_reopen_assign_and_idempotent_resolve(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    frm = from_header(app)
    users = app.simulator.account.users
    done = next(i for i in app.simulator.account.incidents if i.status == "resolved")
    before = api.get(f"/incidents/{done.id}").json()
    r = api.put(
        f"/incidents/{done.id}",
        json={"incident": {"type": "incident", "status": "resolved"}},
        headers=frm,
    )
    assert r.status_code == 200 and r.json() == before  # nothing to change
    assign = [{"assignee": {"id": users[9].id, "type": "user_reference"}}]
    r = api.put(
        f"/incidents/{done.id}",
        json={"incident": {"type": "incident", "assignments": assign}},
        headers=frm,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 1001
    r = api.put(
        "/incidents",
        json={"incidents": [{"id": done.id, "status": "acknowledged", "assignments": assign}]},
        headers=frm,
    )
    inc = r.json()["incidents"][0]
    assert inc["status"] == "acknowledged" and inc["resolved_at"] is None
    assert [a["assignee"]["id"] for a in inc["assignments"]] == [users[9].id]
    kinds = [e["type"] for e in api.get(f"/incidents/{done.id}/log_entries").json()["log_entries"]]
    assert kinds[:3] == ["acknowledge_log_entry", "assign_log_entry", "trigger_log_entry"]


def test_empty_account_lists_nothing_then_what_is_created() -> None:
    app = create_wsgi_app(make_config(incidents=0))
    with client_for(app) as api:
        body = api.get("/incidents", params={"total": "true"}).json()
        assert body == {"incidents": [], "limit": 25, "offset": 0, "total": 0, "more": False}
        service = app.simulator.account.services[0]
        r = api.post(
            "/incidents",
            json={
                "incident": {
                    "type": "incident",
                    "title": "First",
                    "service": {"id": service.id, "type": "service_reference"},
                }
            },
            headers=from_header(app),
        )
        assert r.status_code == 201 and r.json()["incident"]["incident_number"] == 1
        assert [i["title"] for i in api.get("/incidents").json()["incidents"]] == ["First"]
