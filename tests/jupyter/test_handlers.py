"""The server extension against a REAL Jupyter server subprocess and a recording canary.

One server is started for the module (a few seconds on 2 cores); a second one, with a
base URL and config edits turned off, for the last tests.
"""

from __future__ import annotations

import difflib
import http.client
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from atlas_canvas._config_edit import add_http_adapter_text, parse_header
from tests.conftest import PLANTED_SECRET
from tests.jupyter.servers import Canary, JupyterProcess, run_canary, run_jupyter, write_config

pytestmark = pytest.mark.integration

PROXY = "atlas-canvas/v1/apis/http"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with run_canary() as c:
        yield c


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> Path:
    tmp = tmp_path_factory.mktemp("jp")
    return write_config(
        tmp / "atlas.yml",
        {
            "canary": (
                canary.url + "/base",
                ["Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}"],
            ),
            "nosecret": (canary.url + "/base", ["X-Api-Key: ${{ ATLAS_TEST_UNSET_VAR }}"]),
            "down": ("http://127.0.0.1:9/base", []),
        },
    )


@pytest.fixture(scope="module")
def jp(config_file: Path) -> Iterator[JupyterProcess]:
    with run_jupyter(
        config_file.parent,
        config_file,
        env_extra={"PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET},
    ) as server:
        yield server


@pytest.fixture
def seen(canary: Canary) -> Iterator[Canary]:
    canary.clear()
    yield canary


def auth(jp: JupyterProcess) -> dict[str, str]:
    return {"Authorization": f"token {jp.token}"}


def raw_request(
    jp: JupyterProcess, method: str, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` byte-for-byte (httpx would normalise dot segments)."""
    conn = http.client.HTTPConnection("127.0.0.1", jp.port, timeout=30)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@contextmanager
def cookie_session(jp: JupyterProcess) -> Iterator[httpx.Client]:
    """A browser-like client: logged in by cookie (token only in the first URL), with _xsrf."""
    with httpx.Client(base_url=jp.url, timeout=30) as client:
        r = client.get(f"lab?token={jp.token}")
        assert r.status_code == 200, r.text[:300]
        names = {c.name for c in client.cookies.jar}
        assert "_xsrf" in names, names
        assert any(n.startswith("username-") for n in names), names
        yield client


# -- authentication and XSRF ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path", ["atlas-canvas/adapters", "atlas-canvas/adapters/canary/health", f"{PROXY}/canary/x"]
)
def test_unauthenticated_is_refused_and_nothing_proxied(
    jp: JupyterProcess, seen: Canary, method: str, path: str
) -> None:
    r = httpx.request(method, jp.url + path, content=b"{}", timeout=30, follow_redirects=False)
    assert r.status_code in (403, 405), (method, path, r.status_code)
    if r.status_code == 403:
        assert r.headers["content-type"].startswith("application/json")
    assert seen.requests == []


def test_wrong_token_is_refused(jp: JupyterProcess, seen: Canary) -> None:
    r = httpx.get(jp.url + f"{PROXY}/canary/x", headers={"Authorization": "token nope"})
    assert r.status_code == 403
    r = httpx.get(jp.url + f"{PROXY}/canary/x?token=nope")
    assert r.status_code == 403
    assert seen.requests == []


def test_cookie_post_without_xsrf_header_is_refused(jp: JupyterProcess, seen: Canary) -> None:
    with cookie_session(jp) as client:
        # A same-origin GET (Referer of the Jupyter page) is let through on the cookie...
        r = client.get(f"{PROXY}/canary/ok", headers={"Referer": f"{jp.url}lab"})
        assert r.status_code == 200, r.text
        seen.clear()
        # ...but a POST without X-XSRFToken is cross-site-request forgeable: refused.
        r = client.post(f"{PROXY}/canary/write", content=b'{"x": 1}')
        assert r.status_code == 403
        r = client.post("atlas-canvas/adapters", json={"name": "x", "baseUrl": "http://a"})
        assert r.status_code == 403
        assert seen.requests == []
        # With the header (what JupyterLab's ServerConnection sends) it goes through.
        xsrf = client.cookies["_xsrf"]
        r = client.post(f"{PROXY}/canary/write", content=b'{"x": 1}', headers={"X-XSRFToken": xsrf})
        assert r.status_code == 200, r.text
        assert len(seen.requests) == 1


@pytest.mark.parametrize(
    "path", [f"{PROXY}/canary/ok", "atlas-canvas/adapters", "atlas-canvas/adapters/canary/health"]
)
def test_cookie_get_needs_same_origin_proof(jp: JupyterProcess, seen: Canary, path: str) -> None:
    # GETs reach the upstream with the adapter's secrets: a cross-site <img>/<script> GET
    # riding on the cookie must not.
    with cookie_session(jp) as client:
        assert client.get(path).status_code == 403
        assert client.get(path, headers={"Referer": "https://evil.example/"}).status_code == 403
        assert seen.requests == []
        assert client.get(path, headers={"X-XSRFToken": client.cookies["_xsrf"]}).is_success


def test_cookie_delete_with_wrong_xsrf_is_refused(jp: JupyterProcess, seen: Canary) -> None:
    with cookie_session(jp) as client:
        r = client.delete(f"{PROXY}/canary/thing", headers={"X-XSRFToken": "forged"})
        assert r.status_code == 403
    assert seen.requests == []


def test_no_auth_warning_for_our_handlers(jp: JupyterProcess) -> None:
    # jupyter_server warns about endpoints lacking @web.authenticated; none may be ours.
    warnings = re.findall(r"JupyterServerAuthWarning.*?(?=\n\S|\Z)", jp.log(), re.S)
    assert not [w for w in warnings if "atlas" in w.lower()]
    assert "atlas_canvas | extension was successfully loaded" in jp.log()


# -- Jupyter credentials never reach the upstream ------------------------------------------


def test_jupyter_credentials_never_reach_upstream(jp: JupyterProcess, seen: Canary) -> None:
    with cookie_session(jp) as client:
        xsrf = client.cookies["_xsrf"]
        r = client.post(
            f"{PROXY}/canary/incidents?token={jp.token}&statuses[]=a&statuses[]=b&_xsrf={xsrf}",
            content=b"payload \x00\xff bytes",
            headers={
                "Authorization": f"token {jp.token}",
                "X-XSRFToken": xsrf,
                "Referer": f"{jp.url}lab?token={jp.token}",
                "Content-Type": "application/octet-stream",
                "Accept": "application/json",
                "From": "oncall@example.com",
            },
        )
    assert r.status_code == 200, r.text
    [req] = seen.requests
    # The query keeps its exact bytes minus Jupyter's parameters.
    assert req.path == "/base/incidents?statuses[]=a&statuses[]=b"
    assert req.body == b"payload \x00\xff bytes"
    names = {k.lower(): v for k, v in req.headers}
    assert "cookie" not in names
    assert "x-xsrftoken" not in names
    assert "referer" not in names
    assert "origin" not in names
    # The only Authorization is the adapter's, with the secret resolved in the server.
    assert [v for k, v in req.headers if k.lower() == "authorization"] == [
        f"Token token={PLANTED_SECRET}"
    ]
    # End-to-end headers pass.
    assert names["accept"] == "application/json"
    assert names["from"] == "oncall@example.com"
    everything = json.dumps([req.path, req.headers]) + req.body.decode("latin-1")
    assert jp.token not in everything
    assert xsrf not in everything


def test_secret_never_in_responses_or_log(jp: JupyterProcess, seen: Canary) -> None:
    bodies = [
        httpx.get(jp.url + "atlas-canvas/adapters", headers=auth(jp)).text,
        httpx.get(jp.url + "atlas-canvas/adapters/canary/health", headers=auth(jp)).text,
        httpx.get(jp.url + f"{PROXY}/canary/x", headers=auth(jp)).text,
        httpx.get(jp.url + f"{PROXY}", headers=auth(jp)).text,
    ]
    for body in bodies:
        assert PLANTED_SECRET not in body
    assert PLANTED_SECRET not in jp.log()
    assert jp.token not in jp.log()


def test_response_headers_cannot_act_on_jupyter_origin(jp: JupyterProcess, seen: Canary) -> None:
    r = httpx.get(jp.url + f"{PROXY}/canary/set-cookie", headers=auth(jp))
    assert r.status_code == 200
    # Jupyter may set its own login cookie; the upstream's cookie must not come through.
    assert not [c for c in r.headers.get_list("set-cookie") if "evil" in c]
    assert r.headers["x-upstream"] == "canary"
    assert r.headers["content-type"] == "application/json"
    csp = r.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.json()["path"] == "/base/set-cookie"


def test_upstream_status_and_methods_pass_through(jp: JupyterProcess, seen: Canary) -> None:
    r = httpx.get(jp.url + f"{PROXY}/canary/status/429", headers=auth(jp))
    assert r.status_code == 429
    r = httpx.put(jp.url + f"{PROXY}/canary/a%20b/%C3%A9", headers=auth(jp), content=b"x")
    assert r.status_code == 200
    r = httpx.head(jp.url + f"{PROXY}/canary/h", headers=auth(jp))
    assert r.status_code == 200 and r.content == b""
    assert [(q.method, q.path) for q in seen.requests] == [
        ("GET", "/base/status/429"),
        ("PUT", "/base/a%20b/%C3%A9"),
        ("HEAD", "/base/h"),
    ]


def test_response_is_streamed(jp: JupyterProcess, seen: Canary) -> None:
    # The upstream holds its second chunk back until the client saw the first one: a proxy
    # that buffered the body would deliver nothing until the canary gave up (10 s).
    seen.release.clear()
    started = time.monotonic()
    with httpx.stream("GET", jp.url + f"{PROXY}/canary/stream", headers=auth(jp), timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/event-stream"
        chunks = r.iter_bytes()
        first = next(chunks)
        assert b"data: first" in first
        assert time.monotonic() - started < 5
        seen.release.set()
        rest = b"".join(chunks)
    assert b"data: second" in first + rest


# -- hostile paths and errors ---------------------------------------------------------------

HOSTILE = [
    "/canary/../../etc/passwd",
    "/canary/%2e%2e/%2e%2e/admin",
    "/canary/..%2fadmin",
    "/canary/%252e%252e/admin",
    "/canary//evil.example.com/x",
    "/canary/@evil.example.com",
    "/canary/a%5c..%5cb",
    "/canary/a%00b",
    "/canary/a%0d%0aX-Injected:%201",
    "/canary/http:%2f%2fevil.example.com",
]


@pytest.mark.parametrize("rest", HOSTILE)
def test_hostile_paths_are_400_and_never_proxied(
    jp: JupyterProcess, seen: Canary, rest: str
) -> None:
    status, headers, body = raw_request(jp, "GET", f"/{PROXY}{rest}", auth(jp))
    # Tornado itself may answer 400/404 for some raw forms before our handler runs;
    # what matters is a refusal that never reaches the upstream.
    assert status in (400, 404), (rest, status, body[:200])
    if status == 400 and headers.get("content-type", "").startswith("application/json"):
        assert json.loads(body)["error"]["code"] in ("ATLAS_BadPathError", "HTTP_400")
    assert seen.requests == []


def test_errors_are_json_and_never_echo_markup(jp: JupyterProcess, seen: Canary) -> None:
    evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    for target in (
        f"/{PROXY}/{evil}/x",
        f"/{PROXY}/nosuch/x?{evil}",
        f"/atlas-canvas/adapters/{evil}/health",
    ):
        status, headers, body = raw_request(jp, "GET", target, auth(jp))
        assert status in (400, 404), (target, status)
        assert headers["content-type"].startswith("application/json")
        assert b"<script" not in body.lower()
        json.loads(body)
    assert seen.requests == []


def test_unknown_adapter_lists_known_names(jp: JupyterProcess, seen: Canary) -> None:
    r = httpx.get(jp.url + f"{PROXY}/nosuch/x", headers=auth(jp))
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "API_NoMatchingInstanceError"
    assert "canary" in err["message"]


def test_missing_secret_names_variable_only(jp: JupyterProcess, seen: Canary) -> None:
    r = httpx.get(jp.url + f"{PROXY}/nosecret/x", headers=auth(jp))
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "ATLAS_MissingSecretError"
    assert "ATLAS_TEST_UNSET_VAR" in r.json()["error"]["message"]
    assert seen.requests == []


# -- adapters and health ---------------------------------------------------------------------


def test_adapters_list_has_no_header_values(jp: JupyterProcess) -> None:
    r = httpx.get(jp.url + "atlas-canvas/adapters", headers=auth(jp))
    assert r.status_code == 200
    data = r.json()
    by_name = {a["name"]: a for a in data["adapters"]}
    assert set(by_name) >= {"canary", "nosecret", "down"}
    assert by_name["canary"]["kind"] == "HTTP"
    assert by_name["canary"]["secretVariables"] == ["PAGERDUTY_ACCOUNT_TOKEN"]
    assert "Token token" not in r.text
    assert data["allowEdits"] is True


def test_health_states(jp: JupyterProcess, seen: Canary) -> None:
    ok = httpx.get(jp.url + "atlas-canvas/adapters/canary/health", headers=auth(jp)).json()
    assert ok["state"] == "ok" and ok["reachable"] is True and ok["status"] == 200
    assert ok["latencyMs"] >= 0
    assert ok["secrets"] == [{"name": "PAGERDUTY_ACCOUNT_TOKEN", "set": True}]
    # The probe went through the routing core, with the adapter's header.
    assert seen.requests[-1].path == "/base/"

    missing = httpx.get(jp.url + "atlas-canvas/adapters/nosecret/health", headers=auth(jp))
    m = missing.json()
    assert m["state"] == "secret-missing"
    assert m["secrets"] == [{"name": "ATLAS_TEST_UNSET_VAR", "set": False}]

    down = httpx.get(
        jp.url + "atlas-canvas/adapters/down/health", headers=auth(jp), timeout=30
    ).json()
    assert down["state"] == "down" and down["reachable"] is False and down["message"]

    r = httpx.get(jp.url + "atlas-canvas/adapters/nosuch/health", headers=auth(jp))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "API_NoMatchingInstanceError"


def test_add_adapter_edits_the_file_like_the_cli(
    jp: JupyterProcess, config_file: Path, canary: Canary
) -> None:
    before = config_file.read_text()
    r = httpx.post(
        jp.url + "atlas-canvas/adapters",
        headers=auth(jp),
        json={
            "name": "added",
            "baseUrl": canary.url + "/base",
            "headers": ["X-Api-Key: ${{ ADDED_KEY }}"],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["adapter"]["name"] == "added"
    after = config_file.read_text()
    # Byte for byte what `mom atlas config add-http-adapter` writes, which only adds lines.
    assert after == add_http_adapter_text(
        before,
        name="added",
        base_url=canary.url + "/base",
        headers=[parse_header("X-Api-Key: ${{ ADDED_KEY }}")],
    )
    changed = difflib.ndiff(before.splitlines(), after.splitlines())
    assert not [line for line in changed if line.startswith("- ")]
    assert "${{ ADDED_KEY }}" in after  # the template, never a value
    names = [
        a["name"]
        for a in httpx.get(jp.url + "atlas-canvas/adapters", headers=auth(jp)).json()["adapters"]
    ]
    assert "added" in names
    # Proxying to it works at once (the router re-read the file).
    r = httpx.get(jp.url + f"{PROXY}/added/hello", headers=auth(jp))
    assert r.status_code == 500  # ADDED_KEY is not set in the server's environment
    assert r.json()["error"]["code"] == "ATLAS_MissingSecretError"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "canary", "baseUrl": "http://127.0.0.1:1/x"}, "canary"),
        ({"name": "Bad Name!", "baseUrl": "http://127.0.0.1:1/x"}, "name"),
        ({"name": "okname", "baseUrl": "ftp://example.com"}, "url"),
        ({"name": "okname", "baseUrl": "http://x", "headers": ["NoColonHere"]}, "header"),
        ({"name": "", "baseUrl": "http://x"}, "name"),
        ({"name": "okname"}, "url"),
        ([1, 2], "json object"),
    ],
)
def test_add_adapter_validation_is_400_and_file_untouched(
    jp: JupyterProcess, config_file: Path, body: object, needle: str
) -> None:
    before = config_file.read_bytes()
    r = httpx.post(jp.url + "atlas-canvas/adapters", headers=auth(jp), json=body)
    assert 400 <= r.status_code < 500, r.text
    err = r.json()["error"]
    assert needle in err["message"].lower()
    assert config_file.read_bytes() == before


# -- a second server: base URL, edits turned off ----------------------------------------------


def test_base_url_traits_and_edits_disabled(tmp_path: Path, canary: Canary) -> None:
    cfg = write_config(tmp_path / "server-atlas.yml", {"canary": (canary.url + "/base", [])})
    # c.AtlasCanvas.config_file wins over $ATLAS_CONFIG (which points at another file here).
    other = write_config(tmp_path / "env-atlas.yml", {"elsewhere": ("http://127.0.0.1:9", [])})
    with run_jupyter(
        tmp_path,
        other,
        base_url="/user/alice/",
        args=[
            "--AtlasCanvas.allow_config_edits=False",
            f"--AtlasCanvas.config_file={cfg}",
        ],
    ) as server:
        assert server.url.endswith("/user/alice/")
        data = httpx.get(server.url + "atlas-canvas/adapters", headers=auth(server)).json()
        assert data["allowEdits"] is False
        assert data["configFile"] == str(cfg)
        assert [a["name"] for a in data["adapters"]] == ["canary"]
        r = httpx.post(
            server.url + "atlas-canvas/adapters",
            headers=auth(server),
            json={"name": "x", "baseUrl": "http://127.0.0.1:1"},
        )
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "HTTP_403"
        canary.clear()
        r = httpx.get(server.url + f"{PROXY}/canary/q?x=1", headers=auth(server))
        assert r.status_code == 200
        assert [q.path for q in canary.requests] == ["/base/q?x=1"]
        # Outside the base URL there is nothing.
        r = httpx.get(f"http://127.0.0.1:{server.port}/atlas-canvas/adapters", headers=auth(server))
        assert r.status_code == 404
