"""The Atlas server embedded in-process (``AtlasApp`` + ``serve``): internal errors, the
logging-based access log, and a sender that fails in unexpected ways."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from atlas_canvas._config import parse_config
from atlas_canvas._routing import Router, UpstreamRequest
from atlas_canvas._server import AtlasApp, ServerOptions, serve
from tests.conftest import PLANTED_SECRET, free_port
from tests.proxy_fakes import PD_AUTH, config_yaml

pytestmark = pytest.mark.integration


class ExplodingSender:
    """A sender with a bug whose message quotes the request headers (secret included)."""

    connect_timeout = 1.0
    read_timeout = 1.0

    async def send(
        self,
        req: UpstreamRequest,
        body: bytes | AsyncIterable[bytes] | None = None,
        *,
        content_length: int | None = None,
    ) -> object:
        raise RuntimeError(f"bug while sending {req.headers!r}")

    async def aclose(self) -> None:
        pass


@asynccontextmanager
async def _serving(app: AtlasApp) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` served by ``serve`` on a free loopback port for the block; a client for it."""
    port = free_port()
    stop = asyncio.Event()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(app, ServerOptions(port=port), stop=stop, on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_internal_errors_are_500_json_and_never_leak(
    planted_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = parse_config(config_yaml({"pd": "http://127.0.0.1:9/base"}, headers={"pd": PD_AUTH}))
    app = AtlasApp(Router(cfg), token="tok", sender=ExplodingSender())  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="atlas_canvas")
    async with _serving(app) as client:
        r = await client.get("/v1/apis/http/pd/x", headers={"Atlas-Accesstoken": "tok"})
        assert r.status_code == 500
        err = r.json()["error"]
        assert err["code"] == "InvalidErrorType"
        assert err["message"] == (
            "internal error in the Atlas server (the server log has the details)"
        )
        assert (await client.get("/healthcheck")).status_code == 200
    assert PLANTED_SECRET not in caplog.text
    assert "RuntimeError" in caplog.text and "internal error in GET pd" in caplog.text
    access = [r.getMessage() for r in caplog.records if r.name == "atlas_canvas.access"]
    assert len(access) == 2 and '"GET pd /x" 500 upstream=-' in access[0]


async def test_reload_runs_off_the_event_loop_and_survives_any_failure(
    tmp_path: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A slow parse (a deep or huge YAML file) must not stall requests, and a loader that
    fails in an unexpected way (RecursionError) keeps the old config with one log line."""
    import time
    from pathlib import Path

    from atlas_canvas._config import AtlasConfig

    cfg_path = Path(str(tmp_path)) / "atlas.yml"
    cfg_path.write_text(config_yaml({"pd": "http://127.0.0.1:9/base"}))
    first = parse_config(cfg_path.read_text())
    calls = 0

    def slow_broken_loader(path: object) -> AtlasConfig:
        nonlocal calls
        calls += 1
        time.sleep(1.0)  # a parse that takes a second, in whatever thread it runs
        raise RecursionError("maximum recursion depth exceeded")

    router = Router(config_path=cfg_path, loader=slow_broken_loader)
    router.set_config(first)
    app = AtlasApp(router, token="tok", sender=ExplodingSender())  # type: ignore[arg-type]
    caplog.set_level(logging.INFO, logger="atlas_canvas")
    async with _serving(app) as client:
        app.request_reload()
        app.request_reload()  # SIGHUPs during the reload fold into one reload after it
        app.request_reload()
        worst = 0.0
        while app._reloading is not None and not app._reloading.done():
            t0 = time.monotonic()
            assert (await client.get("/healthcheck")).status_code == 200
            worst = max(worst, time.monotonic() - t0)
            await asyncio.sleep(0.02)
        assert worst < 0.5, f"the event loop stalled {worst:.2f} s during the reload"
        r = await client.get("/v1/apis/http", headers={"Atlas-Accesstoken": "tok"})
        assert [a["name"] for a in r.json()] == ["pd"]  # the old config still serves
    assert calls == 2
    failed = [r.getMessage() for r in caplog.records if "config reload failed" in r.getMessage()]
    assert len(failed) == 2 and all("RecursionError" in line for line in failed)
    assert "Traceback" not in caplog.text


async def test_a_sighup_during_a_reload_is_not_lost(tmp_path: object) -> None:
    """The file changes after a running reload read it: the SIGHUP sent for that change must
    still take effect (one more reload follows the one in progress)."""
    import threading
    from pathlib import Path

    from atlas_canvas._config import AtlasConfig, load_config

    cfg_path = Path(str(tmp_path)) / "atlas.yml"
    cfg_path.write_text(config_yaml({"pd": "http://127.0.0.1:9/base"}))
    read_first = threading.Event()
    go_on = threading.Event()

    def loader(path: object) -> AtlasConfig:
        cfg = load_config(cfg_path)
        if not read_first.is_set():
            read_first.set()
            go_on.wait(10)  # the first reload has read the old file and is still busy
        return cfg

    router = Router(config_path=cfg_path, loader=loader)
    router.set_config(load_config(cfg_path))
    app = AtlasApp(router, token="tok", sender=ExplodingSender())  # type: ignore[arg-type]
    async with _serving(app) as client:
        cfg_path.write_text(config_yaml({"pd": "http://127.0.0.1:9/base"}))  # same content
        app.request_reload()
        await asyncio.to_thread(read_first.wait, 10)
        cfg_path.write_text(
            config_yaml({"pd": "http://127.0.0.1:9/base", "other": "http://127.0.0.1:9/o"})
        )
        app.request_reload()  # the operator's SIGHUP for the second edit
        go_on.set()
        assert app._reloading is not None
        await asyncio.wait_for(app._reloading, 10)
        r = await client.get("/v1/apis/http", headers={"Atlas-Accesstoken": "tok"})
        assert sorted(a["name"] for a in r.json()) == ["other", "pd"]
