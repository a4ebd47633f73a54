"""The Atlas server (``mom atlas run``): an aiohttp low-level server over the routing core.

Routes (see the interface note):

* ``GET /healthcheck``: no auth, ``200 {"status":"ok"}``;
* ``GET /v1/apis/http``: the active HTTP adapters, ``[{"kind","name","baseUrl"}]``;
* ``ANY /v1/apis/http/{adapter}/{path}``: forwarded upstream by :class:`~._routing.Router`.

Every route but ``/healthcheck`` needs the ``Atlas-Accesstoken`` header, compared in constant
time. Bodies stream both ways: request bodies above 64 KiB (or chunked) are streamed
upstream, and response bodies above 1 MiB (or of unknown length) are streamed back, so a
large body is never held in memory. Requests larger than ``max_body_size`` get 413.
Upstream status, headers (hop-by-hop removed) and body bytes are passed unchanged; the only
additions are ``Date``/``Server`` when the upstream sent none, and ``Content-Type:
application/octet-stream`` on a non-empty body that had no type (RFC 9110 §8.3).

Stack chosen by measurement (``benchmarks/README.md``): aiohttp's low-level ``web.Server``
(no router, no middleware) with one pooled ``aiohttp.ClientSession``, on uvloop when
installed, with optional ``workers`` processes sharing the port through ``SO_REUSEPORT``.

Example (embedding; the CLI is ``mom atlas run -f atlas.yml``)::

    app = AtlasApp(Router(config_path="atlas.yml"), token="s3cret")
    asyncio.run(serve(app, ServerOptions(port=8082)))

Logs: logger ``atlas_canvas.access`` writes one line per request::

    127.0.0.1 "GET pagerduty /incidents" 200 upstream=200 3.1ms

(method, adapter, path without the query string, status, upstream status, duration; never
a header value, token or secret). Logger ``atlas_canvas.server`` tells about start, stop and
config reloads (SIGHUP reloads the config file, keeping the old config if the new one is bad).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal
import ssl
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._accesslog import logging_writer
from ._errors import (
    AtlasError,
    InvalidAccessTokenError,
    MethodNotAllowedError,
    MissingAccessTokenError,
    RequestTooLargeError,
    UpstreamError,
)
from ._routing import HEALTH_PATH, Router, downstream_headers, match_route
from ._upstream import Sender

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aiohttp import web

__all__ = ["DEFAULT_MAX_BODY", "AtlasApp", "ServerOptions", "run_server", "serve"]

log = logging.getLogger("atlas_canvas.server")
access_log = logging.getLogger("atlas_canvas.access")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
_SMALL_REQUEST = 64 * 1024  # request bodies up to this size are read, then sent at once
_SMALL_RESPONSE = 1024 * 1024  # response bodies up to this size are read, then sent at once
_HEALTH_BODY = b'{"status":"ok"}'
_JSON = "application/json"
_TOKEN_HEADER = "Atlas-Accesstoken"
# Response headers that aiohttp computes itself for a fully read body.
_RECOMPUTED = frozenset({"content-length"})


class _Limited:
    """An async iterator over the request body that stops at ``limit`` bytes."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        async for chunk in self._stream.iter_chunked(_SMALL_REQUEST):
            total += len(chunk)
            if total > self._limit:
                self.exceeded = True
                raise RequestTooLargeError(_too_large_message(self._limit))
            yield chunk


def _too_large_message(limit: int) -> str:
    return f"request body larger than the server's limit of {limit} bytes"


class AtlasApp:
    """The request handler: auth, routes, proxying, access log. Framework: aiohttp."""

    def __init__(
        self,
        router: Router,
        *,
        token: str,
        sender: Sender | None = None,
        max_body_size: int = DEFAULT_MAX_BODY,
        access_writer: Callable[[str], None] | Literal["logging"] | None = "logging",
    ) -> None:
        if not token:
            raise ValueError("the Atlas server needs a non-empty access token")
        self.router = router
        self._token = token.encode("utf-8")
        if sender is None:
            from ._h1client import H1Sender

            sender = H1Sender()
        self.sender: Sender = sender
        self.max_body_size = max_body_size
        # None: no access log; default: the `atlas_canvas.access` logger; the CLI passes a
        # BatchedLineWriter (much cheaper per line, see _accesslog.py).
        self._access = logging_writer(access_log) if access_writer == "logging" else access_writer

    # -- auth -------------------------------------------------------------------------
    def check_token(self, values: list[str]) -> None:
        """Refuse unless exactly one non-empty ``Atlas-Accesstoken`` equal to the token."""
        if not values or not values[0]:
            raise MissingAccessTokenError(
                "missing Atlas-Accesstoken header",
                hint="send the server's access token (ATLAS_ACCESS_TOKEN, or the one "
                "`mom atlas run` printed) in the Atlas-Accesstoken header",
            )
        given = values[0].encode("utf-8", "surrogateescape")
        # compare_digest even for the multi-value case, so timing says nothing.
        same = hmac.compare_digest(given, self._token)
        if len(values) != 1 or not same:
            raise InvalidAccessTokenError(
                "invalid Atlas-Accesstoken",
                hint="use the token the server was started with",
            )

    # -- config -----------------------------------------------------------------------
    def reload(self) -> bool:
        """Reload the config file; keep the old config (and log why) if the new one is bad."""
        try:
            cfg = self.router.reload()
        except AtlasError as exc:
            log.error("config reload failed, keeping the previous config: %s", exc)
            return False
        names = ", ".join(a.name for a in cfg.http_adapters) or "none"
        log.info("config reloaded: HTTP adapters: %s", names)
        return True

    # -- handling ---------------------------------------------------------------------
    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        from aiohttp import web

        start = time.perf_counter()
        method = request.method
        path, _, query = request.raw_path.partition("?")
        adapter = "-"
        logged_path = path
        upstream_status: int | None = None
        status = 500
        try:
            if path == HEALTH_PATH:
                if method not in ("GET", "HEAD"):
                    raise MethodNotAllowedError("/healthcheck answers GET only")
                status = 200
                return web.Response(body=_HEALTH_BODY, content_type=_JSON)
            self.check_token(request.headers.getall(_TOKEN_HEADER, []))
            route = match_route(path)
            if route.kind == "list":
                if method not in ("GET", "HEAD"):
                    raise MethodNotAllowedError("/v1/apis/http answers GET only")
                body = json.dumps(self.router.http_apis()).encode()
                status = 200
                return web.Response(body=body, content_type=_JSON)
            adapter = route.adapter
            logged_path = route.rest or "/"
            up = self.router.prepare(method, path, query, request.headers.items(), route=route)
            response, upstream_status = await self._proxy(request, up)
            status = response.status
            return response
        except AtlasError as exc:
            status = exc.http_status
            if isinstance(exc, UpstreamError) or exc.http_status >= 500:
                log.warning("%s %s: %s", method, adapter, exc)
            return web.Response(
                status=exc.http_status, body=exc.to_json_bytes(), content_type=_JSON
            )
        except Exception as exc:
            # A bug, not a refusal. Log where it happened but not the exception's message:
            # messages of low-level errors can quote header values, secrets included.
            status = 500
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error(
                "internal error in %s %s: %s\n%s", method, adapter, type(exc).__name__, frames
            )
            internal = AtlasError(
                "internal error in the Atlas server", hint="the server log has the details"
            )
            return web.Response(status=500, body=internal.to_json_bytes(), content_type=_JSON)
        finally:
            if self._access is not None:
                self._access(
                    f'{request.remote or "-"} "{method} {adapter} {logged_path}" {status} '
                    f"upstream={upstream_status if upstream_status is not None else '-'} "
                    f"{(time.perf_counter() - start) * 1000.0:.1f}ms"
                )

    async def _proxy(self, request: web.BaseRequest, up: Any) -> tuple[web.StreamResponse, int]:
        from aiohttp import web
        from multidict import CIMultiDict

        length = request.content_length
        if length is not None and length > self.max_body_size:
            raise RequestTooLargeError(_too_large_message(self.max_body_size))
        body: bytes | _Limited | None = None
        limited: _Limited | None = None
        if request.body_exists:
            if length is not None and length <= _SMALL_REQUEST:
                body = await request.read()
            else:
                body = limited = _Limited(request.content, self.max_body_size)
        try:
            resp = await self.sender.send(
                up, body, content_length=length if limited is not None else None
            )
        except UpstreamError:
            if limited is not None and limited.exceeded:
                raise RequestTooLargeError(_too_large_message(self.max_body_size)) from None
            raise
        except RequestTooLargeError:
            raise
        headers = downstream_headers(resp.headers)
        try:
            known = resp.content_length
            no_body = request.method == "HEAD" or resp.status in (204, 304)
            if no_body or (known is not None and known <= _SMALL_RESPONSE):
                data = b"" if no_body else await resp.read()
                if no_body:
                    out = web.Response(status=resp.status, reason=resp.reason)
                    out.headers.extend(headers)
                else:
                    out = web.Response(
                        status=resp.status,
                        reason=resp.reason,
                        body=data,
                        headers=CIMultiDict(
                            (n, v) for n, v in headers if n.lower() not in _RECOMPUTED
                        ),
                    )
                return out, resp.status
            stream = web.StreamResponse(
                status=resp.status, reason=resp.reason, headers=CIMultiDict(headers)
            )
            await stream.prepare(request)
            try:
                async for chunk in resp.iter_chunks():
                    await stream.write(chunk)
            except AtlasError as exc:
                # Headers are gone already: the only honest signal left is a cut connection.
                log.warning("%s %s: %s (response cut)", request.method, up.adapter, exc)
                resp.close()
                if request.transport is not None:
                    request.transport.close()
                return stream, resp.status
            except ConnectionError:
                # The caller went away mid-body: drop the upstream connection too.
                resp.close()
                return stream, resp.status
            await stream.write_eof()
            return stream, resp.status
        finally:
            resp.release()

    async def aclose(self) -> None:
        await self.sender.aclose()


@dataclass
class ServerOptions:
    """How to run the server (the flags of ``mom atlas run``)."""

    host: str = "127.0.0.1"
    port: int = 8082
    certfile: str | None = None
    keyfile: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_body_size: int = DEFAULT_MAX_BODY
    access_log: bool = True
    shutdown_timeout: float = 10.0
    workers: int = 1
    reuse_port: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.certfile else "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.certfile:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.certfile, self.keyfile)
        return ctx


async def serve(
    app: AtlasApp,
    options: ServerOptions,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``app`` until ``stop`` is set; then stop accepting, finish in-flight requests
    (up to ``options.shutdown_timeout`` seconds) and close the upstream pool."""
    from aiohttp import web

    stop = stop or asyncio.Event()
    _quiet_aiohttp_request_errors()
    server = web.Server(
        app.handle,
        access_log=None,  # our own access log: one line, no header values
        keepalive_timeout=75.0,
    )
    runner = web.ServerRunner(server, shutdown_timeout=options.shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(
        runner,
        options.host,
        options.port,
        ssl_context=options.ssl_context(),
        backlog=1024,
        reuse_port=options.reuse_port or None,
    )
    try:
        await site.start()
        if on_ready is not None:
            on_ready()
        await stop.wait()
        log.info("shutting down (finishing in-flight requests)")
    finally:
        await runner.cleanup()
        await app.aclose()


class _NoRequestDetails(logging.Filter):
    """aiohttp logs a malformed request with a traceback whose message quotes the request's
    bytes (which may hold a caller's access token). Keep one line: who, and the error type."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from aiohttp.http_exceptions import HttpProcessingError

        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "-"
        if isinstance(exc, HttpProcessingError):
            record.msg = "refused a malformed request from %s: %s"
            record.levelno, record.levelname = logging.INFO, "INFO"
        else:
            record.msg = "error handling a request from %s: %s (details withheld)"
        record.args = (remote, type(exc).__name__)
        record.exc_info = None
        record.exc_text = None
        return True


def _configure_logging(access: bool) -> None:
    root = logging.getLogger("atlas_canvas")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
        aio = logging.getLogger("aiohttp.server")
        aio.addHandler(handler)
        aio.propagate = False
    access_log.disabled = not access


def _quiet_aiohttp_request_errors() -> None:
    aio = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _NoRequestDetails) for f in aio.filters):
        aio.addFilter(_NoRequestDetails())


def _run_one(
    make_app: Callable[[], AtlasApp], options: ServerOptions, on_ready: Callable[[], None] | None
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        app = make_app()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, app.reload)
        await serve(app, options, stop=stop, on_ready=on_ready)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(main())
    else:
        uvloop.run(main())


def run_server(
    make_app: Callable[[], AtlasApp],
    options: ServerOptions,
    *,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run the server in the foreground until SIGTERM/SIGINT (blocking).

    With ``options.workers > 1`` that many processes are forked, each with its own event
    loop and upstream pool, sharing the port through ``SO_REUSEPORT`` (the server keeps no
    state, so any worker can answer any request). SIGHUP/SIGTERM/SIGINT sent to the parent
    are passed on to the workers.
    """
    _configure_logging(options.access_log)
    if options.workers <= 1:
        _run_one(make_app, options, on_ready)
        return
    options.reuse_port = True
    children: list[int] = []
    for _ in range(options.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child process
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _run_one(make_app, options, None)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    if on_ready is not None:
        _wait_listening(options)
        on_ready()
    remaining = set(children)
    while remaining:
        try:
            pid, _status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:  # pragma: no cover - retried by Python since 3.5
            continue
        remaining.discard(pid)
        if remaining and pid in children:
            # One worker gone means a broken server: stop the others too.
            for child in remaining:
                try:
                    os.kill(child, signal.SIGTERM)
                except ProcessLookupError:
                    pass


def _wait_listening(options: ServerOptions, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((options.host, options.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
