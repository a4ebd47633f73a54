"""The Atlas config model: small frozen dataclasses, validated on construction.

Reading and writing YAML happens only in ``_yaml.py`` (a leaf this module imports);
this module turns the loaded documents into the model below and validates every
document. Editing a config file lives above this module, in ``_config_edit.py``.

Public shape (other modules rely on it)::

    cfg = load_config("atlas.yml")          # -> AtlasConfig, raises ConfigError
    cfg.name                                # Atlas metadata.name
    cfg.adapters                            # every adapter document, any kind, file order
    cfg.active                              # {name: Adapter} listed in spec.apiAdapters AND present
    cfg.http_adapters                       # active adapters of kind HTTP, in adapterRef order
    cfg.get("pagerduty")                    # Adapter or raises NoMatchingInstanceError
    adapter.base_url, adapter.headers       # headers: tuple[Header(name, Template)]
    adapter.resolved_headers(environ=None)  # [(name, value)], raises MissingSecretError
    cfg.warnings                            # tuple[str]: unknown keys, unset ${{ VAR }}s
    resolve_config_path(explicit=None)      # -f / ATLAS_CONFIG / ./atlas.yml
    parse_config(text, filename, environ=None)  # same, from text; environ for the warnings

Validation policy (every document is checked; the first error is raised):

* errors (``ConfigError``, exit 2): malformed YAML; a duplicate key (at the line of the
  second occurrence); a document that is not a mapping; a missing or unknown ``kind``;
  a wrong ``apiVersion``; a missing/invalid ``metadata.name`` (adapter names are URL
  segments: letters, digits, ``.``, ``_``, ``-``); zero or two ``kind: Atlas`` documents;
  two adapter documents with the same name; an HTTP document without a valid ``baseUrl``
  (http/https, a host, no query, fragment or user:password); ``headers`` that are not a
  list of ``{name, value}`` with a token name, a one-line string value and well-formed
  ``${{ VAR }}`` templates; the same header twice; an ``adapterRef`` without
  apiVersion/kind/name or listed twice.
* warnings (``cfg.warnings``, the file still loads): unknown keys (kept, never dropped);
  an ``adapterRef`` with no matching document and a document no ``adapterRef`` lists (both
  simply inactive, as the interface defines "active"); ``${{ VAR }}`` used by an active
  HTTP adapter but not set in the environment (the name only, never a value).

Messages read ``file:line: document N (KIND 'name'): key.path: got <value>, expected
<what> (how to fix)``. Header values are described, never quoted: they may be literal secrets;
so are the parts of a ``baseUrl`` that may carry one (user-info, a non-numeric port, the
query, the fragment: shown as ``***`` and described by their length), and a malformed
``${{ ... }}`` template (its position, length and what is wrong, never its text).
Files past the loader's limits (``_yaml.MAX_*``: size, depth, documents, values) are
refused with the limit named.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config_checks import (
    ADAPTER_NAME_RE,
    adapter_name_problem,
    base_url_problem,
    chars,
    header_name_problem,
    header_value_problem,
    redact_url,
)
from ._errors import ConfigError, NoMatchingInstanceError
from ._secrets import Template
from ._yaml import Document, load_documents, position, read_config_text

__all__ = [
    "ADAPTER_API_VERSION",
    "ADAPTER_NAME_RE",
    "ATLAS_API_VERSION",
    "KNOWN_KINDS",
    "Adapter",
    "AtlasConfig",
    "Header",
    "adapter_name_problem",
    "base_url_problem",
    "config_from_documents",
    "header_name_problem",
    "header_value_problem",
    "load_config",
    "parse_config",
    "redact_url",
    "resolve_config_path",
]

ATLAS_API_VERSION = "moment.dev/atlas/v1alpha1"
ADAPTER_API_VERSION = "moment.dev/adapters/v1alpha1"
KNOWN_KINDS = ("HTTP", "AWS", "Postgres", "Kubernetes", "Moment")


#: Header names whose literal (template-free) value is a credential: never shown in a repr.
_CREDENTIAL_NAME_RE = re.compile(r"auth|token|key|secret|session|passw|cookie|signature", re.I)


@dataclass(frozen=True)
class Header:
    """One adapter header; ``value`` is a template, resolved only at send time.

    The ``repr`` shows a ``${{ VAR }}`` template as written (names, not values) and a
    literal value of an ordinary header (``Accept: application/json``); a literal value of
    a credential-looking header (``Authorization: Bearer abc``) is described by its length.

    Example::

        Header("Authorization", Template.parse("Bearer s3cret"))
        # Header('Authorization', <literal value, 13 characters>)
    """

    name: str
    value: Template

    def __repr__(self) -> str:
        if self.value.is_secret or not _CREDENTIAL_NAME_RE.search(self.name):
            return f"Header({self.name!r}, {self.value.text!r})"
        return f"Header({self.name!r}, <literal value, {chars(self.value.text)}>)"


@dataclass(frozen=True)
class Adapter:
    """One adapter document (any kind). Only HTTP adapters are proxied."""

    kind: str
    name: str
    base_url: str | None = None
    headers: tuple[Header, ...] = ()
    line: int | None = None  # 1-based line of the document's start in the file
    document_index: int = 0  # 0-based position of the document in the file

    def resolved_headers(self, environ: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
        """``[(name, value)]`` with secrets resolved from ``environ`` (default os.environ)."""
        return [(h.name, h.value.resolve(environ, adapter=self.name)) for h in self.headers]

    @property
    def secret_variables(self) -> tuple[str, ...]:
        names: dict[str, None] = {}
        for h in self.headers:
            for v in h.value.variables:
                names[v] = None
        return tuple(names)


@dataclass(frozen=True)
class AtlasConfig:
    """A loaded, validated Atlas config."""

    name: str
    adapters: tuple[Adapter, ...] = ()
    adapter_refs: tuple[tuple[str, str], ...] = ()  # (kind, name) in spec.apiAdapters order
    path: Path | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def active(self) -> dict[str, Adapter]:
        by_key = {(a.kind, a.name): a for a in self.adapters}
        out: dict[str, Adapter] = {}
        for kind, name in self.adapter_refs:
            adapter = by_key.get((kind, name))
            if adapter is not None:
                out[name] = adapter
        return out

    @property
    def http_adapters(self) -> list[Adapter]:
        return [a for a in self.active.values() if a.kind == "HTTP"]

    def get(self, name: str) -> Adapter:
        """The active adapter ``name``; :class:`NoMatchingInstanceError` lists known names."""
        active = self.active
        try:
            return active[name]
        except KeyError:
            known = ", ".join(sorted(active)) or "none"
            raise NoMatchingInstanceError(
                f"no adapter named '{name}' (known adapters: {known})",
                hint="check the name in the path or add it with "
                "`mom atlas config add-http-adapter`",
            ) from None


def resolve_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the config comes from: explicit argument, ``ATLAS_CONFIG``, ``./atlas.yml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ATLAS_CONFIG")
    if env:
        return Path(env)
    return Path("atlas.yml")


def parse_config(
    text: str, filename: str = "<string>", *, environ: Mapping[str, str] | None = None
) -> AtlasConfig:
    """Parse and validate config ``text``; every document is checked.

    Raises :class:`ConfigError` naming file, line, document, key path, the bad value and
    what was expected. Unknown keys, adapters not listed in ``spec.apiAdapters``,
    ``adapterRef`` entries without a document, and ``${{ VAR }}`` not set in ``environ``
    (default ``os.environ``; names only, never values) end up in ``warnings``.

    Example::

        cfg = parse_config(open("atlas.yml").read(), "atlas.yml")
        [a.name for a in cfg.http_adapters]       # ['pagerduty']
    """
    return config_from_documents(load_documents(text, filename), filename, environ=environ)


def config_from_documents(
    docs: list[Document], filename: str = "<string>", *, environ: Mapping[str, str] | None = None
) -> AtlasConfig:
    """:func:`parse_config` for documents already loaded by ``_yaml.load_documents``."""
    result = _Validator(filename).run(docs)
    cfg = AtlasConfig(
        name=result.name,
        adapters=tuple(result.adapters),
        adapter_refs=tuple(result.adapter_refs),
        warnings=(),
    )
    env = os.environ if environ is None else environ
    warnings = list(result.warnings)
    for adapter in cfg.http_adapters:
        for header in adapter.headers:
            for var in header.value.missing(env):
                warnings.append(
                    f"{filename}: adapter '{adapter.name}': header {header.name} uses "
                    f"${{{{ {var} }}}} but environment variable {var} is not set "
                    "(requests through this adapter will fail until it is)"
                )
    return AtlasConfig(
        name=cfg.name,
        adapters=cfg.adapters,
        adapter_refs=cfg.adapter_refs,
        warnings=tuple(warnings),
    )


def load_config(path: str | os.PathLike[str] | None = None) -> AtlasConfig:
    """Load and validate the Atlas config at ``path`` (see :func:`resolve_config_path`)."""
    p = resolve_config_path(path)
    text = read_config_text(p)
    cfg = parse_config(text, filename=str(p))
    return AtlasConfig(
        name=cfg.name,
        adapters=cfg.adapters,
        adapter_refs=cfg.adapter_refs,
        path=p,
        warnings=cfg.warnings,
    )


# ----------------------------------------------------------------------- validation

_ATLAS_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_METADATA_KEYS = ("name", "labels", "annotations", "namespace")
_ATLAS_SPEC_KEYS = (
    "owner",
    "identityProviders",
    "exposedPorts",
    "gatewayRegistration",
    "apiAdapters",
)
_ADAPTER_REF_KEYS = ("apiVersion", "kind", "name")
_HTTP_SPEC_KEYS = ("baseUrl", "headers")
_HEADER_KEYS = ("name", "value")


def _show(value: object) -> str:
    """A short description of a bad value for a message (strings truncated)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _describe(value: object) -> str:
    """Like :func:`_show`, but a string is described by its length, never quoted (it may be
    a header value, i.e. a secret)."""
    if isinstance(value, str):
        return f"a string of {chars(value)}"
    return _show(value)


@dataclass
class _Result:
    name: str = ""
    adapters: list[Adapter] = field(default_factory=list)
    adapter_refs: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Validator:
    """Walks every document once; raises the first error, collects warnings."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.result = _Result()
        self.doc_label = ""
        self._refs_lines: dict[tuple[str, str], int | None] = {}
        # Line of the key that holds each mapping checked so far: a missing key is reported
        # there (at `spec:`), not at the mapping's first remaining key.
        self._key_lines: dict[int, int | None] = {}

    # -- helpers
    def error(
        self,
        message: str,
        *,
        line: int | None,
        key_path: str | None = None,
        hint: str | None = None,
    ) -> ConfigError:
        return ConfigError(
            message,
            file=self.filename,
            line=line,
            document=self.doc_label or None,
            key_path=key_path,
            hint=hint,
        )

    def warn(self, message: str, *, line: int | None, key_path: str | None = None) -> None:
        where = self.filename + (f":{line}" if line else "")
        parts = [where, self.doc_label, key_path, message]
        self.result.warnings.append(": ".join(p for p in parts if p))

    def expect(
        self,
        container: Any,
        key: Any,
        path: str,
        types: tuple[type, ...],
        expected: str,
        *,
        required: bool = True,
        hint: str | None = None,
        secret: bool = False,
    ) -> Any:
        """``container[key]`` checked against ``types``; ``None`` if optional and absent.

        With ``secret``, a bad string is described (its length), never quoted.
        """
        if key not in container:
            if required:
                raise self.error(
                    f"missing key, expected {expected}",
                    line=self._key_lines.get(id(container)) or position(container),
                    key_path=path,
                    hint=hint,
                )
            return None
        value = container[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise self.error(
                f"got {_describe(value) if secret else _show(value)}, expected {expected}",
                line=position(container, key),
                key_path=path,
                hint=hint,
            )
        if isinstance(value, Mapping):
            self._key_lines[id(value)] = position(container, key)
        return value

    def unknown_keys(self, mapping: Mapping[Any, Any], known: tuple[str, ...], path: str) -> None:
        for key in mapping:
            if key not in known:
                where = f"{path}.{key}" if path else str(key)
                self.warn(
                    f"unknown key (kept, not used; known keys: {', '.join(known)})",
                    line=position(mapping, key),
                    key_path=where,
                )

    # -- documents
    def run(self, docs: list[Document]) -> _Result:
        atlas_seen: tuple[int, int | None] | None = None
        atlas_doc: Any = None
        names: dict[str, str] = {}
        content = [d for d in docs if d.data is not None]
        if not content:
            raise ConfigError(
                "the file holds no YAML document",
                file=self.filename,
                hint="start from `mom atlas config generate --name NAME`",
            )
        for doc in content:
            self.doc_label = f"document {doc.index}"
            data = doc.data
            if not isinstance(data, Mapping):
                raise self.error(
                    f"got {_show(data)}, expected a mapping with apiVersion, kind, "
                    "metadata and spec",
                    line=doc.line,
                )
            kind = self.expect(
                data,
                "kind",
                "kind",
                (str,),
                "a kind: Atlas or one of " + ", ".join(KNOWN_KINDS),
            )
            if kind == "Atlas":
                if atlas_seen is not None:
                    raise self.error(
                        f"a second kind: Atlas document (the first is document "
                        f"{atlas_seen[0]}, line {atlas_seen[1]})",
                        line=position(data, "kind"),
                        key_path="kind",
                        hint="a config holds exactly one Atlas document; merge them",
                    )
                atlas_seen = (doc.index, doc.line)
                atlas_doc = (doc, self.doc_label)
                continue
            if kind not in KNOWN_KINDS:
                raise self.error(
                    f"got {_show(kind)}, expected Atlas or one of {', '.join(KNOWN_KINDS)}",
                    line=position(data, "kind"),
                    key_path="kind",
                )
            adapter = self.adapter_document(doc, kind)
            if adapter.name in names:
                raise self.error(
                    f"adapter name {adapter.name!r} is already used by {names[adapter.name]}",
                    line=position(data["metadata"], "name"),
                    key_path="metadata.name",
                    hint="adapter names must be unique in a config; rename one",
                )
            names[adapter.name] = self.doc_label
            self.result.adapters.append(adapter)
        if atlas_doc is None:
            self.doc_label = ""
            raise ConfigError(
                "not an Atlas config: no document has kind: Atlas",
                file=self.filename,
                hint="an Atlas config starts with a `kind: Atlas` document; create one with "
                "`mom atlas config generate --name NAME`",
            )
        self.doc_label = atlas_doc[1]
        self.atlas_document(atlas_doc[0])
        self.cross_check()
        return self.result

    def common(self, data: Mapping[Any, Any], api_version: str) -> str:
        """apiVersion and metadata.name of any document; returns the name."""
        version = self.expect(data, "apiVersion", "apiVersion", (str,), api_version)
        if version != api_version:
            raise self.error(
                f"got {_show(version)}, expected {api_version}",
                line=position(data, "apiVersion"),
                key_path="apiVersion",
            )
        metadata = self.expect(data, "metadata", "metadata", (Mapping,), "a mapping with name")
        name = self.expect(metadata, "name", "metadata.name", (str,), "a non-empty name")
        if not name.strip():
            raise self.error(
                "got an empty name, expected a non-empty name",
                line=position(metadata, "name"),
                key_path="metadata.name",
            )
        self.unknown_keys(metadata, _METADATA_KEYS, "metadata")
        return str(name)

    def adapter_document(self, doc: Any, kind: str) -> Adapter:
        data = doc.data
        name_value = (
            data.get("metadata", {}).get("name")
            if isinstance(data.get("metadata"), Mapping)
            else None
        )
        if isinstance(name_value, str):
            self.doc_label = f"document {doc.index} ({kind} {name_value!r})"
        else:
            self.doc_label = f"document {doc.index} ({kind})"
        name = self.common(data, ADAPTER_API_VERSION)
        problem = adapter_name_problem(name)
        if problem:
            raise self.error(
                f"got {_show(name)}, {problem}",
                line=position(data["metadata"], "name"),
                key_path="metadata.name",
            )
        self.unknown_keys(data, _ATLAS_TOP_KEYS, "")
        if kind != "HTTP":
            # Kept and listed, not proxied: only the outer shape is checked.
            self.expect(data, "spec", "spec", (Mapping,), "a mapping", required=False)
            return Adapter(kind=kind, name=name, line=doc.line, document_index=doc.index - 1)
        spec = self.expect(data, "spec", "spec", (Mapping,), "a mapping with baseUrl")
        base_url = self.expect(
            spec, "baseUrl", "spec.baseUrl", (str,), "an http:// or https:// URL"
        )
        problem = base_url_problem(base_url)
        if problem:
            raise self.error(
                f"got {_show(redact_url(base_url))}, {problem}",
                line=position(spec, "baseUrl"),
                key_path="spec.baseUrl",
            )
        headers_value = self.expect(
            spec,
            "headers",
            "spec.headers",
            (list, type(None)),
            "a list of {name, value} mappings",
            required=False,
            secret=True,  # a string here is likely a pasted "Authorization: Token ..." line
        )
        headers: list[Header] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(headers_value or []):
            path = f"spec.headers[{i}]"
            if not isinstance(item, Mapping):
                raise self.error(
                    f"got {_describe(item)}, expected a mapping with name and value",
                    line=position(headers_value, i),
                    key_path=path,
                )
            hname = self.expect(item, "name", f"{path}.name", (str,), "a header name")
            problem = header_name_problem(hname)
            if problem:
                raise self.error(
                    f"got {_show(hname)}, {problem}",
                    line=position(item, "name"),
                    key_path=f"{path}.name",
                )
            if "value" not in item:
                raise self.error(
                    f"header {hname} has no value, expected a string "
                    "(a literal or ${{ VAR }} template)",
                    line=position(item),
                    key_path=f"{path}.value",
                )
            hvalue = item["value"]
            # The value may be a literal secret: describe it, never echo it.
            problem = header_value_problem(hvalue)
            if problem:
                raise self.error(
                    f"header {hname}: bad value, {problem}",
                    line=position(item, "value"),
                    key_path=f"{path}.value",
                )
            if hname.lower() in seen:
                raise self.error(
                    f"header {hname} is set twice (first at spec.headers[{seen[hname.lower()]}])",
                    line=position(item, "name"),
                    key_path=f"{path}.name",
                    hint="keep one entry per header name",
                )
            seen[hname.lower()] = i
            self.unknown_keys(item, _HEADER_KEYS, path)
            headers.append(Header(hname, Template.parse(hvalue)))
        self.unknown_keys(spec, _HTTP_SPEC_KEYS, "spec")
        return Adapter(
            kind=kind,
            name=name,
            base_url=base_url,
            headers=tuple(headers),
            line=doc.line,
            document_index=doc.index - 1,
        )

    def atlas_document(self, doc: Any) -> None:
        data = doc.data
        self.result.name = self.common(data, ATLAS_API_VERSION)
        self.doc_label = f"document {doc.index} (Atlas {self.result.name!r})"
        self.unknown_keys(data, _ATLAS_TOP_KEYS, "")
        spec = self.expect(data, "spec", "spec", (Mapping,), "a mapping with apiAdapters")
        self.unknown_keys(spec, _ATLAS_SPEC_KEYS, "spec")
        self.expect(spec, "owner", "spec.owner", (str,), "a domain name", required=False)
        self.expect(
            spec,
            "identityProviders",
            "spec.identityProviders",
            (list, Mapping, type(None)),
            "a list of identity providers",
            required=False,
        )
        for key in ("exposedPorts", "gatewayRegistration"):
            self.expect(
                spec, key, f"spec.{key}", (Mapping, type(None)), "a mapping", required=False
            )
        refs = self.expect(
            spec,
            "apiAdapters",
            "spec.apiAdapters",
            (list, type(None)),
            "a list of {adapterRef: {apiVersion, kind, name}}",
            required=False,
        )
        seen: dict[tuple[str, str], int] = {}
        for i, item in enumerate(refs or []):
            path = f"spec.apiAdapters[{i}]"
            if not isinstance(item, Mapping):
                raise self.error(
                    f"got {_show(item)}, expected a mapping with adapterRef",
                    line=position(refs, i),
                    key_path=path,
                )
            ref = self.expect(
                item,
                "adapterRef",
                f"{path}.adapterRef",
                (Mapping,),
                "a mapping with apiVersion, kind and name",
            )
            self.unknown_keys(item, ("adapterRef",), path)
            rpath = f"{path}.adapterRef"
            kind = self.expect(
                ref, "kind", f"{rpath}.kind", (str,), "one of " + ", ".join(KNOWN_KINDS)
            )
            if kind not in KNOWN_KINDS:
                raise self.error(
                    f"got {_show(kind)}, expected one of {', '.join(KNOWN_KINDS)}",
                    line=position(ref, "kind"),
                    key_path=f"{rpath}.kind",
                )
            version = self.expect(
                ref, "apiVersion", f"{rpath}.apiVersion", (str,), ADAPTER_API_VERSION
            )
            if version != ADAPTER_API_VERSION:
                raise self.error(
                    f"got {_show(version)}, expected {ADAPTER_API_VERSION}",
                    line=position(ref, "apiVersion"),
                    key_path=f"{rpath}.apiVersion",
                )
            name = self.expect(ref, "name", f"{rpath}.name", (str,), "an adapter name")
            problem = adapter_name_problem(name)
            if problem:
                raise self.error(
                    f"got {_show(name)}, {problem}",
                    line=position(ref, "name"),
                    key_path=f"{rpath}.name",
                )
            self.unknown_keys(ref, _ADAPTER_REF_KEYS, rpath)
            if (kind, name) in seen:
                raise self.error(
                    f"adapter {kind} {name!r} is listed twice "
                    f"(first at spec.apiAdapters[{seen[(kind, name)]}])",
                    line=position(refs, i),
                    key_path=path,
                    hint="remove the repeated adapterRef",
                )
            seen[(kind, name)] = i
            self.result.adapter_refs.append((kind, name))
        self._refs_lines = {key: position(refs, i) for key, i in seen.items()}

    def cross_check(self) -> None:
        """References without documents and documents without references are warnings.

        Neither is fatal: the interface defines an adapter as active only when it is both
        listed and present, so the rest of the file stays usable while one is being edited.
        """
        present = {(a.kind, a.name) for a in self.result.adapters}
        refs = set(self.result.adapter_refs)
        for kind, name in self.result.adapter_refs:
            if (kind, name) not in present:
                self.warn(
                    f"adapterRef {kind} {name!r} has no matching `kind: {kind}` document "
                    f"with metadata.name {name!r}; it is inactive",
                    line=self._refs_lines.get((kind, name)),
                    key_path="spec.apiAdapters",
                )
        for adapter in self.result.adapters:
            if (adapter.kind, adapter.name) not in refs:
                label = f"document {adapter.document_index + 1} ({adapter.kind} {adapter.name!r})"
                self.result.warnings.append(
                    f"{self.filename}:{adapter.line}: {label}: not listed in the Atlas "
                    "document's spec.apiAdapters; it is inactive"
                )
