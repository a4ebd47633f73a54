"""The Jupyter proxy route passes header bytes through unchanged (issue 13 class 3), like the
Atlas server: Tornado decodes headers as Latin-1 and the one sender writes UTF-8, so the
route must hand the sender the caller's exact bytes, and refuse bytes that are not UTF-8."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from tests.jupyter.servers import Canary, JupyterProcess, run_canary, run_jupyter, write_config

pytestmark = pytest.mark.integration

PROXY = "/atlas-canvas/v1/apis/http"


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with run_canary() as c:
        yield c


@pytest.fixture(scope="module")
def jp(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> Iterator[JupyterProcess]:
    tmp = tmp_path_factory.mktemp("jp-bytes")
    config = write_config(tmp / "atlas.yml", {"canary": (canary.url + "/base", [])})
    with run_jupyter(config.parent, config) as server:
        yield server


def _send(jp: JupyterProcess, name: bytes, value: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", jp.port, timeout=30)
    try:
        conn.putrequest("GET", f"{PROXY}/canary/bytes", skip_accept_encoding=True)
        conn.putheader("Authorization", f"token {jp.token}")
        conn.putheader(name.decode("latin-1"), value)  # bytes go on the wire as they are
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_utf8_request_header_bytes_reach_the_upstream_unchanged(
    jp: JupyterProcess, canary: Canary
) -> None:
    canary.clear()
    value = "café 🔥".encode()
    status, _ = _send(jp, b"X-Name", value)
    assert status == 200
    (seen,) = canary.requests
    # The canary (http.server) decodes header bytes as Latin-1: encode back to compare bytes.
    got = [v.encode("latin-1") for n, v in seen.headers if n.lower() == "x-name"]
    assert got == [value]


def test_non_utf8_request_header_is_a_400_and_never_sent(
    jp: JupyterProcess, canary: Canary
) -> None:
    canary.clear()
    status, body = _send(jp, b"X-Name", b"caf\xe9")
    assert status == 400, body
    assert b"ATLAS_BadHeaderError" in body and b"UTF-8" in body
    assert canary.requests == []
