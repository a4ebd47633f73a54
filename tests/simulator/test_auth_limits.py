"""Auth schemes, read-only keys, the From header, rate limits and injected faults."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from atlas_canvas.simulator import SimulatorWsgiApp, create_app, create_wsgi_app
from atlas_canvas.simulator._ratelimit import RateLimiter

from .conftest import READ_ONLY, TOKEN, USER_TOKEN, client_for, from_header, make_config

UNAUTHORIZED = {"error": {"message": "Authentication failed", "code": 2006}}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Token token=wrong",
        f"token {TOKEN}",
        f"Token {TOKEN}",
        f"Basic {TOKEN}",
        f"Token token={TOKEN}x",
        f"Bearer {TOKEN} extra",
    ],
)
def test_bad_credentials_are_401_2006(ro_app: SimulatorWsgiApp, header: str | None) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=ro_app), base_url="https://x") as c:
        headers = {} if header is None else {"Authorization": header}
        r = c.get("/incidents", headers=headers)
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert "ratelimit-limit" in r.headers


@pytest.mark.parametrize(
    "header",
    [
        f"Token token={TOKEN}",
        f"Bearer {TOKEN}",
        f"Bearer {USER_TOKEN}",
        f"Token token={READ_ONLY}",
        f"token token={TOKEN}",
    ],
)
def test_both_schemes_are_accepted(ro_app: SimulatorWsgiApp, header: str) -> None:
    with httpx.Client(transport=httpx.WSGITransport(app=ro_app), base_url="https://x") as c:
        assert c.get("/incidents", headers={"Authorization": header}).status_code == 200


def test_read_only_token_cannot_write(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    inc = app.simulator.account.incidents[-1]
    ro = {"Authorization": f"Token token={READ_ONLY}", **from_header(app)}
    before = api.get(f"/incidents/{inc.id}").json()
    for method, path, body in [
        ("PUT", f"/incidents/{inc.id}", {"incident": {"type": "incident", "status": "resolved"}}),
        ("PUT", "/incidents", {"incidents": [{"id": inc.id, "status": "resolved"}]}),
        ("POST", "/incidents", {"incident": {"type": "incident", "title": "x"}}),
        ("POST", f"/incidents/{inc.id}/notes", {"note": {"content": "x"}}),
    ]:
        r = api.request(method, path, json=body, headers=ro)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == 2010
    assert api.get(f"/incidents/{inc.id}").json() == before
    assert (
        api.get("/incidents", headers={"Authorization": f"Token token={READ_ONLY}"}).status_code
        == 200
    )


def test_account_token_needs_from_on_writes(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    inc = app.simulator.account.incidents[-1]
    body = {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    r = api.put(f"/incidents/{inc.id}", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        'You must specify a user\'s email address in the "From" header to perform this action'
    )
    r = api.put(f"/incidents/{inc.id}", json=body, headers={"From": "nobody@example.org"})
    assert r.status_code == 400 and r.json()["error"]["errors"] == ["Requester User Not Found"]
    # A user-level key needs no From: the user comes from the key.
    user_key = {"Authorization": f"Token token={USER_TOKEN}"}
    r = api.put(f"/incidents/{inc.id}", json=body, headers=user_key)
    assert r.status_code == 200
    me = app.simulator.account.users[0]
    assert r.json()["incident"]["acknowledgements"][0]["acknowledger"]["id"] == me.id


def test_writes_need_a_json_body(api: httpx.Client, app: SimulatorWsgiApp) -> None:
    inc = app.simulator.account.incidents[-1]
    frm = from_header(app)
    r = api.put(f"/incidents/{inc.id}", content=b"status=resolved", headers=frm)
    assert r.status_code == 400 and r.json()["error"]["errors"] == ["params must be a Hash"]
    r = api.put(
        f"/incidents/{inc.id}",
        content=b"{not json",
        headers={**frm, "Content-Type": "application/json"},
    )
    assert r.status_code == 400


def test_users_me(ro_api: httpx.Client, ro_app: SimulatorWsgiApp) -> None:
    r = ro_api.get("/users/me")
    assert r.status_code == 400
    assert r.json()["error"].startswith("Because this request was made using an account-level")
    r = ro_api.get("/users/me", headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert r.status_code == 200
    assert r.json()["user"]["email"] == ro_app.simulator.account.users[0].email


def test_rate_limit_headers_and_429() -> None:
    app = create_wsgi_app(make_config(incidents=50, rate_limit_per_min=5))
    with client_for(app) as api:
        remaining = []
        for _ in range(5):
            r = api.get("/priorities")
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "5"
            assert 1 <= int(r.headers["ratelimit-reset"]) <= 60
            remaining.append(int(r.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        r = api.get("/incidents")
        assert r.status_code == 429
        assert r.json() == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
        assert r.headers["ratelimit-remaining"] == "0"
        # Budgets are per token: the read-only key still has its own.
        r = api.get("/incidents", headers={"Authorization": f"Token token={READ_ONLY}"})
        assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "4"


def test_rate_window_resets() -> None:
    now = [100.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.hit("k")[0] and limiter.hit("k")[0]
    allowed, headers = limiter.hit("k")
    assert not allowed and dict(headers)[b"ratelimit-reset"] == b"60"
    now[0] += 59.5
    assert dict(limiter.hit("k")[1])[b"ratelimit-reset"] == b"1"
    now[0] += 0.5
    assert limiter.hit("k")[0]


def test_fault_injection_5xx_share() -> None:
    app = create_wsgi_app(make_config(incidents=50, fault_rate=0.3))
    with client_for(app) as api:
        replies = [api.get("/priorities") for _ in range(400)]
    codes = [r.status_code for r in replies]
    faults = [c for c in codes if c >= 500]
    assert all("ratelimit-remaining" in r.headers for r in replies)
    assert any(r.status_code == 500 and r.json()["error"]["code"] == 2000 for r in replies)
    assert set(codes) <= {200, 500, 502, 503}
    assert 80 <= len(faults) <= 160


def test_dropped_connections_over_asgi() -> None:
    app = create_app(make_config(incidents=50, drop_rate=1.0))

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://x") as c:
            with pytest.raises(ConnectionResetError):
                await c.get("/priorities", headers={"Authorization": f"Token token={TOKEN}"})

    asyncio.run(go())


def test_latency_is_injected() -> None:
    import time

    app = create_app(make_config(incidents=50, latency_ms=120))

    async def go() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://x") as c:
            start = time.perf_counter()
            r = await c.get("/priorities", headers={"Authorization": f"Token token={TOKEN}"})
            assert r.status_code == 200
            return time.perf_counter() - start

    assert asyncio.run(go()) >= 0.12


def test_config_validation_and_repr_hides_tokens() -> None:
    from atlas_canvas.simulator import SimulatorConfig

    from ..conftest import PLANTED_SECRET

    cfg = SimulatorConfig(token=PLANTED_SECRET, read_only_token=PLANTED_SECRET + "r")
    assert PLANTED_SECRET not in repr(cfg)
    for bad in [
        {"incidents": -1},
        {"token": ""},
        {"token": "a b"},
        {"rate_limit_per_min": 0},
        {"region": "ap"},
        {"fault_rate": 1.5},
        {"latency_ms": -1},
        {"public_url": "ftp://x"},
        {"months": 0},
    ]:
        with pytest.raises(ValueError):
            SimulatorConfig(**bad)  # type: ignore[arg-type]
