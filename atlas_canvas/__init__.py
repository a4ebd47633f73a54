"""atlas-canvas: an Atlas-compatible authenticating HTTP proxy for Jupyter.

The public front door. Importing this module is cheap: pandas, IPython, ipywidgets,
uvicorn and friends load only when the feature that needs them is used.

Example::

    from atlas_canvas import atlasProxyFetch
    r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents")
    data = await r.json()

    # Any httpx client can route through the in-process proxy:
    import httpx
    from atlas_canvas import AtlasTransport
    client = httpx.AsyncClient(transport=AtlasTransport())

Every error is an :class:`AtlasError`; the whole tree is exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The whole error tree (every error atlas-canvas raises on purpose is one of these).
from ._errors import (
    AtlasError,
    BadHeaderError,
    BadPathError,
    BadRequestError,
    CallerBodyTimeoutError,
    ConfigError,
    HTTPStatusError,
    InvalidAccessTokenError,
    MethodNotAllowedError,
    MissingAccessTokenError,
    MissingSecretError,
    NoMatchingInstanceError,
    ProxyError,
    RequestTooLargeError,
    RouteNotFoundError,
    StoreAccountError,
    StoreBusyError,
    StoreError,
    UnsupportedAdapterError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    UsageError,
)

__version__ = "0.1.0"

# Sorted (a test checks it, and that every public name is listed).
__all__ = [
    "AtlasError",
    "AtlasSyncTransport",
    "AtlasTransport",
    "BadHeaderError",
    "BadPathError",
    "BadRequestError",
    "CallerBodyTimeoutError",
    "ConfigError",
    "HTTPStatusError",
    "InvalidAccessTokenError",
    "MethodNotAllowedError",
    "MissingAccessTokenError",
    "MissingSecretError",
    "NoMatchingInstanceError",
    "ProxyError",
    "RequestTooLargeError",
    "Response",
    "RouteNotFoundError",
    "StoreAccountError",
    "StoreBusyError",
    "StoreError",
    "UnsupportedAdapterError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnreachableError",
    "UsageError",
    "__version__",
    "atlasProxyFetch",
    "atlas_proxy_fetch",
    "atlas_proxy_fetch_sync",
    "load_ipython_extension",
    "unload_ipython_extension",
]

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._fetch import atlas_proxy_fetch, atlas_proxy_fetch_sync, atlasProxyFetch
    from ._response import Response
    from ._transport import AtlasSyncTransport, AtlasTransport

#: Names loaded on first use (PEP 562), so that `import atlas_canvas` stays cheap.
_LAZY = {
    "AtlasSyncTransport": "._transport",
    "AtlasTransport": "._transport",
    "Response": "._response",
    "atlasProxyFetch": "._fetch",
    "atlas_proxy_fetch": "._fetch",
    "atlas_proxy_fetch_sync": "._fetch",
}


def __getattr__(name: str) -> Any:
    # PEP 562 lazy attributes keep `import atlas_canvas` cheap.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'atlas_canvas' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name, __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%atlas`` magics (``%load_ext atlas_canvas``)."""
    from ._magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Unregister what :func:`load_ipython_extension` registered."""
    from ._magics import unload_ipython_extension as _unload

    _unload(ipython)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "atlas_canvas.jupyter"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "atlas-canvas"}]
