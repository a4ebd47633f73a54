"""``mom atlas config ...`` run in-process through ``_cli.main`` (plus one real subprocess)."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_canvas._cli import main
from atlas_canvas._cli_config import parse_header_option
from atlas_canvas._config import load_config
from atlas_canvas._errors import UsageError
from tests.conftest import PLANTED_SECRET, TEMPLATE

GUIDE_HEADER = "Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for text in (out, err):
        assert PLANTED_SECRET not in text
        assert "Traceback" not in text
    return code, out, err


@pytest.fixture
def cfg_file(template_path: Path, tmp_path: Path) -> Path:
    target = tmp_path / "atlas.yml"
    shutil.copyfile(template_path, target)
    return target


def added_lines(old: str, new: str) -> list[str]:
    """Lines the edit added; fails on any removed or changed line (like `git diff`)."""
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    body = [d for d in diff[2:] if not d.startswith("@@")]
    assert body, "no change"
    assert all(d.startswith("+") for d in body), body
    return [d[1:] for d in body]


# ------------------------------------------------------------------- the guide


def test_guide_command_verbatim_on_template_is_a_duplicate(
    capsys: pytest.CaptureFixture[str], cfg_file: Path
) -> None:
    before = cfg_file.read_bytes()
    code, out, err = run(
        capsys,
        "atlas", "config", "add-http-adapter", "-f", str(cfg_file),
        "--adapter-name", "pagerduty", "--base-url", "https://api.pagerduty.com",
        "-H", GUIDE_HEADER,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "'pagerduty' already exists" in err and "remove-adapter" in err
    assert cfg_file.read_bytes() == before


def test_guide_command_other_name_only_adds_lines(
    capsys: pytest.CaptureFixture[str], cfg_file: Path, planted_secret: str
) -> None:
    old = cfg_file.read_text()
    code, out, err = run(
        capsys,
        "atlas", "config", "add-http-adapter", "-f", str(cfg_file),
        "--adapter-name", "pagerduty-eu", "--base-url", "https://api.eu.pagerduty.com",
        "-H", GUIDE_HEADER,
    )  # fmt: skip
    assert code == 0, err
    assert "added HTTP adapter 'pagerduty-eu'" in out
    added = added_lines(old, cfg_file.read_text())
    assert added[:4] == [
        "    - adapterRef:",
        "        apiVersion: moment.dev/adapters/v1alpha1",
        "        kind: HTTP",
        "        name: pagerduty-eu",
    ]
    assert added[4:] == [
        "---",
        "apiVersion: moment.dev/adapters/v1alpha1",
        "kind: HTTP",
        "metadata:",
        "  name: pagerduty-eu",
        "spec:",
        "  baseUrl: https://api.eu.pagerduty.com",
        "  headers:",
        "    - name: Authorization",
        "      value: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}",
    ]
    cfg = load_config(cfg_file)
    eu = cfg.get("pagerduty-eu")
    assert eu.resolved_headers() == [("Authorization", f"Token token={planted_secret}")]


def test_remove_then_guide_command_verbatim(
    capsys: pytest.CaptureFixture[str], cfg_file: Path
) -> None:
    original = cfg_file.read_bytes()
    code, out, _ = run(
        capsys, "atlas", "config", "remove-adapter", "-f", str(cfg_file),
        "--adapter-name", "pagerduty",
    )  # fmt: skip
    assert code == 0 and "removed adapter 'pagerduty'" in out
    removed = cfg_file.read_text()
    code, _, err = run(
        capsys,
        "atlas", "config", "add-http-adapter", "-f", str(cfg_file),
        "--adapter-name", "pagerduty", "--base-url", "https://api.pagerduty.com",
        "-H", GUIDE_HEADER,
    )  # fmt: skip
    assert code == 0, err
    added_lines(removed, cfg_file.read_text())
    assert "pagerduty" in load_config(cfg_file).active
    # The original quoted the value; the new document does not need to.
    assert cfg_file.read_bytes() != original


def test_add_then_remove_restores_bytes_and_mode(
    capsys: pytest.CaptureFixture[str], cfg_file: Path
) -> None:
    os.chmod(cfg_file, 0o600)
    original = cfg_file.read_bytes()
    code, _, _ = run(
        capsys,
        "atlas", "config", "add-http-adapter", "-f", str(cfg_file), "--adapter-name", "brex",
        "--base-url", "https://platform.brexapis.com",
        "-H", 'Authorization: "Bearer ${{ BREX_API_TOKEN }}"', "-H", "Accept: 'application/json'",
    )  # fmt: skip
    assert code == 0
    text = cfg_file.read_text()
    assert "      value: Bearer ${{ BREX_API_TOKEN }}\n" in text  # quotes stripped once
    assert "      value: application/json\n" in text
    assert stat.S_IMODE(cfg_file.stat().st_mode) == 0o600
    code, _, _ = run(
        capsys, "atlas", "config", "remove-adapter", "-f", str(cfg_file), "--adapter-name", "brex"
    )
    assert code == 0
    assert cfg_file.read_bytes() == original
    assert sorted(p.name for p in cfg_file.parent.iterdir()) == ["atlas.yml"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (GUIDE_HEADER, ("Authorization", "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}")),
        ('Authorization: "Bearer ${{ X }}"', ("Authorization", "Bearer ${{ X }}")),
        ("Authorization: 'token ${{X}}'", ("Authorization", "token ${{X}}")),
        ("  X-Key  :   v  ", ("X-Key", "v")),
        ("X: a:b:c", ("X", "a:b:c")),
        ("X: \"'q'\"", ("X", "'q'")),
        ("X: \"a'", ("X", "\"a'")),
        ('X: "', ("X", '"')),
        ("X:", ("X", "")),
    ],
)
def test_parse_header_option(raw: str, expected: tuple[str, str]) -> None:
    assert parse_header_option(raw) == expected


# -------------------------------------------------------------- default -f file


def test_file_defaults_to_atlas_config_env(
    capsys: pytest.CaptureFixture[str], cfg_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATLAS_CONFIG", str(cfg_file))
    code, out, _ = run(capsys, "atlas", "config", "validate")
    assert code == 0 and str(cfg_file) in out


def test_file_defaults_to_cwd_atlas_yml(
    capsys: pytest.CaptureFixture[str], cfg_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ATLAS_CONFIG", raising=False)
    monkeypatch.chdir(cfg_file.parent)
    code, out, _ = run(
        capsys, "atlas", "config", "add-http-adapter", "--adapter-name", "x",
        "--base-url", "http://127.0.0.1:1",
    )  # fmt: skip
    assert code == 0 and "atlas.yml" in out
    assert "x" in load_config("atlas.yml").active


# ---------------------------------------------------------------------- generate


def test_generate_stdout_loads(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "atlas", "config", "generate", "--name", "my-atlas")
    assert code == 0
    path = tmp_path / "g.yml"
    path.write_text(out)
    cfg = load_config(path)
    assert cfg.name == "my-atlas" and cfg.active == {} and cfg.warnings == ()
    assert "exposedPorts: {}" in out and "apiAdapters: []" in out


def test_generate_output_file_then_add(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "atlas.yml"
    assert run(capsys, "atlas", "config", "generate", "--name", "a", "-o", str(path))[0] == 0
    code, _, err = run(capsys, "atlas", "config", "generate", "--name", "b", "-o", str(path))
    assert code == 2 and "already exists" in err and "--force" in err
    assert "name: a\n" in path.read_text()
    code, _, _ = run(
        capsys, "atlas", "config", "generate", "--name", "b", "-o", str(path), "--force"
    )
    assert code == 0 and "name: b\n" in path.read_text()
    code, _, _ = run(
        capsys,
        "atlas", "config", "add-http-adapter", "-f", str(path), "--adapter-name", "pagerduty",
        "--base-url", "https://api.pagerduty.com", "-H", GUIDE_HEADER,
    )  # fmt: skip
    assert code == 0
    assert [a.name for a in load_config(path).http_adapters] == ["pagerduty"]


# ---------------------------------------------------------------------- validate


def test_validate_summary_and_warnings(
    capsys: pytest.CaptureFixture[str], cfg_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", PLANTED_SECRET)
    cfg_file.write_text(cfg_file.read_text().replace("  owner:", "  ownr:"))
    code, out, err = run(capsys, "atlas", "config", "validate", "-f", str(cfg_file))
    assert code == 0
    assert "valid Atlas config 'atlas-follower', 6 adapters active" in out
    assert "Moment: moment" in out and "HTTP: github, pagerduty" in out
    assert "AWS: aws-billing; Postgres: warehouse; Kubernetes: cluster" in out
    assert "warning:" in err and "spec.ownr: unknown key" in err
    assert "GITHUB_TOKEN is not set" in err
    assert "PAGERDUTY_ACCOUNT_TOKEN" not in err  # set: no warning, and never its value
    code, _, err = run(capsys, "atlas", "config", "validate", "-f", str(cfg_file), "--strict")
    assert code == 2 and "--strict" in err


# ------------------------------------------------------------- refusals (table)


def _template() -> str:
    return TEMPLATE.read_text()


def add(*extra: str, name: str = "new", url: str = "https://h.example") -> list[str]:
    return ["atlas", "config", "add-http-adapter", "-f", "{f}", "--adapter-name", name,
            "--base-url", url, *extra]  # fmt: skip


VALIDATE = ["atlas", "config", "validate", "-f", "{f}"]

# (file content or None for "no file", argv with {f}, exit code, message parts)
MISUSES = [
    pytest.param(
        None,
        add(name="pagerduty", url="https://api.pagerduty.com"),
        2,
        ["already exists"],
        id="duplicate-name",
    ),
    pytest.param(None, add(name="a/b"), 2, ["--adapter-name", "URL path segment"], id="name-slash"),
    pytest.param(None, add(name=".."), 2, ["URL path segment"], id="name-dotdot"),
    pytest.param(None, add(name="x y"), 2, ["URL path segment"], id="name-space"),
    pytest.param(None, add(url="ftp://h"), 2, ["--base-url", "http:// or https://"], id="url-ftp"),
    pytest.param(
        None, add(url="api.pagerduty.com"), 2, ["http:// or https://"], id="url-no-scheme"
    ),
    pytest.param(None, add(url="https://h/?x=1"), 2, ["query string"], id="url-query"),
    pytest.param(None, add(url="https://h/#top"), 2, ["fragment"], id="url-fragment"),
    pytest.param(
        None, add(url="https://user:pw@h/"), 2, ["user:password", "***@h"], id="url-userinfo"
    ),
    pytest.param(None, add(url="https:///x"), 2, ["with a host"], id="url-no-host"),
    pytest.param(
        None,
        add("-H", "Authorization Token x"),
        2,
        ["no ':'", "-H 'Name: value'"],
        id="header-no-colon",
    ),
    pytest.param(None, add("-H", "X: a\r\nInjected: 1"), 2, ["line break"], id="header-crlf"),
    pytest.param(None, add("-H", ": v"), 2, ["empty name"], id="header-empty-name"),
    pytest.param(None, add("-H", "Bad Name: v"), 2, ["header name"], id="header-bad-name"),
    pytest.param(
        None,
        add("-H", "X: ${{ 1BAD }}"),
        2,
        ["malformed secret template"],
        id="header-bad-template",
    ),
    pytest.param(None, add("-H", "X: a", "-H", "x: b"), 2, ["given twice"], id="header-twice"),
    pytest.param(
        None,
        ["atlas", "config", "add-http-adapter", "-f", "{f}", "--base-url", "https://h"],
        2,
        ["--adapter-name"],
        id="missing-option",
    ),
    pytest.param("MISSING", add(), 2, ["config file not found", "generate"], id="missing-file"),
    pytest.param(
        "kind: HTTP\napiVersion: moment.dev/adapters/v1alpha1\nmetadata: {name: a}\n"
        "spec: {baseUrl: 'https://h'}\n",
        add(),
        2,
        ["not an Atlas config"],
        id="not-atlas",
    ),
    pytest.param("kind: Atlas\nspec: [\n", add(), 2, ["malformed YAML"], id="malformed"),
    pytest.param(
        _template().replace("  owner:", "  exposedPorts: {}\n  owner:"),
        add(),
        2,
        [":18:", "duplicate key 'exposedPorts'"],
        id="duplicate-key",
    ),
    pytest.param(
        _template().replace(
            "kind: Moment\n        apiVersion: moment.dev/adapters/v1alpha1",
            "kind: Moment\n        apiVersion: x",
        ),
        add(),
        2,
        ["apiAdapters[0].adapterRef.apiVersion", "got 'x'"],
        id="bad-ref",
    ),
    pytest.param(
        None,
        ["atlas", "config", "remove-adapter", "-f", "{f}", "--adapter-name", "nope"],
        2,
        ["no adapter named 'nope'", "github, moment, pagerduty"],
        id="remove-unknown",
    ),
    pytest.param(
        "MISSING",
        ["atlas", "config", "remove-adapter", "-f", "{f}", "--adapter-name", "x"],
        2,
        ["not found"],
        id="remove-missing-file",
    ),
    pytest.param(
        _template().replace("  baseUrl: https://api.pagerduty.com\n", ""),
        VALIDATE,
        2,
        ["document 4 (HTTP 'pagerduty')", "spec.baseUrl", "missing key"],
        id="no-baseurl",
    ),
    pytest.param(
        _template() + "---\n" + _template().split("---")[0],
        VALIDATE,
        2,
        ["second kind: Atlas document"],
        id="two-atlas",
    ),
    pytest.param(
        _template().replace("atlas/v1alpha1", "atlas/v1"),
        VALIDATE,
        2,
        [":6:", "got 'moment.dev/atlas/v1'", "expected moment.dev/atlas/v1alpha1"],
        id="wrong-apiversion",
    ),
    pytest.param(
        _template().replace(
            '    - name: Authorization\n      value: "Token',
            '    - name: Authorization\n      valu: "Token',
        ),
        VALIDATE,
        2,
        ["spec.headers[0].value", "has no value"],
        id="header-without-value",
    ),
    pytest.param(
        _template().replace(
            '  headers:\n    - name: Authorization\n      value: "Token',
            '  headers:\n    name: Authorization\n    value: "Token',
        ),
        VALIDATE,
        2,
        ["spec.headers", "expected a list"],
        id="headers-not-list",
    ),
    pytest.param(
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata: {name: a}\n"
        "spec:\n  apiAdapters: [{adapterRef: {kind: HTTP, apiVersion: "
        "moment.dev/adapters/v1alpha1, name: a}}]\n---\nkind: HTTP\napiVersion: "
        "moment.dev/adapters/v1alpha1\nmetadata: {name: a}\nspec: {baseUrl: 'https://h'}\n",
        add(),
        2,
        ["cannot edit this file safely", "block list"],
        id="flow-list",
    ),
    pytest.param("DIR", add(), 2, ["is a directory"], id="directory"),
    pytest.param(
        b"kind: Atlas\nmetadata: {name: \xff}\n", VALIDATE, 2, ["not UTF-8"], id="not-utf8"
    ),
]


@pytest.mark.parametrize(("content", "argv", "code", "parts"), MISUSES)
def test_misuse_is_refused_and_file_untouched(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | bytes | None,
    argv: list[str],
    code: int,
    parts: list[str],
) -> None:
    path = tmp_path / "atlas.yml"
    if content is None:
        content = _template()
    if content == "DIR":
        path.mkdir()
    elif content != "MISSING":
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    before = path.read_bytes() if path.is_file() else None
    got, _out, err = run(capsys, *(a.replace("{f}", str(path)) for a in argv))
    assert got == code, err
    assert err.startswith("error: "), err
    for part in parts:
        assert part in err, (part, err)
    assert "pw@" not in err
    if before is None:
        assert not path.is_file()
    else:
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        [] if content == "MISSING" else ["atlas.yml"]
    )


def test_header_parse_errors_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        parse_header_option("nocolon")


# --------------------------------------------------------------- real program


def test_mom_console_script_subprocess(cfg_file: Path) -> None:
    mom = Path(sys.executable).with_name("mom")
    assert mom.exists(), "the `mom` console script is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if k != "ATLAS_CONFIG"}
    env["PAGERDUTY_ACCOUNT_TOKEN"] = PLANTED_SECRET
    ok = subprocess.run(
        [str(mom), "atlas", "config", "validate", "-f", str(cfg_file)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "6 adapters active" in ok.stdout
    bad = subprocess.run(
        [str(mom), "atlas", "config", "add-http-adapter", "-f", str(cfg_file),
         "--adapter-name", "pagerduty", "--base-url", "https://api.pagerduty.com",
         "-H", GUIDE_HEADER],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr
    for text in (ok.stdout, ok.stderr, bad.stdout, bad.stderr):
        assert PLANTED_SECRET not in text


def test_generate_quotes_name_and_presets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "atlas", "config", "generate", "--name", "team: sre", "--preset", "local"
    )
    assert code == 0
    assert "  name: 'team: sre'\n" in out and "registrationHostpath: 127.0.0.1:8001" in out
    path = tmp_path / "a.yml"
    path.write_text(out)
    assert load_config(path).name == "team: sre"
    code, _, err = run(capsys, "atlas", "config", "generate", "--name", "x", "--preset", "nope")
    assert code == 2 and "--preset" in err


def test_crlf_file_without_final_newline_round_trips(
    capsys: pytest.CaptureFixture[str], template_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "atlas.yml"
    original = template_path.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n")
    path.write_bytes(original)
    argv = ["-f", str(path), "--adapter-name", "gitlab"]
    code, _, _ = run(
        capsys, "atlas", "config", "add-http-adapter", *argv,
        "--base-url", "https://gitlab.com/api/v4", "-H", "Authorization: token ${{ GITLAB_TOKEN }}",
    )  # fmt: skip
    assert code == 0
    edited = path.read_bytes()
    assert b"\n" not in edited.replace(b"\r\n", b"")  # every new line is CRLF too
    assert not edited.endswith(b"\n")
    assert load_config(path).get("gitlab").base_url == "https://gitlab.com/api/v4"
    assert run(capsys, "atlas", "config", "remove-adapter", *argv)[0] == 0
    assert path.read_bytes() == original
