"""python-pagerduty (``pagerduty``) against the simulator, in-process.

python-pagerduty only accepts https base URLs, so it reaches the simulator through its own
``httpx2.WSGITransport`` (the WSGI twin of the ASGI app, same handler and state). pdpyras
over a real socket is in ``tests/integration/test_simulator_server.py``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator

import httpx2
import pagerduty
import pytest

from atlas_canvas.simulator import SimulatorWsgiApp, create_wsgi_app

from .conftest import READ_ONLY, TOKEN, make_config


@pytest.fixture
def wsgi() -> SimulatorWsgiApp:
    return create_wsgi_app(make_config(incidents=800, seed=4))


@pytest.fixture
def client(wsgi: SimulatorWsgiApp) -> Iterator[pagerduty.RestApiV2Client]:
    c = pagerduty.RestApiV2Client(
        TOKEN,
        default_from=wsgi.simulator.account.users[2].email,
        base_url="https://api.pagerduty.com",
        transport=httpx2.WSGITransport(app=wsgi),
    )
    yield c


def test_list_all_and_filters(client: pagerduty.RestApiV2Client, wsgi: SimulatorWsgiApp) -> None:
    everything = client.list_all("incidents", params={"date_range": "all"})
    assert len(everything) == 800
    assert len({i["id"] for i in everything}) == 800
    open_ = client.list_all(
        "incidents", params={"statuses[]": ["triggered", "acknowledged"], "date_range": "all"}
    )
    expected = {i.id for i in wsgi.simulator.account.incidents if i.status != "resolved"}
    assert {i["id"] for i in open_} == expected and expected
    service = wsgi.simulator.account.services[1]
    # python-pagerduty appends [] to list-valued params itself.
    by_service = list(
        client.iter_all(
            "incidents",
            params={"service_ids": [service.id], "urgencies": ["high"], "date_range": "all"},
        )
    )
    assert by_service
    assert all(i["service"]["id"] == service.id and i["urgency"] == "high" for i in by_service)
    assert client.get_total("incidents", params={"date_range": "all"}) == 800
    # Without bounds, only the last month (the classic surprise).
    recent = client.list_all("incidents")
    assert 0 < len(recent) < 800


def test_iter_history_bisects_with_plus0000_bounds(client: pagerduty.RestApiV2Client) -> None:
    since = dt.datetime(2025, 12, 5, tzinfo=dt.timezone.utc)
    until = dt.datetime(2026, 5, 20, tzinfo=dt.timezone.utc)
    history = list(client.iter_history("incidents", since, until))
    window = client.list_all(
        "incidents",
        params={"since": since.isoformat(), "until": until.isoformat(), "time_zone": "UTC"},
    )
    assert [i["id"] for i in history] == [i["id"] for i in window] and history


def test_acknowledge_and_resolve(client: pagerduty.RestApiV2Client, wsgi: SimulatorWsgiApp) -> None:
    target = next(i for i in reversed(wsgi.simulator.account.incidents) if i.status == "triggered")
    updated = client.rput(
        f"incidents/{target.id}", json={"type": "incident_reference", "status": "acknowledged"}
    )
    assert updated["status"] == "acknowledged"
    assert (
        updated["acknowledgements"][0]["acknowledger"]["id"] == wsgi.simulator.account.users[2].id
    )
    assert client.rget(f"incidents/{target.id}")["status"] == "acknowledged"
    resolved = client.rput(
        "incidents",
        json=[{"id": target.id, "type": "incident_reference", "status": "resolved"}],
    )
    assert resolved[0]["status"] == "resolved"
    open_ids = {
        i["id"]
        for i in client.iter_all(
            "incidents", params={"statuses[]": ["triggered", "acknowledged"], "date_range": "all"}
        )
    }
    assert target.id not in open_ids
    note = client.rpost(f"incidents/{target.id}/notes", json={"content": "Fixed by restart."})
    assert note["content"] == "Fixed by restart."
    kinds = [e["type"] for e in client.iter_all(f"incidents/{target.id}/log_entries")]
    assert kinds[:3] == ["annotate_log_entry", "resolve_log_entry", "acknowledge_log_entry"]


def test_errors_surface_as_client_errors(wsgi: SimulatorWsgiApp) -> None:
    transport = httpx2.WSGITransport(app=wsgi)
    bad = pagerduty.RestApiV2Client(
        "nope", base_url="https://api.pagerduty.com", transport=transport
    )
    with pytest.raises(pagerduty.HttpError) as info:
        bad.rget("incidents")
    assert info.value.response.status_code == 401
    ro = pagerduty.RestApiV2Client(
        READ_ONLY,
        default_from=wsgi.simulator.account.users[0].email,
        base_url="https://api.pagerduty.com",
        transport=transport,
    )
    first = wsgi.simulator.account.incidents[0]
    with pytest.raises(pagerduty.HttpError) as info:
        ro.rput(f"incidents/{first.id}", json={"type": "incident", "status": "resolved"})
    assert info.value.response.status_code == 403
    # api_key_access reads the non-standard /users/me body of account keys.
    assert ro.api_key_access == "account"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The 10,000 cap: the client stops with a warning instead of a 400.
        big = create_wsgi_app(make_config(incidents=10_100, seed=8))
        c = pagerduty.RestApiV2Client(
            TOKEN, base_url="https://api.pagerduty.com", transport=httpx2.WSGITransport(app=big)
        )
        got = sum(1 for _ in c.iter_all("incidents", params={"date_range": "all"}))
    assert got == 10_000
