"""Config pinning: with ``c.AtlasCanvas.allow_config_edits = False`` the config is a boundary.

The Atlas config usually lives inside the Jupyter contents root, so anyone who can use the
server can rewrite it (contents API, a terminal, a kernel), and an adapter whose header names
``${{ HOME }}`` or whose ``baseUrl`` points at their own host would make the server send its
secrets there. When edits are off, the extension pins what the config held at start: for
every active HTTP adapter, its ``baseUrl`` and the set of variables its headers name. A
changed file is then accepted only if

* every pinned adapter it still has keeps its ``baseUrl`` and names exactly the same
  variables (header text may change, adapters may be removed or deactivated), and
* every adapter that was not pinned names no variable at all (it can carry nothing of the
  server's; a kernel could make the same request itself).

Otherwise the pinned config stays in force and one line is logged, naming the adapters and
variables but never a value or URL (a base URL may hold a credential).

Example::

    pin = ConfigPin("/srv/atlas.yml", log=logging.getLogger("x"))
    router = Router(config_path="/srv/atlas.yml", auto_reload=True, loader=pin.load)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._config import AtlasConfig, load_config
from .._errors import ConfigError

__all__ = ["ConfigPin", "PinnedAdapter", "config_writable_through_contents"]


@dataclass(frozen=True)
class PinnedAdapter:
    base_url: str
    variables: frozenset[str]


def _fingerprint(cfg: AtlasConfig) -> dict[str, PinnedAdapter]:
    return {
        a.name: PinnedAdapter(a.base_url or "", frozenset(a.secret_variables))
        for a in cfg.http_adapters
    }


class ConfigPin:
    """Loads the config once at start and judges every later version against it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        log: Any,
        loader: Callable[[str | os.PathLike[str] | None], AtlasConfig] = load_config,
    ) -> None:
        self.path = Path(path)
        self._log = log
        self._loader = loader
        self.pinned: AtlasConfig | None
        try:
            self.pinned = loader(self.path)
        except ConfigError as exc:
            # Nothing valid to pin: no adapter may name a variable until the server restarts.
            self.pinned = None
            log.warning(
                "atlas-canvas: config edits are off but %s could not be loaded at start (%s); "
                "until a restart no adapter may name a ${{ VAR }}",
                self.path,
                exc.code,
            )
        self._pin = _fingerprint(self.pinned) if self.pinned is not None else {}

    def violations(self, cfg: AtlasConfig) -> list[str]:
        """Why ``cfg`` may not replace the pinned config (empty: it may)."""
        problems: list[str] = []
        for name, now in _fingerprint(cfg).items():
            was = self._pin.get(name)
            if was is None:
                if now.variables:
                    problems.append(
                        f"new adapter '{name}' names {', '.join(sorted(now.variables))}"
                    )
                continue
            if now.base_url != was.base_url:
                problems.append(f"adapter '{name}' changes its baseUrl")
            if now.variables != was.variables:
                added = sorted(now.variables - was.variables)
                removed = sorted(was.variables - now.variables)
                what = "; ".join(
                    part
                    for part in (
                        f"adds {', '.join(added)}" if added else "",
                        f"drops {', '.join(removed)}" if removed else "",
                    )
                    if part
                )
                problems.append(f"adapter '{name}' {what}")
        return problems

    def load(self, path: str | os.PathLike[str] | None = None) -> AtlasConfig:
        """The config at ``path`` if it respects the pin, else the pinned one (one log line).

        Raises :class:`ConfigError` when the file is invalid (the router keeps its current
        config) or when it breaks the pin and nothing could be pinned at start.
        """
        cfg = self._loader(self.path if path is None else path)
        problems = self.violations(cfg)
        if not problems:
            return cfg
        self._log.warning(
            "atlas-canvas: refused the changed config %s (allow_config_edits is off): %s; "
            "keeping the adapters the server started with",
            self.path,
            "; ".join(problems),
        )
        if self.pinned is None:
            raise ConfigError(
                f"{self.path} changed in a way the server does not allow while config edits "
                "are off",
                hint="an operator can change the config and restart the server",
            )
        return self.pinned


def config_writable_through_contents(config_path: Path, serverapp: Any) -> bool:
    """Whether Jupyter's contents API can write or replace ``config_path``: the file, or the
    directory entry the server reads it through (a symlink can be replaced), lies under the
    contents root and is not hidden from it (or hidden files are allowed)."""
    root_dir = getattr(serverapp, "root_dir", None)
    if not root_dir:
        return False
    root = Path(root_dir).resolve()
    contents = getattr(serverapp, "contents_manager", None)
    allow_hidden = contents is None or bool(getattr(contents, "allow_hidden", False))
    entry = Path(os.path.abspath(config_path))
    for candidate in (entry.parent.resolve() / entry.name, entry.resolve()):
        try:
            rel = candidate.relative_to(root)
        except ValueError:
            continue
        if allow_hidden or not any(part.startswith(".") for part in rel.parts):
            return True
    return False
