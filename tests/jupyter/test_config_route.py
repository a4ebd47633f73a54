"""The Jupyter config routes: structured field errors, and no secret in any error.

A real Jupyter server subprocess with the extension. ``POST atlas-canvas/adapters`` answers
``{"error": {"code", "message", "hint", "field"}}`` with ``field`` the form field (``name``,
``baseUrl``, ``headers``) so the sidebar puts the error beside it; a config with a secret
planted where errors used to quote it gives errors (adapter list, proxy, health) and a
server log that never hold it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.config_secrets_cases import CASES, PLANTED
from tests.jupyter.servers import JupyterProcess, run_jupyter, write_config

pytestmark = pytest.mark.integration

ADAPTERS = "atlas-canvas/adapters"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("jp-config")
    return write_config(tmp / "atlas.yml", {"existing": ("http://127.0.0.1:9/base", [])})


@pytest.fixture(scope="module")
def jp(config_file: Path) -> Iterator[JupyterProcess]:
    with run_jupyter(config_file.parent, config_file) as server:
        yield server


def auth(jp: JupyterProcess) -> dict[str, str]:
    return {"Authorization": f"token {jp.token}"}


def post(jp: JupyterProcess, body: object) -> httpx.Response:
    return httpx.post(jp.url + ADAPTERS, headers=auth(jp), json=body, timeout=30)


def add_body(
    name: str = "okname", url: str = "http://127.0.0.1:9/x", headers: list[str] | None = None
) -> dict[str, object]:
    return {"name": name, "baseUrl": url, "headers": headers or []}


@pytest.mark.parametrize(
    ("body", "field", "needle"),
    [
        pytest.param({"baseUrl": "http://x"}, "name", "name is required", id="no-name"),
        pytest.param(add_body(name="a/b"), "name", "URL path segment", id="bad-name"),
        pytest.param(add_body(name="existing"), "name", "already exists", id="duplicate"),
        pytest.param({"name": "okname"}, "baseUrl", "base URL is required", id="no-url"),
        pytest.param(add_body(url="ftp://h"), "baseUrl", "http:// or https://", id="ftp"),
        pytest.param(add_body(url="https://h/?a=1"), "baseUrl", "query", id="url-query"),
        pytest.param(add_body(headers=["NoColon"]), "headers", "no ':'", id="no-colon"),
        pytest.param(add_body(headers=["Bad Name: v"]), "headers", "header name", id="bad-hname"),
        pytest.param(
            add_body(headers=["X: ${{ 1A }}"]), "headers", "malformed secret", id="template"
        ),
        pytest.param(add_body(headers=["X: a", "x: b"]), "headers", "twice", id="twice"),
        pytest.param(
            {"name": "okname", "baseUrl": "http://x", "headers": "X: y"},
            "headers",
            "list",
            id="headers-not-list",
        ),
    ],
)
def test_add_adapter_errors_name_their_field(
    jp: JupyterProcess, config_file: Path, body: object, field: str, needle: str
) -> None:
    before = config_file.read_bytes()
    r = post(jp, body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "hint", "field"}
    assert err["code"] == "ATLAS_UsageError"
    assert err["field"] == field
    assert needle in err["message"]
    # The form shows form words, not the command line's options (a hint may still suggest
    # a command).
    said = err["message"].removesuffix(f" ({err['hint']})")
    assert "--adapter-name" not in said and "--base-url" not in said and "-H" not in said
    assert config_file.read_bytes() == before


def test_add_adapter_error_hint_is_separate(jp: JupyterProcess) -> None:
    err = post(jp, add_body(name="existing")).json()["error"]
    assert err["hint"] and "remove-adapter" in err["hint"]
    assert err["message"].endswith(f"({err['hint']})")  # message keeps the whole sentence


def test_a_config_error_names_its_key_path(jp: JupyterProcess, config_file: Path) -> None:
    good = config_file.read_text()
    try:
        _replace(config_file, good.replace("baseUrl: http://127.0.0.1:9/base", "baseUrl: ftp://h"))
        r = httpx.get(jp.url + ADAPTERS, headers=auth(jp), timeout=30)
        err = r.json()["error"]
        assert r.status_code == 500 and err["code"] == "ATLAS_ConfigError"
        assert err["field"] == "spec.baseUrl"
    finally:
        _replace(config_file, good)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(add_body(url=f"https://u:{PLANTED}@h.example/"), id="url-userinfo"),
        pytest.param(add_body(url=f"https://h.example/?key={PLANTED}"), id="url-query"),
        pytest.param(add_body(url=f"https://h.example/#{PLANTED}"), id="url-fragment"),
        pytest.param(add_body(url=f"https://h.example:{PLANTED}/"), id="url-port"),
        pytest.param(add_body(headers=[f"Authorization: ${{{{ {PLANTED} }}}}"]), id="template"),
        pytest.param(add_body(headers=[f"Authorization: ${{{{ {PLANTED}"]), id="unclosed"),
        pytest.param(add_body(headers=[f"Authorization Token {PLANTED}"]), id="no-colon"),
        pytest.param(add_body(headers=[f"X: {PLANTED}\x01"]), id="control-character"),
    ],
)
def test_add_adapter_refusals_never_echo_a_planted_secret(
    jp: JupyterProcess, config_file: Path, body: dict[str, object]
) -> None:
    before = config_file.read_bytes()
    r = post(jp, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] in ("baseUrl", "headers")
    assert PLANTED not in r.text and "PLANTED" not in r.text
    assert config_file.read_bytes() == before


_mtime = [time.time() + 10]


def _replace(path: Path, text: str) -> None:
    """Write ``text`` with a later mtime each time, so the router's reload check sees it."""
    path.write_text(text)
    _mtime[0] += 2
    os.utime(path, (_mtime[0], _mtime[0]))


@pytest.mark.parametrize("case", list(CASES))
def test_planted_config_errors_are_clean(jp: JupyterProcess, config_file: Path, case: str) -> None:
    good = config_file.read_text()
    try:
        _replace(config_file, CASES[case][0])
        for method, route in [
            ("GET", ADAPTERS),
            ("GET", "atlas-canvas/v1/apis/http/pd/x"),
            ("GET", "atlas-canvas/adapters/pd/health"),
            ("POST", ADAPTERS),
        ]:
            r = httpx.request(
                method,
                jp.url + route,
                headers=auth(jp),
                json=add_body() if method == "POST" else None,
                timeout=30,
            )
            assert r.status_code >= 400, (route, r.text)
            assert r.json()["error"]["code"] == "ATLAS_ConfigError", (route, r.text)
            assert PLANTED not in r.text and "PLANTED" not in r.text, (route, r.text)
    finally:
        _replace(config_file, good)


def test_server_log_never_holds_the_planted_secret(jp: JupyterProcess) -> None:
    # Runs last in this module: every request above has been logged by now.
    log = jp.log()
    assert "atlas-canvas" in log or "Jupyter Server" in log  # the log is the real one
    assert PLANTED not in log and "PLANTED" not in log
