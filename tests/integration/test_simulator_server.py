"""The simulator on a real loopback socket: pdpyras over http, uvicorn, and the CLI."""

from __future__ import annotations

import datetime as dt
import os
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atlas_canvas.simulator import SimulatorConfig, create_app, running, serve_in_thread
from tests.conftest import PLANTED_SECRET, free_port

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # pdpyras warns that it is deprecated on import
    import pdpyras

pytestmark = pytest.mark.integration

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)
TOKEN = "integration-token"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, object]]:
    app = create_app(
        SimulatorConfig(seed=9, incidents=900, token=TOKEN, now=NOW, rate_limit_per_min=100_000)
    )
    base_url, stop = serve_in_thread(app=app)
    try:
        yield base_url, app
    finally:
        stop()


def _session(base_url: str, email: str) -> pdpyras.APISession:
    session = pdpyras.APISession(TOKEN, default_from=email)
    session.url = base_url
    return session


def test_pdpyras_lists_filters_and_writes(server: tuple[str, object]) -> None:
    base_url, app = server
    account = app.simulator.account  # type: ignore[attr-defined]
    session = _session(base_url, account.users[1].email)
    everything = session.list_all("incidents", params={"date_range": "all"})
    assert len(everything) == 900 and len({i["id"] for i in everything}) == 900
    high = list(
        session.iter_all("incidents", params={"urgencies[]": ["high"], "date_range": "all"})
    )
    assert high and all(i["urgency"] == "high" for i in high)
    target = next(i for i in reversed(account.incidents) if i.status == "triggered")
    acked = session.rput(
        f"incidents/{target.id}", json={"type": "incident_reference", "status": "acknowledged"}
    )
    assert acked["status"] == "acknowledged"
    done = session.rput(
        "incidents", json=[{"id": target.id, "type": "incident_reference", "status": "resolved"}]
    )
    assert done[0]["status"] == "resolved"
    assert session.rget(f"incidents/{target.number}")["status"] == "resolved"
    service = session.find("services", account.services[0].name)
    assert service["id"] == account.services[0].id


def test_headers_and_errors_on_the_wire(server: tuple[str, object]) -> None:
    base_url, _ = server
    r = httpx.get(f"{base_url}/incidents", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(r.headers)
    r = httpx.get(
        f"{base_url}/incidents",
        params={"offset": 9990, "limit": 20},
        headers={"Authorization": f"Token token={TOKEN}"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == 2002
    assert httpx.get(f"{base_url}/incidents").status_code == 401


def test_rate_limited_pdpyras_gets_429() -> None:
    config = SimulatorConfig(incidents=50, token=TOKEN, now=NOW, rate_limit_per_min=3)
    with running(config) as base_url:
        session = _session(base_url, "x@example.com")
        session.retry[429] = 1  # bounded: pdpyras otherwise retries 429 forever
        session.sleep_timer = 0.01
        for _ in range(3):
            session.rget("priorities")
        with pytest.raises(pdpyras.PDClientError) as info:
            session.rget("priorities")
        assert info.value.response.status_code == 429
        assert info.value.response.json()["error"]["code"] == 2020


def test_dropped_connections_are_transport_errors() -> None:
    config = SimulatorConfig(incidents=50, token=TOKEN, now=NOW, drop_rate=1.0)
    with running(config) as base_url:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base_url}/priorities", headers={"Authorization": f"Token token={TOKEN}"})


def test_cli_serves_and_never_prints_a_chosen_token(tmp_path: object) -> None:
    port = free_port()
    env = {**os.environ, "PAGERDUTY_SIM_TOKEN": PLANTED_SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atlas_canvas",
            "pagerduty-sim",
            "--port",
            str(port),
            "--incidents",
            "300",
            "--seed",
            "2",
            "--now",
            "2026-06-01T00:00:00Z",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"{base}/incidents",
                    params={"limit": 1, "date_range": "all"},
                    headers={"Authorization": f"Token token={PLANTED_SECRET}"},
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200
        incident = r.json()["incidents"][0]
        # `self` links lead back to this server by default.
        assert incident["self"] == f"{base}/incidents/{incident['id']}"
        assert (
            httpx.get(
                incident["self"], headers={"Authorization": f"Token token={PLANTED_SECRET}"}
            ).status_code
            == 200
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"listening on http://127.0.0.1:{port}" in out
    assert PLANTED_SECRET not in out


def test_cli_rejects_bad_flags() -> None:
    from atlas_canvas._cli import main

    assert main(["pagerduty-sim", "--now", "yesterday"]) == 2
    assert main(["pagerduty-sim", "--region", "ap"]) == 2
    assert main(["pagerduty-sim", "--certfile", "/nonexistent"]) == 2


def test_python_pagerduty_over_real_https(tmp_path: Path) -> None:
    import pagerduty
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile, cafile = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    config = SimulatorConfig(seed=6, incidents=300, token=TOKEN, now=NOW)
    app = create_app(config)
    base_url, stop = serve_in_thread(app=app, certfile=str(certfile), keyfile=str(keyfile))
    try:
        assert base_url.startswith("https://")
        client = pagerduty.RestApiV2Client(
            TOKEN,
            default_from=app.simulator.account.users[0].email,
            base_url=base_url,
            verify=ssl.create_default_context(cafile=str(cafile)),
        )
        incidents = client.list_all("incidents", params={"date_range": "all"})
        assert len(incidents) == 300
        target = next(i for i in incidents if i["status"] == "triggered")
        assert (
            client.rput(
                f"incidents/{target['id']}",
                json={"type": "incident_reference", "status": "resolved"},
            )["status"]
            == "resolved"
        )
        client.close()  # an open TLS keep-alive connection would hold the shutdown
    finally:
        stop()


def test_serve_in_thread_points_self_links_at_itself() -> None:
    config = SimulatorConfig(incidents=40, token=TOKEN, now=NOW)
    with running(config) as base_url:
        headers = {"Authorization": f"Token token={TOKEN}"}
        r = httpx.get(f"{base_url}/incidents", params={"date_range": "all"}, headers=headers)
        first = r.json()["incidents"][0]
        assert first["self"] == f"{base_url}/incidents/{first['id']}"
        assert httpx.get(first["service"]["self"], headers=headers).status_code == 200
