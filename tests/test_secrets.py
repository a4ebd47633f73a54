"""``${{ VAR }}`` templates: parsing, resolution at send time, and never showing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas_canvas._config import load_config, parse_config
from atlas_canvas._errors import ConfigError, MissingSecretError
from atlas_canvas._secrets import Template, redact
from tests.conftest import PLANTED_SECRET


@pytest.mark.parametrize(
    ("text", "variables", "resolved"),
    [
        ("Token token=${{ PD }}", ("PD",), "Token token=s-pd"),
        ("${{PD}}", ("PD",), "s-pd"),
        ("${{   PD   }}", ("PD",), "s-pd"),
        ("${{\tPD }}", ("PD",), "s-pd"),
        ("a ${{ PD }} b ${{ GH }} c", ("PD", "GH"), "a s-pd b s-gh c"),
        ("${{ PD }}${{ PD }}", ("PD",), "s-pds-pd"),
        ("Basic ${{ GH }}==", ("GH",), "Basic s-gh=="),
        ("no template here", (), "no template here"),
        ("$PD {{ PD }} ${ PD }", (), "$PD {{ PD }} ${ PD }"),
        ("", (), ""),
    ],
)
def test_parse_and_resolve(text: str, variables: tuple[str, ...], resolved: str) -> None:
    template = Template.parse(text)
    assert template.variables == variables
    assert template.is_secret == bool(variables)
    assert template.resolve({"PD": "s-pd", "GH": "s-gh"}) == resolved
    assert str(template) == text  # the template text, never the value


@pytest.mark.parametrize("text", ["${{ }}", "${{ 1X }}", "${{ A-B }}", "x ${{ a b }}"])
def test_malformed_templates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="malformed secret template"):
        Template.parse(text)


def test_resolve_does_not_rescan_substituted_values() -> None:
    # A secret that itself looks like a template is inserted literally, not expanded.
    template = Template.parse("${{ A }}")
    assert template.resolve({"A": "${{ B }}", "B": "no"}) == "${{ B }}"


def test_unset_variable_names_it_and_no_value() -> None:
    template = Template.parse("x ${{ SET }} ${{ UNSET_ONE }}")
    assert template.missing({"SET": PLANTED_SECRET}) == ["UNSET_ONE"]
    with pytest.raises(MissingSecretError) as info:
        template.resolve({"SET": PLANTED_SECRET}, adapter="pd")
    err = info.value
    assert err.variable == "UNSET_ONE"
    assert "UNSET_ONE" in str(err) and "'pd'" in str(err)
    assert PLANTED_SECRET not in str(err)
    assert PLANTED_SECRET not in repr(err)
    assert isinstance(err, ConfigError)


def test_resolution_reads_os_environ_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    template = Template.parse("Bearer ${{ ATLAS_TEST_LATE }}")
    monkeypatch.delenv("ATLAS_TEST_LATE", raising=False)
    with pytest.raises(MissingSecretError):
        template.resolve()
    monkeypatch.setenv("ATLAS_TEST_LATE", "late")
    assert template.resolve() == "Bearer late"


def test_redact() -> None:
    assert redact(f"a {PLANTED_SECRET} b", [PLANTED_SECRET, ""]) == "a *** b"
    assert redact("abcabc", ["abc", "abcabc"]) == "***"


def test_config_objects_never_show_resolved_secret(
    template_path: Path, planted_secret: str
) -> None:
    cfg = load_config(template_path)
    adapter = cfg.get("pagerduty")
    resolved = dict(adapter.resolved_headers())
    # Positive control: the secret is reachable where a request is built...
    assert resolved["Authorization"] == f"Token token={planted_secret}"
    # ...and nowhere else.
    shown = [
        repr(cfg),
        str(cfg),
        repr(adapter),
        str(adapter),
        repr(adapter.headers),
        str(adapter.headers[0].value),
        repr(cfg.active),
        repr(cfg.http_adapters),
        "\n".join(cfg.warnings),
    ]
    for text in shown:
        assert planted_secret not in text
    assert "${{ PAGERDUTY_ACCOUNT_TOKEN }}" in repr(adapter)


def test_resolved_headers_unset_variable(
    template_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGERDUTY_ACCOUNT_TOKEN", raising=False)
    cfg = load_config(template_path)
    with pytest.raises(MissingSecretError, match=r"PAGERDUTY_ACCOUNT_TOKEN.*'pagerduty'"):
        cfg.get("pagerduty").resolved_headers()
    assert cfg.get("pagerduty").resolved_headers({"PAGERDUTY_ACCOUNT_TOKEN": "v"}) == [
        ("Authorization", "Token token=v")
    ]


def test_literal_secret_in_file_is_not_echoed_in_errors() -> None:
    """A header value written literally may be a secret: errors describe it, never quote it."""
    text = (
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata: {name: a}\n"
        "spec: {apiAdapters: []}\n---\nkind: HTTP\napiVersion: moment.dev/adapters/v1alpha1\n"
        "metadata: {name: x}\nspec:\n  baseUrl: https://h\n  headers:\n"
        f'  - name: Authorization\n    value: "{PLANTED_SECRET}\\n"\n'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "a.yml", environ={})
    assert "CR/LF" in str(info.value)
    assert PLANTED_SECRET not in str(info.value)


def test_set_variables_give_no_warning(planted_secret: str) -> None:
    text = (
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata: {name: a}\n"
        "spec:\n  apiAdapters:\n  - adapterRef: {apiVersion: moment.dev/adapters/v1alpha1, "
        "kind: HTTP, name: x}\n---\nkind: HTTP\napiVersion: moment.dev/adapters/v1alpha1\n"
        "metadata: {name: x}\nspec:\n  baseUrl: https://h\n  headers:\n"
        "  - {name: A, value: '${{ PAGERDUTY_ACCOUNT_TOKEN }}'}\n"
        "  - {name: B, value: '${{ ATLAS_TEST_UNSET_VAR }}'}\n"
    )
    cfg = parse_config(text, "a.yml")
    assert len(cfg.warnings) == 1
    assert "ATLAS_TEST_UNSET_VAR" in cfg.warnings[0]
    assert "PAGERDUTY_ACCOUNT_TOKEN" not in cfg.warnings[0]
    assert planted_secret not in cfg.warnings[0]


@pytest.mark.parametrize(
    ("text", "position", "length", "what"),
    [
        ("${{ }}", 1, 6, "no variable name"),
        ("Token ${{ 1X }}", 7, 9, "starts with a digit"),
        ("x ${{ A-B }}", 3, 10, "characters other than letters"),
        ("x ${{ a b }}", 3, 10, "more than one word"),
        ("Bearer ${{ TOKEN", 8, 9, "no closing }}"),
        ("${{ A }} then ${{ tok-en }}", 15, 13, "characters other than letters"),
    ],
)
def test_malformed_template_message_describes_it(
    text: str, position: int, length: int, what: str
) -> None:
    with pytest.raises(ValueError) as info:
        Template.parse(text)
    message = str(info.value)
    assert f"at character {position}, {length} characters long" in message
    assert what in message
    # The text inside the braces is never repeated (it is often a pasted token).
    inner = text[text.rfind("${{") + 3 :].split("}}")[0].strip()
    if inner:
        assert inner not in message.replace("${{ NAME }}", "")
