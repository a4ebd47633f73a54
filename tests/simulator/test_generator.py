"""The account generator: determinism, a realistic shape, consistent timelines.

The memory goal (100,000 incidents under 200 MB) is checked by benchmarks/simulator.py.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import subprocess
import sys
import zoneinfo

import httpx
import pytest

from atlas_canvas.simulator import create_wsgi_app, generate_account
from atlas_canvas.simulator._model import Account

from .conftest import NOW, client_for, from_header, make_config


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(seed=5, incidents=2000, now=NOW)


def _bodies(seed: int) -> list[bytes]:
    app = create_wsgi_app(make_config(seed=seed, incidents=600))
    with client_for(app) as api:
        inc = app.simulator.account.incidents[-7]
        return [
            api.get("/incidents", params={"date_range": "all", "limit": 100, "offset": o}).content
            for o in (0, 300, 500)
        ] + [
            api.get(f"/incidents/{inc.id}/log_entries").content,
            api.get(f"/incidents/{inc.id}/alerts").content,
            api.get("/services").content,
            api.get("/users", params={"limit": 100}).content,
            api.get("/oncalls").content,
        ]


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first, second = _bodies(21), _bodies(21)
    assert first == second
    assert _bodies(22)[0] != first[0]


def test_same_seed_same_bytes_in_a_fresh_process() -> None:
    # Hash randomisation differs between processes; the account must not depend on it.
    code = (
        "import datetime as dt, hashlib\n"
        "from atlas_canvas.simulator import generate_account\n"
        "a = generate_account(3, 500, now=dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc))\n"
        "print(hashlib.sha256(repr([(i.id, i.created_at, i.status, i.ack_by, i.resolved_at,"
        " i.title, i.key, i.assignees) for i in a.incidents]).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(n), "PATH": ""},
        ).stdout
        for n in (1, 2)
    }
    assert len(digests) == 1


def test_span_numbers_and_ids(account: Account) -> None:
    incs = account.incidents
    assert len(incs) == 2000
    assert [i.number for i in incs] == list(range(1, 2001))
    created = [i.created_at for i in incs]
    assert created == sorted(created)
    assert account.start <= created[0] and created[-1] < account.anchor
    assert created[0] - account.start < 7 * 86400  # the whole 12 months are used
    assert len({i.id for i in incs}) == 2000
    assert all(len(i.id) == 14 and i.id.isalnum() and i.id.isupper() for i in incs)


def test_lifecycle_is_consistent(account: Account) -> None:
    users_of_team = collections.defaultdict(set)
    for u in account.users:
        for t in u.teams:
            users_of_team[t].add(u.idx)
    for inc in account.incidents:
        team = account.services[inc.service].team
        if inc.ack_at:
            assert inc.created_at < inc.ack_at and inc.ack_by in users_of_team[team]
        if inc.status == "resolved":
            assert inc.resolved_at > max(inc.created_at, inc.ack_at) and not inc.assignees
            assert inc.resolved_at < account.anchor
        else:
            assert not inc.resolved_at and inc.assignees
        if inc.status == "acknowledged":
            assert inc.ack_at and inc.assignees == (inc.ack_by,)
        if inc.escalated_at:
            assert inc.urgency == "high" and inc.level == 2
        for note in inc.notes or ():
            assert inc.ack_at <= note.created_at <= (inc.resolved_at or account.anchor)
        assert inc.updated_at >= inc.created_at


def test_realistic_shape(account: Account) -> None:
    incs = account.incidents
    statuses = collections.Counter(i.status for i in incs)
    assert (
        statuses["resolved"] > 1900 and statuses["triggered"] >= 1 and statuses["acknowledged"] >= 1
    )
    # Open incidents are the recent ones (a rare forgotten one may be older).
    open_ages = [account.anchor - i.created_at for i in incs if i.status != "resolved"]
    assert sum(age < 7 * 86400 for age in open_ages) >= len(open_ages) / 2
    # A few noisy services raise a large share, mostly low urgency, in bursts.
    per_service = collections.Counter(i.service for i in incs)
    noisy = {s.idx for s in account.services if s.noisy}
    assert 2 <= len(noisy) <= 4
    noisy_share = sum(per_service[s] for s in noisy) / len(incs)
    assert 0.25 < noisy_share < 0.7
    noisy_low = [i.urgency == "low" for i in incs if i.service in noisy]
    assert sum(noisy_low) / len(noisy_low) > 0.6
    quiet_high = [i.urgency == "high" for i in incs if i.service not in noisy]
    assert sum(quiet_high) / len(quiet_high) > 0.6
    # Business hours and the working week (account zone) see more human-driven incidents.
    zone = zoneinfo.ZoneInfo(account.time_zone)
    quiet = [dt.datetime.fromtimestamp(i.created_at, zone) for i in incs if i.service not in noisy]
    office = sum(1 for t in quiet if t.weekday() < 5 and 10 <= t.hour < 17)
    night = sum(1 for t in quiet if t.weekday() < 5 and (t.hour < 6 or t.hour >= 22))
    weekend = sum(1 for t in quiet if t.weekday() >= 5)
    # Per hour of the week: office hours (35 h) vs weekday nights (40 h) vs weekends (48 h).
    assert office / 35 > 3 * (night / 40)
    assert office / 35 > 2 * (weekend / 48)
    # Acknowledgement mostly within minutes; priorities on a minority; some multi-alert.
    ack_delays = sorted(i.ack_at - i.created_at for i in incs if i.ack_at)
    assert 60 < ack_delays[len(ack_delays) // 2] < 30 * 60
    assert 0.1 < sum(i.priority >= 0 for i in incs) / len(incs) < 0.5
    assert any(i.alerts > 3 for i in incs)
    assert len({i.title for i in incs}) >= 20 and len({i.key for i in incs}) > 300


def test_log_entries_follow_the_timeline(account: Account) -> None:
    app = create_wsgi_app(make_config(seed=5, incidents=2000))
    with client_for(app) as api:
        for inc in [i for i in app.simulator.account.incidents if i.escalated_at][:3] + [
            i for i in app.simulator.account.incidents if i.notes
        ][:3]:
            logs = api.get(f"/incidents/{inc.id}/log_entries").json()["log_entries"]
            body = api.get(f"/incidents/{inc.id}").json()["incident"]
            types = [e["type"] for e in reversed(logs)]  # oldest first
            assert types[:3] == ["trigger_log_entry", "assign_log_entry", "notify_log_entry"]
            times = [e["created_at"] for e in reversed(logs)]
            assert times == sorted(times)
            assert logs[-1]["created_at"] == body["created_at"]
            if inc.escalated_at:
                assert "escalate_log_entry" in types
            if inc.ack_at:
                ack = next(e for e in logs if e["type"] == "acknowledge_log_entry")
                assert ack["agent"]["id"] == app.simulator.account.users[inc.ack_by].id
            if inc.status == "resolved":
                assert logs[0]["type"] == "resolve_log_entry"
                assert logs[0]["created_at"] == body["resolved_at"]
            notes = [e for e in logs if e["type"] == "annotate_log_entry"]
            assert len(notes) == len(inc.notes or ())


def test_on_call_rotates_weekly(account: Account) -> None:
    ep = account.escalation_policies[0]
    week = 7 * 86400
    t = account.anchor - 30 * 86400
    people = [account.on_call(ep.idx, 1, t + k * week) for k in range(7)]
    assert len(set(people)) == 6  # the six members rotate before the first comes back
    assert people[6] == people[0]
    # The secondary is last week's primary.
    assert account.on_call(ep.idx, 2, t + week) == account.on_call(ep.idx, 1, t)


def test_generate_account_validates() -> None:
    with pytest.raises(ValueError):
        generate_account(1, 10, now=dt.datetime(2026, 1, 1))  # naive


def test_bodies_are_compact_json(account: Account) -> None:
    app = create_wsgi_app(make_config(incidents=50))
    with client_for(app) as api:
        raw = api.get("/incidents", params={"date_range": "all"}).content
    data = json.loads(raw)
    assert data["incidents"]
    assert json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() == raw
    assert isinstance(httpx.Response(200, content=raw).json(), dict)


def test_fast_incident_json_equals_the_dict_rendering() -> None:
    app = create_wsgi_app(make_config(incidents=1500, seed=13))
    sim = app.simulator
    frm = from_header(app)
    with client_for(app) as api:
        # Put some incidents through writes so every state and history shape is covered.
        incs = sim.account.incidents
        changes = [
            {"id": incs[0].id, "status": "acknowledged"},
            {"id": incs[1].id, "status": "triggered", "title": 'quote " and \\ and ü'},
            {"id": incs[2].id, "priority": None, "urgency": "low"},
            {"id": incs[-1].id, "status": "resolved", "resolution": "done"},
            {"id": incs[-2].id, "escalation_level": 2},
        ]
        r = api.put("/incidents", headers=frm, json={"incidents": changes})
        assert r.status_code == 200, r.text
        service = sim.account.services[0]
        new = {
            "type": "incident",
            "title": "new\nline\t</script>",
            "incident_key": "k\u2028",
            "service": {"id": service.id, "type": "service_reference"},
        }
        r = api.post("/incidents", headers=frm, json={"incident": new})
        assert r.status_code == 201, r.text
    assert "\n" in sim.account.incidents[-1].title
    for inc in sim.account.incidents:
        fast = sim.store.render.incident_json(inc)
        slow = json.dumps(
            sim.store.render.incident(inc), separators=(",", ":"), ensure_ascii=False
        ).encode()
        assert fast == slow, inc
