"""Real PagerDuty client libraries through the Atlas server.

* ``pdpyras.APISession`` over http (its ``url`` pointed at ``/v1/apis/http/pagerduty``);
* ``pagerduty.RestApiV2Client`` (python-pagerduty, httpx2-based, https-only) over https, the
  server started with ``--certfile/--keyfile`` from ``trustme`` and the client trusting its CA.

Each lists incidents from a loopback upstream: a recording fake (to see exactly which
Authorization reached it) and the project's PagerDuty simulator (to page through many).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PLANTED_SECRET
from tests.proxy_fakes import (
    PD_AUTH,
    AtlasProcess,
    Recorder,
    assert_no_secret,
    config_yaml,
    recording_server,
    start_atlas,
    stop_atlas,
)

pytestmark = pytest.mark.integration

TOKEN = "client-test-token-XyZ"
CALLER_KEY = "caller-own-pd-key"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[str, Recorder, str]]:
    from atlas_canvas.simulator import SimulatorConfig, running

    with (
        recording_server("pd-fake") as (fake_url, rec),
        running(SimulatorConfig(seed=3, incidents=230, token=PLANTED_SECRET)) as sim_url,
    ):
        yield fake_url, rec, sim_url


def _config(tmp: Path, fake_url: str, sim_url: str) -> Path:
    path = tmp / "atlas.yml"
    path.write_text(
        config_yaml(
            {"pagerduty": fake_url, "pdsim": sim_url},
            headers={"pagerduty": PD_AUTH, "pdsim": PD_AUTH},
        )
    )
    return path


@pytest.fixture(scope="module")
def http_atlas(
    upstreams: tuple[str, Recorder, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AtlasProcess]:
    fake_url, _, sim_url = upstreams
    tmp = tmp_path_factory.mktemp("http")
    proc = start_atlas(_config(tmp, fake_url, sim_url), tmp, token=TOKEN)
    yield proc
    stop_atlas(proc)
    assert_no_secret(proc.log())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    import trustme

    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    for blob in cert.cert_chain_pems[1:]:
        blob.write_to_path(str(cert_path), append=True)
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def https_atlas(
    upstreams: tuple[str, Recorder, str],
    tls: tuple[Path, Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AtlasProcess]:
    fake_url, _, sim_url = upstreams
    ca_path, cert_path, key_path = tls
    tmp = tmp_path_factory.mktemp("https")
    proc = start_atlas(
        _config(tmp, fake_url, sim_url),
        tmp,
        "--certfile",
        str(cert_path),
        "--keyfile",
        str(key_path),
        token=TOKEN,
        scheme="https",
        verify=ssl.create_default_context(cafile=str(ca_path)),
    )
    yield proc
    stop_atlas(proc)
    assert_no_secret(proc.log())


def test_pdpyras_over_http(http_atlas: AtlasProcess, upstreams: tuple[str, Recorder, str]) -> None:
    import pdpyras

    _, rec, _ = upstreams
    rec.clear()
    session = pdpyras.APISession(CALLER_KEY)
    session.url = f"{http_atlas.url}/v1/apis/http/pagerduty"
    session.headers["Atlas-Accesstoken"] = TOKEN
    incidents = session.list_all("incidents", params={"statuses[]": ["triggered", "acknowledged"]})
    assert [i["id"] for i in incidents] == ["P0", "P1", "P2"]
    (seen,) = rec.seen
    assert seen.target.startswith("/incidents?")
    assert "statuses%5B%5D=triggered&statuses%5B%5D=acknowledged" in seen.target
    # The adapter's Authorization reached the upstream; the caller's did not.
    assert seen.header("Authorization") == [f"Token token={PLANTED_SECRET}"]
    assert CALLER_KEY not in repr(seen.headers)
    assert seen.header("Atlas-Accesstoken") == []
    assert seen.header("Accept") == ["application/vnd.pagerduty+json;version=2"]


def test_pdpyras_pages_through_the_simulator(http_atlas: AtlasProcess) -> None:
    import pdpyras

    session = pdpyras.APISession(CALLER_KEY)
    session.url = f"{http_atlas.url}/v1/apis/http/pdsim"
    session.headers["Atlas-Accesstoken"] = TOKEN
    # The simulator accepts only the planted token: this works only if the adapter's
    # Authorization replaced the caller's.
    incidents = list(session.iter_all("incidents", params={"date_range": "all"}))
    assert len(incidents) == 230
    assert len({i["id"] for i in incidents}) == 230
    for inc in incidents[:5]:
        assert_no_secret(repr(inc))


def test_pdpyras_error_passthrough(http_atlas: AtlasProcess) -> None:
    import pdpyras

    session = pdpyras.APISession(CALLER_KEY)
    session.url = f"{http_atlas.url}/v1/apis/http/pagerduty"
    session.headers["Atlas-Accesstoken"] = "wrong-token"
    with pytest.raises(pdpyras.PDClientError) as info:
        session.rget("incidents")
    assert info.value.response is not None and info.value.response.status_code == 401
    assert "API_InvalidAccessTokenError" in info.value.response.text


def test_python_pagerduty_over_https(
    https_atlas: AtlasProcess,
    upstreams: tuple[str, Recorder, str],
    tls: tuple[Path, Path, Path],
) -> None:
    import pagerduty

    _, rec, _ = upstreams
    rec.clear()
    ca_path = tls[0]
    # python-pagerduty is built on httpx2: `verify` takes an SSLContext trusting our CA.
    client = pagerduty.RestApiV2Client(
        CALLER_KEY,
        base_url=f"{https_atlas.url}/v1/apis/http/pagerduty",
        verify=ssl.create_default_context(cafile=str(ca_path)),
    )
    client.headers["Atlas-Accesstoken"] = TOKEN
    incidents = client.list_all("incidents", params={"urgencies[]": ["high"]})
    assert [i["id"] for i in incidents] == ["P0", "P1", "P2"]
    (seen,) = rec.seen
    assert "urgencies%5B%5D=high" in seen.target
    assert seen.header("Authorization") == [f"Token token={PLANTED_SECRET}"]
    assert CALLER_KEY not in repr(seen.headers)

    sim = pagerduty.RestApiV2Client(
        CALLER_KEY,
        base_url=f"{https_atlas.url}/v1/apis/http/pdsim",
        verify=ssl.create_default_context(cafile=str(ca_path)),
    )
    sim.headers["Atlas-Accesstoken"] = TOKEN
    assert len(list(sim.iter_all("incidents", params={"date_range": "all"}))) == 230


def test_https_server_refuses_untrusted_clients(https_atlas: AtlasProcess) -> None:
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get(https_atlas.url + "/healthcheck")  # system CAs do not know trustme's CA


async def test_notebook_fetch_trusts_a_private_ca_through_atlas_ca_bundle(
    https_atlas: AtlasProcess, tls: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team server with an internal certificate: ATLAS_CA_BUNDLE makes notebooks trust it."""
    from atlas_canvas import atlasProxyFetch
    from atlas_canvas._errors import UpstreamError, UsageError

    ca_path = tls[0]
    monkeypatch.setenv("ATLAS_URL", https_atlas.url)
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", TOKEN)
    monkeypatch.delenv("ATLAS_CA_BUNDLE", raising=False)
    with pytest.raises(UpstreamError):  # system CAs do not know trustme's CA
        await atlasProxyFetch("/v1/apis/http/pagerduty/incidents")

    monkeypatch.setenv("ATLAS_CA_BUNDLE", str(ca_path))
    r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents")
    assert r.status == 200 and r.url.startswith("https://")
    assert [i["id"] for i in (await r.json())["incidents"]] == ["P0", "P1", "P2"]

    monkeypatch.setenv("ATLAS_CA_BUNDLE", str(ca_path.parent / "missing.pem"))
    with pytest.raises(UsageError, match="ATLAS_CA_BUNDLE"):
        await atlasProxyFetch("/v1/apis/http/pagerduty/incidents")


def test_mom_curl_reads_atlas_ca_bundle(
    https_atlas: AtlasProcess, tls: tuple[Path, Path, Path]
) -> None:
    env = {
        **os.environ,
        "ATLAS_URL": https_atlas.url,
        "ATLAS_ACCESS_TOKEN": TOKEN,
        "ATLAS_CA_BUNDLE": str(tls[0]),
    }
    out = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "curl", "/v1/apis/http/pagerduty/incidents"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '"P0"' in out.stdout
