"""The config model: loading, validation errors with locations, warnings, active adapters."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_canvas._config import (
    ADAPTER_API_VERSION,
    Adapter,
    AtlasConfig,
    adapter_name_problem,
    base_url_problem,
    load_config,
    parse_config,
    redact_url,
    resolve_config_path,
)
from atlas_canvas._errors import ConfigError, NoMatchingInstanceError

BASE = """\
kind: Atlas
apiVersion: moment.dev/atlas/v1alpha1
metadata:
  name: atlas-test
spec:
  exposedPorts: {}
  apiAdapters:
  - adapterRef:
      apiVersion: moment.dev/adapters/v1alpha1
      kind: HTTP
      name: pd
  - adapterRef:
      apiVersion: moment.dev/adapters/v1alpha1
      kind: AWS
      name: aws
---
apiVersion: moment.dev/adapters/v1alpha1
kind: HTTP
metadata:
  name: pd
spec:
  baseUrl: https://api.pagerduty.com
  headers:
  - name: Authorization
    value: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}
  - name: Accept
    value: application/json
---
apiVersion: moment.dev/adapters/v1alpha1
kind: AWS
metadata:
  name: aws
spec:
  profiles:
  - name: default
    accessKeyId: ${{ AWS_KEY }}
"""


def test_template_loads(template_path: Path) -> None:
    cfg = load_config(template_path)
    assert cfg.name == "atlas-follower"
    assert cfg.path == template_path
    assert [(a.kind, a.name) for a in cfg.adapters] == [
        ("Moment", "moment"),
        ("HTTP", "github"),
        ("HTTP", "pagerduty"),
        ("AWS", "aws-billing"),
        ("Postgres", "warehouse"),
        ("Kubernetes", "cluster"),
    ]
    assert list(cfg.active) == [
        "moment",
        "github",
        "pagerduty",
        "aws-billing",
        "warehouse",
        "cluster",
    ]
    assert [a.name for a in cfg.http_adapters] == ["github", "pagerduty"]
    pd = cfg.get("pagerduty")
    assert pd.base_url == "https://api.pagerduty.com"
    assert pd.headers[0].name == "Authorization"
    assert pd.headers[0].value.variables == ("PAGERDUTY_ACCOUNT_TOKEN",)
    assert pd.line == 76 and pd.document_index == 3
    assert pd.secret_variables == ("PAGERDUTY_ACCOUNT_TOKEN",)


def test_other_kinds_kept_and_listed() -> None:
    cfg = parse_config(BASE, environ={"PAGERDUTY_ACCOUNT_TOKEN": "x"})
    assert [a.kind for a in cfg.active.values()] == ["HTTP", "AWS"]
    assert [a.name for a in cfg.http_adapters] == ["pd"]
    assert cfg.get("aws").base_url is None
    assert cfg.warnings == ()


def test_get_unknown_lists_known_names() -> None:
    cfg = parse_config(BASE, environ={})
    with pytest.raises(NoMatchingInstanceError, match=r"known adapters: aws, pd"):
        cfg.get("nope")


def test_unreferenced_document_is_inactive_with_warning() -> None:
    text = BASE.replace(
        "      kind: HTTP\n      name: pd\n", "      kind: HTTP\n      name: gone\n"
    )
    cfg = parse_config(text, "a.yml", environ={"PAGERDUTY_ACCOUNT_TOKEN": "x"})
    assert "pd" not in cfg.active and "gone" not in cfg.active
    assert any("'pd'" in w and "inactive" in w for w in cfg.warnings)
    # A dangling adapterRef is a warning with its line, not an error (see _config docs).
    assert any(w.startswith("a.yml:8:") and "'gone' has no matching" in w for w in cfg.warnings)


def test_unknown_keys_are_warnings_with_location() -> None:
    text = BASE.replace("  exposedPorts: {}\n", "  exposedPorts: {}\n  policies: []\n")
    text = text.replace("  baseUrl: https", "  timeout: 5\n  baseUrl: https")
    cfg = parse_config(text, "a.yml", environ={"PAGERDUTY_ACCOUNT_TOKEN": "x"})
    assert any(
        w.startswith("a.yml:7: document 1 (Atlas 'atlas-test'): spec.policies")
        for w in cfg.warnings
    )
    assert any("document 2 (HTTP 'pd'): spec.timeout: unknown key" in w for w in cfg.warnings)


def test_unset_variable_warning_names_variable_only() -> None:
    cfg = parse_config(BASE, "a.yml", environ={})
    [warning] = cfg.warnings
    assert "PAGERDUTY_ACCOUNT_TOKEN" in warning and "'pd'" in warning


def test_crlf_and_leading_separator_load() -> None:
    cfg = parse_config("---\r\n" + BASE.replace("\n", "\r\n"), environ={})
    assert [a.name for a in cfg.adapters] == ["pd", "aws"]


def test_empty_api_adapters_forms() -> None:
    for value in ("[]", "", "null"):
        text = BASE.split("  apiAdapters:")[0] + f"  apiAdapters: {value}\n"
        cfg = parse_config(text, environ={})
        assert cfg.adapter_refs == () and cfg.active == {}


def test_adapter_is_frozen_and_hashable() -> None:
    cfg = parse_config(BASE, environ={})
    assert isinstance(cfg, AtlasConfig)
    assert len({cfg.get("pd"), cfg.get("pd")}) == 1
    with pytest.raises(AttributeError):
        cfg.get("pd").name = "x"  # type: ignore[misc]
    assert isinstance(cfg.get("aws"), Adapter)


def test_resolve_config_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ATLAS_CONFIG", raising=False)
    assert resolve_config_path() == Path("atlas.yml")
    monkeypatch.setenv("ATLAS_CONFIG", str(tmp_path / "env.yml"))
    assert resolve_config_path() == tmp_path / "env.yml"
    assert resolve_config_path("x.yml") == Path("x.yml")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not found.*generate") as info:
        load_config(tmp_path / "nope.yml")
    assert info.value.file == str(tmp_path / "nope.yml")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.pagerduty.com", True),
        ("http://127.0.0.1:8080/base/", True),
        ("https://api.eu.pagerduty.com/", True),
        ("HTTPS://h", True),
        ("ftp://h", False),
        ("https://", False),
        ("https://h:99999", False),
        ("https://h?x", False),
        ("https://h/#x", False),
        ("https://a@h", False),
        (" https://h", False),
        ("https://h/a b", False),
        ("https://h\\x", False),
        ("", False),
    ],
)
def test_base_url_rules(url: str, ok: bool) -> None:
    assert (base_url_problem(url) is None) == ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("pagerduty", True),
        ("pagerduty-eu", True),
        ("a.b_c-1", True),
        ("9x", True),
        (".", False),
        ("..", False),
        ("-x", False),
        ("a/b", False),
        ("a b", False),
        ("a%2f", False),
        ("", False),
    ],
)
def test_adapter_name_rules(name: str, ok: bool) -> None:
    assert (adapter_name_problem(name) is None) == ok


def test_redact_url() -> None:
    assert redact_url("https://u:pw@h/x") == "https://***@h/x"
    assert redact_url("https://h/a@b") == "https://h/a@b"


def _sub(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (config text, expected line, parts that must all be in the message)
BAD_CONFIGS = [
    pytest.param("kind: Atlas\nspec: [\n", 3, ["malformed YAML"], id="malformed"),
    pytest.param(
        _sub("  exposedPorts: {}\n", "  exposedPorts: {}\n  exposedPorts: {}\n"),
        7,
        ["duplicate key 'exposedPorts'", "document 1"],
        id="duplicate-key",
    ),
    pytest.param(_sub("kind: Atlas\n", ""), 1, ["document 1", "kind", "missing key"], id="no-kind"),
    pytest.param(
        _sub("moment.dev/atlas/v1alpha1", "moment.dev/atlas/v2"),
        2,
        ["apiVersion", "got 'moment.dev/atlas/v2'", "expected moment.dev/atlas/v1alpha1"],
        id="atlas-apiversion",
    ),
    pytest.param(
        _sub("  baseUrl: https://api.pagerduty.com\n", ""),
        21,
        ["document 2 (HTTP 'pd')", "spec.baseUrl", "missing key"],
        id="http-no-baseurl",
    ),
    pytest.param(
        _sub("https://api.pagerduty.com", "ftp://api.pagerduty.com"),
        22,
        ["spec.baseUrl", "got 'ftp://api.pagerduty.com'", "http:// or https://"],
        id="http-bad-baseurl",
    ),
    pytest.param(
        BASE.split("  headers:")[0] + "  headers: {Authorization: x}\n",
        23,
        ["spec.headers", "got a mapping", "expected a list"],
        id="headers-not-list",
    ),
    pytest.param(
        _sub("    value: application/json\n", ""),
        26,
        ["spec.headers[1].value", "header Accept has no value"],
        id="header-no-value",
    ),
    pytest.param(
        _sub("    value: application/json\n", "    value: 12\n"),
        27,
        ["spec.headers[1].value", "expected a string"],
        id="header-value-number",
    ),
    pytest.param(
        _sub("  - name: Accept\n", "  - name: Bad Header\n"),
        26,
        ["spec.headers[1].name", "header name"],
        id="header-bad-name",
    ),
    pytest.param(
        _sub("${{ PAGERDUTY_ACCOUNT_TOKEN }}", "${{ 9BAD }}"),
        25,
        ["spec.headers[0].value", "malformed secret template"],
        id="bad-template",
    ),
    pytest.param(
        BASE + "---\n" + BASE.split("---\n")[0],
        BASE.count("\n") + 2,
        ["second kind: Atlas document", "document 1"],
        id="two-atlas",
    ),
    pytest.param(
        BASE.split("---\n", 1)[1],
        None,
        ["not an Atlas config", "generate"],
        id="no-atlas",
    ),
    pytest.param(
        BASE + "---\n" + BASE.split("---\n")[1],
        41,
        ["adapter name 'pd' is already used by document 2"],
        id="adapter-name-clash",
    ),
    pytest.param(
        _sub("kind: AWS\nmetadata", "kind: Lambda\nmetadata"),
        30,
        ["got 'Lambda'", "expected Atlas or one of HTTP, AWS"],
        id="unknown-kind",
    ),
    pytest.param(
        _sub("  name: pd\nspec", "  name: ../pd\nspec"),
        20,
        ["metadata.name", "URL path segment"],
        id="adapter-bad-name",
    ),
    pytest.param(
        _sub(
            "      name: aws\n",
            "      name: aws\n  - adapterRef:\n"
            "      apiVersion: moment.dev/adapters/v1alpha1\n      kind: HTTP\n      name: pd\n",
        ),
        16,
        ["spec.apiAdapters[2]", "listed twice"],
        id="ref-listed-twice",
    ),
    pytest.param(
        _sub("      kind: AWS\n", "      kind: Aws\n"),
        14,
        ["spec.apiAdapters[1].adapterRef.kind", "got 'Aws'"],
        id="ref-bad-kind",
    ),
    pytest.param(
        _sub(
            "      apiVersion: moment.dev/adapters/v1alpha1\n      kind: AWS\n", "      kind: AWS\n"
        ),
        12,
        ["spec.apiAdapters[1].adapterRef.apiVersion", "missing key"],
        id="ref-no-apiversion",
    ),
    pytest.param(
        _sub("  apiAdapters:\n", "  apiAdapters: 3\n  x:\n"),
        7,
        ["spec.apiAdapters", "got 3", "expected a list"],
        id="apiadapters-not-list",
    ),
    pytest.param("- a\n- b\n", 1, ["got a list", "expected a mapping"], id="doc-is-list"),
    pytest.param("# nothing\n", None, ["holds no YAML document"], id="empty"),
    pytest.param(
        _sub("metadata:\n  name: atlas-test\n", "metadata: {}\n"),
        3,
        ["metadata.name", "missing key"],
        id="atlas-no-name",
    ),
    pytest.param(
        _sub(
            "apiVersion: moment.dev/adapters/v1alpha1\nkind: AWS",
            f"apiVersion: x/{ADAPTER_API_VERSION}\nkind: AWS",
        ),
        29,
        ["document 3 (AWS 'aws')", "apiVersion", "expected moment.dev/adapters/v1alpha1"],
        id="adapter-apiversion",
    ),
]


@pytest.mark.parametrize(("text", "line", "parts"), BAD_CONFIGS)
def test_bad_configs(text: str, line: int | None, parts: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yml", environ={})
    err = info.value
    message = str(err)
    assert message.startswith("bad.yml"), message
    assert err.line == line, message
    for part in parts:
        assert part in message, (part, message)
