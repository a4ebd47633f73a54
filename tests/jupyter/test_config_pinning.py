"""``allow_config_edits = False`` is a boundary: nothing done through Jupyter's HTTP API can make
the server send a secret to another base URL, nor send any other environment variable.

A REAL Jupyter server whose config file lies inside its contents root (the dangerous and
common layout) and two recording servers on loopback: the operator's upstream, and a thief.
Hostile configs are written through the contents API (rewritten, replaced by delete + create,
renamed over); every route of the extension is then tried; the thief must see nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PLANTED_SECRET
from tests.jupyter.servers import (
    Canary,
    JupyterProcess,
    run_canary,
    run_in_kernel,
    run_jupyter,
    write_config,
)

pytestmark = pytest.mark.integration

SERVER_ONLY = "ATLAS_TEST_SERVER_ONLY"
SERVER_ONLY_VALUE = "server-only-value-5d2a"
AUTH_HEADER = "Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Canary]:
    with run_canary() as c:
        yield c


@pytest.fixture(scope="module")
def thief() -> Iterator[Canary]:
    with run_canary() as c:
        yield c


def _operator_adapters(upstream: Canary) -> dict[str, tuple[str, list[str]]]:
    return {"pd": (upstream.url + "/base", [AUTH_HEADER]), "plain": (upstream.url + "/p", [])}


@pytest.fixture(scope="module")
def jp(tmp_path_factory: pytest.TempPathFactory, upstream: Canary) -> Iterator[JupyterProcess]:
    tmp = tmp_path_factory.mktemp("pin")
    (tmp / "root").mkdir()
    config = write_config(tmp / "root" / "atlas.yml", _operator_adapters(upstream))
    with run_jupyter(
        tmp,
        config,
        args=["--AtlasCanvas.allow_config_edits=False"],
        env_extra={"PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET, SERVER_ONLY: SERVER_ONLY_VALUE},
    ) as server:
        yield server


def _auth(jp: JupyterProcess) -> dict[str, str]:
    return {"Authorization": f"token {jp.token}"}


def _config_text(tmp: Path, adapters: dict[str, tuple[str, list[str]]]) -> str:
    return write_config(tmp / "scratch.yml", adapters).read_text()


def _put(jp: JupyterProcess, path: str, text: str) -> None:
    r = httpx.put(
        jp.url + f"api/contents/{path}",
        headers=_auth(jp),
        json={"type": "file", "format": "text", "content": text},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text


def _write_hostile(jp: JupyterProcess, how: str, text: str) -> None:
    """Put ``text`` at atlas.yml through the contents API: rewrite, replace or rename over."""
    if how == "rewrite":
        _put(jp, "atlas.yml", text)
    elif how == "replace":
        r = httpx.delete(jp.url + "api/contents/atlas.yml", headers=_auth(jp), timeout=30)
        assert r.status_code == 204, r.text
        _put(jp, "atlas.yml", text)
    else:  # rename a prepared file onto the config's name
        _put(jp, "prepared.yml", text)
        r = httpx.delete(jp.url + "api/contents/atlas.yml", headers=_auth(jp), timeout=30)
        assert r.status_code == 204, r.text
        r = httpx.patch(
            jp.url + "api/contents/prepared.yml",
            headers=_auth(jp),
            json={"path": "atlas.yml"},
            timeout=30,
        )
        assert r.status_code == 200, r.text


def _try_every_route(jp: JupyterProcess, names: list[str]) -> list[httpx.Response]:
    out = [httpx.get(jp.url + "atlas-canvas/adapters", headers=_auth(jp), timeout=30)]
    for name in names:
        for path in (
            f"atlas-canvas/v1/apis/http/{name}/x",
            f"atlas-canvas/adapters/{name}/health",
        ):
            out.append(httpx.get(jp.url + path, headers=_auth(jp), timeout=30))
        out.append(
            httpx.post(
                jp.url + f"atlas-canvas/v1/apis/http/{name}/y",
                headers=_auth(jp),
                content=b"{}",
                timeout=30,
            )
        )
    return out


def _everything_seen(canary: Canary) -> str:
    return json.dumps(
        [[r.method, r.path, r.headers, r.body.decode("latin-1")] for r in canary.requests]
    )


def _hostile_configs(
    upstream: Canary, thief: Canary
) -> dict[str, dict[str, tuple[str, list[str]]]]:
    ops = _operator_adapters(upstream)
    return {
        "baseUrl-moved-to-thief": {**ops, "pd": (thief.url + "/base", [AUTH_HEADER])},
        "new-adapter-names-HOME": {**ops, "evil": (thief.url, ["X-Home: ${{ HOME }}"])},
        "new-adapter-names-server-variable": {
            **ops,
            "evil": (thief.url, [f"X-Leak: ${{{{ {SERVER_ONLY} }}}}", AUTH_HEADER]),
        },
        "pinned-adapter-adds-a-variable": {
            **ops,
            "pd": (upstream.url + "/base", [AUTH_HEADER, f"X-Leak: ${{{{ {SERVER_ONLY} }}}}"]),
        },
        "secretless-adapter-gains-a-secret": {
            **ops,
            "plain": (upstream.url + "/p", [AUTH_HEADER]),
        },
        "renamed-adapter-keeps-secret-new-url": {
            "plain": ops["plain"],
            "pd2": (thief.url + "/base", [AUTH_HEADER]),
        },
    }


@pytest.mark.parametrize("how", ["rewrite", "replace", "rename"])
@pytest.mark.parametrize(
    "case",
    [
        "baseUrl-moved-to-thief",
        "new-adapter-names-HOME",
        "new-adapter-names-server-variable",
        "pinned-adapter-adds-a-variable",
        "secretless-adapter-gains-a-secret",
        "renamed-adapter-keeps-secret-new-url",
    ],
)
def test_hostile_config_through_contents_api_never_leaks(
    jp: JupyterProcess, upstream: Canary, thief: Canary, tmp_path: Path, case: str, how: str
) -> None:
    adapters = _hostile_configs(upstream, thief)[case]
    before = jp.log().count("refused the changed config")
    _write_hostile(jp, how, _config_text(tmp_path, adapters))
    upstream.clear()
    thief.clear()
    responses = _try_every_route(jp, ["pd", "plain", "evil", "pd2"])

    assert thief.requests == []
    seen = _everything_seen(upstream)
    assert SERVER_ONLY_VALUE not in seen
    assert "X-Leak" not in seen and "X-Home" not in seen
    # The pinned adapters still work as the operator configured them.
    assert any(r.path == "/base/x" for r in upstream.requests)
    pd = next(r for r in upstream.requests if r.path == "/base/x")
    assert ("Authorization", f"Token token={PLANTED_SECRET}") in pd.headers
    assert all(
        not any(k.lower() == "authorization" for k, _ in r.headers)
        for r in upstream.requests
        if r.path.startswith("/p/")
    )
    listed = responses[0].json()["adapters"]
    assert sorted(a["name"] for a in listed) == ["pd", "plain"]
    assert {a["baseUrl"] for a in listed} == {upstream.url + "/base", upstream.url + "/p"}
    for r in responses:
        assert PLANTED_SECRET not in r.text and SERVER_ONLY_VALUE not in r.text
    # One log line per refused change, naming no value and no URL.
    log = jp.log()
    assert log.count("refused the changed config") == before + 1
    line = [x for x in log.splitlines() if "refused the changed config" in x][-1]
    assert thief.url not in line and str(thief.port) not in line
    assert PLANTED_SECRET not in log and SERVER_ONLY_VALUE not in log


def test_harmless_edits_are_accepted(
    jp: JupyterProcess, upstream: Canary, thief: Canary, tmp_path: Path
) -> None:
    """The pin is not a freeze: header text may change (same variables), adapters may go, and an
    adapter naming no variable may be added (it carries nothing of the server's)."""
    adapters = {
        "pd": (upstream.url + "/base", ["X-Token: ${{ PAGERDUTY_ACCOUNT_TOKEN }}"]),
        "open": (thief.url + "/open", ["Accept: application/json"]),
    }
    _put(jp, "atlas.yml", _config_text(tmp_path, adapters))
    upstream.clear()
    thief.clear()
    r = httpx.get(jp.url + "atlas-canvas/adapters", headers=_auth(jp), timeout=30)
    assert sorted(a["name"] for a in r.json()["adapters"]) == ["open", "pd"]
    assert (
        httpx.get(jp.url + "atlas-canvas/v1/apis/http/pd/x", headers=_auth(jp)).status_code == 200
    )
    assert ("X-Token", PLANTED_SECRET) in upstream.requests[0].headers
    assert (
        httpx.get(jp.url + "atlas-canvas/v1/apis/http/open/x", headers=_auth(jp)).status_code == 200
    )
    seen = _everything_seen(thief)
    assert PLANTED_SECRET not in seen and SERVER_ONLY_VALUE not in seen
    assert jp.token not in seen  # nor Jupyter's own credentials
    # Back to the operator's file (accepted: it is the pinned one).
    _put(jp, "atlas.yml", _config_text(tmp_path, _operator_adapters(upstream)))
    r = httpx.get(jp.url + "atlas-canvas/adapters", headers=_auth(jp), timeout=30)
    assert sorted(a["name"] for a in r.json()["adapters"]) == ["pd", "plain"]


def test_start_warns_that_the_config_is_writable_and_edits_route_is_off(
    jp: JupyterProcess,
) -> None:
    log = jp.log()
    assert "config edits are off but the config file" in log
    assert "inside the contents root" in log
    r = httpx.post(
        jp.url + "atlas-canvas/adapters",
        headers=_auth(jp),
        json={"name": "x", "baseUrl": "http://127.0.0.1:9", "headers": []},
        timeout=30,
    )
    assert r.status_code == 403


def test_no_warning_when_the_config_is_outside_the_root(tmp_path: Path, upstream: Canary) -> None:
    config = write_config(tmp_path / "atlas.yml", _operator_adapters(upstream))
    with run_jupyter(
        tmp_path,
        config,
        args=[
            "--AtlasCanvas.allow_config_edits=False",
            "--AtlasCanvas.kernel_atlas_url=https://jupyter.example:8443/atlas-canvas",
        ],
    ) as server:
        assert "atlas-canvas server extension loaded" in server.log()
        r = httpx.get(server.url + "atlas-canvas/adapters", headers=_auth(server), timeout=30)
        assert r.status_code == 200
        assert "config edits are off but the config file" not in server.log()
        assert "non-dumpable" not in server.log()  # it holds no secret
        # c.AtlasCanvas.kernel_atlas_url is what kernels get as ATLAS_URL.
        r = httpx.post(
            server.url + "api/kernels", headers=_auth(server), json={"name": "python3"}, timeout=60
        )
        assert r.status_code == 201, r.text
        text = run_in_kernel(
            server, r.json()["id"], "import os; print('URL', os.environ['ATLAS_URL'])"
        )
        assert "URL https://jupyter.example:8443/atlas-canvas" in text
