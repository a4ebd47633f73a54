"""atlasProxyFetch in both modes: in-process (AtlasTransport) and over HTTP (ATLAS_URL)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atlas_canvas import (
    Response,
    _fetch,
    _target,
    atlas_proxy_fetch,
    atlas_proxy_fetch_sync,
    atlasProxyFetch,
)
from atlas_canvas._config import load_config
from atlas_canvas._errors import (
    InvalidAccessTokenError,
    NoMatchingInstanceError,
    UpstreamUnreachableError,
    UsageError,
)
from tests.conftest import PLANTED_SECRET, free_port
from tests.pagerduty.simenv import SimEnv, apply_env, simulator_env, write_config

INCIDENTS = "/v1/apis/http/pagerduty/incidents"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with simulator_env(tmp_path_factory.mktemp("sim"), incidents=300) as se:
        yield se


@pytest.fixture
def env(sim: SimEnv) -> Iterator[SimEnv]:
    undo = apply_env(sim.env)
    _target.set_session_config_path(None)
    try:
        yield sim
    finally:
        undo()


async def test_in_process_fetch_like_javascript(env: SimEnv) -> None:
    r = await atlasProxyFetch(INCIDENTS)
    assert isinstance(r, Response)
    assert r.status == 200 and r.ok and r.status_text == "OK"
    assert r.headers["content-type"].startswith("application/json")
    assert r.url.startswith("http://atlas.local/v1/apis/http/pagerduty/incidents")
    data = await r.json()
    assert len(data["incidents"]) == 25 and data["limit"] == 25
    assert json.loads(await r.text()) == data
    assert atlas_proxy_fetch is atlasProxyFetch


async def test_init_dict_and_keywords_are_equivalent(env: SimEnv) -> None:
    r1 = await atlasProxyFetch(
        INCIDENTS,
        {"method": "GET", "headers": {"X-Trace": "1"}},
        params={"limit": 3, "statuses[]": ["resolved"]},
    )
    r2 = await atlasProxyFetch(
        INCIDENTS, method="get", params=[("limit", "3"), ("statuses[]", "resolved")]
    )
    assert r1.data == r2.data and len(r1.data["incidents"]) == 3
    assert {i["status"] for i in r1.data["incidents"]} == {"resolved"}
    first = r1.data["incidents"][0]["id"]
    note = await atlasProxyFetch(
        f"{INCIDENTS}/{first}/notes",
        {
            "method": "POST",
            "headers": {"From": env.from_email},
            "body": json.dumps({"note": {"content": "from init"}}),
        },
    )
    assert note.ok, note.data
    kw = await atlasProxyFetch(
        f"{INCIDENTS}/{first}/notes",
        method="POST",
        headers={"From": env.from_email},
        json={"note": {"content": "from keywords"}},
    )
    assert kw.ok
    notes = (await atlasProxyFetch(f"{INCIDENTS}/{first}/notes")).data["notes"]
    assert [n["content"] for n in notes][-2:] == ["from init", "from keywords"]


async def test_errors_come_back_as_responses_with_a_matching_exception(env: SimEnv) -> None:
    r = await atlasProxyFetch("/v1/apis/http/pagerduti/incidents")
    assert r.status == 404 and not r.ok
    with pytest.raises(NoMatchingInstanceError, match="known adapters: pagerduty"):
        r.raise_for_status()


def test_asyncio_run_in_a_script(env: SimEnv) -> None:
    async def main() -> int:
        r = await atlasProxyFetch(INCIDENTS, params={"limit": 1})
        return r.status

    assert asyncio.run(main()) == 200
    assert asyncio.run(main()) == 200  # a second loop gets its own pooled client


async def test_sync_twin_inside_a_running_loop(env: SimEnv) -> None:
    # What a Jupyter kernel looks like: a loop is running in this thread.
    assert asyncio.get_running_loop().is_running()
    r = atlas_proxy_fetch_sync(INCIDENTS, params={"limit": 2})
    assert r.ok and len(r.data["incidents"]) == 2


async def test_one_pooled_client_per_loop_and_config(env: SimEnv) -> None:
    await atlasProxyFetch(INCIDENTS, params={"limit": 1})
    pool = _fetch._pools[asyncio.get_running_loop()]
    clients = {id(e.client) for e in pool.values()}
    await atlasProxyFetch(INCIDENTS, params={"limit": 1})
    assert {id(e.client) for e in pool.values()} == clients


async def test_config_changes_are_picked_up(env: SimEnv, tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "atlas.yml", env.base_url)
    r = await atlasProxyFetch("/v1/apis/http", config=cfg)
    assert [a["name"] for a in r.data] == ["pagerduty"]
    text = cfg.read_text().replace("name: pagerduty", "name: pd2")
    time.sleep(0.01)
    cfg.write_text(text + " ")  # size changes too, whatever the mtime granularity
    r = await atlasProxyFetch("/v1/apis/http", config=cfg)
    assert [a["name"] for a in r.data] == ["pd2"]


async def test_session_config_file_sits_before_atlas_config(env: SimEnv, tmp_path: Path) -> None:
    other = write_config(tmp_path / "other.yml", env.base_url)
    other.write_text(other.read_text().replace("name: pagerduty", "name: other"))
    _target.set_session_config_path(other)
    try:
        r = await atlasProxyFetch("/v1/apis/http")
        assert [a["name"] for a in r.data] == ["other"]
    finally:
        _target.set_session_config_path(None)


async def test_repr_and_display_never_show_a_secret(env: SimEnv) -> None:
    # An upstream that echoes the request's headers back.
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"seen": dict(request.headers), "note": f"token={PLANTED_SECRET}"}
        )

    cfg = load_config(env.config_path)
    r = await atlasProxyFetch(INCIDENTS, config=cfg, transport=httpx.MockTransport(echo))
    shown = repr(r) + json.dumps(r._repr_mimebundle_())
    assert PLANTED_SECRET not in shown and "***" in shown
    r_err = await atlasProxyFetch(
        INCIDENTS,
        config=cfg,
        transport=httpx.MockTransport(lambda _: httpx.Response(500, text=PLANTED_SECRET)),
    )
    err = r_err.error()
    assert err is not None and PLANTED_SECRET not in str(err)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: atlas_proxy_fetch_sync("https://api.pagerduty.com/incidents"), "not a full URL"),
        (lambda: atlas_proxy_fetch_sync(INCIDENTS, {"methd": "GET"}), "did you mean 'method'"),
        (lambda: atlas_proxy_fetch_sync(INCIDENTS, {"method": "FETCH"}), "unknown HTTP method"),
        (lambda: atlas_proxy_fetch_sync(INCIDENTS, json={}, body="x"), "either json= or body="),
        # a str where fetch takes a dict: the mistake under test
        (lambda: atlas_proxy_fetch_sync(INCIDENTS, "GET"), "fetch's init"),  # type: ignore[arg-type]
    ],
)
def test_bad_calls_are_usage_errors(env: SimEnv, call: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call()  # type: ignore[operator]


def test_browser_only_init_keys_are_ignored(env: SimEnv) -> None:
    r = atlas_proxy_fetch_sync(
        INCIDENTS, {"method": "GET", "mode": "cors", "credentials": "omit"}, params={"limit": 1}
    )
    assert r.ok


# ------------------------------------------------------------------------- over HTTP (server)


@pytest.fixture(scope="module")
def server(sim: SimEnv) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **sim.env, "ATLAS_ACCESS_TOKEN": "srv-token-123"}
    env.pop("ATLAS_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "atlas_canvas",
            "atlas",
            "run",
            "-f",
            str(sim.config_path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/healthcheck", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"atlas server did not start: {out[-2000:]}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_remote_mode_through_a_running_atlas_server(
    env: SimEnv, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_URL", server)
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "srv-token-123")
    monkeypatch.setenv("ATLAS_CONFIG", "/nonexistent/atlas.yml")  # proves it is not in-process
    r = await atlasProxyFetch(INCIDENTS, params={"limit": 4})
    assert r.ok and r.url.startswith(server) and len(r.data["incidents"]) == 4
    assert "srv-token-123" not in repr(r) + json.dumps(r._repr_mimebundle_())
    sync = atlas_proxy_fetch_sync(INCIDENTS, params={"limit": 4})
    assert sync.data == r.data

    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "wrong")
    bad = await atlasProxyFetch(INCIDENTS)
    assert bad.status == 401
    with pytest.raises(InvalidAccessTokenError):
        bad.raise_for_status()


async def test_pagerduty_layer_goes_to_the_server_the_target_names(
    env: SimEnv, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_canvas.pagerduty import PagerDutySession, fetch_incidents

    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "srv-token-123")
    monkeypatch.setenv("ATLAS_CONFIG", "/nonexistent/atlas.yml")  # proves it is not in-process
    df = await fetch_incidents(date_range="all", base_url=server, progress=False)
    assert len(df) == 300 and df.attrs["fetch"]["rate_limited"] == 0
    pd_session = PagerDutySession.create(base_url=server)
    assert pd_session.target.mode == "remote" and pd_session.target.base_url == server
    users = await pd_session.get_json("users", {"limit": 2})
    assert len(users["users"]) == 2
    # the session passed on is used as it is: ATLAS_URL pointing elsewhere changes nothing
    monkeypatch.setenv("ATLAS_URL", f"http://127.0.0.1:{free_port()}")
    again = await fetch_incidents(date_range="all", session=pd_session, progress=False)
    assert list(again.id) == list(df.id)


async def test_remote_mode_unreachable_server(env: SimEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "x")
    with pytest.raises(UpstreamUnreachableError, match="ATLAS_URL"):
        await atlasProxyFetch(INCIDENTS)


async def test_large_bodies_display_truncated_without_a_json_view() -> None:
    big = {"incidents": [{"id": f"Q{i}", "title": "x" * 100} for i in range(20_000)]}
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=big))
    r = await atlasProxyFetch(INCIDENTS, transport=transport)
    assert r.data == big
    bundle = r._repr_mimebundle_()
    assert "application/json" not in bundle
    assert bundle["text/plain"].endswith("… (truncated)")
    assert len(bundle["text/html"]) < 200_000
