"""Editing Atlas config files: add/remove an adapter, a new config, presets, ``-H`` headers.

This module sits *above* the config model (:mod:`atlas_canvas._config`) and the YAML
loader (:mod:`atlas_canvas._yaml`): it imports both, neither imports it. Every front door
that changes a config (``mom atlas config ...``, the Jupyter sidebar's add-adapter route,
the demo, the benchmarks and test environments) goes through the functions here, so a
value one of them accepts is exactly a value the others accept.

Edits never re-dump a whole file: ruamel locates things, and new text is spliced in, so
every other byte of the file (comments, quoting, indentation, other documents) stays as it
was. Each edit re-parses its result and checks that it means what was intended.

Refusals are :class:`UsageError` (a bad argument, with ``field`` naming the form field:
``name``, ``baseUrl`` or ``headers``) or :class:`ConfigError` (the file cannot be edited
safely). Header values are described in messages, never quoted: they may be secrets.

Example::

    text = render_new_config("my-atlas")
    text = add_http_adapter_text(text, name="pagerduty",
                                 base_url="https://api.pagerduty.com",
                                 headers=[parse_header("Authorization: Token token=${{ PD }}")])
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import ADAPTER_API_VERSION, AtlasConfig, config_from_documents, parse_config
from ._config_checks import (
    adapter_name_problem,
    base_url_problem,
    header_name_problem,
    header_value_problem,
    redact_url,
)
from ._errors import ConfigError, UsageError
from ._yaml import (
    SEPARATOR_RE,
    Document,
    load_documents,
    read_config_text,
    render_scalar,
    write_atomic,
)

__all__ = [
    "FIELD_BASE_URL",
    "FIELD_HEADERS",
    "FIELD_NAME",
    "PRESETS",
    "add_http_adapter",
    "add_http_adapter_text",
    "parse_header",
    "remove_adapter",
    "remove_adapter_text",
    "render_adapter_ref_item",
    "render_http_document",
    "render_new_config",
]

#: The form fields (and JSON keys of the Jupyter add-adapter route) that a
#: :class:`UsageError` from this module can name in ``field``.
FIELD_NAME = "name"
FIELD_BASE_URL = "baseUrl"
FIELD_HEADERS = "headers"


# ---------------------------------------------------------------------- headers


def parse_header(raw: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``('Name', 'value')``: the one header parser.

    Used for ``mom atlas config add-http-adapter -H``, the Jupyter sidebar form's header
    lines and anything else that takes headers as text, so all of them accept the same
    input. Splits on the first ``:``, strips surrounding whitespace, and strips one pair of
    matching quotes around the value (the public guides write
    ``-H 'Authorization: "Bearer X"'``). ``${{ VAR }}`` text is kept exactly. A refusal is
    a :class:`UsageError` with ``field="headers"`` that never quotes the text (a mistyped
    header may be a literal token).

    Example::

        parse_header('Authorization: Token token=${{ PD }}')
        # ('Authorization', 'Token token=${{ PD }}')
    """
    if "\r" in raw or "\n" in raw:
        raise UsageError(
            "a header contains a line break (CR/LF)",
            hint="write each header on one line as 'Name: value'",
            field=FIELD_HEADERS,
        )
    name, sep, value = raw.partition(":")
    if not sep:
        raise UsageError(
            f"a header ({len(raw)} characters) has no ':' between name and value",
            hint="write each header as 'Name: value', e.g. "
            "'Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}'",
            field=FIELD_HEADERS,
        )
    name = name.strip()
    value = value.strip()
    if not name:
        raise UsageError(
            "a header has an empty name", hint="write 'Name: value'", field=FIELD_HEADERS
        )
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return name, value


# ------------------------------------------------------------------------ edits
# Byte-exact editing: ruamel locates things, the text is spliced line by line. A file is
# treated as if it ended with a line break during an edit; the missing break is taken off
# again at the end, so a file without a trailing newline keeps that property.

_EMPTY_FLOW_RE = re.compile(r"^(?P<head>[ \t]*apiAdapters[ \t]*:)(?P<sp>[ \t]*)\[\](?P<tail>.*)$")
_EMPTY_VALUE_RE = re.compile(r"^(?P<head>[ \t]*apiAdapters[ \t]*:)(?P<tail>[ \t]*(?:#.*)?)$")


@dataclass
class _Text:
    """A file's text as lines (each with its line break), plus how to put it back."""

    lines: list[str]
    eol: str
    had_final_eol: bool

    @classmethod
    def of(cls, text: str, filename: str) -> _Text:
        if re.search("\r(?!\n)|[\x85\u2028\u2029]", text):
            # ruamel counts these as line breaks too; line numbers would not match ours.
            raise ConfigError(
                "the file uses unusual line breaks (lone CR, NEL or Unicode separators)",
                file=filename,
                hint="convert it to \\n or \\r\\n line endings and retry",
            )
        eol = "\r\n" if "\r\n" in text else "\n"
        had_final_eol = text == "" or text.endswith("\n")
        if not had_final_eol:
            text += eol
        parts = text.split("\n")
        lines = [p + "\n" for p in parts[:-1]]
        return cls(lines=lines, eol=eol, had_final_eol=had_final_eol)

    def text(self) -> str:
        out = "".join(self.lines)
        if not self.had_final_eol and out.endswith(self.eol):
            out = out[: -len(self.eol)]
        return out

    def content(self, i: int) -> str:
        """Line ``i`` without its line break."""
        return self.lines[i].rstrip("\n").rstrip("\r")

    def indent(self, i: int) -> int:
        line = self.content(i)
        return len(line) - len(line.lstrip(" "))

    def is_filler(self, i: int) -> bool:
        """Blank or comment-only: belongs to no particular node."""
        stripped = self.content(i).strip()
        return not stripped or stripped.startswith("#")

    def is_separator(self, i: int) -> bool:
        return bool(SEPARATOR_RE.match(self.content(i)))

    def block_end(self, start: int, parent_col: int) -> int:
        """Index of the last content line of the block that starts at line ``start``.

        The block holds the following lines indented deeper than ``parent_col`` (blank and
        comment lines in between included); trailing blank/comment lines are not part of it.
        """
        last = start
        for i in range(start + 1, len(self.lines)):
            if self.is_separator(i) or self.content(i).startswith("..."):
                break
            if self.is_filler(i):
                continue
            if self.indent(i) <= parent_col:
                break
            last = i
        return last

    def render(self, rows: list[str]) -> list[str]:
        return [row + self.eol for row in rows]


@dataclass(frozen=True)
class _Style:
    """How this file indents: mapping children and sequence dashes under a key."""

    map_indent: int = 2
    seq_offset: int = 0  # 0: "key:\n- item" (indentless); 2: "key:\n  - item"


def _detect_style(docs: list[Document]) -> _Style:
    map_indents: list[int] = []
    seq_offsets: list[int] = []

    def walk(node: Any, node_col: int | None) -> None:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict):
            if lc is not None and not _is_flow(node) and node_col is not None:
                map_indents.append(int(lc.col) - node_col)
            for key in node:
                try:
                    key_col = int(_lc(node).key(key)[1])
                except (AttributeError, KeyError, TypeError):
                    continue
                value = node[key]
                if isinstance(value, list) and value and not _is_flow(value):
                    seq_offsets.append(int(_lc(value).col) - key_col)
                walk(value, key_col)
        elif isinstance(node, list):
            for item in node:
                walk(item, None)

    for doc in docs:
        if isinstance(doc.data, dict):
            walk(doc.data, None)
    map_indent = _most_common([m for m in map_indents if m > 0], 2)
    seq_offset = _most_common([s for s in seq_offsets if s >= 0], 0)
    return _Style(map_indent=map_indent, seq_offset=seq_offset)


def _most_common(values: list[int], default: int) -> int:
    if not values:
        return default
    return max(sorted(set(values)), key=values.count)


def _lc(node: Any) -> Any:
    """ruamel's line/column record of a loaded node."""
    return node.lc


def _is_flow(node: Any) -> bool:
    fa = getattr(node, "fa", None)
    return bool(fa is not None and fa.flow_style())


def _atlas_document(docs: list[Document], filename: str) -> Document:
    for doc in docs:
        if isinstance(doc.data, dict) and doc.data.get("kind") == "Atlas":
            return doc
    raise ConfigError(
        "not an Atlas config: no document has kind: Atlas",
        file=filename,
        hint="create one with `mom atlas config generate --name NAME`",
    )


def _segments(t: _Text) -> list[tuple[int, int]]:
    """``[start, end)`` line ranges of documents; every range after the first starts with
    its ``---`` line."""
    bounds = [0] + [i for i in range(len(t.lines)) if t.is_separator(i)] + [len(t.lines)]
    if len(bounds) > 2 and bounds[1] == 0:
        bounds = bounds[1:]
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def _refuse_unlocatable(filename: str, what: str) -> ConfigError:
    return ConfigError(
        f"cannot edit this file safely: {what}",
        file=filename,
        hint="make that change by hand, then run `mom atlas config validate`",
    )


def render_adapter_ref_item(
    kind: str, name: str, dash_col: int, key_offset: int, inner_offset: int
) -> list[str]:
    """Rows of one ``- adapterRef:`` item; keys sorted like the public guide's diff."""
    inner = " " * (dash_col + key_offset + inner_offset)
    return [
        " " * dash_col + "-" + " " * (key_offset - 1) + "adapterRef:",
        f"{inner}apiVersion: {render_scalar(ADAPTER_API_VERSION)}",
        f"{inner}kind: {render_scalar(kind)}",
        f"{inner}name: {render_scalar(name)}",
    ]


def render_http_document(
    name: str, base_url: str, headers: list[tuple[str, str]], style: _Style
) -> list[str]:
    """Rows of a ``kind: HTTP`` document (without the ``---``), keys sorted."""
    m = " " * style.map_indent
    rows = [
        f"apiVersion: {render_scalar(ADAPTER_API_VERSION)}",
        "kind: HTTP",
        "metadata:",
        f"{m}name: {render_scalar(name)}",
        "spec:",
        f"{m}baseUrl: {render_scalar(base_url)}",
    ]
    if headers:
        rows.append(f"{m}headers:")
        dash = " " * (style.map_indent + style.seq_offset)
        for hname, hvalue in headers:
            rows.append(f"{dash}- name: {render_scalar(hname)}")
            rows.append(f"{dash}  value: {render_scalar(hvalue)}")
    return rows


def add_http_adapter_text(
    text: str,
    *,
    name: str,
    base_url: str,
    headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    filename: str = "<string>",
) -> str:
    """``text`` with an HTTP adapter added: an ``adapterRef`` appended to the Atlas
    document's ``spec.apiAdapters`` and a ``kind: HTTP`` document appended to the file.

    Every other byte stays as it was. The result is re-parsed and checked before it is
    returned; anything doubtful raises :class:`ConfigError` and nothing is produced.

    Example::

        new = add_http_adapter_text(old, name="pagerduty",
                                    base_url="https://api.pagerduty.com",
                                    headers=[("Authorization",
                                              "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}")])
    """
    headers = list(headers)
    _check_new_adapter(name, base_url, headers)
    docs = load_documents(text, filename)
    before = config_from_documents(docs, filename, environ={})
    taken = {a.name for a in before.adapters} | {n for _, n in before.adapter_refs}
    if name in taken:
        raise UsageError(
            f"an adapter named {name!r} already exists in {filename}",
            hint="adapter names must be unique in a config: pick another name, "
            f"or remove the old one with `mom atlas config remove-adapter --adapter-name {name}`",
            field=FIELD_NAME,
        )
    t = _Text.of(text, filename)
    style = _detect_style(docs)
    atlas = _atlas_document(docs, filename).data
    spec = atlas["spec"]
    if _is_flow(spec):
        raise _refuse_unlocatable(filename, "the Atlas spec is written in flow style ({...})")
    edits: list[tuple[int, int, list[str]]] = []  # (start, end, rows) replace lines[start:end]
    refs = spec.get("apiAdapters")
    if isinstance(refs, list) and refs and not _is_flow(refs):
        last = len(refs) - 1
        item_line, item_col = (int(v) for v in _lc(refs).item(last))
        dash_col = int(_lc(refs).col)
        dash_text = t.content(item_line)
        if dash_text[dash_col : dash_col + 1] != "-" or item_col <= dash_col:
            raise _refuse_unlocatable(filename, "the last spec.apiAdapters item has no '- ' line")
        inner_offset = style.map_indent
        last_item = refs[last]
        ref_map = last_item.get("adapterRef") if isinstance(last_item, dict) else None
        if isinstance(ref_map, dict) and ref_map and not _is_flow(ref_map):
            inner_offset = int(_lc(ref_map).col) - item_col
        end = t.block_end(item_line, dash_col)
        rows = render_adapter_ref_item("HTTP", name, dash_col, item_col - dash_col, inner_offset)
        edits.append((end + 1, end + 1, t.render(rows)))
    else:
        if "apiAdapters" in spec:
            key_line, key_col = (int(v) for v in _lc(spec).key("apiAdapters"))
            line = t.content(key_line)
            if isinstance(refs, list) and not refs:
                match = _EMPTY_FLOW_RE.match(line)
                if match is None:
                    raise _refuse_unlocatable(filename, "spec.apiAdapters: [] spans lines")
                head_rows = [match["head"] + match["tail"]]
            elif refs is None and _EMPTY_VALUE_RE.match(line):
                head_rows = [line]
            else:
                raise _refuse_unlocatable(
                    filename,
                    "spec.apiAdapters is not a block list (write it as `apiAdapters:` followed "
                    "by `- adapterRef:` items, or `apiAdapters: []`)",
                )
            start, stop = key_line, key_line + 1
        else:
            # No apiAdapters key: add one after the last key of spec.
            last_key = list(spec)[-1]
            key_line, key_col = (int(v) for v in _lc(spec).key(last_key))
            head_rows = [" " * key_col + "apiAdapters:"]
            parent_col = int(_lc(atlas).key("spec")[1])
            start = stop = t.block_end(key_line, parent_col) + 1
        dash_col = key_col + style.seq_offset
        rows = head_rows + render_adapter_ref_item("HTTP", name, dash_col, 2, style.map_indent)
        if start == stop:
            edits.append((start, stop, t.render(rows)))
        else:
            eol = t.lines[key_line][len(line) :]
            edits.append((start, stop, [rows[0] + eol, *t.render(rows[1:])]))
    document = ["---", *render_http_document(name, base_url, headers, style)]
    edits.append((len(t.lines), len(t.lines), t.render(document)))
    new_text = _apply(t, edits)
    after = parse_config(new_text, filename, environ={})
    expected_refs = (*before.adapter_refs, ("HTTP", name))
    added = after.active.get(name)
    if (
        after.adapter_refs != expected_refs
        or _meaning(after.adapters[:-1]) != _meaning(before.adapters)
        or added is None
        or added.base_url != base_url
        or [(h.name, h.value.text) for h in added.headers] != headers
    ):
        raise _refuse_unlocatable(filename, "the edited file would not load as intended")
    return new_text


def remove_adapter_text(text: str, *, name: str, filename: str = "<string>") -> str:
    """``text`` without adapter ``name``: its ``adapterRef`` item(s) and its document.

    The exact inverse of :func:`add_http_adapter_text`: add then remove gives back the
    original bytes. Works for adapters of any kind.
    """
    docs = load_documents(text, filename)
    before = config_from_documents(docs, filename, environ={})
    present = [a for a in before.adapters if a.name == name]
    listed = [i for i, (_, n) in enumerate(before.adapter_refs) if n == name]
    if not present and not listed:
        known = ", ".join(sorted({a.name for a in before.adapters})) or "none"
        raise UsageError(
            f"no adapter named {name!r} in {filename} (adapters: {known})",
            hint="check the spelling; `mom atlas apis list -f FILE` lists the adapters",
            field=FIELD_NAME,
        )
    t = _Text.of(text, filename)
    atlas = _atlas_document(docs, filename).data
    edits: list[tuple[int, int, list[str]]] = []
    refs = atlas["spec"].get("apiAdapters") if listed else None
    if listed and isinstance(refs, list):
        if _is_flow(refs):
            raise _refuse_unlocatable(filename, "spec.apiAdapters is written in flow style")
        dash_col = int(_lc(refs).col)
        if len(listed) == len(refs):
            key_line = int(_lc(atlas["spec"]).key("apiAdapters")[0])
            match = _EMPTY_VALUE_RE.match(t.content(key_line))
            if match is None:
                raise _refuse_unlocatable(filename, "unexpected text after apiAdapters:")
            eol = t.lines[key_line][len(t.content(key_line)) :]
            last_line = t.block_end(int(_lc(refs).item(len(refs) - 1)[0]), dash_col)
            edits.append((key_line, key_line + 1, [match["head"] + " []" + match["tail"] + eol]))
            first_item = int(_lc(refs).item(0)[0])
            edits.append((first_item, last_line + 1, []))
        else:
            for i in listed:
                item_line = int(_lc(refs).item(i)[0])
                if t.content(item_line)[dash_col : dash_col + 1] != "-":
                    raise _refuse_unlocatable(filename, f"spec.apiAdapters[{i}] has no '- ' line")
                edits.append((item_line, t.block_end(item_line, dash_col) + 1, []))
    segments = _segments(t)
    for adapter in present:
        doc = docs[adapter.document_index]
        if doc.line is None:
            raise _refuse_unlocatable(filename, f"the document of {name!r} has no position")
        k = next(k for k, (s, e) in enumerate(segments) if s <= doc.line - 1 < e)
        start, end = segments[k]
        if k == 0 and not t.is_separator(start) and len(segments) > 1:
            # First document without a leading '---': take the next one's bare separator.
            if t.content(end).strip() == "---":
                end += 1
        edits.append((start, end, []))
    new_text = _apply(t, edits)
    after = parse_config(new_text, filename, environ={})
    if any(a.name == name for a in after.adapters) or any(n == name for _, n in after.adapter_refs):
        raise _refuse_unlocatable(filename, "the edited file would still hold the adapter")
    return new_text


def _meaning(adapters: Any) -> list[tuple[Any, ...]]:
    """What an adapter means, without where it sits in the file."""
    return [(a.kind, a.name, a.base_url, a.headers) for a in adapters]


def _apply(t: _Text, edits: list[tuple[int, int, list[str]]]) -> str:
    lines = list(t.lines)
    spans = sorted(edits, key=lambda e: (e[0], e[1]))
    for k in range(1, len(spans)):
        if spans[k][0] < spans[k - 1][1]:
            raise ConfigError("internal error: overlapping edits", hint="please report this")
    for start, end, rows in reversed(spans):
        lines[start:end] = rows
    return _Text(lines=lines, eol=t.eol, had_final_eol=t.had_final_eol).text()


def _check_new_adapter(name: str, base_url: str, headers: list[tuple[str, str]]) -> None:
    problem = adapter_name_problem(name)
    if problem:
        raise UsageError(f"bad adapter name {name!r}: {problem}", field=FIELD_NAME)
    problem = base_url_problem(base_url)
    if problem:
        # redact_url masks user-info, a non-numeric port, the query and the fragment.
        raise UsageError(f"bad base URL {redact_url(base_url)!r}: {problem}", field=FIELD_BASE_URL)
    seen: set[str] = set()
    for hname, hvalue in headers:
        problem = header_name_problem(hname)
        if problem:
            raise UsageError(f"bad header name {hname!r}: {problem}", field=FIELD_HEADERS)
        problem = header_value_problem(hvalue)
        if problem:
            # The value may hold a literal secret: never echo it.
            raise UsageError(f"bad value for header {hname}: {problem}", field=FIELD_HEADERS)
        if hname.lower() in seen:
            raise UsageError(
                f"header {hname} given twice", hint="give each header once", field=FIELD_HEADERS
            )
        seen.add(hname.lower())


# ------------------------------------------------------------------ file edits


def add_http_adapter(
    path: str | os.PathLike[str],
    *,
    name: str,
    base_url: str,
    headers: Sequence[str] = (),
) -> AtlasConfig:
    """Add an HTTP adapter to the config file ``path`` in place; returns the new config.

    ``headers`` are ``'Name: value'`` lines (see :func:`parse_header`). The file is read,
    the new text computed and checked, and the file replaced atomically only if nobody
    changed it meanwhile; any refusal leaves it byte-for-byte as it was.

    Example::

        cfg = add_http_adapter("atlas.yml", name="pagerduty",
                               base_url="https://api.pagerduty.com",
                               headers=["Authorization: Token token=${{ PD_TOKEN }}"])
    """
    parsed = [parse_header(h) for h in headers]
    target = Path(path)
    text = read_config_text(target)
    new_text = add_http_adapter_text(
        text, name=name, base_url=base_url, headers=parsed, filename=str(target)
    )
    write_atomic(target, new_text, expect=text)
    return parse_config(new_text, str(target))


def remove_adapter(path: str | os.PathLike[str], *, name: str) -> None:
    """Remove adapter ``name`` (its ``adapterRef`` and its document) from ``path`` in place.

    Example::

        remove_adapter("atlas.yml", name="pagerduty")
    """
    target = Path(path)
    text = read_config_text(target)
    new_text = remove_adapter_text(text, name=name, filename=str(target))
    write_atomic(target, new_text, expect=text)


#: ``generate --preset``: where the instance registers with a gateway. Not used by
#: atlas-canvas itself (it serves locally), kept so the file also works with Moment's Atlas.
PRESETS = {
    "production": ["    registrationHostpath: dns:atlas.moment.dev:443"],
    "local": ["    insecure: true", "    registrationHostpath: 127.0.0.1:8001"],
}


def render_new_config(name: str, preset: str = "production") -> str:
    """A new config: one Atlas document, no adapters (``mom atlas config generate``).

    Example::

        text = render_new_config("my-atlas")   # then add_http_adapter_text(text, ...)
    """
    if not isinstance(name, str) or not name.strip() or "\n" in name or "\r" in name:
        raise UsageError("bad --name: expected a non-empty single-line name", field="name")
    if preset not in PRESETS:
        raise UsageError(
            f"bad --preset {preset!r}: expected one of {', '.join(PRESETS)}", field="preset"
        )
    rows = [
        "apiVersion: moment.dev/atlas/v1alpha1",
        "kind: Atlas",
        "metadata:",
        f"  name: {render_scalar(name)}",
        "spec:",
        "  apiAdapters: []",
        "  exposedPorts: {}",
        "  gatewayRegistration:",
        "    backoff:",
        "      factor: 2",
        "      jitter: true",
        "      maxInterval: 120",
        "      minInterval: 2",
        "    connectionTimeout: 15",
        *PRESETS[preset],
    ]
    return "\n".join(rows) + "\n"
