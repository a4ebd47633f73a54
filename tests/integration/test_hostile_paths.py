"""Hostile UTF-8 and Unicode paths through all three real front doors, one canary upstream.

The in-process transport (``AtlasTransport``), the Atlas server (``mom atlas run`` in a
subprocess) and the Jupyter server extension's route (a real ``jupyter_server`` subprocess)
must give the same verdict for each path: 400 with ``ATLAS_BadPathError``, and the canary
upstream (the adapter's baseUrl) never sees a request. Legitimate non-ASCII paths reach it
unchanged through all three, so the test cannot pass by refusing everything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from atlas_canvas._transport import AtlasTransport
from tests.conftest import PLANTED_SECRET
from tests.hostile_unicode import LEGIT_UNICODE_SEGMENTS, hostile_unicode_segments
from tests.jupyter.servers import run_jupyter
from tests.proxy_fakes import (
    PD_AUTH,
    Recorder,
    assert_no_secret,
    config_yaml,
    raw_request,
    recording_server,
    start_atlas,
    stop_atlas,
)

pytestmark = pytest.mark.integration

TOKEN = "test-token-Hostile9"
JUPYTER_TOKEN = "jp-token-Hostile9"

#: ``send(raw_target) -> (status, body)`` for one front door.
Door = Callable[[str], tuple[int, bytes]]


@pytest.fixture(scope="module")
def canary() -> Iterator[tuple[str, Recorder]]:
    with recording_server("canary") as pair:
        yield pair


@pytest.fixture(scope="module")
def config(canary: tuple[str, Recorder], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "atlas.yml"
    path.write_text(config_yaml({"pd": canary[0] + "/base"}, headers={"pd": PD_AUTH}))
    return path


@pytest.fixture(scope="module")
def doors(config: Path) -> Iterator[dict[str, Door]]:
    tmp = config.parent
    atlas = start_atlas(config, tmp, token=TOKEN)
    loop = asyncio.new_event_loop()
    transport = AtlasTransport(
        config_path=config, environ={"PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET}
    )
    client = httpx.AsyncClient(transport=transport, base_url="http://atlas.invalid")

    def in_process(target: str) -> tuple[int, bytes]:
        # httpx keeps percent-escapes as given; only raw dot segments would be normalised.
        r = loop.run_until_complete(client.get(target))
        return r.status_code, r.content

    def server(target: str) -> tuple[int, bytes]:
        return raw_request(atlas.url, target, {"Atlas-Accesstoken": TOKEN})

    try:
        with run_jupyter(
            tmp,
            config,
            token=JUPYTER_TOKEN,
            env_extra={"PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET},
        ) as jp:

            def jupyter(target: str) -> tuple[int, bytes]:
                return raw_request(
                    f"http://127.0.0.1:{jp.port}",
                    "/atlas-canvas" + target,
                    {"Authorization": f"token {JUPYTER_TOKEN}"},
                )

            yield {"in-process": in_process, "atlas-server": server, "jupyter": jupyter}
            assert_no_secret(jp.log())
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
        stop_atlas(atlas)
        assert_no_secret(atlas.log())


@pytest.mark.parametrize("segment", hostile_unicode_segments())
def test_hostile_unicode_path_gets_the_same_400_on_every_front_door(
    segment: str, doors: dict[str, Door], canary: tuple[str, Recorder]
) -> None:
    rec = canary[1]
    rec.clear()
    verdicts = {}
    for name, send in doors.items():
        for target in (f"/v1/apis/http/pd/{segment}", f"/v1/apis/http/pd/a/{segment}/x"):
            status, body = send(target)
            assert_no_secret(body)
            code = json.loads(body)["error"]["code"] if body.startswith(b"{") else None
            verdicts[(name, target)] = (status, code)
    assert set(verdicts.values()) == {(400, "ATLAS_BadPathError")}, verdicts
    assert rec.seen == []


@pytest.mark.parametrize("segment", LEGIT_UNICODE_SEGMENTS)
def test_legit_unicode_path_reaches_the_upstream_unchanged_on_every_front_door(
    segment: str, doors: dict[str, Door], canary: tuple[str, Recorder]
) -> None:
    rec = canary[1]
    for name, send in doors.items():
        rec.clear()
        status, _ = send(f"/v1/apis/http/pd/{segment}/x")
        assert status == 200, name
        assert [s.target for s in rec.seen] == [f"/base/{segment}/x"], name


#: The same tricks sent as raw bytes on the request line, not percent-encoded.
RAW_BYTE_SEGMENTS = [
    b"\xc0\xae\xc0\xae",
    b"\xe0\x80\xae",
    b"\xf0\x80\x80\xae",
    b"\xed\xa0\x80",
    "\uff0e\uff0e".encode(),
    "a\uff0fb".encode(),
    "\u2025".encode(),
    "é".encode(),  # valid UTF-8, but raw non-ASCII is not a legal request target either
]


@pytest.mark.parametrize("segment", RAW_BYTE_SEGMENTS, ids=lambda b: b.hex())
def test_raw_non_ascii_bytes_get_the_same_400_on_every_front_door(
    segment: bytes, doors: dict[str, Door], canary: tuple[str, Recorder]
) -> None:
    rec = canary[1]
    rec.clear()
    verdicts = {}
    for name, send in doors.items():
        if name == "in-process":
            continue  # an httpx URL cannot carry raw non-ASCII bytes: it percent-encodes them
        status, body = send("/v1/apis/http/pd/" + segment.decode("latin-1") + "/x")
        code = json.loads(body)["error"]["code"] if body.startswith(b"{") else None
        verdicts[name] = (status, code)
    # The Jupyter route reaches the routing core (Tornado reads the request line as Latin-1);
    # aiohttp's HTTP parser refuses raw non-ASCII in the request target itself, before the
    # Atlas app runs, and the server answers that refusal as an Atlas error too. Same
    # status and code, nothing sent upstream.
    assert verdicts == {
        "atlas-server": (400, "ATLAS_BadPathError"),
        "jupyter": (400, "ATLAS_BadPathError"),
    }, verdicts
    assert rec.seen == []
