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
(no router, no middleware) on uvloop when installed, with optional ``workers`` processes
sharing the port through ``SO_REUSEPORT``; requests leave through the one upstream sender
(:class:`~._sender.UpstreamSender`, HTTP/1.1 on httptools' llhttp). Local answers (health,
the adapter list, method checks) come from :meth:`~._routing.Router.answer_local`.

Limits on callers (named, with the CLI flag that changes each): ``max_body_size`` (413,
``--max-body-size``) and ``body_idle_timeout``, :data:`DEFAULT_BODY_IDLE_TIMEOUT` seconds
without a byte of a request body that is not complete yet (408 ``ATLAS_RequestBodyTimeout``,
``--body-idle-timeout``; nginx's ``client_body_timeout`` is the model). The request line and
headers are bounded by aiohttp's server parser (8190 bytes a line, 128 headers). Limits on
upstreams are in :mod:`~._sender`.

Example (embedding; the CLI is ``mom atlas run -f atlas.yml``)::

    app = AtlasApp(Router(config_path="atlas.yml"), token="s3cret")
    asyncio.run(serve(app, ServerOptions(port=8082)))

Logs: logger ``atlas_canvas.access`` writes one line per request::

    127.0.0.1 "GET pagerduty /incidents" 200 upstream=200 3.1ms

(method, adapter, path without the query string, status, upstream status, duration; never
a header value, token or secret). Logger ``atlas_canvas.server`` tells about start, stop and
config reloads: SIGHUP reloads the config file off the event loop (the server keeps
answering meanwhile) and keeps the old config, with one log line, if the new one is bad.
"""

from __future__ import annotations

import asyncio
import hmac
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
    BadHeaderError,
    BadPathError,
    BadRequestError,
    CallerBodyTimeoutError,
    InvalidAccessTokenError,
    MissingAccessTokenError,
    ProxyError,
    RequestTooLargeError,
    UpstreamError,
)
from ._routing import HEALTH_PATH, Router, UpstreamRequest, downstream_headers
from ._sender import Sender, SenderResponse

if TYPE_CHECKING:  # pragma: no cover - typing only
    from aiohttp import web

__all__ = [
    "DEFAULT_BODY_IDLE_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "AtlasApp",
    "ServerOptions",
    "run_server",
    "serve",
]

log = logging.getLogger("atlas_canvas.server")
access_log = logging.getLogger("atlas_canvas.access")

DEFAULT_MAX_BODY = 10 * 1024 * 1024
#: Seconds a caller may pause in the middle of its request body (nginx: client_body_timeout).
DEFAULT_BODY_IDLE_TIMEOUT = 60.0
_SMALL_REQUEST = 64 * 1024  # request bodies up to this size are read, then sent at once
_SMALL_RESPONSE = 1024 * 1024  # response bodies up to this size are read, then sent at once
_JSON = "application/json"
_TOKEN_HEADER = "Atlas-Accesstoken"
# Response headers that aiohttp computes itself for a fully read body.
_RECOMPUTED = frozenset({"content-length"})


class _Body:
    """The caller's request body as an async iterator, within two limits.

    It stops at ``limit`` bytes (:class:`RequestTooLargeError`) and when the caller sends
    nothing for ``idle`` seconds before the body is complete (:class:`CallerBodyTimeoutError`).
    The flags tell, after the sender failed, whose fault the failure was.
    """

    def __init__(self, stream: Any, limit: int, idle: float) -> None:
        self._stream = stream
        self._limit = limit
        self._idle = idle
        self.exceeded = False
        self.timed_out = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        total = 0
        while True:
            try:
                chunk = await asyncio.wait_for(self._stream.readany(), self._idle)
            except asyncio.TimeoutError:
                self.timed_out = True
                raise CallerBodyTimeoutError(
                    f"the request body stalled: no byte for {self._idle:g} s after {total} bytes",
                    hint="send the whole body without pauses (the server's body idle "
                    "timeout is --body-idle-timeout)",
                ) from None
            if not chunk:
                return
            total += len(chunk)
            if total > self._limit:
                self.exceeded = True
                raise RequestTooLargeError(_too_large_message(self._limit))
            yield chunk

    async def read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self])


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
        body_idle_timeout: float = DEFAULT_BODY_IDLE_TIMEOUT,
        access_writer: Callable[[str], None] | Literal["logging"] | None = "logging",
    ) -> None:
        if not token:
            raise ValueError("the Atlas server needs a non-empty access token")
        self.router = router
        self._token = token.encode("utf-8")
        if sender is None:
            from ._sender import UpstreamSender

            sender = UpstreamSender()
        self.sender: Sender = sender
        self.max_body_size = max_body_size
        self.body_idle_timeout = body_idle_timeout
        self._reloading: asyncio.Task[bool] | None = None
        self._reload_again = False
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
        """Reload the config file now (blocking); keep the old config if the new one is bad.

        Every failure is caught and logged as one line (a bug in the loader included): a
        reload never stops the server.
        """
        try:
            cfg = self.router.reload()
        except AtlasError as exc:
            log.error("config reload failed, keeping the previous config: %s", exc)
            return False
        except Exception as exc:  # RecursionError, MemoryError-like failures of a parser
            log.error(
                "config reload failed, keeping the previous config: %s while reading %s",
                type(exc).__name__,
                self.router.config_path,
            )
            return False
        names = ", ".join(a.name for a in cfg.http_adapters) or "none"
        log.info("config reloaded: HTTP adapters: %s", names)
        return True

    def request_reload(self) -> None:
        """SIGHUP: reload in a worker thread, so the event loop keeps serving meanwhile.

        A SIGHUP during a reload is not lost: the file may have changed after the running
        reload read it, so one more reload follows it (any number of signals meanwhile fold
        into that one).
        """
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            log.info("config reload in progress; another follows it")
            return
        self._reload_again = False
        self._reloading = asyncio.get_running_loop().create_task(self._reload_until_settled())

    async def _reload_until_settled(self) -> bool:
        ok = await asyncio.to_thread(self.reload)
        while self._reload_again:
            self._reload_again = False
            ok = await asyncio.to_thread(self.reload)
        return ok

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
        note = ""
        try:
            if path != HEALTH_PATH:
                self.check_token(request.headers.getall(_TOKEN_HEADER, []))
            local = self.router.answer_local(method, path)
            if local is not None:
                status = local.status
                return web.Response(
                    status=local.status, body=local.body, content_type=local.content_type
                )
            up = self.router.prepare(method, path, query, request.headers.items())
            adapter = up.adapter
            logged_path = up.path or "/"
            response, upstream_status, note = await self._proxy(request, up)
            status = response.status
            return response
        except AtlasError as exc:
            status = exc.http_status
            if isinstance(exc, CallerBodyTimeoutError):
                # The caller's fault, not the upstream's: say so.
                note = " caller-body-timeout"
                log.warning(
                    "caller %s stalled its request body (%s %s %s): %s",
                    request.remote or "-",
                    method,
                    adapter,
                    logged_path,
                    exc,
                )
            elif isinstance(exc, UpstreamError) or exc.http_status >= 500:
                log.warning("%s %s: %s", method, adapter, exc)
            out = web.Response(status=exc.http_status, body=exc.to_json_bytes(), content_type=_JSON)
            if isinstance(exc, CallerBodyTimeoutError):
                # The rest of the body will not come: answer, then close at once (aiohttp
                # would otherwise linger 10 s reading the body nobody sends).
                out.force_close()
                await out.prepare(request)
                await out.write_eof()
                if request.transport is not None:
                    request.transport.close()
            elif isinstance(exc, RequestTooLargeError):
                out.force_close()  # the rest of the body is not read: the connection is done
            return out
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
                    f"{(time.perf_counter() - start) * 1000.0:.1f}ms{note}"
                )

    async def _proxy(
        self, request: web.BaseRequest, up: UpstreamRequest
    ) -> tuple[web.StreamResponse, int, str]:
        """Send ``up`` with the caller's body; answer with the upstream's response.

        Returns the response, the upstream status and a note for the access log (" cut"
        when the body was cut short after the headers had gone out).
        """
        length = request.content_length
        if length is not None and length > self.max_body_size:
            raise RequestTooLargeError(_too_large_message(self.max_body_size))
        body: bytes | _Body | None = None
        streamed: _Body | None = None
        if request.body_exists:
            reader = _Body(request.content, self.max_body_size, self.body_idle_timeout)
            if length is not None and length <= _SMALL_REQUEST:
                body = await reader.read_all()
            else:
                body = streamed = reader
        try:
            resp = await self.sender.send(
                up, body, content_length=length if streamed is not None else None
            )
        except UpstreamError:
            # The upload broke because of the caller: blame the caller, not the upstream.
            if streamed is not None and streamed.timed_out:
                raise CallerBodyTimeoutError(
                    f"the request body stalled for {self.body_idle_timeout:g} s",
                    hint="send the whole body without pauses (the server's body idle "
                    "timeout is --body-idle-timeout)",
                ) from None
            if streamed is not None and streamed.exceeded:
                raise RequestTooLargeError(_too_large_message(self.max_body_size)) from None
            raise
        try:
            return await self._relay(request, up, resp)
        finally:
            resp.release()

    async def _relay(
        self, request: web.BaseRequest, up: UpstreamRequest, resp: SenderResponse
    ) -> tuple[web.StreamResponse, int, str]:
        from aiohttp import web
        from multidict import CIMultiDict

        headers = downstream_headers(resp.headers)
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
                    headers=CIMultiDict((n, v) for n, v in headers if n.lower() not in _RECOMPUTED),
                )
            return out, resp.status, ""
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
            return stream, resp.status, " cut"
        except ConnectionError:
            # The caller went away mid-body: drop the upstream connection too.
            resp.close()
            return stream, resp.status, " caller-left"
        await stream.write_eof()
        return stream, resp.status, ""

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
    body_idle_timeout: float = DEFAULT_BODY_IDLE_TIMEOUT
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
    server = _json_error_server(
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


def _json_error_server(handler: Any, **kwargs: Any) -> Any:
    """aiohttp's low-level ``web.Server`` whose own refusals are Atlas errors.

    A request aiohttp's HTTP parser cannot read (raw non-ASCII in the request target, a
    header line without a colon, a bad chunk...) never reaches :meth:`AtlasApp.handle`:
    aiohttp answers it itself, in plain text. Every error of this server is JSON
    ``{"error": {"code", "message", "hint"}}`` (``interface.md``), so each connection's
    ``handle_error`` is wrapped: aiohttp still logs, checks nothing was sent yet and closes the
    connection; the body becomes the Atlas error :func:`_parser_refusal` names. Nothing of
    the refused request is echoed back (it may hold a token).
    """
    from aiohttp import web
    from aiohttp.web_protocol import RequestHandler

    class Handler(RequestHandler):
        __slots__ = ()  # the same layout: a connection aiohttp made can become one

        def handle_error(
            self,
            request: Any,
            status: int = 500,
            exc: BaseException | None = None,
            message: str | None = None,
        ) -> Any:
            answer = super().handle_error(request, status, exc, message)  # logs; checks
            err = _parser_refusal(answer.status, exc)
            out = web.Response(status=answer.status, body=err.to_json_bytes(), content_type=_JSON)
            out.force_close()
            return out

    class Server(web.Server):
        def __call__(self) -> Any:
            proto = super().__call__()
            proto.__class__ = Handler  # aiohttp builds it; only handle_error differs
            return proto

    return Server(handler, **kwargs)


def _parser_refusal(status: int, exc: BaseException | None) -> AtlasError:
    """The Atlas error for a request aiohttp refused before the app saw it."""
    from aiohttp import http_exceptions as he

    if status >= 500:
        return ProxyError(
            "the server failed while reading the request",
            hint="this is a bug in the Atlas server; its log has the details",
        )
    # llhttp's errors reach aiohttp as classes for the request line, and as BadHttpMessage
    # with llhttp's reason for the rest ("Invalid header token", "Content-Length can't be
    # present with Transfer-Encoding"...): the reason tells a header from the framing.
    reason = str(getattr(exc, "message", "") or "").lower()
    framing = any(w in reason for w in ("content-length", "transfer-encoding", "chunk"))
    if isinstance(exc, (he.InvalidURLError, he.BadHttpMethod, he.BadStatusLine)) or (
        not framing and any(w in reason for w in ("url", "method", "version", "request line"))
    ):
        return BadPathError(
            "the request line could not be read (method, target or HTTP version): the "
            "target must be ASCII, with other bytes percent-encoded",
            hint="send an HTTP/1.1 request line such as "
            "'GET /v1/apis/http/<adapter>/<path> HTTP/1.1', encoding the path (%XX)",
        )
    if isinstance(exc, (he.InvalidHeader, he.LineTooLong)) or (not framing and "header" in reason):
        return BadHeaderError(
            "a request header could not be read (no colon, a forbidden character, or a "
            "line longer than the server accepts)",
            hint="send headers as 'Name: value' lines of printable characters",
        )
    return BadRequestError(
        "the request could not be read as HTTP/1.1 (its framing or body encoding is broken)",
        hint="check Content-Length and Transfer-Encoding: send one of them, and a body "
        "that matches it",
    )


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
        loop.add_signal_handler(signal.SIGHUP, app.request_reload)
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
