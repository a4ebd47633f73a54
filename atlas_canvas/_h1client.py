"""A lean pooled HTTP/1.1 upstream client: asyncio protocols + the ``httptools`` (llhttp) parser.

It exists for speed: per proxied request it costs a fraction of ``aiohttp.ClientSession``'s
Python overhead (measured in ``benchmarks/README.md``), and it has exactly the behaviour the
proxy needs and nothing else: no redirects, no cookies, no decompression, no automatic
headers but ``Host`` and the body framing, bytes on the wire exactly as validated by the
routing core. It has the same interface as :class:`~atlas_canvas._upstream.AiohttpSender`.

Example::

    sender = H1Sender(connect_timeout=5, read_timeout=30)
    resp = await sender.send(router.prepare("GET", path, query, headers))
    try:
        async for chunk in resp.iter_chunks():
            ...
    finally:
        resp.release()

Retries: a request is re-sent only when it is idempotent (GET, HEAD, OPTIONS, PUT, DELETE,
TRACE), its body is in memory, it went out on a *reused* keep-alive connection and that
connection died before a single response byte came back (the upstream had closed it while
idle; RFC 9112 §9.3.1). POST and PATCH are never re-sent.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from ._errors import AtlasError, BadPathError, UpstreamTimeoutError, UpstreamUnreachableError
from ._routing import UpstreamRequest

__all__ = ["H1Response", "H1Sender"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_HIGH_WATER = 1024 * 1024  # pause reading the upstream above this many buffered bytes
_LOW_WATER = 256 * 1024
_MAX_IDLE_PER_ORIGIN = 512


class _Stale(Exception):
    """A reused connection died before any response byte: safe to retry if idempotent."""


class H1Response:
    """An upstream answer; the body is read on demand. Call :meth:`release` when done."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_done",
        "_exc",
        "_headers_waiter",
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

    def __init__(self, conn: _Conn, req: UpstreamRequest, sender: H1Sender) -> None:
        self._conn = conn
        self._req = req
        self._sender = sender
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = False
        self.no_body = req.method == "HEAD"
        self.got_bytes = False
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._done = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._headers_waiter: asyncio.Future[None] = conn.loop.create_future()
        self._slot: asyncio.Semaphore | None = None

    # -- fed by the protocol -------------------------------------------------------------
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _headers_complete(self) -> None:
        if not self._headers_waiter.done():
            self._headers_waiter.set_result(None)
        if self.no_body or self.status in (204, 304) or 100 <= self.status < 200:
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
        self._conn.message_done()

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
        for name, value in self.headers:
            if name.lower() == "content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def _wait(self, fut: asyncio.Future[None]) -> None:
        loop = self._conn.loop
        timer = loop.call_later(self._sender.read_timeout, self._timeout, fut)
        try:
            await fut
        finally:
            timer.cancel()

    def _timeout(self, fut: asyncio.Future[None]) -> None:
        if not fut.done():
            fut.set_exception(
                UpstreamTimeoutError(
                    f"{_where(self._req)} did not answer within {self._sender.read_timeout:g} s",
                    hint="the upstream is slow or stuck; retry later or raise --read-timeout",
                )
            )
        self._conn.close()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
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
                raise _body_error(self._exc, self._req)
            self._waiter = self._conn.loop.create_future()
            try:
                await self._wait(self._waiter)
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
        """Give the connection back to the pool (closed instead if the body was not read)."""
        self._free_slot()
        conn = self._conn
        if conn.response is self:
            conn.response = None
        if self._done and self.keep_alive and not conn.closed and not conn.extra:
            self._sender._put_idle(conn)
        else:
            conn.close()

    def close(self) -> None:
        self._free_slot()
        self._conn.close()


def _where(req: UpstreamRequest) -> str:
    scheme, _, rest = req.url.partition("://")
    netloc = rest.split("/", 1)[0].split("?", 1)[0]
    return f"adapter '{req.adapter}' ({scheme}://{netloc})"


def _close_delimited(resp: H1Response) -> bool:
    for name, value in resp.headers:
        low = name.lower()
        if low == "content-length" or (low == "transfer-encoding" and "chunked" in value.lower()):
            return False
    return True


def _body_error(exc: BaseException, req: UpstreamRequest) -> AtlasError:
    if isinstance(exc, AtlasError):
        return exc
    return UpstreamUnreachableError(
        f"{_where(req)} broke the connection while sending the response body"
    )


class _Conn(asyncio.Protocol):
    """One upstream connection; parses responses with httptools."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str]) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.response: H1Response | None = None
        self.parser: Any = None
        self.closed = False
        self.reused = False
        self.extra = False
        self._paused = False
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._name = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        resp = self.response
        if resp is None or self.parser is None:
            self.close()  # bytes nobody asked for: the connection is not trustworthy
            return
        resp.got_bytes = True
        try:
            self.parser.feed_data(data)
        except Exception:  # httptools.HttpParserError and friends: a broken answer
            resp._fail(UpstreamUnreachableError(f"{_where(resp._req)} sent an invalid HTTP answer"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        resp = self.response
        if resp is not None and not resp._done:
            if resp._headers_waiter.done() and resp.status >= 200 and _close_delimited(resp):
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

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError()
        if self._write_paused:
            self._drain = self.loop.create_future()
            await self._drain

    # httptools callbacks
    def _current(self) -> H1Response | None:
        resp = self.response
        if resp is None or resp._done:
            # Bytes after the complete answer (a second response nobody asked for): never
            # mix them into this one, and never reuse the connection.
            self.extra = True
            return None
        return resp

    def on_status(self, status: bytes) -> None:
        resp = self._current()
        if resp is not None:
            resp.reason = status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        resp = self._current()
        if resp is not None:
            resp.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        resp = self._current()
        if resp is None:
            return
        resp.status = self.parser.get_status_code()
        resp.keep_alive = bool(self.parser.should_keep_alive())
        if 100 <= resp.status < 200 and resp.status != 101:
            # An interim answer (100 Continue, 103 Early Hints): wait for the real one.
            resp.headers = []
            return
        resp._headers_complete()

    def on_body(self, body: bytes) -> None:
        resp = self._current()
        if resp is not None and not resp.no_body:
            resp._feed(body)

    def on_message_complete(self) -> None:
        resp = self._current()
        if resp is not None and resp.status >= 200:
            resp._message_complete()

    # pool side
    def start(self, resp: H1Response) -> None:
        import httptools

        self.response = resp
        self.parser = httptools.HttpResponseParser(self)

    def message_done(self) -> None:
        self.resume()

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


def _client_ssl_context() -> ssl.SSLContext:
    """The system trust store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``), plus certifi's roots
    when installed: some Python builds (python.org on macOS) ship with an empty system store."""
    ctx = ssl.create_default_context()
    try:
        import certifi
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ctx
    ctx.load_verify_locations(certifi.where())
    return ctx


class H1Sender:
    """Pooled HTTP/1.1 client for every upstream, bound lazily to the running loop."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_connections_per_origin: int = 256,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections_per_origin = max_connections_per_origin
        # Requests in flight per origin (so also connections in use); more wait their turn.
        self._slots: dict[tuple[str, str], asyncio.Semaphore] = {}
        self._idle: dict[tuple[str, str], deque[_Conn]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ssl: ssl.SSLContext | None = None
        self._origins: dict[tuple[str, str], tuple[str, int, str]] = {}

    def _put_idle(self, conn: _Conn) -> None:
        conn.parser = None
        conn.reused = True
        idle = self._idle.setdefault(conn.key, deque())
        if len(idle) >= _MAX_IDLE_PER_ORIGIN or conn.loop is not self._loop:
            conn.close()
            return
        idle.append(conn)

    def _origin(self, key: tuple[str, str]) -> tuple[str, int, str]:
        origin = self._origins.get(key)
        if origin is None:
            parts = urlsplit(f"{key[0]}://{key[1]}")
            host = parts.hostname or ""
            port = parts.port or (443 if key[0] == "https" else 80)
            origin = self._origins[key] = (host, port, key[1])
        return origin

    async def _connect(self, req: UpstreamRequest, key: tuple[str, str]) -> _Conn:
        loop = asyncio.get_running_loop()
        host, port, _ = self._origin(key)
        ssl_ctx: ssl.SSLContext | None = None
        if key[0] == "https":
            if self._ssl is None:
                self._ssl = _client_ssl_context()
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
            raise UpstreamTimeoutError(
                f"{_where(req)} did not accept a connection within {self.connect_timeout:g} s"
            ) from None
        except ssl.SSLCertVerificationError:
            raise UpstreamUnreachableError(
                f"{_where(req)}: the TLS certificate could not be verified"
            ) from None
        except OSError as exc:
            raise UpstreamUnreachableError(
                f"cannot connect to {_where(req)}: {exc.strerror or 'connection failed'}",
                hint="check that the upstream is running and the adapter's baseUrl",
            ) from None
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
    ) -> H1Response:
        """Send ``req``; return once the status line and headers arrived."""
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
            # Defence in depth (the front doors' parsers already refuse these): a CR/LF
            # inside a header would let a value smuggle headers or a second request.
            raise BadPathError("refused request: a header holds a line break")
        head_bytes = text.encode("latin-1", "strict")
        replayable = not streamed and req.method in _IDEMPOTENT
        slot = await self._acquire_slot(key, req)
        try:
            resp = await self._send_on_pool(
                req, key, head_bytes, body, streamed, replayable, content_length
            )
        except BaseException:
            slot.release()
            raise
        resp._slot = slot
        return resp

    async def _acquire_slot(self, key: tuple[str, str], req: UpstreamRequest) -> asyncio.Semaphore:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self.max_connections_per_origin)
        if not slot.locked():
            await slot.acquire()  # free: no wait, no timer
            return slot
        try:
            await asyncio.wait_for(slot.acquire(), self.connect_timeout)
        except asyncio.TimeoutError:
            raise UpstreamTimeoutError(
                f"{_where(req)}: all {self.max_connections_per_origin} connections stayed busy "
                f"for {self.connect_timeout:g} s",
                hint="the upstream is slow or the proxy is flooded; retry later",
            ) from None
        return slot

    async def _send_on_pool(
        self,
        req: UpstreamRequest,
        key: tuple[str, str],
        head_bytes: bytes,
        body: bytes | AsyncIterable[bytes] | None,
        streamed: bool,
        replayable: bool,
        content_length: int | None,
    ) -> H1Response:
        for attempt in (0, 1):
            conn = self._acquire_idle(key) if attempt == 0 else None
            if conn is None:
                conn = await self._connect(req, key)
            resp = H1Response(conn, req, self)
            conn.start(resp)
            transport = conn.transport
            assert transport is not None
            try:
                if isinstance(body, bytes) and body:
                    transport.writelines((head_bytes, body))
                else:
                    transport.write(head_bytes)
                if streamed:
                    await self._write_stream(conn, body, chunked=content_length is None)  # type: ignore[arg-type]
                await resp._wait(resp._headers_waiter)
            except _Stale:
                conn.close()
                if conn.reused and replayable and attempt == 0:
                    continue
                raise UpstreamUnreachableError(
                    f"{_where(req)} closed the connection without an answer"
                ) from None
            except (ConnectionError, OSError):
                conn.close()
                raise UpstreamUnreachableError(
                    f"{_where(req)} closed the connection without a valid answer"
                ) from None
            except BaseException:
                conn.close()
                raise
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _write_stream(
        self, conn: _Conn, body: AsyncIterable[bytes], *, chunked: bool
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
            await conn.drain()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle = {}
