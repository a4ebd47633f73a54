"""``atlasProxyFetch``: one request through Atlas, JavaScript-fetch style.

Two modes, chosen per call:

* **in-process** (default): the request is served by :class:`AtlasTransport` over the routing
  core with the config from ``config=`` / ``%config AtlasMagics.config_file`` /
  ``ATLAS_CONFIG`` / ``./atlas.yml``. Secrets are read from this process's environment.
* **remote**: when ``ATLAS_URL`` is set (or ``base_url=`` is passed) the request goes over HTTP
  to that Atlas server with ``Atlas-Accesstoken: $ATLAS_ACCESS_TOKEN``.

Clients are pooled: one ``httpx.AsyncClient`` per (event loop, mode, config), rebuilt when the
config file changes on disk (mtime/size check), so a notebook that edits ``atlas.yml`` sees the
edit on its next request.

Example::

    from atlas_canvas import atlasProxyFetch
    r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents", {"method": "GET"})
    r.status, r.ok
    incidents = (await r.json())["incidents"]

The blocking twin :func:`atlas_proxy_fetch_sync` works in scripts *and* inside a running
Jupyter kernel (it runs the request on a private event loop in a worker thread, so no
``nest_asyncio`` is needed).
"""

from __future__ import annotations

import asyncio
import html
import json as _json
import os
import threading
import weakref
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import (
    AtlasError,
    HTTPStatusError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    UsageError,
    error_from_body,
)
from ._secrets import redact

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

__all__ = [
    "Response",
    "atlasProxyFetch",
    "atlas_proxy_fetch",
    "atlas_proxy_fetch_sync",
    "list_adapters",
    "run_sync",
    "set_session_config_path",
]

T = TypeVar("T")

#: Host used for in-process requests; it never resolves, the transport serves it.
INPROCESS_BASE = "http://atlas.local"
ACCESS_TOKEN_HEADER = "Atlas-Accesstoken"
_INIT_KEYS = ("method", "headers", "body", "params", "json", "timeout")
# Keys of JavaScript's RequestInit that mean nothing here; accepted and ignored so code ported
# from a browser keeps working.
_IGNORED_INIT_KEYS = ("mode", "credentials", "cache", "redirect", "referrer", "signal", "keepalive")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_TIMEOUT = 60.0

# Set by `%config AtlasMagics.config_file = ...`; sits between an explicit argument and
# ATLAS_CONFIG in the precedence order.
_session_config_path: str | None = None


def set_session_config_path(path: str | os.PathLike[str] | None) -> None:
    """Set (or clear with ``None``/``""``) the session-wide config file used by fetches."""
    global _session_config_path
    _session_config_path = os.fspath(path) if path else None


def _config_path(explicit: str | os.PathLike[str] | None) -> Path:
    from ._config import resolve_config_path

    if explicit:
        return Path(explicit)
    if _session_config_path:
        return Path(_session_config_path)
    return resolve_config_path(None)


# ---------------------------------------------------------------------------------------------
# Response
# ---------------------------------------------------------------------------------------------


class Response:
    """The answer to one :func:`atlasProxyFetch` call; the body is already read.

    Mirrors the fetch API: ``status``, ``ok``, ``status_text``, ``headers``, ``url`` and the
    awaitables ``json()`` / ``text()``. ``body`` holds the raw bytes and ``data`` the parsed
    JSON for synchronous code.

    Example::

        r = atlas_proxy_fetch_sync("/v1/apis/http/pagerduty/incidents")
        r.raise_for_status()
        r.data["incidents"][0]["title"]
    """

    __slots__ = ("_secrets", "body", "headers", "method", "path", "status", "status_text", "url")

    def __init__(
        self,
        *,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        url: str,
        method: str = "GET",
        path: str = "",
        status_text: str = "",
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.method = method
        self.path = path
        self.status_text = status_text
        self._secrets = secrets

    @property
    def ok(self) -> bool:
        """True for a 2xx status, like ``Response.ok`` in JavaScript."""
        return 200 <= self.status < 300

    @property
    def content(self) -> bytes:
        return self.body

    @property
    def data(self) -> Any:
        """The body parsed as JSON (synchronously); raises ``ValueError`` if it is not JSON."""
        return _loads(self.body)

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return self.data

    async def text(self) -> str:
        """The body decoded as text (charset from ``Content-Type``, else UTF-8)."""
        return self._text()

    async def bytes(self) -> bytes:
        return self.body

    def _text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def error(self) -> AtlasError | None:
        """The error this response stands for (``None`` when ``ok``)."""
        if self.ok:
            return None
        err = error_from_body(self.status, self.body)
        if err is not None:
            return err
        detail = _upstream_detail(self.body)
        reason = f" {self.status_text}" if self.status_text else ""
        msg = f"{self.method} {self.path} answered {self.status}{reason}"
        if detail:
            msg += f": {detail}"
        return HTTPStatusError(
            redact(msg, self._secrets), status=self.status, body=redact(self._text(), self._secrets)
        )

    def raise_for_status(self) -> Response:
        """Raise the matching :class:`AtlasError` unless the status is 2xx; returns ``self``."""
        err = self.error()
        if err is not None:
            raise err
        return self

    # -- display ------------------------------------------------------------------------------

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)

    def _pretty_body(self) -> tuple[str, Any]:
        text = self._text()
        try:
            parsed = _json.loads(text)
        except ValueError:
            return self._safe(text), None
        return self._safe(_json.dumps(parsed, indent=2, ensure_ascii=False)), parsed

    def __repr__(self) -> str:
        reason = f" {self.status_text}" if self.status_text else ""
        return self._safe(f"<Response [{self.status}{reason}] {self.method} {self.path}>")

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        pretty, parsed = self._pretty_body()
        limit = 20_000
        shown = pretty if len(pretty) <= limit else pretty[:limit] + "\n… (truncated)"
        head = repr(self)
        bundle: dict[str, Any] = {
            "text/plain": f"{head}\n{shown}" if shown else head,
            "text/html": (
                f"<div class='atlas-response'><div><code>{html.escape(head)}</code></div>"
                f"<pre>{html.escape(shown)}</pre></div>"
            ),
        }
        # A multi-megabyte JSON view would freeze the front end; the text view is truncated.
        if parsed is not None and isinstance(parsed, (dict, list)) and len(self.body) <= 2**20:
            # Round-trip through the redacted text so the JSON view cannot hold a secret either.
            try:
                bundle["application/json"] = _json.loads(self._safe(_json.dumps(parsed)))
            except ValueError:
                pass
        return bundle


def _loads(body: bytes) -> Any:
    # orjson decodes a page of 100 incidents ~4x faster than json, which is most of the CPU
    # time of a large incident fetch. Both raise ValueError subclasses on bad input.
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; json still works
        return _json.loads(body)
    return orjson.loads(body)


def _upstream_detail(body: bytes) -> str:
    """A one-line summary of an upstream error body (PagerDuty's shapes included)."""
    try:
        data = _json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return text[:200]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, str):
        return err[:300]
    if isinstance(err, list):
        return "; ".join(str(e) for e in err)[:300]
    if isinstance(err, dict):
        parts = [str(err.get("message", ""))]
        errors = err.get("errors")
        if isinstance(errors, list):
            parts.extend(str(e) for e in errors)
        elif isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        elif isinstance(errors, str):
            parts.append(errors)
        if err.get("code") is not None:
            parts.append(f"code {err['code']}")
        return "; ".join(p for p in parts if p)[:300]
    return ""


# ---------------------------------------------------------------------------------------------
# Client pool
# ---------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    client: httpx.AsyncClient
    stamp: tuple[int, int] | None  # (mtime_ns, size) of the config file, in-process mode
    secrets: tuple[str, ...]
    mode: str
    config: Any = None


# One pool per event loop: httpx connections are bound to the loop that opened them.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], _Entry]] = (
    weakref.WeakKeyDictionary()
)
_pool_lock = threading.Lock()


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _secret_values(cfg: Any) -> tuple[str, ...]:
    names: set[str] = set()
    for adapter in getattr(cfg, "adapters", ()):
        names.update(adapter.secret_variables)
    values = [os.environ[n] for n in names if os.environ.get(n)]
    return tuple(values)


def _remote_base(base_url: str | None) -> str | None:
    url = base_url or os.environ.get("ATLAS_URL") or None
    return url.rstrip("/") if url else None


def _access_token() -> str | None:
    # Same rule as `mom curl`: ATLAS_ACCESS_TOKEN, else the file `mom atlas run` stored.
    from ._tokens import client_token

    return client_token()


def _limits() -> httpx.Limits:
    import httpx

    return httpx.Limits(max_connections=32, max_keepalive_connections=16)


#: A CA bundle (PEM) to verify an https ``ATLAS_URL`` signed by a private CA (a team server).
CA_BUNDLE_ENV = "ATLAS_CA_BUNDLE"


def _remote_verify(cafile: str | None) -> Any:
    if not cafile:
        return True
    import ssl

    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(
            f"{CA_BUNDLE_ENV}={cafile!r} is not a readable PEM CA bundle ({exc})",
            hint=f"point {CA_BUNDLE_ENV} at the CA certificate that signed the Atlas server's",
        ) from None


async def _client_for(
    *,
    config: str | os.PathLike[str] | Any | None,
    base_url: str | None,
    transport: httpx.AsyncBaseTransport | None,
) -> _Entry:
    import httpx

    loop = asyncio.get_running_loop()
    with _pool_lock:
        pool = _pools.setdefault(loop, {})

    remote = _remote_base(base_url) if transport is None else None
    if transport is not None:
        key: tuple[Any, ...] = ("transport", id(transport))
        entry = pool.get(key)
        if entry is None or entry.client.is_closed:
            cfg_obj = config if config is not None and hasattr(config, "adapters") else None
            entry = _Entry(
                client=httpx.AsyncClient(
                    transport=transport, base_url=INPROCESS_BASE, timeout=DEFAULT_TIMEOUT
                ),
                stamp=None,
                secrets=_secret_values(cfg_obj) if cfg_obj is not None else (),
                mode="injected",
            )
            pool[key] = entry
        return entry

    if remote is not None:
        cafile = os.environ.get(CA_BUNDLE_ENV) or None
        key = ("remote", remote, cafile)
        entry = pool.get(key)
        if entry is None or entry.client.is_closed:
            entry = _Entry(
                client=httpx.AsyncClient(
                    base_url=remote,
                    timeout=DEFAULT_TIMEOUT,
                    limits=_limits(),
                    trust_env=False,
                    verify=_remote_verify(cafile),
                ),
                stamp=None,
                secrets=(),
                mode="remote",
            )
            pool[key] = entry
        token = _access_token()
        entry.secrets = (token,) if token else ()
        return entry

    from ._config import AtlasConfig, load_config
    from ._transport import AtlasTransport

    if isinstance(config, AtlasConfig):
        key = ("config-object", id(config))
        entry = pool.get(key)
        if entry is None or entry.client.is_closed:
            entry = _Entry(
                client=httpx.AsyncClient(
                    transport=AtlasTransport(config),
                    base_url=INPROCESS_BASE,
                    timeout=DEFAULT_TIMEOUT,
                ),
                stamp=None,
                secrets=(),
                mode="in-process",
            )
            pool[key] = entry
        entry.secrets = _secret_values(config)
        return entry

    path = _config_path(config)
    # abspath, not resolve(): this runs on every request and must cost one stat, not several.
    resolved = Path(os.path.abspath(path))
    key = ("in-process", str(resolved))
    stamp = _file_stamp(resolved)
    entry = pool.get(key)
    if entry is None or entry.client.is_closed or entry.stamp != stamp:
        cfg = load_config(path)  # raises ConfigError naming the file and what to do
        old = entry
        entry = _Entry(
            client=httpx.AsyncClient(
                transport=AtlasTransport(cfg), base_url=INPROCESS_BASE, timeout=DEFAULT_TIMEOUT
            ),
            stamp=stamp,
            secrets=_secret_values(cfg),
            mode="in-process",
            config=cfg,
        )
        pool[key] = entry
        if old is not None and not old.client.is_closed:
            await old.client.aclose()
    else:
        # A token exported since the client was built must be redacted too.
        entry.secrets = _secret_values(entry.config)
    return entry


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
    ``httpx`` transport (tests, simulators).

    Example::

        r = await atlasProxyFetch("/v1/apis/http/pagerduty/incidents",
                                  params={"statuses[]": ["triggered"], "limit": 5})
        if not r.ok:
            r.raise_for_status()
    """
    import httpx

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
    entry = await _client_for(config=config, base_url=base_url, transport=transport)
    if entry.mode == "remote":
        token = _access_token()
        if token:
            args["headers"][ACCESS_TOKEN_HEADER] = token
    try:
        resp = await entry.client.request(**args)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(
            f"{args['method']} {path} timed out ({type(exc).__name__})",
            hint="retry, or raise the timeout with timeout=SECONDS",
        ) from None
    except httpx.TransportError as exc:
        where = str(entry.client.base_url)
        hint = (
            "is the Atlas server running there? check ATLAS_URL or start `mom atlas run`"
            if entry.mode == "remote"
            else "check the adapter's baseUrl and your network"
        )
        raise UpstreamUnreachableError(
            redact(f"could not reach {where} for {args['method']} {path}: {exc}", entry.secrets),
            hint=hint,
        ) from None
    return Response(
        status=resp.status_code,
        headers=resp.headers,
        body=resp.content,
        url=redact(str(resp.request.url), entry.secrets),
        method=args["method"],
        path=redact(path, entry.secrets),
        status_text=resp.reason_phrase,
        secrets=entry.secrets,
    )


#: snake_case alias of :func:`atlasProxyFetch`.
atlas_proxy_fetch = atlasProxyFetch


# ---------------------------------------------------------------------------------------------
# Sync bridge
# ---------------------------------------------------------------------------------------------


class _LoopThread:
    """A daemon thread running a private event loop, shared by all blocking calls.

    One long-lived loop (rather than ``asyncio.run`` per call) keeps pooled connections alive
    between blocking calls, and never touches the caller's loop (a running kernel's loop).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="atlas-canvas-loop", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread


_loop_thread = _LoopThread()


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running kernel."""
    if _loop_thread.in_loop_thread():
        coro.close()
        raise RuntimeError(
            "blocking atlas-canvas call made from its own event loop; await the async API"
        )
    future = asyncio.run_coroutine_threadsafe(coro, _loop_thread.loop())
    try:
        return future.result(timeout)
    except KeyboardInterrupt:
        future.cancel()
        raise


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
) -> list[dict[str, str]]:
    """The active HTTP adapters: ``[{"kind", "name", "baseUrl"}]`` (never header values)."""
    r = await atlasProxyFetch(
        "/v1/apis/http", config=config, base_url=base_url, transport=transport
    )
    r.raise_for_status()
    data = r.data
    if not isinstance(data, list):
        raise HTTPStatusError(
            "GET /v1/apis/http did not answer a list of adapters", status=r.status
        )
    return [dict(item) for item in data if isinstance(item, dict)]
