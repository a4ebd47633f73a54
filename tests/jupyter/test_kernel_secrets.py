"""Secrets never reach a kernel: a REAL Jupyter server, REAL kernels, the PagerDuty simulator.

The server holds ``PAGERDUTY_ACCOUNT_TOKEN`` (the planted secret, which is also the
simulator's token). A kernel it starts must not have it in ``os.environ``, yet
``pagerduty.incidents()``, ``atlasProxyFetch`` and ``%atlas`` work unchanged through the
extension's route with the kernel's own token. Restarts re-scrub against the current config;
a token dies with its kernel.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PLANTED_SECRET
from tests.jupyter.servers import JupyterProcess, run_in_kernel, run_jupyter
from tests.pagerduty.simenv import INCIDENTS, NOW, SimEnv, simulator_env

pytestmark = pytest.mark.integration

#: A server variable that a config edit names later: kernels restarted after it must not get it.
LATE_VARIABLE = "ATLAS_TEST_LATE_SECRET"
LATE_VALUE = "late-value-9f3e1c"

SINCE = (NOW - dt.timedelta(days=3650)).isoformat()
UNTIL = (NOW + dt.timedelta(days=1)).isoformat()

PROBE = f"""
import json, os
from atlas_canvas import pagerduty, atlasProxyFetch
df = pagerduty.incidents(progress=False, since={SINCE!r}, until={UNTIL!r})
r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents?limit=1")
print("RESULT" + json.dumps({{
    "env": dict(os.environ),
    "incidents": len(df),
    "unique": int(df["id"].nunique()),
    "fetch_status": r.status,
    "fetch_incidents": len((await r.json())["incidents"]),
}}))
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with simulator_env(tmp_path_factory.mktemp("ksim")) as env:
        yield env


@pytest.fixture(scope="module")
def jp(sim: SimEnv) -> Iterator[JupyterProcess]:
    tmp = sim.config_path.parent
    env = {**sim.env, LATE_VARIABLE: LATE_VALUE, "ATLAS_ACCESS_TOKEN": "server-own-token"}
    with run_jupyter(tmp, sim.config_path, env_extra=env) as server:
        yield server
        log = server.log()
    assert PLANTED_SECRET not in log and LATE_VALUE not in log


def _auth(jp: JupyterProcess) -> dict[str, str]:
    return {"Authorization": f"token {jp.token}"}


def _start_kernel(jp: JupyterProcess) -> str:
    r = httpx.post(jp.url + "api/kernels", headers=_auth(jp), json={"name": "python3"}, timeout=60)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _probe(jp: JupyterProcess, kernel_id: str) -> dict[str, Any]:
    text = run_in_kernel(jp, kernel_id, PROBE)
    line = next(x for x in text.splitlines() if x.startswith("RESULT"))
    result: dict[str, Any] = json.loads(line[len("RESULT") :])
    return result


def _assert_scrubbed(result: dict[str, Any], jp: JupyterProcess, *, late: bool = False) -> None:
    env = result["env"]
    dumped = json.dumps(env)
    assert PLANTED_SECRET not in dumped
    assert "PAGERDUTY_ACCOUNT_TOKEN" not in env
    if late:
        assert LATE_VARIABLE not in env and LATE_VALUE not in dumped
    assert env["ATLAS_URL"] == f"http://127.0.0.1:{jp.port}/atlas-canvas"
    assert len(env["ATLAS_ACCESS_TOKEN"]) >= 40
    # The rest of the server's environment is still there (the kernel is otherwise normal).
    assert env["PATH"] == os.environ["PATH"]


def test_kernel_gets_no_secret_and_pagerduty_still_works(jp: JupyterProcess) -> None:
    kernel_id = _start_kernel(jp)
    result = _probe(jp, kernel_id)
    _assert_scrubbed(result, jp)
    # Every incident of the simulator, through the extension route, with the kernel's token.
    assert result["incidents"] == INCIDENTS and result["unique"] == INCIDENTS
    assert result["fetch_status"] == 200 and result["fetch_incidents"] == 1
    # The magics too.
    text = run_in_kernel(
        jp, kernel_id, "%load_ext atlas_canvas\nx = %atlas adapters\nprint(repr(x))"
    )
    assert "pagerduty" in text and PLANTED_SECRET not in text
    # The server, which holds the secret, made itself non-dumpable; its kernels are not
    # (execve resets the flag), so debugging a kernel still works.
    assert "made it non-dumpable" in jp.log()
    text = run_in_kernel(
        jp, kernel_id, "import ctypes; print('DUMP', ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"
    )
    assert "DUMP 1" in text
    httpx.delete(jp.url + f"api/kernels/{kernel_id}", headers=_auth(jp), timeout=60)


def test_restart_rescrubs_against_the_current_config_and_token_dies_with_kernel(
    jp: JupyterProcess, sim: SimEnv
) -> None:
    kernel_id = _start_kernel(jp)
    first = _probe(jp, kernel_id)
    _assert_scrubbed(first, jp)
    assert first["env"][LATE_VARIABLE] == LATE_VALUE  # not named by any adapter (yet)
    token = first["env"]["ATLAS_ACCESS_TOKEN"]
    url = first["env"]["ATLAS_URL"] + "/v1/apis/http/pagerduty/incidents?limit=2"

    # The kernel's token works from anywhere on the proxy route, and nowhere else.
    r = httpx.get(url, headers={"Atlas-Accesstoken": token}, timeout=30)
    assert r.status_code == 200 and len(r.json()["incidents"]) == 2
    r = httpx.get(jp.url + "api/contents", headers={"Atlas-Accesstoken": token}, timeout=30)
    assert r.status_code == 403
    for bad in ("", "x", token[:-1], token + "x", token.upper()):
        r = httpx.get(url, headers={"Atlas-Accesstoken": bad}, timeout=30)
        assert r.status_code == 401, bad
        assert r.json()["error"]["code"] in (
            "API_InvalidAccessTokenError",
            "API_MissingAccessTokenError",
        )

    # An adapter now names LATE_VARIABLE: a restarted kernel no longer gets it.
    r = httpx.post(
        jp.url + "atlas-canvas/adapters",
        headers=_auth(jp),
        json={
            "name": "late",
            "baseUrl": sim.base_url,
            "headers": [f"X-Late: ${{{{ {LATE_VARIABLE} }}}}"],
        },
        timeout=30,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(jp.url + f"api/kernels/{kernel_id}/restart", headers=_auth(jp), timeout=90)
    assert r.status_code == 200, r.text
    second = _probe(jp, kernel_id)
    _assert_scrubbed(second, jp, late=True)
    assert second["incidents"] == INCIDENTS
    assert second["env"]["ATLAS_ACCESS_TOKEN"] == token  # same kernel, same token

    # Shut down: the token dies with the kernel.
    r = httpx.delete(jp.url + f"api/kernels/{kernel_id}", headers=_auth(jp), timeout=60)
    assert r.status_code == 204
    r = httpx.get(url, headers={"Atlas-Accesstoken": token}, timeout=30)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "API_InvalidAccessTokenError"
    assert PLANTED_SECRET not in r.text


def test_tokens_are_per_kernel(jp: JupyterProcess) -> None:
    a, b = _start_kernel(jp), _start_kernel(jp)
    try:
        code = "import os; print('TOKEN' + os.environ['ATLAS_ACCESS_TOKEN'])"
        ta = run_in_kernel(jp, a, code).strip()
        tb = run_in_kernel(jp, b, code).strip()
        assert ta.startswith("TOKEN") and tb.startswith("TOKEN") and ta != tb
        httpx.delete(jp.url + f"api/kernels/{a}", headers=_auth(jp), timeout=60)
        base = f"http://127.0.0.1:{jp.port}/atlas-canvas/v1/apis/http"
        assert httpx.get(base, headers={"Atlas-Accesstoken": ta[5:]}).status_code == 401
        r = httpx.get(base, headers={"Atlas-Accesstoken": tb[5:]})
        assert r.status_code == 200 and "pagerduty" in r.text
    finally:
        httpx.delete(jp.url + f"api/kernels/{b}", headers=_auth(jp), timeout=60)


def test_terminal_gets_no_secret(jp: JupyterProcess, tmp_path: Path) -> None:
    """A Jupyter terminal (REST + websocket, as JupyterLab opens one) inherits no secret."""
    import asyncio

    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    r = httpx.post(jp.url + "api/terminals", headers=_auth(jp), timeout=30)
    assert r.status_code == 200, r.text
    name = r.json()["name"]
    out = tmp_path / "terminal-env"
    tmp_path.chmod(0o777)

    async def run() -> None:
        req = HTTPRequest(
            f"ws://127.0.0.1:{jp.port}/terminals/websocket/{name}",
            headers={"Authorization": f"token {jp.token}"},
        )
        ws = await websocket_connect(req)
        try:
            ws.write_message(json.dumps(["stdin", f"env > {out}.tmp && mv {out}.tmp {out}\r"]))
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            ws.close()

    try:
        asyncio.run(run())
        text = out.read_text()
    finally:
        httpx.delete(jp.url + f"api/terminals/{name}", headers=_auth(jp), timeout=30)
    assert "PATH=" in text  # the shell really dumped its environment
    assert PLANTED_SECRET not in text and "PAGERDUTY_ACCOUNT_TOKEN" not in text


def test_kernel_that_dies_is_restarted_without_secret(jp: JupyterProcess) -> None:
    """The automatic restart (jupyter_client's restarter, not the REST API) re-launches with
    the same scrubbed environment and token."""
    from jupyter_client import BlockingKernelClient

    kernel_id = _start_kernel(jp)
    first = _probe(jp, kernel_id)
    conn = Path(jp.log_path.parent) / "runtime" / f"kernel-{kernel_id}.json"
    kc = BlockingKernelClient(connection_file=str(conn))
    kc.load_connection_file()
    kc.start_channels(hb=False)
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute("import os; os._exit(1)")
    finally:
        kc.stop_channels()
    deadline = time.monotonic() + 90
    while "restarting" not in jp.log().split(f"Kernel started: {kernel_id}", 1)[-1].lower():
        assert time.monotonic() < deadline, "the kernel was not restarted automatically"
        time.sleep(0.2)
    # The restarted kernel reuses the cached ports and connection file: _probe waits for it.
    second = _probe(jp, kernel_id)
    _assert_scrubbed(second, jp)
    assert second["incidents"] == INCIDENTS
    assert second["env"]["ATLAS_ACCESS_TOKEN"] == first["env"]["ATLAS_ACCESS_TOKEN"]
    httpx.delete(jp.url + f"api/kernels/{kernel_id}", headers=_auth(jp), timeout=60)


def test_server_started_with_atlas_url_keeps_kernels_on_that_server(
    sim: SimEnv, tmp_path: Path
) -> None:
    """Notebooks pointed at a team server (ATLAS_URL in Jupyter's environment, as the README
    shows) stay pointed there; the local config's variables are still withheld."""
    team = "https://atlas.team.example:8443"
    env = {**sim.env, "ATLAS_URL": team, "ATLAS_ACCESS_TOKEN": "team-token-7c1"}
    with run_jupyter(tmp_path, sim.config_path, env_extra=env) as server:
        kernel_id = _start_kernel(server)
        text = run_in_kernel(
            server, kernel_id, "import os, json; print('ENV' + json.dumps(dict(os.environ)))"
        )
        kernel_env = json.loads(next(x for x in text.splitlines() if x.startswith("ENV"))[3:])
        httpx.delete(server.url + f"api/kernels/{kernel_id}", headers=_auth(server), timeout=60)
    assert kernel_env["ATLAS_URL"] == team
    assert kernel_env["ATLAS_ACCESS_TOKEN"] == "team-token-7c1"
    assert "PAGERDUTY_ACCOUNT_TOKEN" not in kernel_env
    assert PLANTED_SECRET not in json.dumps(kernel_env)


def test_config_that_appears_later_is_withheld_and_protected(sim: SimEnv, tmp_path: Path) -> None:
    """Started without a config, the server holds no secret yet; once a config names one,
    the next kernel does not get it and the server makes itself non-dumpable then."""
    (tmp_path / "root").mkdir()
    config = tmp_path / "root" / "atlas.yml"
    env = {k: v for k, v in sim.env.items() if k != "ATLAS_CONFIG"}
    with run_jupyter(tmp_path, config, env_extra=env) as server:
        assert "non-dumpable" not in server.log()
        r = httpx.put(
            server.url + "api/contents/atlas.yml",
            headers=_auth(server),
            json={"type": "file", "format": "text", "content": sim.config_path.read_text()},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        kernel_id = _start_kernel(server)
        result = _probe(server, kernel_id)
        httpx.delete(server.url + f"api/kernels/{kernel_id}", headers=_auth(server), timeout=60)
        log = server.log()
    _assert_scrubbed(result, server)
    assert result["incidents"] == INCIDENTS
    assert "made it non-dumpable" in log and PLANTED_SECRET not in log
