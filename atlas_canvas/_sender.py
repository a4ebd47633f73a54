"""How a request leaves a server process: the one upstream sender (HTTP/1.1 on llhttp).

Both servers (``mom atlas run`` and the Jupyter extension's proxy route) send every upstream
request through :class:`UpstreamSender`; the in-process transport is the only other path
out. Its public side is framework-neutral (plain tuples, bytes and async iterators), so the
routing core and the front doors never see a client library's type.

Example::

    sender = UpstreamSender(connect_timeout=5, read_timeout=30)
    up = router.prepare("GET", "/v1/apis/http/pagerduty/incidents", "", [])
    resp = await sender.send(up)
    try:
        print(resp.status, resp.headers)
        async for chunk in resp.iter_chunks():
            ...
    finally:
        resp.release()
    await sender.aclose()

Why a client of our own (measured in ``benchmarks/README.md``): every library client tried
missed a goal of the proxy (aiohttp's client gave 0.55-0.62x the throughput; pyreqwest cannot pass
non-ASCII header bytes and rewrites the query). This one never parses bytes itself: every
status line, header and body byte goes through llhttp (Node.js's parser, via ``httptools``);
the module writes the request head, keeps the pool and enforces the limits below. No
redirects, cookies, decompression or automatic headers but ``Host`` and the body framing;
the request target goes out byte for byte as the routing core validated it.

Limits on what an upstream may send (each a named constant, nginx/aiohttp-like defaults):

* :data:`MAX_LINE_SIZE` for the status line, :data:`MAX_FIELD_SIZE` for each header line,
  :data:`MAX_HEADERS` header lines, :data:`MAX_HEADER_BYTES` for all headers together.
  httptools collects each header line itself before it calls back, so the bound on memory
  is taken where bytes enter: until the headers are complete, at most a status line and
  all headers' worth of bytes is ever given to the parser, and each line is checked as the
  parser reports it. After the headers, bytes that make no progress in the parser (an
  endless trailer or chunk-extension line) are bounded the same way. Past any limit the
  upstream gets no more reads: the connection is closed and the caller gets 502
  ``ATLAS_UpstreamUnreachableError`` naming the limit;
* a connection goes back to the pool only when its response was read to the end, the
  upstream allowed keep-alive and nothing else arrived; bytes nobody asked for (a second
  response, a body after a HEAD answer, anything on an idle pooled connection) close it;
* chunked trailers are dropped (never merged into the headers); a reason phrase with control
  characters is replaced by the standard one for the status;
* a header value that is not valid UTF-8 cannot be passed on byte for byte, so it is refused:
  400 :class:`BadHeaderError` on the way in, 502 on the way out.

Timeouts: ``connect_timeout`` bounds the TCP/TLS connect (and the wait for a free slot when
``max_connections`` are in flight), ``read_timeout`` every wait for upstream bytes (and for
the upstream to take more of a streamed request body). Both raise
:class:`UpstreamTimeoutError` (504, ``API_InstanceRequestTimeoutError``); a refused or
broken connection raises :class:`UpstreamUnreachableError` (502). A request is re-sent only
when it is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), its body is in memory, it
went out on a *reused* keep-alive connection and that connection closed before a single
response byte came back (RFC 9112 §9.3.1); POST and PATCH are never re-sent. Response
bodies pass through raw (no decompression), so ``Content-Encoding`` and ``Content-Length``
stay true.
"""

from __future__ import annotations

import asyncio
import http
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

from ._errors import (
    AtlasError,
    BadHeaderError,
    BadPathError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from ._routing import UpstreamRequest

__all__ = [
    "MAX_FIELD_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_LINE_SIZE",
    "Sender",
    "SenderResponse",
    "UpstreamResponse",
    "UpstreamSender",
    "answer_timeout_error",
    "body_broken_error",
    "body_timeout_error",
    "certificate_error",
    "check_header_bytes",
    "client_ssl_context",
    "connect_error",
    "connect_timeout_error",
    "decode_header_bytes",
    "invalid_answer_error",
    "no_answer_error",
    "reason_phrase",
    "where",
]

#: Longest status line an upstream may send (aiohttp's default; nginx reads 4-8 KiB).
MAX_LINE_SIZE = 8190
#: Longest single header line (name + value) an upstream may send.
MAX_FIELD_SIZE = 8190
#: Most header lines in one upstream response (nginx and hyper allow about 100).
MAX_HEADERS = 100
#: All response headers together (nginx's proxy_buffer_size is 4-8 KiB; we allow more).
MAX_HEADER_BYTES = 64 * 1024

# Reason phrase: HTAB / SP / VCHAR (RFC 9112 §4); obs-text is not passed on either.
_REASON_OK = frozenset(range(0x20, 0x7F)) | {0x09}


class SenderResponse(Protocol):
    """What :meth:`Sender.send` returns: status line and headers; the body on demand."""

    status: int
    reason: str
    headers: list[tuple[str, str]]

    @property
    def content_length(self) -> int | None: ...

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def release(self) -> None: ...

    def close(self) -> None: ...


class Sender(Protocol):
    """The upstream client of the servers (:class:`UpstreamSender`; tests may inject others)."""

    connect_timeout: float
    read_timeout: float

    async def send(
        self,
        req: UpstreamRequest,
        body: bytes | AsyncIterable[bytes] | None = None,
        *,
        content_length: int | None = None,
    ) -> SenderResponse: ...

    async def aclose(self) -> None: ...


def where(req: UpstreamRequest) -> str:
    """``adapter 'NAME' (scheme://host:port)``: how errors name an upstream (no path, no query).

    Example::

        where(UpstreamRequest("GET", "https://api.x.com/v2/a?q=1", [], "x", "/a"))
        # "adapter 'x' (https://api.x.com)"
    """
    scheme, _, rest = req.url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    return f"adapter '{req.adapter}' ({scheme}://{netloc})"


def check_header_bytes(headers: list[tuple[str, str]]) -> None:
    """Refuse (400 :class:`BadHeaderError`) request headers that cannot be sent byte for byte.

    The servers decode header bytes as UTF-8 (undecodable bytes as surrogate escapes) and
    the sender writes UTF-8, so valid UTF-8 passes unchanged; anything else, or a line
    break or NUL inside a name or value (header injection), is refused.

    Example::

        check_header_bytes([("Accept", "application/json")])  # passes
        check_header_bytes([("X-Bad", "a\r\nInjected: 1")])  # raises BadHeaderError
    """
    # Fast path (every request): one C-level scan of all names and values together.
    joined = "\x01".join([text for pair in headers for text in pair])
    if joined.isascii() and "\r" not in joined and "\n" not in joined and "\x00" not in joined:
        return
    for name, value in headers:
        for text, what in ((name, "name"), (value, "value")):
            if "\r" in text or "\n" in text or "\x00" in text:
                raise BadHeaderError(
                    f"refused request: the {what} of header {_shown(name)} holds a line break "
                    "or NUL",
                    hint="send each header on one line",
                )
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise BadHeaderError(
                        f"refused request: the {what} of header {_shown(name)} holds bytes that "
                        "are not valid UTF-8",
                        hint="send header values as ASCII (or UTF-8); percent-encode other bytes",
                    ) from None


def _shown(name: str) -> str:
    # A header name is not secret, but may itself be the broken part: show it safely.
    return ascii(name)[1:-1][:64] if name.isascii() and name.isprintable() else "(unprintable)"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def reason_phrase(status: int, raw: str | None) -> str:
    """``raw`` if it is a valid reason phrase (HTAB, SP, VCHAR), else the standard one.

    Example::

        reason_phrase(200, "O\x01K")  # "OK"
    """
    if raw and (
        (raw.isascii() and raw.isprintable())  # the usual case, one C call
        or all(ord(c) in _REASON_OK for c in raw)
    ):
        return raw
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def decode_header_bytes(
    raw: Iterable[tuple[bytes, bytes]], req: UpstreamRequest
) -> list[tuple[str, str]]:
    """An upstream's header lines as text that encodes back to exactly the same bytes.

    Valid UTF-8 is decoded; anything else cannot be passed on unchanged, so it is a 502
    (:class:`UpstreamUnreachableError` naming the header; the caller closes the connection).

    Example::

        decode_header_bytes([(b"X-A", b"caf\xc3\xa9")], req)  # [("X-A", "café")]
    """
    try:
        return [(name.decode("utf-8"), value.decode("utf-8")) for name, value in raw]
    except UnicodeDecodeError:
        bad = next(n for n, v in raw if not _is_utf8(n) or not _is_utf8(v))
        raise UpstreamUnreachableError(
            f"{where(req)} sent header {_shown(bad.decode('latin-1'))} with bytes that "
            "are not valid UTF-8, which cannot be passed on unchanged",
            hint="fix the upstream's response headers",
        ) from None


# -- the upstream errors, worded once for every sender ------------------------------------


def connect_timeout_error(req: UpstreamRequest, timeout: float) -> UpstreamTimeoutError:
    """504: no connection (or no free slot in the pool) within the connect timeout."""
    return UpstreamTimeoutError(
        f"{where(req)} did not accept a connection within {timeout:g} s",
        hint="the upstream is down or all connections to it stayed busy; retry later",
    )


def answer_timeout_error(req: UpstreamRequest, timeout: float) -> UpstreamTimeoutError:
    """504: the status line and headers did not come within the read timeout."""
    return UpstreamTimeoutError(
        f"{where(req)} did not answer within {timeout:g} s",
        hint="the upstream is slow or stuck; retry later or raise --read-timeout",
    )


def body_timeout_error(req: UpstreamRequest, timeout: float) -> UpstreamTimeoutError:
    """504: the response body stalled for the read timeout."""
    return UpstreamTimeoutError(f"{where(req)} stopped sending the response body for {timeout:g} s")


def body_broken_error(req: UpstreamRequest) -> UpstreamUnreachableError:
    """502: the connection broke in the middle of the response body."""
    return UpstreamUnreachableError(
        f"{where(req)} broke the connection while sending the response body"
    )


def connect_error(req: UpstreamRequest, reason: str | None) -> UpstreamUnreachableError:
    """502: the TCP connect failed (refused, unreachable, name not found)."""
    return UpstreamUnreachableError(
        f"cannot connect to {where(req)}: {reason or 'connection failed'}",
        hint="check that the upstream is running and the adapter's baseUrl",
    )


def certificate_error(req: UpstreamRequest) -> UpstreamUnreachableError:
    """502: the upstream's TLS certificate is not trusted."""
    return UpstreamUnreachableError(f"{where(req)}: the TLS certificate could not be verified")


def invalid_answer_error(req: UpstreamRequest, detail: str) -> UpstreamUnreachableError:
    """502: the answer broke HTTP/1.1 framing or a named limit; its connection is closed."""
    return UpstreamUnreachableError(
        f"{where(req)} sent an invalid HTTP answer ({detail}); the connection was closed"
    )


def no_answer_error(req: UpstreamRequest) -> UpstreamUnreachableError:
    """502: the connection closed (or broke) before a complete status line and headers."""
    return UpstreamUnreachableError(f"{where(req)} closed the connection without a valid answer")


def client_ssl_context() -> ssl.SSLContext:
    """The system trust store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``), plus certifi's roots
    when installed: some Python builds (python.org on macOS) ship with an empty system store."""
    ctx = ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ctx
    ctx.load_verify_locations(certifi.where())
    return ctx


_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_HIGH_WATER = 1024 * 1024  # pause reading the upstream above this many buffered bytes
_LOW_WATER = 256 * 1024
_MAX_IDLE_PER_ORIGIN = 512
# Bytes given to the parser before the final headers are complete: a status line and all
# headers at their limits, with their line ends. Interim (1xx) answers count too.
_HEAD_BUDGET = MAX_LINE_SIZE + MAX_HEADER_BYTES + 4
# Bytes after the headers that make no progress in the parser (no body byte, no chunk):
# trailers or chunk extensions that httptools would otherwise keep collecting.
_STALL_BUDGET = MAX_HEADER_BYTES


class _Stale(Exception):
    """A reused connection closed before any response byte: safe to retry if idempotent."""


class _LimitPassed(Exception):
    """Raised inside a parser callback to stop parsing an answer past a named limit."""


class UpstreamResponse:
    """An upstream answer; the body is read on demand. Call :meth:`release` when done.

    ``headers`` are the upstream's header bytes decoded as UTF-8 (encoding them as UTF-8
    gives back exactly the bytes received); ``reason`` is sanitised.
    """

    __slots__ = (
        "_chunks",
        "_conn",
        "_done",
        "_exc",
        "_head_done",
        "_headers_waiter",
        "_raw",
        "_raw_bytes",
        "_raw_reason",
        "_req",
        "_sender",
        "_size",
        "_slot",
        "_waiter",
        "got_bytes",
        "headers",
        "keep_alive",
        "no_body",
        "reason",
        "status",
    )

    def __init__(self, conn: _Conn, req: UpstreamRequest, sender: UpstreamSender) -> None:
        self._conn = conn
        self._req = req
        self._sender = sender
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.no_body = req.method == "HEAD"
        self.got_bytes = False
        self._raw: list[tuple[bytes, bytes]] = []
        self._raw_bytes = 0
        self._raw_reason = b""
        self._head_done = False
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._headers_waiter: asyncio.Future[None] = conn.loop.create_future()
        self._slot: asyncio.Semaphore | None = None

    # -- fed by the connection -------------------------------------------------------------
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _headers_complete(self) -> None:
        self._head_done = True
        if not self._headers_waiter.done():
            self._headers_waiter.set_result(None)
        if self.no_body or self.status in (204, 304):
            self._message_complete()

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _HIGH_WATER:
            self._conn.pause()
        self._wake()

    def _message_complete(self) -> None:
        if self._done:
            return
        self._done = True
        self._wake()
        self._conn.resume()

    def _fail(self, exc: BaseException) -> None:
        if self._done:
            return
        self._exc = exc
        if not self._headers_waiter.done():
            self._headers_waiter.set_exception(exc)
            self._headers_waiter.exception()  # retrieved: no "never retrieved" warning
        self._wake()

    # -- public ----------------------------------------------------------------------------
    @property
    def content_length(self) -> int | None:
        """The upstream's Content-Length (llhttp refused the answer if it was not a number)."""
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == "content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def _wait(self, fut: asyncio.Future[None], in_body: bool) -> None:
        # The error is made only if the timer fires (most waits end well before).
        timer = self._conn.loop.call_later(self._sender.read_timeout, self._timeout, fut, in_body)
        try:
            await fut
        finally:
            timer.cancel()

    def _timeout(self, fut: asyncio.Future[None], in_body: bool) -> None:
        if not fut.done():
            make = body_timeout_error if in_body else answer_timeout_error
            fut.set_exception(make(self._req, self._sender.read_timeout))
        self._conn.close()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (chunked framing and trailers removed)."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._size -= len(chunk)
                if self._size < _LOW_WATER:
                    self._conn.resume()
                yield chunk
                continue
            if self._done:
                return
            if self._exc is not None:
                exc = self._exc
                raise exc if isinstance(exc, AtlasError) else body_broken_error(self._req)
            self._waiter = self._conn.loop.create_future()
            try:
                await self._wait(self._waiter, True)
            finally:
                self._waiter = None

    async def read(self) -> bytes:
        """The whole body (use only when it is known to be small)."""
        parts = [chunk async for chunk in self.iter_chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _free_slot(self) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.release()

    def release(self) -> None:
        """Give the connection back to the pool (closed instead unless the answer is complete
        and nothing else arrived)."""
        self._free_slot()
        conn = self._conn
        if conn.response is self:
            conn.response = None
        if self._done and self.keep_alive and not conn.closed and not conn.extra:
            self._sender._put_idle(conn)
        else:
            conn.close()

    def close(self) -> None:
        """Drop the connection (after an error mid-body, or when the body is not wanted)."""
        self._free_slot()
        self._conn.close()


def _close_delimited(resp: UpstreamResponse) -> bool:
    for name, value in resp.headers:
        low = name.lower()
        if low == "content-length" or (low == "transfer-encoding" and "chunked" in value.lower()):
            return False
    return True


class _Conn(asyncio.Protocol):
    """One upstream connection; its answers are parsed by httptools (llhttp)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str]) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.response: UpstreamResponse | None = None
        self.parser: Any = None
        self.closed = False
        self.reused = False
        self.extra = False
        self._head_fed = 0  # bytes given to the parser before the final headers
        self._stall = 0  # bytes after the headers that made no progress in the parser
        self._progress = 0
        self._limit: str | None = None
        self._paused = False
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.response
        if resp is None or resp._done:
            # Bytes nobody asked for (on an idle pooled connection, or after a complete
            # answer): the connection is out of step with its requests, never reuse it.
            self.extra = True
            self.close()
            return
        resp.got_bytes = True
        try:
            if not resp._head_done:
                room = _HEAD_BUDGET - self._head_fed
                if len(data) > room:
                    # Feed only what the limits allow; the rest only if the headers ended.
                    self._head_fed = _HEAD_BUDGET
                    self.parser.feed_data(data[:room])
                    if not resp._head_done:
                        self._limit = self._limit or (
                            f"more than {MAX_LINE_SIZE + MAX_HEADER_BYTES} bytes of status "
                            "line and headers"
                        )
                        raise _LimitPassed
                    data = data[room:]
                else:
                    self._head_fed += len(data)
                    self.parser.feed_data(data)
                    return
            progress = self._progress
            self.parser.feed_data(data)
            if self._progress != progress:
                self._stall = 0
            else:
                self._stall += len(data)
                if self._stall > _STALL_BUDGET and not resp._done:
                    self._limit = f"more than {_STALL_BUDGET} bytes of trailers or chunk framing"
                    raise _LimitPassed
        except Exception as exc:  # httptools.HttpParserError, or a limit passed in a callback
            # httptools keeps a callback's own exception as the context of its error.
            inner = exc.__context__
            if isinstance(inner, AtlasError):
                resp._fail(inner)
            else:
                detail = self._limit or "malformed status line, headers or framing"
                resp._fail(invalid_answer_error(resp._req, detail))
            self.extra = True
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self.response
        if resp is not None and not resp._done:
            if resp._head_done and resp.status >= 200 and _close_delimited(resp):
                # No Content-Length, not chunked: the body ends when the connection does.
                resp.keep_alive = False
                resp._message_complete()
            else:
                resp._fail(_Stale() if not resp.got_bytes else ConnectionResetError())
        if self._drain is not None and not self._drain.done():
            self._drain.set_exception(ConnectionResetError())
            self._drain.exception()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def drain(self, req: UpstreamRequest, timeout: float) -> None:
        if self.closed:
            raise ConnectionResetError()
        if self._write_paused:
            self._drain = self.loop.create_future()
            try:
                await asyncio.wait_for(self._drain, timeout)
            except asyncio.TimeoutError:
                self.close()
                raise UpstreamTimeoutError(
                    f"{where(req)} did not take the request body for {timeout:g} s",
                    hint="the upstream is slow or stuck; retry later or raise --read-timeout",
                ) from None

    # httptools callbacks (only while a response is being read: see data_received)
    def on_status(self, status: bytes) -> None:
        resp = self.response
        assert resp is not None
        # llhttp reports the phrase in pieces when it spans reads.
        raw = resp._raw_reason + status if resp._raw_reason else status
        if len(raw) > MAX_LINE_SIZE:
            self._limit = f"a status line longer than {MAX_LINE_SIZE} bytes"
            raise _LimitPassed
        resp._raw_reason = raw

    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self.response
        assert resp is not None
        if resp._head_done:
            return  # a chunked trailer: dropped, never merged into the headers
        size = len(name) + len(value) + 4  # name, ": ", value, CRLF
        if size > MAX_FIELD_SIZE:
            self._limit = f"a header line longer than {MAX_FIELD_SIZE} bytes"
            raise _LimitPassed
        resp._raw_bytes += size
        if resp._raw_bytes > MAX_HEADER_BYTES:
            self._limit = f"more than {MAX_HEADER_BYTES} bytes of headers"
            raise _LimitPassed
        raw = resp._raw
        if len(raw) >= MAX_HEADERS:
            self._limit = f"more than {MAX_HEADERS} headers"
            raise _LimitPassed
        raw.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.response
        assert resp is not None
        if resp._head_done:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): wait for the real one.
            resp._raw = []
            resp._raw_bytes = 0
            resp._raw_reason = b""
            return
        resp.status = status
        resp.keep_alive = bool(self.parser.should_keep_alive())
        resp.reason = reason_phrase(status, resp._raw_reason.decode("latin-1"))
        # Non-UTF-8 header bytes raise here: the answer is refused (502) and closed.
        resp.headers = decode_header_bytes(resp._raw, resp._req)
        resp._headers_complete()

    def on_body(self, body: bytes) -> None:
        self._progress += 1
        resp = self.response
        assert resp is not None
        if resp._done:
            # Past a complete answer (a body after a HEAD answer): out of step.
            self.extra = True
        else:
            resp._feed(body)

    def on_chunk_header(self) -> None:
        self._progress += 1

    def on_message_complete(self) -> None:
        self._progress += 1
        resp = self.response
        assert resp is not None
        if resp._head_done:
            resp._message_complete()

    # pool side
    def start(self, resp: UpstreamResponse) -> None:
        import httptools

        self.response = resp
        self.parser = httptools.HttpResponseParser(self)
        self._head_fed = self._stall = 0
        self._limit = None

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class UpstreamSender:
    """Pooled HTTP/1.1 client for every upstream, bound lazily to the running loop.

    ``max_connections`` caps the requests in flight per upstream origin; more wait for a
    free connection (up to ``connect_timeout``, then 504).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_connections: int = 256,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        # Requests in flight per origin (so also connections in use); more wait their turn.
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._idle: dict[tuple[str, str], deque[_Conn]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._origins: dict[tuple[str, str], tuple[str, int]] = {}

    def _put_idle(self, conn: _Conn) -> None:
        conn.parser = None
        conn.reused = True
        idle = self._idle.setdefault(conn.key, deque())
        if len(idle) >= _MAX_IDLE_PER_ORIGIN or conn.loop is not self._loop:
            conn.close()
            return
        idle.append(conn)

    def _origin(self, key: tuple[str, str]) -> tuple[str, int]:
        origin = self._origins.get(key)
        if origin is None:
            parts = urlsplit(f"{key[0]}://{key[1]}")
            host = parts.hostname or ""
            port = parts.port or (443 if key[0] == "https" else 80)
            origin = self._origins[key] = (host, port)
        return origin

    async def _connect(self, req: UpstreamRequest, key: tuple[str, str]) -> _Conn:
        loop = asyncio.get_running_loop()
        host, port = self._origin(key)
        ssl_ctx: ssl.SSLContext | None = None
        if key[0] == "https":
            if self._ssl is None:
                self._ssl = client_ssl_context()
            ssl_ctx = self._ssl
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Conn(loop, key),
                    host,
                    port,
                    ssl=ssl_ctx,
                    server_hostname=host if ssl_ctx else None,
                ),
                self.connect_timeout,
            )
        except asyncio.TimeoutError:
            raise connect_timeout_error(req, self.connect_timeout) from None
        except ssl.SSLCertVerificationError:
            raise certificate_error(req) from None
        except OSError as exc:
            raise connect_error(req, exc.strerror) from None
        return proto

    def _acquire_idle(self, key: tuple[str, str]) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    async def send(
        self,
        req: UpstreamRequest,
        body: bytes | AsyncIterable[bytes] | None = None,
        *,
        content_length: int | None = None,
    ) -> UpstreamResponse:
        """Send ``req`` with ``body``; return once the status line and headers arrived.

        A streamed ``body`` with a known ``content_length`` is sent with that
        Content-Length; without one it is sent chunked.
        """
        check_header_bytes(req.headers)  # 400 for what cannot go out byte for byte
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections belong to their loop: start a fresh pool in a new one.
            self._idle = {}
            self._slots = {}
            self._loop = loop
        scheme, _, rest = req.url.partition("://")
        netloc, slash, path = rest.partition("/")
        netloc, qmark, query = netloc.partition("?")
        if qmark:  # "https://host?x=1": no path, a query
            target = "/?" + query
        else:
            target = "/" + path if slash else "/"
        key = (scheme, netloc)
        head = [f"{req.method} {target} HTTP/1.1\r\nHost: {netloc}\r\n"]
        for name, value in req.headers:
            head.append(f"{name}: {value}\r\n")
        streamed = body is not None and not isinstance(body, bytes)
        if isinstance(body, bytes):
            head.append(f"Content-Length: {len(body)}\r\n")
        elif streamed:
            if content_length is not None:
                head.append(f"Content-Length: {content_length}\r\n")
            else:
                head.append("Transfer-Encoding: chunked\r\n")
        elif req.method in ("POST", "PUT", "PATCH"):
            head.append("Content-Length: 0\r\n")
        head.append("\r\n")
        text = "".join(head)
        lines = len(head) + 1  # the first piece holds the request line and Host
        if text.count("\n") != lines or text.count("\r") != lines:
            # Defence in depth: headers were checked above, but a CR/LF in the method or
            # target would let it smuggle headers or a second request.
            raise BadPathError("refused request: a line break in the request line")
        head_bytes = text.encode("utf-8")  # header text is UTF-8 (checked): bytes unchanged
        replayable = not streamed and req.method in _IDEMPOTENT
        slot = await self._acquire_slot(key, req)
        try:
            resp = await self._send_on_pool(req, key, head_bytes, body, replayable, content_length)
        except BaseException:
            slot.release()
            raise
        resp._slot = slot
        return resp

    async def _acquire_slot(self, key: tuple[str, str], req: UpstreamRequest) -> asyncio.Semaphore:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.max_connections)
        if not slot.locked():
            await slot.acquire()  # free: no wait, no timer
            return slot
        try:
            await asyncio.wait_for(slot.acquire(), self.connect_timeout)
        except asyncio.TimeoutError:
            raise connect_timeout_error(req, self.connect_timeout) from None
        return slot

    async def _send_on_pool(
        self,
        req: UpstreamRequest,
        key: tuple[str, str],
        head_bytes: bytes,
        body: bytes | AsyncIterable[bytes] | None,
        replayable: bool,
        content_length: int | None,
    ) -> UpstreamResponse:
        for attempt in (0, 1):
            conn = self._acquire_idle(key) if attempt == 0 else None
            if conn is None:
                conn = await self._connect(req, key)
            resp = UpstreamResponse(conn, req, self)
            conn.start(resp)
            transport = conn.transport
            assert transport is not None
            try:
                if isinstance(body, bytes) or body is None:
                    if body:
                        transport.writelines((head_bytes, body))
                    else:
                        transport.write(head_bytes)
                else:
                    transport.write(head_bytes)
                    await self._write_stream(conn, req, body, chunked=content_length is None)
                await resp._wait(resp._headers_waiter, False)
            except _Stale:
                conn.close()
                if conn.reused and replayable and attempt == 0:
                    continue
                raise no_answer_error(req) from None
            except OSError:  # ConnectionResetError and friends
                conn.close()
                raise no_answer_error(req) from None
            except BaseException:
                conn.close()
                raise
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write_stream(
        self, conn: _Conn, req: UpstreamRequest, body: AsyncIterable[bytes], *, chunked: bool
    ) -> None:
        transport = conn.transport
        assert transport is not None
        async for chunk in body:
            if not chunk:
                continue
            if conn.closed:
                raise ConnectionResetError()
            if chunked:
                transport.writelines((b"%x\r\n" % len(chunk), chunk, b"\r\n"))
            else:
                transport.write(chunk)
            await conn.drain(req, self.read_timeout)
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle = {}
