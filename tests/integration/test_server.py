"""The Atlas server as users run it (`mom atlas run` in a subprocess) against loopback fakes.

One server for the module; a recording upstream (the adapter ``pd``, baseUrl ``.../base``) and
a canary on another port that no request may ever reach.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PLANTED_SECRET, free_port
from tests.proxy_fakes import (
    HOSTILE_PATHS,
    PD_AUTH,
    AtlasProcess,
    Recorder,
    assert_no_secret,
    assert_response_clean,
    config_yaml,
    raw_request,
    recording_server,
    send_raw,
    start_atlas,
    stop_atlas,
)

pytestmark = pytest.mark.integration

TOKEN = "test-token-Abc123"


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[str, Recorder, str, Recorder]]:
    with recording_server("upstream") as (up_url, up), recording_server("canary") as (c_url, c):
        yield up_url, up, c_url, c


@pytest.fixture(scope="module")
def atlas(
    fakes: tuple[str, Recorder, str, Recorder], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AtlasProcess]:
    up_url, _, _, _ = fakes
    tmp = tmp_path_factory.mktemp("atlas")
    down = f"http://127.0.0.1:{free_port()}"
    cfg = tmp / "atlas.yml"
    cfg.write_text(config_yaml({"pd": up_url + "/base", "down": down}, headers={"pd": PD_AUTH}))
    proc = start_atlas(cfg, tmp, "--max-body-size", str(4 * 1024 * 1024), token=TOKEN)
    yield proc
    stop_atlas(proc)
    # Across everything the module did: the planted secret is in no log line.
    assert_no_secret(proc.log())


@pytest.fixture
def clean(fakes: tuple[str, Recorder, str, Recorder]) -> tuple[Recorder, Recorder]:
    _, up, _, canary = fakes
    up.clear()
    canary.clear()
    return up, canary


@pytest.mark.parametrize("target", HOSTILE_PATHS)
def test_hostile_path_refused_and_nothing_reaches_upstream(
    target: str,
    atlas: AtlasProcess,
    fakes: tuple[str, Recorder, str, Recorder],
    clean: tuple[Recorder, Recorder],
) -> None:
    up, canary = clean
    canary_hostport = fakes[2].split("://", 1)[1]
    raw_target = "/v1/apis/http/" + target.replace("{canary}", canary_hostport)
    status, body = raw_request(atlas.url, raw_target, {"Atlas-Accesstoken": TOKEN})
    assert status == 400, (raw_target, body)
    assert_no_secret(body)
    assert up.seen == [] and canary.seen == []


def test_absolute_form_request_target_never_reaches_the_named_host(
    atlas: AtlasProcess,
    fakes: tuple[str, Recorder, str, Recorder],
    clean: tuple[Recorder, Recorder],
) -> None:
    _up, canary = clean
    status, _ = raw_request(atlas.url, fakes[2] + "/x", {"Atlas-Accesstoken": TOKEN})
    assert status >= 400
    raw_request(atlas.url, fakes[2] + "/v1/apis/http/pd/ok", {"Atlas-Accesstoken": TOKEN})
    assert canary.seen == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Atlas-Accesstoken": ""},
        {"Atlas-Accesstoken": "wrong"},
        {"Atlas-Accesstoken": TOKEN.upper()},
        {"Atlas-Accesstoken": TOKEN.lower()},
        {"Atlas-Accesstoken": TOKEN + "x"},
        {"Atlas-Accesstoken": TOKEN[:-1]},
        {"Authorization": f"Bearer {TOKEN}"},
        {"Atlas-Accesstoken": "tøken".encode()},
    ],
)
def test_bad_tokens_refused_and_never_reach_upstream(
    headers: dict[str, str | bytes], atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    for path in ("/v1/apis/http/pd/incidents", "/v1/apis/http", "/v1/apis/http/nope/x", "/x"):
        r = httpx.get(atlas.url + path, headers=headers)
        assert r.status_code == 401, (path, r.text)
        code = r.json()["error"]["code"]
        expected = (
            "API_MissingAccessTokenError"
            if not headers.get("Atlas-Accesstoken")
            else ("API_InvalidAccessTokenError")
        )
        assert code == expected
        assert_response_clean(r)
    assert up.seen == []


@pytest.mark.parametrize("method", ["TRACE", "TRACK"])
def test_trace_never_reaches_upstream(
    method: str, atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    status, body = raw_request(
        atlas.url, "/v1/apis/http/pd/x", {"Atlas-Accesstoken": TOKEN}, method=method
    )
    # 405 from the routing core; the HTTP parser itself may already refuse TRACK with 400.
    assert status == 405 if method == "TRACE" else status in (400, 405)
    assert_no_secret(body)
    assert up.seen == []


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        b"Transfer-Encoding: chunked, identity\r\n",
        b"Content-Length: -5\r\n",
    ],
)
def test_ambiguous_request_framing_is_refused(
    framing: bytes, atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    # Request smuggling attempts: the HTTP parser refuses them before any routing.
    up, canary = clean
    host = atlas.url.split("://")[1]
    data = (
        b"POST /v1/apis/http/pd/x HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Atlas-Accesstoken: " + TOKEN.encode() + b"\r\n" + framing + b"\r\n"
        b"0\r\n\r\nGET /v1/apis/http/pd/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", int(host.split(":")[1])), timeout=5) as s:
        s.sendall(data)
        answer = s.recv(65536)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", answer[:80]
    assert up.seen == [] and canary.seen == []
    # Logged as one line, without the request's bytes (they hold the caller's token).
    time.sleep(0.1)
    log = atlas.log()
    assert "refused a malformed request from 127.0.0.1" in log
    assert TOKEN not in log and "Traceback" not in log


def _answer(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, body


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"GET /v1/apis/http/pd/\xc3\xa9 HTTP/1.1\r\n", "ATLAS_BadPathError"),
        (b"G@T /v1/apis/http/pd/x HTTP/1.1\r\n", "ATLAS_BadPathError"),
        (b"GET /v1/apis/http/pd/x HTTP/1.x\r\n", "ATLAS_BadPathError"),
        (b"GET /v1/apis/http/pd/x HTTP/1.1\r\nNo colon here\r\n", "ATLAS_BadHeaderError"),
        (b"GET /v1/apis/http/pd/x HTTP/1.1\r\nBad\x01Name: v\r\n", "ATLAS_BadHeaderError"),
        (
            b"GET /v1/apis/http/pd/x HTTP/1.1\r\nX-Long: " + b"a" * 9000 + b"\r\n",
            "ATLAS_BadHeaderError",
        ),
        (
            b"POST /v1/apis/http/pd/x HTTP/1.1\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n",
            "ATLAS_BadRequestError",
        ),
        (
            b"POST /v1/apis/http/pd/x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
            "ATLAS_BadRequestError",
        ),
    ],
)
def test_requests_the_parser_refuses_get_a_json_atlas_error(
    request_bytes: bytes, code: str, atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    # aiohttp's parser refuses these before the app runs; the answer is still an Atlas error
    # (JSON, a code, a hint), echoes nothing of the request, and closes the connection.
    up, canary = clean
    host = atlas.url.split("://")[1]
    data = request_bytes + (
        b"Host: " + host.encode() + b"\r\nAtlas-Accesstoken: " + TOKEN.encode() + b"\r\n\r\n"
    )
    status, headers, body = _answer(send_raw("127.0.0.1", int(host.split(":")[1]), data))
    assert status == 400, body
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and error["hint"], error
    assert TOKEN.encode() not in body and b"No colon" not in body and b"aaaa" not in body
    assert up.seen == [] and canary.seen == []  # (send_raw returned: the server closed)


def test_duplicate_token_headers_refused(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    r = httpx.get(
        atlas.url + "/v1/apis/http/pd/x",
        headers=[("Atlas-Accesstoken", TOKEN), ("Atlas-Accesstoken", "other")],
    )
    assert r.status_code == 401 and up.seen == []


def test_token_header_name_is_case_insensitive(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    r = httpx.get(atlas.url + "/v1/apis/http/pd/ok", headers={"atlas-accesstoken": TOKEN})
    assert r.status_code == 200
    assert len(up.seen) == 1 and up.seen[0].header("Atlas-Accesstoken") == []


def test_healthcheck_needs_no_token(atlas: AtlasProcess) -> None:
    r = httpx.get(atlas.url + "/healthcheck")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert httpx.post(atlas.url + "/healthcheck").status_code == 405


def test_list_http_apis(atlas: AtlasProcess, fakes: tuple[str, Recorder, str, Recorder]) -> None:
    with atlas.client() as client:
        r = client.get("/v1/apis/http")
    assert r.status_code == 200
    names = [(a["kind"], a["name"]) for a in r.json()]
    assert names == [("HTTP", "pd"), ("HTTP", "down")]
    assert r.json()[0]["baseUrl"] == fakes[0] + "/base"
    assert_response_clean(r)


def test_header_policy_both_ways(atlas: AtlasProcess, clean: tuple[Recorder, Recorder]) -> None:
    up, _ = clean
    with atlas.client() as client:
        r = client.get(
            "/v1/apis/http/pd/hop",
            headers={
                "Authorization": "Token token=caller-own",
                "Cookie": "jupyter=1",
                "Accept": "application/vnd.pagerduty+json;version=2",
                "Content-Type": "application/json",
                "From": "ops@example.com",
                "X-Trace": "t1",
                "Connection": "X-Secret-Hop",
                "X-Secret-Hop": "1",
                "Proxy-Authorization": "Basic eA==",
                "TE": "trailers",
            },
        )
    assert r.status_code == 200
    (seen,) = up.seen
    assert seen.header("Authorization") == [f"Token token={PLANTED_SECRET}"]
    for dropped in ("Cookie", "Atlas-Accesstoken", "X-Secret-Hop", "Proxy-Authorization", "TE"):
        assert seen.header(dropped) == [], dropped
    assert seen.header("Accept") == ["application/vnd.pagerduty+json;version=2"]
    assert seen.header("From") == ["ops@example.com"]
    assert seen.header("X-Trace") == ["t1"]
    assert seen.header("Content-Type") == ["application/json"]
    # Response: hop-by-hop gone, end-to-end kept (repeated Set-Cookie too).
    assert "x-hop" not in r.headers and "keep-alive" not in r.headers
    assert r.headers["x-request-id"] == "abc-123"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert_response_clean(r)


def test_repeated_query_keys_arrive_intact(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    q = "statuses[]=triggered&statuses[]=acknowledged&statuses%5B%5D=resolved&a=1&a=1&b=%2B%20"
    status, _ = raw_request(
        atlas.url, f"/v1/apis/http/pd/incidents?{q}", {"Atlas-Accesstoken": TOKEN}
    )
    assert status == 200
    assert up.seen[0].target == f"/base/incidents?{q}"
    with atlas.client() as client:
        client.get("/v1/apis/http/pd/x", params=[("ids[]", "P1"), ("ids[]", "P2")])
    assert up.seen[1].target == "/base/x?ids%5B%5D=P1&ids%5B%5D=P2"


def test_legit_escapes_pass_unchanged(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    target = "/v1/apis/http/pd/users/:id/a%20b/%C3%A9t%C3%A9/x%2By/a%40b.com/"
    status, _ = raw_request(atlas.url, target, {"Atlas-Accesstoken": TOKEN})
    assert status == 200
    assert up.seen[0].target == "/base/users/:id/a%20b/%C3%A9t%C3%A9/x%2By/a%40b.com/"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_bodies_byte_for_byte(
    method: str, atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    small = bytes(range(256)) * 4 + b"\r\n\x00\xff"
    large = bytes(range(256)) * 1024 * 3  # 768 KiB: streamed upstream
    with atlas.client() as client:
        r1 = client.request(
            method,
            "/v1/apis/http/pd/echo",
            content=small,
            headers={"Content-Type": "application/octet-stream"},
        )
        r2 = client.request(method, "/v1/apis/http/pd/echo", content=large)

        def chunks() -> Iterator[bytes]:
            yield large[:70000]
            yield large[70000:]

        r3 = client.request(method, "/v1/apis/http/pd/echo", content=chunks())
    assert [r.status_code for r in (r1, r2, r3)] == [200, 200, 200]
    assert [s.method for s in up.seen] == [method] * 3
    assert up.seen[0].body == small
    assert up.seen[1].body == large and up.seen[1].header("Content-Length") == [str(len(large))]
    assert up.seen[2].body == large


def test_request_body_is_streamed_upstream(
    atlas: AtlasProcess,
    clean: tuple[Recorder, Recorder],
    fakes: tuple[str, Recorder, str, Recorder],
) -> None:
    up = fakes[1]
    up.first_bytes.clear()
    part = bytes(range(256)) * 512  # 128 KiB

    def body() -> Iterator[bytes]:
        yield part
        # The upstream must hold the first part before the rest even exists.
        assert up.first_bytes.wait(10), "the proxy buffered the upload"
        yield part[::-1]

    with atlas.client() as client:
        r = client.put("/v1/apis/http/pd/stream-in", content=body())
    assert r.status_code == 200 and r.json() == {"length": 2 * len(part)}
    assert up.seen[-1].body == part + part[::-1]


def test_request_too_large_413(atlas: AtlasProcess, clean: tuple[Recorder, Recorder]) -> None:
    up, _ = clean
    big = b"x" * (4 * 1024 * 1024 + 1)
    with atlas.client() as client:
        r = client.post("/v1/apis/http/pd/echo", content=big)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "ATLAS_RequestTooLargeError"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while streaming
            for _ in range(5):
                yield b"y" * (1024 * 1024)

        try:
            r = client.post("/v1/apis/http/pd/echo", content=chunks())
            assert r.status_code == 413
        except httpx.TransportError:
            pass  # the server may cut the upload short: also a refusal
    assert all(len(s.body) <= 4 * 1024 * 1024 for s in up.seen)
    assert not any(s.body == big for s in up.seen)


def test_non_idempotent_never_retried(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    up, _ = clean
    with atlas.client() as client:
        r = client.post("/v1/apis/http/pd/close", content=b'{"incident":{}}')
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "ATLAS_UpstreamUnreachableError"
        r = client.patch("/v1/apis/http/pd/close", content=b"{}")
        assert r.status_code == 502
    assert [s.method for s in up.seen] == ["POST", "PATCH"]


def test_upstream_down_502(atlas: AtlasProcess) -> None:
    with atlas.client() as client:
        r = client.get("/v1/apis/http/down/incidents")
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "ATLAS_UpstreamUnreachableError"
    assert "down" in err["message"]
    assert_response_clean(r)


@pytest.mark.parametrize("code", [429, 500, 503, 401, 404])
def test_upstream_error_statuses_pass_through(code: int, atlas: AtlasProcess) -> None:
    with atlas.client() as client:
        r = client.get(f"/v1/apis/http/pd/status/{code}")
    assert r.status_code == code
    assert r.json() == {"error": {"message": f"upstream says {code}", "code": 2001}}
    assert r.headers["retry-after"] == "7" and r.headers["x-upstream"] == "yes"
    assert_response_clean(r)


def test_large_response_streams(
    atlas: AtlasProcess, fakes: tuple[str, Recorder, str, Recorder]
) -> None:
    _, up, _, _ = fakes
    up.release.clear()
    with atlas.client() as client:
        with client.stream("GET", "/v1/apis/http/pd/wait") as r:
            it = r.iter_raw()
            assert next(it) == b"first\n"  # while the upstream still holds the rest back
            up.release.set()
            assert b"".join(it) == b"last\n"
        n = 20 * 1024 * 1024 + 123
        total = 0
        with client.stream("GET", f"/v1/apis/http/pd/big?n={n}") as r:
            for chunk in r.iter_bytes():
                total += len(chunk)
        assert total == n


def test_upstream_cutting_the_body_short_is_never_a_clean_response(atlas: AtlasProcess) -> None:
    with atlas.client() as client:
        # Known small length: read before answering, so the error is a proper 502.
        r = client.get("/v1/apis/http/pd/cutsmall")
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "ATLAS_UpstreamUnreachableError"
        # Streamed body: headers are gone already, so the connection is cut mid-body.
        with pytest.raises(httpx.TransportError):
            with client.stream("GET", "/v1/apis/http/pd/cut") as s:
                for _ in s.iter_raw():
                    pass
        assert client.get("/v1/apis/http/pd/ok").status_code == 200


def test_caller_leaving_mid_body_is_handled_quietly(atlas: AtlasProcess) -> None:
    import time

    for _ in range(3):
        with (
            atlas.client() as client,
            client.stream("GET", f"/v1/apis/http/pd/big?n={50 * 1024 * 1024}") as r,
        ):
            next(r.iter_raw())  # then hang up with most of the body unsent
    time.sleep(0.3)
    with atlas.client() as client:
        assert client.get("/v1/apis/http/pd/ok").status_code == 200
    log = atlas.log()
    assert "Traceback" not in log and "Error handling request" not in log


def test_head_and_unknown_adapter(atlas: AtlasProcess) -> None:
    with atlas.client() as client:
        r = client.head("/v1/apis/http/pd/x")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["x-upstream"] == "upstream" and int(r.headers["content-length"]) > 0
        r = client.get("/v1/apis/http/nope/x")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "API_NoMatchingInstanceError"
        assert "pd" in r.json()["error"]["message"]


def test_access_log_one_line_per_request_without_secrets(
    atlas: AtlasProcess, clean: tuple[Recorder, Recorder]
) -> None:
    marker = "/v1/apis/http/pd/logged-once"
    with atlas.client() as client:
        client.get(marker + "?secret_query=hunter2", headers={"X-Token": "hdr-value-77"})
    import time

    for _ in range(50):
        lines = [ln for ln in atlas.log().splitlines() if "logged-once" in ln]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1
    line = lines[0]
    assert '"GET pd /logged-once" 200 upstream=200' in line and line.endswith("ms")
    for leak in ("hunter2", "hdr-value-77", TOKEN, PLANTED_SECRET):
        assert leak not in atlas.log()


def test_mom_curl_through_server(atlas: AtlasProcess, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATLAS_URL": atlas.url, "ATLAS_ACCESS_TOKEN": TOKEN}
    env.pop("PAGERDUTY_ACCOUNT_TOKEN", None)  # the client needs no secret at all
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "curl", "/v1/apis/http/pd/incidents"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert [i["id"] for i in json.loads(p.stdout)["incidents"]] == ["P0", "P1", "P2"]
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "curl", "/v1/apis/http/pd/status/429"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 1
    assert b"upstream says 429" in p.stdout
    assert p.stderr.decode().strip().startswith("error: upstream answered 429")
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "atlas", "apis", "list"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode().split("\n")[0].split() == ["KIND", "NAME", "BASE", "URL"]
    assert "pd" in p.stdout.decode()
    env["ATLAS_ACCESS_TOKEN"] = "wrong"
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "curl", "/v1/apis/http/pd/incidents"],
        capture_output=True,
        env=env,
        timeout=30,
    )
    assert p.returncode == 1
    assert p.stderr.decode().startswith("error: invalid Atlas-Accesstoken")
    for out in (p.stdout, p.stderr):
        assert_no_secret(out)


def test_keepalive_connection_survives_errors(atlas: AtlasProcess) -> None:
    # A refused request must not poison the pooled client connection.
    with atlas.client() as client:
        assert client.get("/v1/apis/http/pd/%2e%2e/x").status_code == 400
        assert client.get("/v1/apis/http/pd/ok").status_code == 200
        assert client.get("/v1/apis/http/pd/status/500").status_code == 500
        assert client.get("/v1/apis/http/pd/ok").status_code == 200


def test_server_socket_is_loopback(atlas: AtlasProcess) -> None:
    port = int(atlas.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        # Not reachable on a non-loopback address of this machine (if it has one).
        addr = socket.gethostbyname(socket.gethostname())
        if addr.startswith("127."):
            raise OSError("only loopback here")
        socket.create_connection((addr, port), timeout=1).close()
