"""The Atlas config model: small frozen dataclasses, validated on construction.

Reading and writing YAML happens only in ``_yaml.py``; this module turns the loaded
documents into the model below and validates every document.

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
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import ConfigError, NoMatchingInstanceError
from ._secrets import Template

__all__ = [
    "ADAPTER_API_VERSION",
    "ATLAS_API_VERSION",
    "KNOWN_KINDS",
    "Adapter",
    "AtlasConfig",
    "Header",
    "load_config",
    "parse_config",
    "resolve_config_path",
]

ATLAS_API_VERSION = "moment.dev/atlas/v1alpha1"
ADAPTER_API_VERSION = "moment.dev/adapters/v1alpha1"
KNOWN_KINDS = ("HTTP", "AWS", "Postgres", "Kubernetes", "Moment")


@dataclass(frozen=True)
class Header:
    """One adapter header; ``value`` is a template, resolved only at send time."""

    name: str
    value: Template

    def __repr__(self) -> str:
        return f"Header({self.name!r}, {self.value.text!r})"


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


def parse_config(text: str, filename: str = "<string>") -> AtlasConfig:
    """Parse and validate config text. Implemented with the YAML layer (issue 2)."""
    raise ConfigError("config loading is not implemented yet", file=filename)


def load_config(path: str | os.PathLike[str] | None = None) -> AtlasConfig:
    """Load and validate the Atlas config at ``path`` (see :func:`resolve_config_path`)."""
    p = resolve_config_path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found",
            file=str(p),
            hint="create one with `mom atlas config generate --name NAME -o atlas.yml` "
            "or point ATLAS_CONFIG at it",
        ) from None
    cfg = parse_config(text, filename=str(p))
    return AtlasConfig(
        name=cfg.name,
        adapters=cfg.adapters,
        adapter_refs=cfg.adapter_refs,
        path=p,
        warnings=cfg.warnings,
    )
