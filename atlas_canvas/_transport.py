"""In-process Atlas: an ``httpx`` transport that serves the Atlas routes without a server.

Stable API (``atlasProxyFetch`` and ``mom curl`` build on it)::

    AtlasTransport(config: AtlasConfig | None = None, *, config_path=None,
                   connect_timeout=10.0, read_timeout=60.0, environ=None)
        -> httpx.AsyncBaseTransport
    AtlasSyncTransport(same arguments)  -> httpx.BaseTransport (blocking twin)

Example::

    import httpx
    from atlas_canvas._transport import AtlasTransport

    async with httpx.AsyncClient(transport=AtlasTransport(config_path="atlas.yml"),
                                 base_url="http://atlas.local") as client:
        r = await client.get("/v1/apis/http/pagerduty/incidents",
                             params={"statuses[]": ["triggered", "acknowledged"]})

Behaviour, the same as the Atlas server's (the host part of the URL is ignored):

* ``GET /healthcheck``, ``GET /v1/apis/http`` and ``ANY /v1/apis/http/<adapter>/<path>``
  through the routing core (:mod:`~atlas_canvas._routing`): same URL safety, same header
  policy, secrets resolved from the environment at each request;
* no access token is needed (the caller is this process), and an ``Atlas-Accesstoken`` sent
  anyway is not forwarded;
* every Atlas error comes back as an HTTP response with the error's status and the JSON body
  ``{"error": {"code", "message"}}``, never as an exception (so code written against a
  server works unchanged); errors *while reading a streamed body* raise the
  :class:`~atlas_canvas.UpstreamError` subclasses;
* upstream status, headers (hop-by-hop removed) and body come back unchanged and streamed;
  requests are never retried.

With ``config_path`` (or neither argument: ``ATLAS_CONFIG``, then ``./atlas.yml``), the file
is loaded on the first request and reloaded when its modification time changes, so an
adapter added with ``mom atlas config add-http-adapter`` works without a restart.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping

import httpx

from ._config import AtlasConfig, resolve_config_path
from ._errors import (
    AtlasError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from ._routing import Router, UpstreamRequest, downstream_headers
from ._sender import where as _where  # how every error names an upstream: one place

__all__ = ["AtlasSyncTransport", "AtlasTransport"]

_JSON_HEADERS = [("Content-Type", "application/json")]


def _error_response(exc: AtlasError, request: httpx.Request) -> httpx.Response:
    body = exc.to_json_bytes()
    return httpx.Response(
        exc.http_status,
        headers=[*_JSON_HEADERS, ("Content-Length", str(len(body)))],
        content=body,
        request=request,
    )


def _split(request: httpx.Request) -> tuple[str, str]:
    raw = request.url.raw_path.decode("ascii")
    path, _, query = raw.partition("?")
    return path, query


def _timeouts(connect: float, read: float) -> dict[str, float]:
    return {"connect": connect, "read": read, "write": read, "pool": connect}


def _map_error(
    exc: httpx.TransportError, up: UpstreamRequest, connect: float, read: float
) -> AtlasError:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return UpstreamTimeoutError(
            f"{_where(up)} did not accept a connection within {connect:g} s"
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(
            f"{_where(up)} did not answer within {read:g} s",
            hint="the upstream is slow or stuck; retry later or raise read_timeout",
        )
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnreachableError(
            f"cannot connect to {_where(up)}",
            hint="check that the upstream is running and the adapter's baseUrl",
        )
    return UpstreamUnreachableError(f"{_where(up)} closed the connection without a valid answer")


def _upstream_request(up: UpstreamRequest, request: httpx.Request, stream: object) -> httpx.Request:
    url = httpx.URL(up.url)
    # httpx adds no default headers to a Request built with a stream: Host is ours to set.
    headers = [("Host", url.netloc.decode("ascii")), *up.headers]
    length = request.headers.get("content-length")
    if length is not None:
        headers.append(("Content-Length", length))
    elif "chunked" in request.headers.get("transfer-encoding", "").lower():
        headers.append(("Transfer-Encoding", "chunked"))
    return httpx.Request(
        up.method,
        # The URL was validated raw; httpx keeps valid %XX escapes as they are.
        url,
        headers=headers,
        stream=stream,  # type: ignore[arg-type]  # the caller's byte stream, passed on
    )


class _Base:
    def __init__(
        self,
        config: AtlasConfig | None = None,
        *,
        config_path: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if config is not None:
            self.router = Router(config, environ=environ)
        else:
            self.router = Router(
                config_path=resolve_config_path(config_path), environ=environ, auto_reload=True
            )
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def _route(self, request: httpx.Request) -> httpx.Response | UpstreamRequest:
        """Answer local routes directly; return the upstream request for proxy routes."""
        path, query = _split(request)
        # The one dispatcher of local answers (health, adapter list, method checks).
        local = self.router.answer_local(request.method, path)
        if local is not None:
            return httpx.Response(
                local.status,
                headers=[
                    ("Content-Type", local.content_type),
                    ("Content-Length", str(len(local.body))),
                ],
                content=local.body,
                request=request,
            )
        return self.router.prepare(request.method, path, query, request.headers.multi_items())

    def _wrap(self, resp: httpx.Response, request: httpx.Request, stream: object) -> httpx.Response:
        return httpx.Response(
            resp.status_code,
            headers=downstream_headers(resp.headers.multi_items()),
            stream=stream,  # type: ignore[arg-type]
            request=request,
            extensions={
                k: v for k, v in resp.extensions.items() if k in ("http_version", "reason_phrase")
            },
        )


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, resp: httpx.Response, up: UpstreamRequest, owner: _Base) -> None:
        self._resp = resp
        self._up = up
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.TransportError as exc:
            raise _map_error(
                exc, self._up, self._owner.connect_timeout, self._owner.read_timeout
            ) from None

    async def aclose(self) -> None:
        await self._resp.aclose()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, resp: httpx.Response, up: UpstreamRequest, owner: _Base) -> None:
        self._resp = resp
        self._up = up
        self._owner = owner

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._resp.iter_raw()
        except httpx.TransportError as exc:
            raise _map_error(
                exc, self._up, self._owner.connect_timeout, self._owner.read_timeout
            ) from None

    def close(self) -> None:
        self._resp.close()


class AtlasTransport(_Base, httpx.AsyncBaseTransport):
    """Async in-process Atlas for ``httpx.AsyncClient`` (see the module docstring)."""

    def __init__(
        self,
        config: AtlasConfig | None = None,
        *,
        config_path: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            config,
            config_path=config_path,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            environ=environ,
        )
        # Connections belong to the event loop that opened them; a notebook may drive this
        # transport from several loops (e.g. a blocking helper running its own loop).
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncHTTPTransport]
        self._pools = weakref.WeakKeyDictionary()

    def _pool(self) -> httpx.AsyncHTTPTransport:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = httpx.AsyncHTTPTransport(retries=0)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            routed = self._route(request)
            if isinstance(routed, httpx.Response):
                return routed
            up = routed
            outgoing = _upstream_request(up, request, request.stream)
            outgoing.extensions["timeout"] = _timeouts(self.connect_timeout, self.read_timeout)
            try:
                resp = await self._pool().handle_async_request(outgoing)
            except httpx.TransportError as exc:
                raise _map_error(exc, up, self.connect_timeout, self.read_timeout) from None
        except AtlasError as exc:
            return _error_response(exc, request)
        return self._wrap(resp, request, _AsyncStream(resp, up, self))

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.aclose()


class AtlasSyncTransport(_Base, httpx.BaseTransport):
    """Blocking twin of :class:`AtlasTransport` for ``httpx.Client``."""

    def __init__(
        self,
        config: AtlasConfig | None = None,
        *,
        config_path: str | os.PathLike[str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            config,
            config_path=config_path,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            environ=environ,
        )
        self._pool = httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            routed = self._route(request)
            if isinstance(routed, httpx.Response):
                return routed
            up = routed
            outgoing = _upstream_request(up, request, request.stream)
            outgoing.extensions["timeout"] = _timeouts(self.connect_timeout, self.read_timeout)
            try:
                resp = self._pool.handle_request(outgoing)
            except httpx.TransportError as exc:
                raise _map_error(exc, up, self.connect_timeout, self.read_timeout) from None
        except AtlasError as exc:
            return _error_response(exc, request)
        return self._wrap(resp, request, _SyncStream(resp, up, self))

    def close(self) -> None:
        self._pool.close()
