"""`mom curl` (in-process) and `mom atlas apis list -f`, through `_cli.main` (exit codes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas_canvas._cli import main
from tests.conftest import PLANTED_SECRET, free_port
from tests.proxy_fakes import PD_AUTH, Recorder, config_yaml, recording_server


@pytest.fixture(autouse=True)
def _no_server_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # In-process by default: no ATLAS_URL, no token, no stored token from the developer's home.
    monkeypatch.delenv("ATLAS_URL", raising=False)
    monkeypatch.delenv("ATLAS_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("ATLAS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def setup(planted_secret: str, tmp_path: Path) -> Iterator[tuple[Path, Recorder]]:
    with recording_server() as (url, rec):
        cfg = tmp_path / "atlas.yml"
        down = f"http://127.0.0.1:{free_port()}"
        cfg.write_text(config_yaml({"pd": url + "/base", "down": down}, headers={"pd": PD_AUTH}))
        yield cfg, rec


def _run(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    code = main(list(args))
    out, err = capsysbinary.readouterr()
    assert PLANTED_SECRET.encode() not in out and PLANTED_SECRET.encode() not in err
    return code, out, err.decode()


def test_curl_get_in_process(setup, capsysbinary, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg, rec = setup
    monkeypatch.delenv("ATLAS_URL", raising=False)
    code, out, err = _run(
        capsysbinary,
        "curl",
        "-f",
        str(cfg),
        "/v1/apis/http/pd/list?s[]=a&s[]=b",
        "-H",
        "Accept: application/json",
        "-H",
        "Cookie: x=1",
    )
    assert code == 0, err
    assert json.loads(out)["target"] == "/base/list?s[]=a&s[]=b"
    assert rec.seen[0].header("Authorization") == [f"Token token={PLANTED_SECRET}"]
    assert rec.seen[0].header("Cookie") == []
    assert rec.seen[0].header("Accept") == ["application/json"]


def test_curl_post_data_and_file(setup, capsysbinary, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg, rec = setup
    code, _, err = _run(
        capsysbinary,
        "curl",
        "-f",
        str(cfg),
        "/v1/apis/http/pd/x",
        "-d",
        '{"incident": {"title": "t"}}',
    )
    assert code == 0, err
    assert rec.seen[0].method == "POST"
    assert rec.seen[0].header("Content-Type") == ["application/json"]
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)))
    code, _, err = _run(
        capsysbinary,
        "curl",
        "-f",
        str(cfg),
        "/v1/apis/http/pd/x",
        "-X",
        "PUT",
        "--data-binary",
        f"@{blob}",
        "-H",
        "Content-Type: application/octet-stream",
    )
    assert code == 0, err
    assert rec.seen[1].method == "PUT" and rec.seen[1].body == bytes(range(256))


def test_curl_include_shows_status_and_headers(setup, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, out, _ = _run(capsysbinary, "curl", "-i", "-f", str(cfg), "/v1/apis/http/pd/hop")
    assert code == 0
    head, _, body = out.partition(b"\r\n\r\n") if b"\r\n\r\n" in out else out.partition(b"\n\n")
    lines = head.decode().splitlines()
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "x-request-id: abc-123" in [ln.lower() for ln in lines]
    assert not any(ln.lower().startswith("x-hop") for ln in lines)
    assert body == b"{}"


def test_curl_upstream_error_shows_body_and_exits_1(setup, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, out, err = _run(capsysbinary, "curl", "-f", str(cfg), "/v1/apis/http/pd/status/429")
    assert code == 1
    assert b"upstream says 429" in out
    assert err.strip() == "error: upstream answered 429 Too Many Requests"


@pytest.mark.parametrize(
    ("path", "code", "needle"),
    [
        ("/v1/apis/http/pd/%2e%2e/x", 1, "refused path"),
        ("/v1/apis/http/nope/x", 1, "known adapters: down, pd"),
        ("/v1/apis/http/down/x", 1, "cannot connect to adapter 'down'"),
    ],
)
def test_curl_atlas_errors_one_line(setup, capsysbinary, path, code, needle) -> None:  # type: ignore[no-untyped-def]
    cfg, rec = setup
    got, out, err = _run(capsysbinary, "curl", "-f", str(cfg), path)
    assert got == code
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1
    assert "Traceback" not in err
    assert out == b""
    assert rec.seen == []


def test_curl_missing_secret_exits_2(setup, capsysbinary, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    monkeypatch.delenv("PAGERDUTY_ACCOUNT_TOKEN")
    code, _, err = _run(capsysbinary, "curl", "-f", str(cfg), "/v1/apis/http/pd/x")
    assert code == 2
    assert "PAGERDUTY_ACCOUNT_TOKEN" in err


def test_curl_usage_and_config_errors(setup, capsysbinary, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, _, err = _run(capsysbinary, "curl", "-f", str(cfg), "v1/apis/http/pd/x")
    assert code == 2 and "must start with '/'" in err
    code, _, err = _run(capsysbinary, "curl", "-f", str(cfg), "/v1/apis/http/pd/x", "-H", "bad")
    assert code == 2 and "Name: value" in err
    code, _, err = _run(capsysbinary, "curl", "-f", str(tmp_path / "none.yml"), "/v1/apis/http")
    assert code == 2 and "not found" in err
    code, _, err = _run(capsysbinary, "curl", "--base-url", "ftp://x", "/v1/apis/http")
    assert code == 2


def test_curl_unreachable_server(capsysbinary, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "t")
    port = free_port()
    code, _, err = _run(
        capsysbinary, "curl", "--base-url", f"http://127.0.0.1:{port}", "/v1/apis/http"
    )
    assert code == 1 and err.startswith("error: cannot reach the Atlas server")


def test_apis_list_from_file(setup, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, out, _ = _run(capsysbinary, "atlas", "apis", "list", "-f", str(cfg))
    assert code == 0
    lines = out.decode().splitlines()
    assert lines[0].split() == ["KIND", "NAME", "BASE", "URL"]
    assert [ln.split()[:2] for ln in lines[1:]] == [["HTTP", "pd"], ["HTTP", "down"]]
    assert "Token" not in out.decode() and "Authorization" not in out.decode()


def test_apis_list_lists_other_kinds_and_template(capsysbinary, template_path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = _run(capsysbinary, "atlas", "apis", "list", "-f", str(template_path))
    assert code == 0
    rows = [ln.split() for ln in out.decode().splitlines()[1:]]
    assert rows == [
        ["Moment", "moment", "-"],
        ["HTTP", "github", "https://api.github.com"],
        ["HTTP", "pagerduty", "https://api.pagerduty.com"],
        ["AWS", "aws-billing", "-"],
        ["Postgres", "warehouse", "-"],
        ["Kubernetes", "cluster", "-"],
    ]
    assert "GITHUB_TOKEN" not in out.decode()


def test_apis_list_both_sources_is_usage_error(setup, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, _, err = _run(
        capsysbinary, "atlas", "apis", "list", "-f", str(cfg), "--base-url", "http://127.0.0.1:1"
    )
    assert code == 2 and "not both" in err


def test_run_refuses_keyfile_without_certfile(setup, capsysbinary, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    key = tmp_path / "k.pem"
    key.write_text("x")
    code, _, err = _run(capsysbinary, "atlas", "run", "-f", str(cfg), "--keyfile", str(key))
    assert code == 2 and "--keyfile needs --certfile" in err


def test_run_reports_an_unwritable_token_file(setup, capsysbinary, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("ATLAS_TOKEN_FILE", str(blocker / "token"))
    code, _, err = _run(capsysbinary, "atlas", "run", "-f", str(cfg), "--port", "0")
    assert code == 1
    assert err.startswith("error: cannot store the generated access token")
    assert "ATLAS_ACCESS_TOKEN" in err and "Traceback" not in err


def test_curl_accepts_silent_flag(setup, capsysbinary) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    code, out, _ = _run(capsysbinary, "curl", "-s", "-f", str(cfg), "/v1/apis/http/pd/x")
    assert code == 0 and b'"/base/x"' in out


def test_json_pretty_on_a_terminal_raw_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    import httpx

    from atlas_canvas._cli_proxy import _write_body

    class Tty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    body = b'{"incidents":[{"id":"P1","summary":"caf\\u00e9"}]}'
    response = httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", Tty(raw, encoding="utf-8"))
    _write_body(response)
    sys.stdout.flush()
    assert raw.getvalue().decode() == (
        '{\n  "incidents": [\n    {\n      "id": "P1",\n      "summary": "café"\n    }\n  ]\n}\n'
    )
    piped = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(piped, encoding="utf-8"))
    _write_body(response)
    sys.stdout.flush()
    assert piped.getvalue() == body


def test_explicit_file_beats_atlas_url_and_both_flags_conflict(
    setup, capsysbinary, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    monkeypatch.setenv("ATLAS_URL", f"http://127.0.0.1:{free_port()}")  # nothing there
    code, out, err = _run(capsysbinary, "curl", "-f", str(cfg), "/v1/apis/http/pd/x")
    assert b"/base/x" in out
    assert code == 0, err
    code, _, err = _run(
        capsysbinary,
        "curl",
        "-f",
        str(cfg),
        "--base-url",
        "http://127.0.0.1:1",
        "/v1/apis/http/pd/x",
    )
    assert code == 2 and "not both" in err
