"""resolve_target: the one decision of where requests go, and adapter_path."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from atlas_canvas import _target
from atlas_canvas._config import load_config
from atlas_canvas._errors import ConfigError, UsageError
from atlas_canvas._routing import PROXY_PREFIX, adapter_path, match_route
from atlas_canvas._target import Target, resolve_target
from tests.pagerduty.simenv import write_config


@pytest.fixture(autouse=True)
def _no_atlas_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ATLAS_URL", "ATLAS_CONFIG", "ATLAS_CA_BUNDLE", "ATLAS_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    _target.set_session_config_path(None)


def test_adapter_path_builds_every_proxy_path_from_the_prefix() -> None:
    assert adapter_path("pagerduty", "incidents") == f"{PROXY_PREFIX}/pagerduty/incidents"
    assert adapter_path("pagerduty", "/incidents/P1/notes") == (
        "/v1/apis/http/pagerduty/incidents/P1/notes"
    )
    assert adapter_path("pd-eu") == "/v1/apis/http/pd-eu/"  # the base URL itself
    route = match_route(adapter_path("pagerduty", "log_entries"))
    assert route.adapter == "pagerduty" and route.rest == "/log_entries"
    for bad in ("", "a/b", "../x", " pagerduty", ".hidden"):
        with pytest.raises(UsageError, match="bad adapter name"):
            adapter_path(bad, "incidents")


def test_injected_transport_wins_and_keeps_a_loaded_config(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path / "atlas.yml", "http://127.0.0.1:9"))
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    t = resolve_target(config=cfg, base_url="http://ignored:1", transport=transport)
    assert t.mode == "injected" and t.transport is transport and t.config is cfg
    assert t.key == ("injected", id(transport))
    assert resolve_target(config="atlas.yml", transport=transport).config is None


def test_base_url_is_remote_and_refuses_a_config_beside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = resolve_target(base_url="http://127.0.0.1:8082/")
    assert t.mode == "remote" and t.base_url == "http://127.0.0.1:8082"
    with pytest.raises(UsageError, match="either base_url"):
        resolve_target(base_url="http://127.0.0.1:8082", config="atlas.yml")
    with pytest.raises(UsageError, match="http:// or https://"):
        resolve_target(base_url="127.0.0.1:8082")
    monkeypatch.setenv("ATLAS_URL", "ftp://x")
    with pytest.raises(UsageError, match="ATLAS_URL must be"):
        resolve_target()


def test_atlas_url_goes_remote_unless_a_config_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ATLAS_URL", "https://atlas.example.com")
    monkeypatch.setenv("ATLAS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    t = resolve_target()
    assert t.mode == "remote" and t.base_url == "https://atlas.example.com"
    assert t.ca_bundle == str(tmp_path / "ca.pem")
    with pytest.raises(UsageError, match="ATLAS_CA_BUNDLE"):
        t.ssl_verify()  # no such file: a clear error, not an ssl traceback
    assert resolve_target(insecure=True).ssl_verify() is False
    # An explicit config (-f FILE) is in-process even with ATLAS_URL set, as `mom curl -f`.
    t = resolve_target(config=tmp_path / "atlas.yml")
    assert t.mode == "in-process" and t.config_path == tmp_path / "atlas.yml"


def test_in_process_config_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_target().config_path == Path("atlas.yml")
    monkeypatch.setenv("ATLAS_CONFIG", str(tmp_path / "env.yml"))
    assert resolve_target().config_path == tmp_path / "env.yml"
    _target.set_session_config_path(tmp_path / "session.yml")
    try:
        assert resolve_target().config_path == tmp_path / "session.yml"
        assert resolve_target(config="x.yml").config_path == Path("x.yml")
    finally:
        _target.set_session_config_path(None)


def test_access_token_is_read_at_use_and_never_in_the_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = resolve_target(base_url="http://127.0.0.1:8082")
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "tok-secret-123")
    assert t.access_token() == "tok-secret-123" and t.secrets() == ("tok-secret-123",)
    assert "tok-secret-123" not in repr(t)
    assert resolve_target(config="atlas.yml").access_token() is None


def test_one_transport_per_file_and_the_router_reloads_it(tmp_path: Path) -> None:
    path = write_config(tmp_path / "atlas.yml", "http://127.0.0.1:9")
    a, b = resolve_target(config=path), resolve_target(config=str(path))
    assert a.key == b.key and a.atlas_transport() is b.atlas_transport()
    cfg = a.current_config()
    assert cfg is not None and [x.name for x in cfg.http_adapters] == ["pagerduty"]
    path.write_text(path.read_text().replace("name: pagerduty", "name: pd2") + " ")
    cfg = b.current_config()
    assert cfg is not None and [x.name for x in cfg.http_adapters] == ["pd2"]
    path.write_text("kind: [unclosed")
    with pytest.raises(ConfigError):
        a.current_config()
    missing = resolve_target(config=tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match=r"missing\.yml"):
        missing.secrets()


def test_secrets_are_the_adapters_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "atlas.yml", "http://127.0.0.1:9", variable="PD_TOKEN_T")
    monkeypatch.setenv("PD_TOKEN_T", "value-of-the-token")
    assert resolve_target(config=path).secrets() == ("value-of-the-token",)
    assert resolve_target(config=load_config(path)).secrets() == ("value-of-the-token",)


def test_describe_names_the_place_without_secrets() -> None:
    assert resolve_target(base_url="http://h:1").describe() == "the Atlas server at http://h:1"
    assert "atlas.yml" in resolve_target(config="atlas.yml").describe()
    assert Target(mode="injected").describe() == "the injected transport"
    assert os.fspath(resolve_target(config="atlas.yml").config_path or "") == "atlas.yml"


def test_no_proxy_path_is_built_by_hand() -> None:
    """Every /v1/apis/http/<adapter>/... path is built by adapter_path (from PROXY_PREFIX)."""
    import ast
    import itertools

    package = Path(__file__).resolve().parents[1] / "atlas_canvas"
    found = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):  # f-strings only
                continue
            parts = node.values
            for part, following in itertools.pairwise(parts):
                # "/v1/apis/http/{name}...": a proxy path put together by hand
                if (
                    isinstance(part, ast.Constant)
                    and str(part.value).endswith(("/v1/apis/http/", "/v1/apis/http"))
                    and isinstance(following, ast.FormattedValue)
                ):
                    found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
