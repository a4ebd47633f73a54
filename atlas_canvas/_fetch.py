"""``atlasProxyFetch``: one request through Atlas, JavaScript-fetch style.

Where the request goes is decided by :func:`~atlas_canvas._target.resolve_target` (a running
Atlas server at ``ATLAS_URL``/``base_url=`` with its access token, or in-process with the
config from ``config=`` / ``%config AtlasMagics.config_file`` / ``ATLAS_CONFIG`` /
``./atlas.yml``, or an injected transport). Secrets are read from this process's environment
in-process, and never leave a remote server.

Clients are pooled: one ``httpx.AsyncClient`` per (event loop, target). In-process, the
shared transport's Router reloads the config file when it changes on disk, so a notebook
that edits ``atlas.yml`` sees the edit on its next request.

Example::

    from atlas_canvas import atlasProxyFetch
    r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents", {"method": "GET"})
    r.status, r.ok
    incidents = (await r.json())["incidents"]

The blocking twin :func:`atlas_proxy_fetch_sync` works in scripts *and* inside a running
Jupyter kernel (through :func:`~atlas_canvas._bridge.run_sync`).
"""

from __future__ import annotations

import asyncio
import json as _json
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._bridge import run_sync
from ._errors import (
    HTTPStatusError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    UsageError,
)
from ._response import Response
from ._routing import PROXY_PREFIX
from ._secrets import redact
from ._target import ACCESS_TOKEN_HEADER, INPROCESS_BASE, Target, resolve_target

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

__all__ = [
    "atlasProxyFetch",
    "atlas_proxy_fetch",
    "atlas_proxy_fetch_sync",
    "list_adapters",
    "send",
]

_INIT_KEYS = ("method", "headers", "body", "params", "json", "timeout")
# Keys of JavaScript's RequestInit that mean nothing here; accepted and ignored so code ported
# from a browser keeps working.
_IGNORED_INIT_KEYS = ("mode", "credentials", "cache", "redirect", "referrer", "signal", "keepalive")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_TIMEOUT = 60.0
#: Connections to a remote Atlas server per event loop (the pager's concurrency fits well under).
MAX_CONNECTIONS = 32


# ---------------------------------------------------------------------------------------------
# Client pool
# ---------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    client: httpx.AsyncClient
    target: Target


# One pool per event loop: httpx connections are bound to the loop that opened them.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Entry]] = (
    weakref.WeakKeyDictionary()
)
_pool_lock = threading.Lock()


def _new_client(target: Target) -> httpx.AsyncClient:
    import httpx

    if target.mode == "remote":
        return httpx.AsyncClient(
            base_url=target.base_url,
            timeout=DEFAULT_TIMEOUT,
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS // 2
            ),
            trust_env=False,
            verify=target.ssl_verify(),
        )
    transport = target.transport if target.mode == "injected" else target.atlas_transport()
    return httpx.AsyncClient(transport=transport, base_url=INPROCESS_BASE, timeout=DEFAULT_TIMEOUT)


def _client_for(target: Target) -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    with _pool_lock:
        pool = _pools.setdefault(loop, {})
    entry = pool.get(target.key)
    if entry is None or entry.client.is_closed:
        entry = pool[target.key] = _Entry(client=_new_client(target), target=target)
    return entry.client


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------


def _normalise_path(path: str) -> str:
    if not isinstance(path, str) or not path:
        raise UsageError(
            "the path must be a non-empty string",
            hint="for example '/v1/apis/http/pagerduty/incidents'",
        )
    if "://" in path.split("?", 1)[0]:
        raise UsageError(
            f"pass a path, not a full URL: {path!r}",
            hint="use '/v1/apis/http/<adapter>/<path>'; the adapter's base URL is in the config",
        )
    if not path.startswith("/"):
        path = "/" + path
    return path


def _merge_init(init: Mapping[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if init is not None:
        if not isinstance(init, Mapping):
            raise UsageError(
                f"the second argument must be a dict like fetch's init, got {type(init).__name__}",
                hint="e.g. {'method': 'POST', 'headers': {...}, 'body': '...'}",
            )
        for key, value in init.items():
            if key in _IGNORED_INIT_KEYS:
                continue
            if key not in _INIT_KEYS:
                import difflib

                close = difflib.get_close_matches(str(key), _INIT_KEYS, n=1)
                hint = (
                    f"did you mean '{close[0]}'?"
                    if close
                    else "known keys: " + ", ".join(_INIT_KEYS)
                )
                raise UsageError(f"unknown fetch init key {key!r}", hint=hint)
            merged[key] = value
    for key, value in kwargs.items():
        if value is not None:
            merged[key] = value
    return merged


def _looks_like_json(text: str) -> bool:
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        _json.loads(text)
    except ValueError:
        return False
    return True


def _build_request_args(path: str, opts: dict[str, Any]) -> dict[str, Any]:
    method = str(opts.get("method") or "GET").upper()
    if method not in _METHODS:
        raise UsageError(
            f"unknown HTTP method {method!r}", hint="use one of " + ", ".join(_METHODS)
        )
    headers: dict[str, str] = {}
    raw_headers = opts.get("headers") or {}
    items = raw_headers.items() if isinstance(raw_headers, Mapping) else raw_headers
    for name, value in items:
        headers[str(name)] = str(value)
    args: dict[str, Any] = {"method": method, "url": path, "headers": headers}
    if opts.get("params") is not None:
        args["params"] = opts["params"]
    if "json" in opts and "body" in opts:
        raise UsageError("pass either json= or body=, not both")
    if "json" in opts:
        args["content"] = _json.dumps(opts["json"]).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    elif "body" in opts:
        body = opts["body"]
        if isinstance(body, (dict, list)):
            body = _json.dumps(body)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        if isinstance(body, str):
            # Unlike browsers (text/plain), a body that is JSON text is labelled as JSON: the
            # APIs behind Atlas (PagerDuty included) refuse JSON sent as text/plain.
            if not any(k.lower() == "content-type" for k in headers) and _looks_like_json(body):
                headers["Content-Type"] = "application/json"
            body = body.encode()
        if not isinstance(body, (bytes, bytearray)):
            raise UsageError(f"body must be str, bytes, dict or list, got {type(body).__name__}")
        args["content"] = bytes(body)
    if opts.get("timeout") is not None:
        args["timeout"] = float(opts["timeout"])
    return args


async def send(
    target: Target,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    params: Any = None,
    content: bytes | None = None,
    timeout: float | None = None,
) -> Response:
    """Send one prepared request to ``target`` and return its :class:`Response` (any status).

    The one place a request leaves this package for Atlas; :func:`atlasProxyFetch` and
    :class:`~atlas_canvas.pagerduty.PagerDutySession` call it. Transport failures become
    :class:`~atlas_canvas.UpstreamTimeoutError` / :class:`~atlas_canvas.UpstreamUnreachableError`.
    """
    import httpx

    # Read before sending: in-process this is where a broken config file raises ConfigError.
    secrets = target.secrets()
    headers = dict(headers or {})
    token = target.access_token()
    if token:
        headers[ACCESS_TOKEN_HEADER] = token
    client = _client_for(target)
    args: dict[str, Any] = {"method": method, "url": path, "headers": headers}
    if params is not None:
        args["params"] = params
    if content is not None:
        args["content"] = content
    if timeout is not None:
        args["timeout"] = timeout
    try:
        resp = await client.request(**args)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(
            f"{method} {redact(path, secrets)} timed out ({type(exc).__name__})",
            hint="retry, or raise the timeout with timeout=SECONDS",
        ) from None
    except httpx.TransportError as exc:
        hint = (
            "is the Atlas server running there? check ATLAS_URL or start `mom atlas run`"
            if target.mode == "remote"
            else "check the adapter's baseUrl and your network"
        )
        raise UpstreamUnreachableError(
            redact(f"could not reach {client.base_url} for {method} {path}: {exc}", secrets),
            hint=hint,
        ) from None
    return Response(
        status=resp.status_code,
        headers=resp.headers,
        body=resp.content,
        url=redact(str(resp.request.url), secrets),
        method=method,
        path=redact(path, secrets),
        status_text=resp.reason_phrase,
        secrets=secrets,
    )


async def atlasProxyFetch(  # camelCase on purpose: mirrors JavaScript's fetch
    path: str,
    init: Mapping[str, Any] | None = None,
    *,
    method: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    json: Any = None,
    body: str | bytes | dict[str, Any] | list[Any] | None = None,
    timeout: float | None = None,
    config: str | os.PathLike[str] | Any | None = None,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Response:
    """Send one request through Atlas and return its :class:`Response` (any status).

    ``init`` follows fetch (``method``, ``headers``, ``body``); keywords work too and win over
    ``init``. ``config`` is a config path or a loaded ``AtlasConfig``; ``base_url`` (or
    ``ATLAS_URL``) sends over HTTP to a running Atlas server instead; ``transport`` injects an
    ``httpx`` transport (tests, simulators). See :func:`~atlas_canvas._target.resolve_target`.

    Example::

        r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents",
                                  params={"statuses[]": ["triggered"], "limit": 5})
        if not r.ok:
            r.raise_for_status()
    """
    path = _normalise_path(path)
    kwargs: dict[str, Any] = {
        "method": method,
        "headers": headers,
        "params": params,
        "timeout": timeout,
    }
    if json is not None:
        kwargs["json"] = json
    if body is not None:
        kwargs["body"] = body
    opts = _merge_init(init, kwargs)
    args = _build_request_args(path, opts)
    target = resolve_target(config=config, base_url=base_url, transport=transport)
    return await send(
        target,
        args["method"],
        path,
        headers=args["headers"],
        params=args.get("params"),
        content=args.get("content"),
        timeout=args.get("timeout"),
    )


#: snake_case alias of :func:`atlasProxyFetch`.
atlas_proxy_fetch = atlasProxyFetch


def atlas_proxy_fetch_sync(
    path: str, init: Mapping[str, Any] | None = None, **kwargs: Any
) -> Response:
    """Blocking twin of :func:`atlasProxyFetch` (scripts, magics, widget callbacks).

    Works inside a running Jupyter kernel without ``nest_asyncio``.

    Example::

        r = atlas_proxy_fetch_sync("/v1/apis/http")
        print(r.status, r.data)
    """
    return run_sync(atlasProxyFetch(path, init, **kwargs))


async def list_adapters(
    *,
    config: str | os.PathLike[str] | Any | None = None,
    base_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    target: Target | None = None,
) -> list[dict[str, str]]:
    """The active HTTP adapters: ``[{"kind", "name", "baseUrl"}]`` (never header values).

    Example::

        names = [a["name"] for a in await list_adapters()]
    """
    if target is None:
        target = resolve_target(config=config, base_url=base_url, transport=transport)
    r = await send(target, "GET", PROXY_PREFIX)
    r.raise_for_status()
    data = r.data
    if not isinstance(data, list):
        raise HTTPStatusError(
            f"GET {PROXY_PREFIX} did not answer a list of adapters", status=r.status
        )
    return [dict(item) for item in data if isinstance(item, dict)]
