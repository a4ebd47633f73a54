"""Where requests go: the one decision shared by every client of Atlas in this package.

:func:`resolve_target` is called by ``atlasProxyFetch``, ``mom curl``, ``mom atlas apis list``
and the PagerDuty layer (through :class:`~atlas_canvas.pagerduty.PagerDutySession`). The first
rule that applies wins:

1. ``transport=``: an injected ``httpx`` transport (tests, simulators); ``config=`` may ride
   along as a loaded :class:`~atlas_canvas._config.AtlasConfig` so its secrets are redacted.
2. ``base_url=`` (``--base-url``): a running Atlas server over HTTP. Giving ``config=`` too is
   a usage error: the two name different places.
3. ``config=`` (``-f FILE``, a path or a loaded config): in-process.
4. ``ATLAS_URL``: a running Atlas server.
5. in-process with the config from ``%config AtlasMagics.config_file``, ``ATLAS_CONFIG``,
   then ``./atlas.yml``.

A remote target sends ``Atlas-Accesstoken`` (``ATLAS_ACCESS_TOKEN``, else the token file
``mom atlas run`` stored) and verifies https with ``ATLAS_CA_BUNDLE`` when set. An in-process
target from a file shares one :class:`~atlas_canvas._transport.AtlasTransport` per file per
process; its :class:`~atlas_canvas._routing.Router` reloads the file when it changes (the
package's only config-reload mechanism).

Example::

    target = resolve_target()                       # from the environment
    target.mode                                     # 'remote' or 'in-process'
    target = resolve_target(base_url="https://atlas.example.com")
    target.describe()                               # 'the Atlas server at https://atlas.example.com'
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._errors import UsageError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import ssl

    import httpx

    from ._config import AtlasConfig
    from ._transport import AtlasTransport

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "ATLAS_URL_ENV",
    "CA_BUNDLE_ENV",
    "INPROCESS_BASE",
    "Target",
    "resolve_config_file",
    "resolve_target",
    "set_session_config_path",
]

#: Host used for in-process requests; it never resolves, the transport serves it.
INPROCESS_BASE = "http://atlas.local"
ACCESS_TOKEN_HEADER = "Atlas-Accesstoken"
ATLAS_URL_ENV = "ATLAS_URL"
#: A CA bundle (PEM) to verify an https ``ATLAS_URL`` signed by a private CA (a team server).
CA_BUNDLE_ENV = "ATLAS_CA_BUNDLE"

Mode = Literal["remote", "in-process", "injected"]

# Set by `%config AtlasMagics.config_file = ...`; sits between an explicit argument and
# ATLAS_CONFIG in the precedence order.
_session_config_path: str | None = None


def set_session_config_path(path: str | os.PathLike[str] | None) -> None:
    """Set (or clear with ``None``/``""``) the session-wide config file used by fetches."""
    global _session_config_path
    _session_config_path = os.fspath(path) if path else None


def resolve_config_file(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The in-process config file: argument, session setting, ``ATLAS_CONFIG``, ``./atlas.yml``."""
    from ._config import resolve_config_path

    if explicit:
        return Path(explicit)
    if _session_config_path:
        return Path(_session_config_path)
    return resolve_config_path(None)


@dataclass(frozen=True)
class Target:
    """Where requests go, decided once by :func:`resolve_target` (``repr`` holds no secret).

    ``mode`` is ``"remote"`` (``base_url`` is the Atlas server), ``"in-process"`` (served by
    :class:`~atlas_canvas._transport.AtlasTransport` from ``config_path`` or ``config``) or
    ``"injected"`` (``transport``). :attr:`key` identifies it for client pools and rate pacers.
    """

    mode: Mode
    base_url: str = INPROCESS_BASE
    config_path: Path | None = None
    config: AtlasConfig | None = field(default=None, compare=False, repr=False)
    transport: httpx.AsyncBaseTransport | None = field(default=None, compare=False, repr=False)
    ca_bundle: str | None = None
    verify: bool = True

    @property
    def key(self) -> tuple[Any, ...]:
        """A hashable identity: the same key means the same place and the same client."""
        if self.mode == "injected":
            return ("injected", id(self.transport))
        if self.mode == "remote":
            return ("remote", self.base_url, self.ca_bundle, self.verify)
        if self.config_path is not None:
            # abspath, not resolve(): this runs on every request and must not cost a stat.
            return ("in-process", os.path.abspath(self.config_path))
        return ("config-object", id(self.config))

    def describe(self) -> str:
        """Where this is, in words for an error message (no secret)."""
        if self.mode == "remote":
            return f"the Atlas server at {self.base_url}"
        if self.mode == "injected":
            return "the injected transport"
        if self.config_path is not None:
            return f"in-process Atlas with {self.config_path}"
        return "in-process Atlas with a loaded config"

    # -- credentials and TLS ---------------------------------------------------------------

    def access_token(self) -> str | None:
        """The token sent to a remote server (read now, so a token exported later counts)."""
        if self.mode != "remote":
            return None
        from ._tokens import client_token

        return client_token()

    def ssl_verify(self) -> bool | ssl.SSLContext:
        """``verify=`` for an httpx client talking to the remote server."""
        if not self.verify:
            return False
        if not self.ca_bundle:
            return True
        import ssl

        try:
            return ssl.create_default_context(cafile=self.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(
                f"{CA_BUNDLE_ENV}={self.ca_bundle!r} is not a readable PEM CA bundle ({exc})",
                hint=f"point {CA_BUNDLE_ENV} at the CA certificate that signed the Atlas server's",
            ) from None

    # -- in-process ---------------------------------------------------------------------------

    def atlas_transport(self) -> AtlasTransport:
        """The shared in-process transport of this target (``in-process`` mode only)."""
        if self.mode != "in-process":
            raise ValueError(f"no in-process transport for a {self.mode} target")
        return _inprocess_transport(self)

    def current_config(self) -> AtlasConfig | None:
        """The config behind this target when it is local; ``None`` for a remote server.

        In-process from a file, this goes through the Router, so an edited file is reloaded
        here and a broken one raises :class:`~atlas_canvas.ConfigError` naming the file.
        """
        if self.mode == "in-process":
            if self.config is not None:
                return self.config
            return self.atlas_transport().router.config
        return self.config

    def secrets(self) -> tuple[str, ...]:
        """Values to redact from anything shown: the access token or the adapters' secrets."""
        if self.mode == "remote":
            token = self.access_token()
            return (token,) if token else ()
        cfg = self.current_config()
        return _secret_values(cfg) if cfg is not None else ()


def _secret_values(cfg: AtlasConfig) -> tuple[str, ...]:
    names: set[str] = set()
    for adapter in getattr(cfg, "adapters", ()):
        names.update(adapter.secret_variables)
    return tuple(os.environ[n] for n in sorted(names) if os.environ.get(n))


# One AtlasTransport per config file (or loaded config) per process: it keeps a connection
# pool per event loop itself, and its Router is the one place the file is reloaded.
_transports: dict[tuple[Any, ...], tuple[Any, AtlasTransport]] = {}
_transports_lock = threading.Lock()


def _inprocess_transport(target: Target) -> AtlasTransport:
    from ._transport import AtlasTransport

    key = target.key
    with _transports_lock:
        held = _transports.get(key)
        # A loaded config is keyed by id(); holding it keeps that id from being reused.
        if held is not None and (target.config is None or held[0] is target.config):
            return held[1]
        if target.config is not None:
            transport = AtlasTransport(target.config)
        else:
            transport = AtlasTransport(config_path=key[1])  # the absolute path
        _transports[key] = (target.config, transport)
        return transport


def _is_config_object(value: Any) -> bool:
    return value is not None and hasattr(value, "adapters") and hasattr(value, "get")


def resolve_target(
    *,
    config: str | os.PathLike[str] | AtlasConfig | None = None,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ca_bundle: str | None = None,
    insecure: bool = False,
) -> Target:
    """Decide where requests go (see the module notes for the order of the rules).

    ``ca_bundle`` (default ``ATLAS_CA_BUNDLE``) verifies an https server signed by a private
    CA; ``insecure`` turns verification off (``mom curl -k``).

    Example::

        resolve_target(config="atlas.yml").mode          # 'in-process'
        resolve_target(base_url="http://127.0.0.1:8082")  # Target(mode='remote', ...)
    """
    if transport is not None:
        return Target(
            mode="injected",
            config=config if _is_config_object(config) else None,  # type: ignore[arg-type]  # checked
            transport=transport,
        )
    if base_url and config is not None:
        raise UsageError(
            "give either base_url (a running Atlas server) or config (in-process), not both",
            hint="--base-url and -f FILE name two different places for requests to go",
        )
    remote = base_url or (None if config is not None else os.environ.get(ATLAS_URL_ENV))
    if remote:
        if not isinstance(remote, str) or not remote.startswith(("http://", "https://")):
            where = "base_url (--base-url)" if base_url else ATLAS_URL_ENV
            raise UsageError(
                f"{where} must be an http:// or https:// URL, got {remote!r}",
                hint="e.g. http://127.0.0.1:8082, where `mom atlas run` listens",
            )
        return Target(
            mode="remote",
            base_url=remote.rstrip("/"),
            ca_bundle=ca_bundle or os.environ.get(CA_BUNDLE_ENV) or None,
            verify=not insecure,
        )
    if _is_config_object(config):
        return Target(mode="in-process", config=config)  # type: ignore[arg-type]  # checked
    path = resolve_config_file(config)  # type: ignore[arg-type]  # a path here
    return Target(mode="in-process", config_path=path)
