"""Secrets in config errors (issue 13 item 6): described, never quoted.

Header values and the parts of a ``baseUrl`` that may hold a secret are described (which
part, its position or length, what is wrong) in every config error: the error object, its
wire form, and what ``mom`` prints for ``validate``, ``apis list``, ``curl``, ``run`` and
``add-http-adapter``. A distinctive value is planted and every output is searched for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_canvas._cli import main
from atlas_canvas._config import parse_config
from atlas_canvas._config_edit import add_http_adapter_text, render_new_config
from atlas_canvas._errors import AtlasError, ConfigError
from atlas_canvas._yaml import render_scalar
from tests.config_secrets_cases import CASES, PLANTED

CASE_IDS = list(CASES)


def assert_clean(*texts: object) -> None:
    for text in texts:
        assert PLANTED not in str(text), f"the planted secret leaked: {text}"
        # Nor a recognisable piece of it.
        assert "PLANTED" not in str(text), f"part of the planted secret leaked: {text}"


@pytest.mark.parametrize("case", CASE_IDS)
def test_config_error_describes_without_quoting(case: str) -> None:
    text, parts = CASES[case]
    with pytest.raises(ConfigError) as info:
        parse_config(text, "planted.yml", environ={})
    err = info.value
    message = str(err)
    assert message.startswith("planted.yml:"), message
    for part in parts:
        assert part in message, (part, message)
    assert_clean(message, repr(err), err.hint, json.dumps(err.to_dict()), err.args)


@pytest.mark.parametrize("case", CASE_IDS)
@pytest.mark.parametrize(
    "argv",
    [
        ["atlas", "config", "validate", "-f", "{f}"],
        ["atlas", "apis", "list", "-f", "{f}"],
        ["curl", "/v1/apis/http/pd/x", "-f", "{f}"],
    ],
    ids=["validate", "apis-list", "curl"],
)
def test_cli_prints_no_planted_value(
    case: str, argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "atlas.yml"
    path.write_text(CASES[case][0])
    code = main([a.replace("{f}", str(path)) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and str(path) in err
    assert_clean(out, err)


def _add(path: Path, *extra: str, url: str = "https://h.example") -> list[str]:
    return [
        "atlas", "config", "add-http-adapter", "-f", str(path), "--adapter-name", "new",
        "--base-url", url, *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "url", "field", "parts"),
    [
        pytest.param(
            ["-H", f"Authorization: Token ${{{{ {PLANTED} }}}}"],
            "https://h.example",
            "headers",
            ["-H 'Name: value'", "malformed secret template at character 7"],
            id="template",
        ),
        pytest.param(
            ["-H", f"Authorization: ${{{{ {PLANTED}"],
            "https://h.example",
            "headers",
            ["no closing }}"],
            id="template-unclosed",
        ),
        pytest.param(
            ["-H", f"Authorization Token {PLANTED}"],
            "https://h.example",
            "headers",
            ["no ':'", f"{len(PLANTED) + 20} characters"],
            id="header-no-colon",
        ),
        pytest.param(
            ["-H", f"X: {PLANTED}\r\nY: 1"],
            "https://h.example",
            "headers",
            ["line break"],
            id="header-crlf",
        ),
        pytest.param(
            [],
            f"https://u:{PLANTED}@h.example/",
            "baseUrl",
            ["--base-url", "https://***@h.example/", "user part"],
            id="url-userinfo",
        ),
        pytest.param(
            [],
            f"https://h.example/?key={PLANTED}",
            "baseUrl",
            ["--base-url", "https://h.example/?***", "query"],
            id="url-query",
        ),
        pytest.param(
            [], f"https://h.example/#{PLANTED}", "baseUrl", ["fragment"], id="url-fragment"
        ),
        pytest.param(
            [],
            f"https://h.example:{PLANTED}/",
            "baseUrl",
            ["https://h.example:***/", "port"],
            id="url-port",
        ),
    ],
)
def test_add_http_adapter_refusal_prints_no_planted_value(
    extra: list[str],
    url: str,
    field: str,
    parts: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "atlas.yml"
    path.write_text(render_new_config("planted"))
    before = path.read_bytes()
    code = main(_add(path, *extra, url=url))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    for part in parts:
        assert part in err, (part, err)
    assert_clean(out, err)
    assert path.read_bytes() == before
    # The same refusal from the editing layer carries the form field.
    from atlas_canvas._config_edit import add_http_adapter

    with pytest.raises(AtlasError) as info:
        add_http_adapter(path, name="new", base_url=url, headers=extra[1:])
    assert info.value.field == field
    assert_clean(str(info.value), json.dumps(info.value.to_dict()))


def test_render_scalar_never_quotes_the_value() -> None:
    with pytest.raises(ConfigError) as info:
        render_scalar(f"Token {PLANTED}\x85")  # NEL: no single-line YAML form
    assert "characters" in str(info.value)
    assert_clean(str(info.value))


def test_edit_refusal_inside_the_editing_layer_is_clean() -> None:
    text = render_new_config("planted")
    with pytest.raises(AtlasError) as info:
        add_http_adapter_text(
            text, name="x", base_url="https://h", headers=[("X", f"${{{{ {PLANTED} }}}}")]
        )
    assert_clean(str(info.value), repr(info.value))


def test_validate_in_a_real_process_prints_no_planted_value(tmp_path: Path) -> None:
    for case in ("template-bad-characters", "url-query", "url-port"):
        path = tmp_path / f"{case}.yml"
        path.write_text(CASES[case][0])
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
        p = subprocess.run(
            [sys.executable, "-m", "atlas_canvas", "atlas", "config", "validate", "-f", str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert p.returncode == 2, p.stderr
        assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr
        assert_clean(p.stdout, p.stderr)


def test_literal_credential_header_is_not_in_any_repr() -> None:
    text = CASES["template-bad-characters"][0].replace(
        f"Token token=${{{{ {PLANTED} }}}}", f"Bearer {PLANTED}"
    )
    accept = "  - name: Accept\n    value: application/json\n"
    text = text.replace("  headers:\n", "  headers:\n" + accept)
    cfg = parse_config(text, "literal.yml", environ={})
    adapter = cfg.get("pd")
    assert dict(adapter.resolved_headers({}))["Authorization"] == f"Bearer {PLANTED}"
    shown = repr(cfg) + repr(adapter) + repr(adapter.headers) + repr(cfg.active)
    assert_clean(shown)
    assert f"<literal value, {len(PLANTED) + 7} characters>" in shown
    assert "Header('Accept', 'application/json')" in shown  # ordinary values stay readable
    templated = parse_config(CASES["url-query"][0].replace(f"?token={PLANTED}", ""), environ={})
    assert "Token token=${{ PD_TOKEN }}" in repr(templated.get("pd"))
