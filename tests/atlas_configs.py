"""Atlas configs for tests, written by the config layer (the code behind
``mom atlas config generate`` and ``add-http-adapter``), never by hand-built YAML strings.

The one place tests make a config from ``{name: baseUrl}``: ``tests/proxy_fakes.py``,
``tests/jupyter/servers.py`` and ``tests/pagerduty/simenv.py`` keep their signatures and call
these, so a change of the file format changes here (and in the config layer) only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from atlas_canvas._config_edit import add_http_adapter_text, parse_header, render_new_config

Header = tuple[str, str]


def atlas_config_text(
    adapters: Mapping[str, str],
    headers: Mapping[str, Sequence[Header | str]] | None = None,
    *,
    name: str = "test-atlas",
) -> str:
    """A config named ``name`` with the HTTP adapters ``{adapter: baseUrl}`` in that order.

    ``headers`` maps an adapter to its headers, as ``(name, value)`` pairs or
    ``"Name: value"`` lines (read by the same parser as ``-H``).
    """
    headers = headers or {}
    text = render_new_config(name)
    for adapter, base_url in adapters.items():
        pairs = [parse_header(h) if isinstance(h, str) else h for h in headers.get(adapter, [])]
        text = add_http_adapter_text(text, name=adapter, base_url=base_url, headers=pairs)
    return text


def write_atlas_config(
    path: Path,
    adapters: Mapping[str, str],
    headers: Mapping[str, Sequence[Header | str]] | None = None,
    *,
    name: str = "test-atlas",
) -> Path:
    """:func:`atlas_config_text` written to ``path``; returns ``path``."""
    path.write_text(atlas_config_text(adapters, headers, name=name), encoding="utf-8")
    return path
