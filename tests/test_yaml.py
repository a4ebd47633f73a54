"""The YAML layer: loading with positions, scalar rendering, byte-exact edits, atomic writes."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_canvas._config import parse_config
from atlas_canvas._config_edit import add_http_adapter_text, remove_adapter_text, render_new_config
from atlas_canvas._errors import ConfigError, UsageError
from atlas_canvas._yaml import load_documents, render_scalar, write_atomic

PD_HEADER = ("Authorization", "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}")


def only_added_lines(old: str, new: str) -> list[str]:
    """The added lines; fails if any line was removed or changed."""
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    added: list[str] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        assert tag in ("equal", "insert"), (tag, old_lines[i1:i2], new_lines[j1:j2])
        if tag == "insert":
            added.extend(new_lines[j1:j2])
    return added


# ------------------------------------------------------------------------- loading


def test_load_documents_positions() -> None:
    docs = load_documents("# c\nkind: Atlas\n---\n\nkind: HTTP\n---\n", "f.yml")
    assert [d.index for d in docs] == [1, 2, 3]
    assert [d.line for d in docs] == [2, 5, None]
    assert docs[2].data is None


def test_duplicate_key_reports_second_occurrence() -> None:
    text = "kind: Atlas\nspec:\n  owner: a\n  exposedPorts: {}\n  owner: b\n"
    with pytest.raises(ConfigError) as info:
        load_documents(text, "dup.yml")
    err = info.value
    assert err.line == 5
    assert "duplicate key 'owner'" in str(err)
    assert str(err).startswith("dup.yml:5: document 1: ")


def test_duplicate_key_in_later_document_names_it() -> None:
    text = "---\nkind: Atlas\n---\nkind: HTTP\nmetadata:\n  name: a\nmetadata: {}\n"
    with pytest.raises(ConfigError) as info:
        load_documents(text, "dup.yml")
    assert info.value.line == 7
    assert info.value.document == "document 2"


def test_malformed_yaml_has_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_documents("kind: Atlas\nspec:\n  apiAdapters: [\n  x: 1\n", "bad.yml")
    assert info.value.line is not None and info.value.line >= 3
    assert "malformed YAML" in str(info.value)


# ------------------------------------------------------------------ render_scalar


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}",
            "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}",
        ),
        ("${{ DDOG_API_KEY }}", "${{ DDOG_API_KEY }}"),
        ("https://api.pagerduty.com", "https://api.pagerduty.com"),
        ("Bearer ${{ X }}", "Bearer ${{ X }}"),
    ],
)
def test_render_scalar_plain_when_possible(value: str, expected: str) -> None:
    assert render_scalar(value) == expected


@pytest.mark.parametrize(
    "value", ["yes: no", "#x", "", " lead", "trail ", "true", "123", "null", "*a", "a #b", "'q'"]
)
def test_render_scalar_quotes_when_needed(value: str) -> None:
    rendered = render_scalar(value)
    assert rendered != value or value == ""
    assert parse_scalar(rendered) == value


def parse_scalar(text: str) -> object:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load("k: " + text + "\n")["k"]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_render_scalar_round_trips(value: str) -> None:
    try:
        rendered = render_scalar(value)
    except ConfigError:
        # Only values YAML cannot hold on one line may be refused.
        assert any(c in value for c in "\x85\u2028\u2029\ufeff")
        return
    assert "\n" not in rendered
    assert parse_scalar(rendered) == value


# -------------------------------------------------------------------------- edits


def test_guide_command_on_template_only_adds_lines(template_path: Path) -> None:
    old = template_path.read_text()
    new = add_http_adapter_text(
        old,
        name="pagerduty-eu",
        base_url="https://api.eu.pagerduty.com",
        headers=[PD_HEADER],
    )
    added = only_added_lines(old, new)
    assert "".join(added) == (
        "    - adapterRef:\n"
        "        apiVersion: moment.dev/adapters/v1alpha1\n"
        "        kind: HTTP\n"
        "        name: pagerduty-eu\n"
        "---\n"
        "apiVersion: moment.dev/adapters/v1alpha1\n"
        "kind: HTTP\n"
        "metadata:\n"
        "  name: pagerduty-eu\n"
        "spec:\n"
        "  baseUrl: https://api.eu.pagerduty.com\n"
        "  headers:\n"
        "    - name: Authorization\n"
        "      value: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}\n"
    )
    cfg = parse_config(new, "t.yml", environ={})
    assert [a.name for a in cfg.http_adapters] == ["github", "pagerduty", "pagerduty-eu"]
    assert remove_adapter_text(new, name="pagerduty-eu") == old


def test_guide_style_indentless_file() -> None:
    """The guide's own file style: indentless sequences; the new lines follow it."""
    old = (
        "apiVersion: moment.dev/atlas/v1alpha1\n"
        "kind: Atlas\n"
        "metadata:\n"
        "  name: a\n"
        "spec:\n"
        "  apiAdapters:\n"
        "  - adapterRef:\n"
        "      apiVersion: moment.dev/adapters/v1alpha1\n"
        "      kind: HTTP\n"
        "      name: mailchimp-2\n"
        "  exposedPorts: {}\n"
        "---\n"
        "apiVersion: moment.dev/adapters/v1alpha1\n"
        "kind: HTTP\n"
        "metadata:\n"
        "  name: mailchimp-2\n"
        "spec:\n"
        "  baseUrl: https://us1.api.mailchimp.com\n"
        "  headers:\n"
        "  - name: Authorization\n"
        "    value: '\"token ${{ GITHUB_TOKEN }}\"'\n"
    )
    new = add_http_adapter_text(
        old, name="YOUR_ADAPTER_NAME", base_url="https://api.pagerduty.com", headers=[PD_HEADER]
    )
    added = "".join(only_added_lines(old, new))
    assert added == (
        "  - adapterRef:\n"
        "      apiVersion: moment.dev/adapters/v1alpha1\n"
        "      kind: HTTP\n"
        "      name: YOUR_ADAPTER_NAME\n"
        "---\n"
        "apiVersion: moment.dev/adapters/v1alpha1\n"
        "kind: HTTP\n"
        "metadata:\n"
        "  name: YOUR_ADAPTER_NAME\n"
        "spec:\n"
        "  baseUrl: https://api.pagerduty.com\n"
        "  headers:\n"
        "  - name: Authorization\n"
        "    value: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}\n"
    )
    assert remove_adapter_text(new, name="YOUR_ADAPTER_NAME") == old


def test_remove_then_add_verbatim_guide_command(template_path: Path) -> None:
    original = template_path.read_text()
    removed = remove_adapter_text(original, name="pagerduty")
    assert "pagerduty" not in removed
    new = add_http_adapter_text(
        removed, name="pagerduty", base_url="https://api.pagerduty.com", headers=[PD_HEADER]
    )
    only_added_lines(removed, new)
    assert parse_config(new, environ={}).get("pagerduty").base_url == "https://api.pagerduty.com"


def test_remove_non_http_adapter(template_path: Path) -> None:
    old = template_path.read_text()
    new = remove_adapter_text(old, name="moment")
    cfg = parse_config(new, environ={})
    assert [a.name for a in cfg.adapters] == [
        "github",
        "pagerduty",
        "aws-billing",
        "warehouse",
        "cluster",
    ]
    assert cfg.adapter_refs == (
        ("HTTP", "github"),
        ("HTTP", "pagerduty"),
        ("AWS", "aws-billing"),
        ("Postgres", "warehouse"),
        ("Kubernetes", "cluster"),
    )
    assert "catalog" not in new


def test_generated_config_add_remove() -> None:
    old = render_new_config("my-atlas")
    assert "apiAdapters: []" in old
    new = add_http_adapter_text(old, name="x", base_url="http://127.0.0.1:9/", headers=[])
    assert "apiAdapters: []" not in new
    assert parse_config(new, environ={}).get("x").headers == ()
    assert remove_adapter_text(new, name="x") == old


def test_missing_api_adapters_key_is_added() -> None:
    old = (
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata:\n  name: a\n"
        "spec:\n  owner: example.com\n  exposedPorts:\n    adminPort: 9000 # unused\n"
        "# trailing comment\n"
    )
    new = add_http_adapter_text(old, name="x", base_url="https://x.example")
    only_added_lines(old, new)
    assert parse_config(new, environ={}).get("x")
    # The list existed only for x: removing it leaves an explicit empty list.
    after = remove_adapter_text(new, name="x")
    assert "apiAdapters: []" in after
    assert parse_config(after, environ={}).adapter_refs == ()


def test_comment_after_last_item_stays_after_it() -> None:
    old = (
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata: {name: a}\nspec:\n"
        "  apiAdapters:\n"
        "    - adapterRef: {kind: HTTP, apiVersion: moment.dev/adapters/v1alpha1, name: a}\n"
        "    # - adapterRef: {kind: HTTP, name: disabled}\n"
        "\n"
        "  exposedPorts: {}\n"
        "---\nkind: HTTP\napiVersion: moment.dev/adapters/v1alpha1\nmetadata: {name: a}\n"
        "spec: {baseUrl: 'https://a.example'}\n"
    )
    new = add_http_adapter_text(old, name="b", base_url="https://b.example")
    only_added_lines(old, new)
    assert [a.name for a in parse_config(new, environ={}).http_adapters] == ["a", "b"]
    assert remove_adapter_text(new, name="b") == old


def test_flow_style_list_is_refused_untouched() -> None:
    old = (
        "kind: Atlas\napiVersion: moment.dev/atlas/v1alpha1\nmetadata: {name: a}\n"
        "spec:\n  apiAdapters: [{adapterRef: {kind: HTTP, apiVersion: "
        "moment.dev/adapters/v1alpha1, name: a}}]\n"
    )
    with pytest.raises(ConfigError, match=r"flow style|block list"):
        add_http_adapter_text(old, name="b", base_url="https://b.example")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "pagerduty"}, "already exists"),
        ({"name": "github"}, "already exists"),
        ({"name": "moment"}, "already exists"),
        ({"name": "a/b"}, "URL path segment"),
        ({"name": ".."}, "URL path segment"),
        ({"name": "-x"}, "URL path segment"),
        ({"name": ""}, "non-empty"),
        ({"base_url": "ftp://x"}, "http:// or https://"),
        ({"base_url": "https://"}, "with a host"),
        ({"base_url": "https://h/?a=1"}, "query"),
        ({"base_url": "https://h/#f"}, "fragment"),
        ({"base_url": "https://u:pw@h/"}, "user:password"),
        ({"base_url": "api.pagerduty.com"}, "http:// or https://"),
        ({"headers": [("Bad Name", "v")]}, "header name"),
        ({"headers": [("X", "a\nb")]}, "CR/LF"),
        ({"headers": [("X", "${{ 1BAD }}")]}, "malformed secret template"),
        ({"headers": [("X", "a"), ("x", "b")]}, "given twice"),
    ],
)
def test_add_refusals(template_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"name": "new", "base_url": "https://h.example", "headers": []}
    args.update(kwargs)
    with pytest.raises((UsageError, ConfigError), match=message) as info:
        add_http_adapter_text(template_path.read_text(), **args)  # type: ignore[arg-type]
    assert "pw" not in str(info.value)


def test_remove_unknown_lists_names(template_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no adapter named 'nope'.*github, moment, pagerduty"):
        remove_adapter_text(template_path.read_text(), name="nope")


def test_remove_dangling_ref_only() -> None:
    old = render_new_config("a")
    new = add_http_adapter_text(old, name="x", base_url="https://x.example")
    # Drop the document by hand: only the adapterRef is left, which is a warning.
    dangling = new[: new.index("---\n")]
    assert any("no matching" in w for w in parse_config(dangling, environ={}).warnings)
    assert remove_adapter_text(dangling, name="x") == old


# --------------------------------------------------------------- property: inverse

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(lambda n: n != "added")
KINDS = st.sampled_from(["HTTP", "HTTP", "AWS", "Postgres", "Kubernetes", "Moment"])
COMMENTS = st.sampled_from(["", " # note", " # unused", "  #: x"])
HEADER_VALUES = st.sampled_from(
    [
        "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}",
        '"Bearer ${{ X }}"',
        "'token ${{GITHUB_TOKEN}}'",
        "application/json",
        "'#literal'",
    ]
)


@st.composite
def configs(draw: st.DrawFn) -> str:
    m = draw(st.sampled_from([2, 4]))
    seq = draw(st.sampled_from([0, 2]))
    ind = " " * m
    dash = " " * seq
    names = draw(st.lists(NAMES, max_size=4, unique=True))
    kinds = [draw(KINDS) for _ in names]
    atlas = []
    if draw(st.booleans()):
        atlas.append("# Atlas config" + draw(COMMENTS))
    atlas += [
        "kind: Atlas" + draw(COMMENTS),
        "apiVersion: moment.dev/atlas/v1alpha1",
        "metadata:",
        f"{ind}name: atlas-{draw(NAMES)}",
        "spec:",
    ]
    if draw(st.booleans()):
        atlas.append(f"{ind}owner: example.com" + draw(COMMENTS))
    refs = [n for n in names if draw(st.booleans())] if names else []
    if not refs:
        atlas.append(f"{ind}apiAdapters: []" + draw(COMMENTS))
    else:
        atlas.append(f"{ind}apiAdapters:" + draw(COMMENTS))
        for name in refs:
            kind = kinds[names.index(name)]
            keys = [
                "kind: " + kind,
                "apiVersion: moment.dev/adapters/v1alpha1",
                "name: " + name,
            ]
            keys = draw(st.permutations(keys))
            inner = " " * (m + seq + 2 + m)
            atlas.append(f"{ind}{dash}- adapterRef:")
            atlas += [inner + k for k in keys]
            if draw(st.booleans()):
                atlas.append(" " * draw(st.sampled_from([0, m, m + seq])) + "# after " + name)
            if draw(st.booleans()):
                atlas.append("")
    if draw(st.booleans()):
        atlas += [f"{ind}exposedPorts: {{}}", f"{ind}gatewayRegistration:", f"{ind}{ind}x: 1"]
    docs = []
    for name, kind in zip(names, kinds, strict=True):
        doc = [
            f"kind: {kind}",
            "apiVersion: moment.dev/adapters/v1alpha1",
            "metadata:",
            f"{ind}name: {name}" + draw(COMMENTS),
        ]
        if kind == "HTTP":
            doc += ["spec:", f"{ind}baseUrl: https://{name}.example.com"]
            values = draw(st.lists(HEADER_VALUES, max_size=2))
            if values:
                doc.append(f"{ind}headers:")
            for i, value in enumerate(values):
                doc += [f"{ind}{dash}- name: H{i}", f"{ind}{dash}  value: {value}"]
        elif kind != "Kubernetes":
            doc += ["spec:", f"{ind}profiles:", f"{ind}{dash}- name: p" + draw(COMMENTS)]
        docs.append(doc)
    position = draw(st.integers(min_value=0, max_value=len(docs)))
    docs.insert(position, atlas)
    eol = draw(st.sampled_from(["\n", "\n", "\r\n"]))
    text = ("---" + eol if draw(st.booleans()) else "") + ("---" + eol).join(
        eol.join(d) + eol for d in docs
    )
    if draw(st.booleans()):
        text = text[: -len(eol)]
    return text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=configs(),
    headers=st.lists(
        st.tuples(st.sampled_from(["Authorization", "Accept", "X-Key"]), HEADER_VALUES),
        max_size=2,
        unique_by=lambda h: h[0],
    ),
)
def test_add_then_remove_restores_bytes(text: str, headers: list[tuple[str, str]]) -> None:
    before = parse_config(text, environ={})
    new = add_http_adapter_text(
        text, name="added", base_url="https://a.example/v1", headers=headers
    )
    after = parse_config(new, environ={})
    assert after.get("added").base_url == "https://a.example/v1"
    assert [(h.name, h.value.text) for h in after.get("added").headers] == headers
    assert [a.name for a in after.adapters][:-1] == [a.name for a in before.adapters]
    if before.adapter_refs:
        # A block list: nothing but added lines (a file without a final line break gets
        # one before the new document, as any appended line would need).
        eol = "\r\n" if "\r\n" in text else "\n"
        only_added_lines(text if text.endswith("\n") else text + eol, new + eol)
    assert ("\r\n" in new) == ("\r\n" in text)
    assert new.endswith("\n") == text.endswith("\n")
    assert remove_adapter_text(new, name="added") == text


# ---------------------------------------------------------------------- writing


def test_write_atomic_keeps_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "atlas.yml"
    target.write_text("old\n")
    os.chmod(target, 0o640)
    write_atomic(target, "new\r\n")
    assert target.read_bytes() == b"new\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["atlas.yml"]


def test_write_atomic_new_file_uses_umask(tmp_path: Path) -> None:
    target = tmp_path / "new.yml"
    write_atomic(target, "x\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_write_atomic_follows_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.yml"
    real.write_text("old\n")
    link = tmp_path / "atlas.yml"
    link.symlink_to(real)
    write_atomic(link, "new\n", expect="old\n")
    assert link.is_symlink()
    assert real.read_text() == "new\n"


def test_write_atomic_refuses_concurrent_change(tmp_path: Path) -> None:
    target = tmp_path / "atlas.yml"
    target.write_text("changed by someone else\n")
    with pytest.raises(ConfigError, match="changed while it was being edited"):
        write_atomic(target, "mine\n", expect="what I read\n")
    assert target.read_text() == "changed by someone else\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=configs(), data=st.data())
def test_remove_existing_adapter_only_removes(text: str, data: st.DataObject) -> None:
    before = parse_config(text, environ={})
    names = sorted({a.name for a in before.adapters} | {n for _, n in before.adapter_refs})
    if not names:
        return
    name = data.draw(st.sampled_from(names))
    new = remove_adapter_text(text, name=name)
    after = parse_config(new, environ={})
    assert [a.name for a in after.adapters] == [a.name for a in before.adapters if a.name != name]
    assert after.adapter_refs == tuple(r for r in before.adapter_refs if r[1] != name)
    if len(after.adapter_refs) == len(before.adapter_refs) - 1 and after.adapter_refs:
        # Nothing but removed lines: the reverse of the diff only adds.
        eol = "\r\n" if "\r\n" in text else "\n"

        def ended(t: str) -> str:
            return t if t.endswith("\n") else t + eol

        only_added_lines(ended(new), ended(text))


def test_empty_value_api_adapters_is_extended() -> None:
    old = render_new_config("a").replace("  apiAdapters: []\n", "  apiAdapters: # none yet\n")
    new = add_http_adapter_text(old, name="x", base_url="https://x.example")
    only_added_lines(old, new)
    assert "  apiAdapters: # none yet\n  - adapterRef:\n" in new
    assert remove_adapter_text(new, name="x") == old.replace(
        "apiAdapters: # none yet", "apiAdapters: [] # none yet"
    )


def test_empty_flow_list_with_comment_round_trips() -> None:
    old = render_new_config("a").replace("  apiAdapters: []\n", "  apiAdapters: [] # none yet\n")
    new = add_http_adapter_text(old, name="x", base_url="https://x.example")
    assert "  apiAdapters: # none yet\n" in new
    assert remove_adapter_text(new, name="x") == old
