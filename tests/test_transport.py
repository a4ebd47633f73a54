"""The in-process transport against a real recording upstream on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atlas_canvas._config import parse_config
from atlas_canvas._transport import AtlasSyncTransport, AtlasTransport
from tests.conftest import PLANTED_SECRET, free_port
from tests.proxy_fakes import (
    PD_AUTH,
    Recorder,
    assert_response_clean,
    config_yaml,
    recording_server,
)

LOCAL = "http://atlas.local"


@pytest.fixture
def upstream(planted_secret: str) -> Iterator[tuple[str, Recorder]]:
    with recording_server() as (url, rec):
        yield url, rec


def _cfg(url: str, **more: str):  # type: ignore[no-untyped-def]
    return parse_config(config_yaml({"pd": url + "/base", **more}, headers={"pd": PD_AUTH}))


async def test_get_through_transport(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        r = await client.get(
            "/v1/apis/http/pd/incidents/x",
            params=[("statuses[]", "triggered"), ("statuses[]", "acknowledged")],
            headers={"Authorization": "Token token=caller", "Cookie": "c=1", "From": "a@b.c"},
        )
    assert r.status_code == 200, r.text
    assert_response_clean(r)
    assert r.headers["x-upstream"] == "upstream"
    (seen,) = rec.seen
    assert seen.target == "/base/incidents/x?statuses%5B%5D=triggered&statuses%5B%5D=acknowledged"
    assert seen.header("Authorization") == [f"Token token={PLANTED_SECRET}"]
    assert seen.header("Cookie") == [] and seen.header("From") == ["a@b.c"]
    assert seen.header("Host") == [url.split("://")[1]]


async def test_raw_query_and_escapes_byte_for_byte(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    target = "/v1/apis/http/pd/a%20b/%C3%A9/users/:id?statuses[]=a&statuses[]=b&q=x%2By"
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        r = await client.get(target)
    assert r.status_code == 200
    assert rec.seen[0].target == "/base/a%20b/%C3%A9/users/:id?statuses[]=a&statuses[]=b&q=x%2By"


async def test_binary_post_and_put_bodies_byte_for_byte(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    body = bytes(range(256)) * 300  # 76.8 KB, every byte value
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        r1 = await client.post("/v1/apis/http/pd/upload", content=body)

        async def gen():  # chunked upload (no Content-Length)
            yield body[:1000]
            yield body[1000:]

        r2 = await client.put("/v1/apis/http/pd/upload", content=gen())
    assert (r1.status_code, r2.status_code) == (200, 200)
    assert [s.method for s in rec.seen] == ["POST", "PUT"]
    assert rec.seen[0].body == body and rec.seen[1].body == body
    assert rec.seen[0].header("Content-Length") == [str(len(body))]


async def test_local_routes_and_errors_as_responses(
    upstream: tuple[str, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, rec = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        assert (await client.get("/healthcheck")).json() == {"status": "ok"}
        assert (await client.get("/v1/apis/http")).json() == [
            {"kind": "HTTP", "name": "pd", "baseUrl": url + "/base"}
        ]
        r = await client.get("/v1/apis/http/nope/x")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "API_NoMatchingInstanceError"
        r = await client.get("/v1/apis/http/pd/%2e%2e/secret")
        assert r.status_code == 400 and r.json()["error"]["code"] == "ATLAS_BadPathError"
        r = await client.get("/elsewhere")
        assert r.status_code == 404
        monkeypatch.delenv("PAGERDUTY_ACCOUNT_TOKEN")
        r = await client.get("/v1/apis/http/pd/x")
        assert r.status_code == 500 and "PAGERDUTY_ACCOUNT_TOKEN" in r.json()["error"]["message"]
    assert rec.seen == []


async def test_upstream_statuses_pass_through(upstream: tuple[str, Recorder]) -> None:
    url, _ = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        for code in (429, 500, 404):
            r = await client.get(f"/v1/apis/http/pd/status/{code}")
            assert r.status_code == code
            assert r.json()["error"]["message"] == f"upstream says {code}"
            assert r.headers["retry-after"] == "7"
            assert_response_clean(r)


async def test_upstream_down_and_slow(planted_secret: str) -> None:
    port = free_port()  # nothing listens there
    with recording_server() as (url, rec):
        cfg = _cfg(url, down=f"http://127.0.0.1:{port}")
        transport = AtlasTransport(cfg, read_timeout=0.3)
        async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as client:
            r = await client.get("/v1/apis/http/down/x")
            assert r.status_code == 502
            assert r.json()["error"]["code"] == "ATLAS_UpstreamUnreachableError"
            r = await client.post("/v1/apis/http/pd/slow?s=2", content=b"x")
            assert r.status_code == 504
            assert r.json()["error"]["code"] == "API_InstanceRequestTimeoutError"
            assert_response_clean(r)
        # A timed-out POST was sent exactly once: never retried.
        assert [s.method for s in rec.seen] == ["POST"]


async def test_post_to_dropping_upstream_is_not_retried(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        r = await client.post("/v1/apis/http/pd/close", content=b'{"a":1}')
    assert r.status_code == 502
    assert len(rec.seen) == 1


async def test_response_is_streamed(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        async with client.stream("GET", "/v1/apis/http/pd/wait") as r:
            it = r.aiter_raw()
            first = await it.__anext__()
            assert first == b"first\n"  # arrived while the upstream is still holding the rest
            rec.release.set()
            rest = b"".join([c async for c in it])
    assert rest == b"last\n"


async def test_response_hop_by_hop_removed(upstream: tuple[str, Recorder]) -> None:
    url, _ = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        r = await client.get("/v1/apis/http/pd/hop")
    assert "x-hop" not in r.headers and "keep-alive" not in r.headers
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_sync_twin(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    with httpx.Client(transport=AtlasSyncTransport(_cfg(url)), base_url=LOCAL) as client:
        r = client.post("/v1/apis/http/pd/x?a=1&a=2", json={"k": "v"})
        assert r.status_code == 200 and r.json()["target"] == "/base/x?a=1&a=2"
        assert client.get("/v1/apis/http/pd/%2e%2e").status_code == 400
    assert json.loads(rec.seen[0].body) == {"k": "v"}


async def test_config_path_reloads_on_change(
    upstream: tuple[str, Recorder], tmp_path: Path
) -> None:
    url, _ = upstream
    path = tmp_path / "atlas.yml"
    path.write_text(config_yaml({"pd": url + "/base"}))
    transport = AtlasTransport(config_path=path)
    async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as client:
        assert (await client.get("/v1/apis/http/other/x")).status_code == 404
        path.write_text(config_yaml({"pd": url + "/base", "other": url + "/o"}))
        import os
        import time

        t = time.time() + 3
        os.utime(path, (t, t))
        r = await client.get("/v1/apis/http/other/x")
        assert r.status_code == 200 and r.json()["target"] == "/o/x"


async def test_atlas_accesstoken_never_forwarded(upstream: tuple[str, Recorder]) -> None:
    url, rec = upstream
    async with httpx.AsyncClient(transport=AtlasTransport(_cfg(url)), base_url=LOCAL) as client:
        await client.get("/v1/apis/http/pd/x", headers={"Atlas-Accesstoken": "t"})
    assert rec.seen[0].header("Atlas-Accesstoken") == []


def test_no_socket_is_opened_for_local_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg("http://127.0.0.1:9")

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("no socket expected")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with httpx.Client(transport=AtlasSyncTransport(cfg), base_url=LOCAL) as client:
        assert client.get("/healthcheck").status_code == 200
        assert client.get("/v1/apis/http").status_code == 200
