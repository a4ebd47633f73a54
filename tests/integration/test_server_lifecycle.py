"""`mom atlas run` lifecycle: timeouts, SIGHUP reload, generated token, graceful shutdown,
workers, startup errors. Each test runs its own server process."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PLANTED_SECRET, free_port
from tests.proxy_fakes import (
    PD_AUTH,
    Recorder,
    assert_no_secret,
    assert_response_clean,
    config_yaml,
    recording_server,
    start_atlas,
    stop_atlas,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def upstream() -> Iterator[tuple[str, Recorder]]:
    with recording_server() as (url, rec):
        yield url, rec


def _write_cfg(tmp: Path, adapters: dict[str, str]) -> Path:
    path = tmp / "atlas.yml"
    path.write_text(config_yaml(adapters, headers={n: PD_AUTH for n in adapters}))
    return path


def test_slow_upstream_gives_504_and_post_is_sent_once(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, rec = upstream
    atlas = start_atlas(
        _write_cfg(tmp_path, {"pd": url + "/base"}), tmp_path, "--read-timeout", "0.4"
    )
    try:
        with atlas.client() as client:
            started = time.monotonic()
            r = client.get("/v1/apis/http/pd/slow?s=2")
            assert r.status_code == 504
            assert time.monotonic() - started < 1.9
            err = r.json()["error"]
            assert err["code"] == "API_InstanceRequestTimeoutError"
            assert "pd" in err["message"]
            assert_response_clean(r)
            r = client.post("/v1/apis/http/pd/slow?s=1", content=b'{"x":1}')
            assert r.status_code == 504
        time.sleep(1.2)  # let the slow handlers finish: a retry would show up by now
        assert [s.method for s in rec.seen] == ["GET", "POST"]
    finally:
        stop_atlas(atlas)
    assert_no_secret(atlas.log())


def test_sighup_reloads_and_keeps_old_config_when_bad(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, _ = upstream
    cfg = _write_cfg(tmp_path, {"pd": url + "/base"})
    atlas = start_atlas(cfg, tmp_path)
    try:
        with atlas.client() as client:
            assert client.get("/v1/apis/http/extra/x").status_code == 404
            cfg.write_text(config_yaml({"pd": url + "/base", "extra": url + "/extra"}))
            atlas.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: client.get("/v1/apis/http/extra/x").status_code == 200)
            assert client.get("/v1/apis/http/extra/x").json()["target"] == "/extra/x"
            cfg.write_text("kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nspec: [\n")
            atlas.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "keeping the previous config" in atlas.log())
            # The old (good) config still serves.
            assert client.get("/v1/apis/http/extra/x").status_code == 200
            assert [a["name"] for a in client.get("/v1/apis/http").json()] == ["pd", "extra"]
    finally:
        stop_atlas(atlas)
    assert atlas.proc.returncode == 0
    assert_no_secret(atlas.log())


def test_generated_token_is_stored_0600_and_used_by_mom_curl(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, _ = upstream
    xdg = tmp_path / "xdg"
    atlas = start_atlas(
        _write_cfg(tmp_path, {"pd": url + "/base"}),
        tmp_path,
        token=None,
        env={"XDG_CONFIG_HOME": str(xdg)},
    )
    try:
        token_file = xdg / "atlas-canvas" / "access-token"
        assert token_file.exists()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(token_file.parent.stat().st_mode) == 0o700
        token = token_file.read_text().strip()
        assert len(token) >= 40
        assert atlas.log().count(token) == 1  # printed once, at start
        assert httpx.get(atlas.url + "/v1/apis/http").status_code == 401
        r = httpx.get(atlas.url + "/v1/apis/http", headers={"Atlas-Accesstoken": token})
        assert r.status_code == 200
        env = {**os.environ, "ATLAS_URL": atlas.url, "XDG_CONFIG_HOME": str(xdg)}
        env.pop("ATLAS_ACCESS_TOKEN", None)
        env.pop("PAGERDUTY_ACCOUNT_TOKEN", None)
        p = subprocess.run(
            [sys.executable, "-m", "atlas_canvas", "curl", "/v1/apis/http/pd/hello"],
            capture_output=True,
            env=env,
            timeout=30,
        )
        assert p.returncode == 0, p.stderr
        assert b'"/base/hello"' in p.stdout
        # After the first request, the token shows up in no other log line.
        assert atlas.log().count(token) == 1
    finally:
        stop_atlas(atlas)


def test_graceful_shutdown_finishes_in_flight_requests(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, rec = upstream
    atlas = start_atlas(_write_cfg(tmp_path, {"pd": url + "/base"}), tmp_path)
    result: dict[str, object] = {}

    def slow_call() -> None:
        with atlas.client() as client:
            result["r"] = client.get("/v1/apis/http/pd/slow?s=1")

    t = threading.Thread(target=slow_call)
    t.start()
    assert wait_for(lambda: len(rec.seen) == 1)  # in flight: at the upstream, unanswered
    atlas.proc.send_signal(signal.SIGTERM)
    t.join(15)
    r = result["r"]
    assert isinstance(r, httpx.Response) and r.status_code == 200, r
    assert atlas.proc.wait(15) == 0
    with pytest.raises(httpx.TransportError):
        httpx.get(atlas.url + "/healthcheck", timeout=2)


def test_workers_share_the_port(upstream: tuple[str, Recorder], tmp_path: Path) -> None:
    url, rec = upstream
    atlas = start_atlas(_write_cfg(tmp_path, {"pd": url + "/base"}), tmp_path, "--workers", "2")
    try:
        with httpx.Client(base_url=atlas.url, headers={"Atlas-Accesstoken": atlas.token}) as c:
            for i in range(10):
                assert (
                    c.get(f"/v1/apis/http/pd/n{i}", headers={"Connection": "close"}).status_code
                    == 200
                )
        assert len(rec.seen) == 10
        # SIGHUP to the parent reaches every worker: all fresh connections see the new adapter.
        cfg = tmp_path / "atlas.yml"
        cfg.write_text(config_yaml({"pd": url + "/base", "extra": url + "/extra"}))
        atlas.proc.send_signal(signal.SIGHUP)

        def all_workers_reloaded() -> bool:
            codes = [
                httpx.get(
                    atlas.url + "/v1/apis/http/extra/x",
                    headers={"Atlas-Accesstoken": atlas.token},
                ).status_code
                for _ in range(12)
            ]
            return codes == [200] * 12

        assert wait_for(all_workers_reloaded)
    finally:
        stop_atlas(atlas)
    assert atlas.proc.returncode == 0


def test_startup_errors(tmp_path: Path) -> None:
    env = {**os.environ, "ATLAS_ACCESS_TOKEN": "t"}
    bad = tmp_path / "bad.yml"
    bad.write_text("kind: Atlas\nspec: [\n")
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "atlas", "run", "-f", str(bad)],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 2
    assert p.stderr.decode().startswith("error: ") and "bad.yml" in p.stderr.decode()
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "atlas", "run", "-f", str(tmp_path / "missing.yml")],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 2
    good = _write_cfg(tmp_path, {"pd": "http://127.0.0.1:9/base"})
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "atlas_canvas",
                "atlas",
                "run",
                "-f",
                str(good),
                "--port",
                str(port),
            ],
            capture_output=True,
            env=env,
            timeout=30,
        )
    assert p.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in p.stderr.decode()
    assert "Traceback" not in p.stderr.decode()


def test_missing_secret_is_a_500_naming_the_variable(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, rec = upstream
    env_cfg = _write_cfg(tmp_path, {"pd": url + "/base"})
    port = free_port()
    env = {**os.environ, "ATLAS_ACCESS_TOKEN": "tok", "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("PAGERDUTY_ACCOUNT_TOKEN", None)
    log = tmp_path / "ms.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "atlas_canvas",
                "atlas",
                "run",
                "-f",
                str(env_cfg),
                "--port",
                str(port),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(base + "/healthcheck").status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(up)
        r = httpx.get(base + "/v1/apis/http/pd/x", headers={"Atlas-Accesstoken": "tok"})
        assert r.status_code == 500
        assert r.json()["error"]["code"] == "ATLAS_MissingSecretError"
        assert "PAGERDUTY_ACCOUNT_TOKEN" in r.json()["error"]["message"]
        assert rec.seen == []
        assert "PAGERDUTY_ACCOUNT_TOKEN" in log.read_text()  # the startup warning names it
    finally:
        proc.terminate()
        proc.wait(10)
    assert PLANTED_SECRET not in log.read_text()
