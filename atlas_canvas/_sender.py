"""How a request leaves a server process: the one upstream sender (aiohttp's client).

Both servers (``mom atlas run`` and the Jupyter extension's proxy route) send every upstream
request through :class:`UpstreamSender`; the in-process transport is the only other path
out. Its public side is framework-neutral (plain tuples, bytes and async iterators), so the
routing core and the front doors never see an aiohttp type.

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

Why aiohttp's client (measured in ``benchmarks/README.md``): its llhttp parser is hardened
and bounded, it keeps header bytes and the URL exactly as given, and it runs on the event
loop the servers already use. The hand-written HTTP/1.1 client it replaced was faster but
was framing code of our own, a security surface.

Limits on what an upstream may send (each a named constant, nginx/aiohttp-like defaults):

* :data:`MAX_LINE_SIZE` for the status line, :data:`MAX_FIELD_SIZE` for each header line,
  :data:`MAX_HEADERS` header lines, :data:`MAX_HEADER_BYTES` for all headers together. An
  upstream past any of them gets no more reads: the connection is closed and the caller gets
  502 ``ATLAS_UpstreamUnreachableError`` naming the limit;
* a connection goes back to the pool only when its response was read to the end and nothing
  else arrived; bytes nobody asked for (a second response, a body after a HEAD answer) close
  it before anyone can reuse it;
* chunked trailers are dropped (never merged into the headers); a reason phrase with control
  characters is replaced by the standard one for the status;
* a header value that is not valid UTF-8 cannot be passed on byte for byte, so it is refused:
  400 :class:`BadHeaderError` on the way in, 502 on the way out.

Timeouts: ``connect_timeout`` bounds the TCP/TLS connect (and the wait for a free slot when
``max_connections`` are in flight), ``read_timeout`` every wait for upstream bytes. Both
raise :class:`UpstreamTimeoutError` (504, ``API_InstanceRequestTimeoutError``); a refused or
broken connection raises :class:`UpstreamUnreachableError` (502). Requests are never
retried by us; aiohttp re-sends an *idempotent* request once when a reused keep-alive
connection turns out closed before any answer, as RFC 9112 §9.3.1 allows, never a POST or
PATCH. Response bodies pass through raw (no decompression), so ``Content-Encoding`` and
``Content-Length`` stay true.
"""

from __future__ import annotations

import asyncio
import http
import itertools
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import (
    AtlasError,
    BadHeaderError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from ._routing import UpstreamRequest

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

__all__ = [
    "MAX_FIELD_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_LINE_SIZE",
    "Sender",
    "SenderResponse",
    "UpstreamResponse",
    "UpstreamSender",
    "check_header_bytes",
    "client_ssl_context",
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

_CHUNK = 64 * 1024
# aiohttp adds these unless told not to; the caller's own values (if any) are forwarded.
_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})
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


def _reason(status: int, raw: str | None) -> str:
    if raw and (
        (raw.isascii() and raw.isprintable())  # the usual case, one C call
        or all(ord(c) in _REASON_OK for c in raw)
    ):
        return raw
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


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


class UpstreamResponse:
    """An upstream answer whose body is read on demand. Call :meth:`release` when done.

    ``headers`` are the upstream's header bytes decoded as UTF-8, so encoding them as UTF-8
    gives back exactly the bytes received.
    """

    def __init__(self, resp: aiohttp.ClientResponse, req: UpstreamRequest, read_timeout: float):
        self._resp = resp
        self._req = req
        self._read_timeout = read_timeout
        self.status: int = resp.status
        self.reason: str = _reason(resp.status, resp.reason)
        raw = resp.raw_headers
        try:
            headers = [(name.decode("utf-8"), value.decode("utf-8")) for name, value in raw]
        except UnicodeDecodeError:
            resp.close()
            bad = next(n for n, v in raw if not _is_utf8(n) or not _is_utf8(v))
            raise UpstreamUnreachableError(
                f"{where(req)} sent header {_shown(bad.decode('latin-1'))} with bytes that "
                "are not valid UTF-8, which cannot be passed on unchanged",
                hint="fix the upstream's response headers",
            ) from None
        # Name, ": ", value and CRLF of each line (aiohttp bounds each line and the count).
        total = sum(map(len, itertools.chain.from_iterable(raw))) + 4 * len(raw)
        if total > MAX_HEADER_BYTES:
            resp.close()
            raise UpstreamUnreachableError(
                f"{where(req)} sent {total} bytes of response headers, more than the limit of "
                f"{MAX_HEADER_BYTES}",
                hint="the upstream is misbehaving; the connection was closed",
            )
        self.headers = headers

    @property
    def content_length(self) -> int | None:
        return self._resp.content_length

    def _map(self, exc: BaseException) -> AtlasError:
        import aiohttp

        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return UpstreamTimeoutError(
                f"{where(self._req)} stopped sending the response body for {self._read_timeout:g} s"
            )
        return UpstreamUnreachableError(
            f"{where(self._req)} broke the connection while sending the response body"
        )

    async def read(self) -> bytes:
        """The whole body (use only when its size is known to be small)."""
        import aiohttp

        try:
            return await self._resp.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise self._map(exc) from None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in chunks of at most 64 KiB (trailers are dropped)."""
        import aiohttp

        try:
            async for chunk in self._resp.content.iter_chunked(_CHUNK):
                yield chunk
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise self._map(exc) from None

    def release(self) -> None:
        """Return the connection to the pool (or close it if the body was not read)."""
        self._resp.release()

    def close(self) -> None:
        """Drop the connection (after an error mid-body, or when the body is not wanted)."""
        self._resp.close()


def _connector_class() -> type[aiohttp.TCPConnector]:
    import aiohttp

    class CheckedConnector(aiohttp.TCPConnector):
        """A pool that never hands out a connection holding bytes nobody asked for.

        aiohttp parses whatever arrives on an idle keep-alive connection (a stray second
        response, a body after a HEAD answer) and would give it to the next request as its
        response. ``should_close`` is true for such a connection: close it instead.
        (``_get`` is aiohttp's internal pool lookup; tests/test_sender.py and
        tests/integration/test_hostile_upstream.py fail if this stops working.)
        """

        async def _get(self, key: Any, traces: list[Any]) -> Any:
            while True:
                conn = await super()._get(key, traces)
                if conn is None:
                    return None
                proto = conn.protocol
                if proto is None or not proto.should_close:
                    return conn
                conn.close()

    return CheckedConnector


class UpstreamSender:
    """One pooled aiohttp client for every upstream, created lazily in the running loop.

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
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Classes looked up once (the imports stay lazy: `import atlas_canvas` is cheap).
        self._URL: Any = None
        self._CIMultiDict: Any = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp
        import multidict
        import yarl

        self._URL, self._CIMultiDict = yarl.URL, multidict.CIMultiDict
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = _connector_class()(
                limit=0,
                limit_per_host=self.max_connections,
                ttl_dns_cache=300,
                ssl=self._ssl_context(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=self.connect_timeout,  # includes the wait for a free connection
                    sock_connect=self.connect_timeout,
                    sock_read=self.read_timeout,
                ),
                skip_auto_headers=_SKIP_AUTO,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                max_line_size=MAX_LINE_SIZE,
                max_field_size=MAX_FIELD_SIZE,
                max_headers=MAX_HEADERS,
            )
            self._loop = loop
        return self._session

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = client_ssl_context()
        return self._ssl

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
        import aiohttp  # cached after the first request: a dict lookup

        check_header_bytes(req.headers)
        session = self._session
        if session is None or self._loop is not asyncio.get_running_loop() or session.closed:
            session = self._get_session()
        headers = self._CIMultiDict(req.headers)  # repeated caller headers kept as they came
        if content_length is not None and body is not None and not isinstance(body, bytes):
            headers["Content-Length"] = str(content_length)
        try:
            resp = await session.request(
                req.method,
                # encoded=True: the path and query go out byte for byte as validated.
                self._URL(req.url, encoded=True),
                headers=headers,
                data=body,
                allow_redirects=False,
                compress=None,
            )
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamTimeoutError(
                f"{where(req)} did not accept a connection within {self.connect_timeout:g} s",
                hint="the upstream is down or all connections to it stayed busy; retry later",
            ) from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeoutError(
                f"{where(req)} did not answer within {self.read_timeout:g} s",
                hint="the upstream is slow or stuck; retry later or raise --read-timeout",
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise UpstreamUnreachableError(
                f"{where(req)}: the TLS certificate could not be verified"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error else "connection failed"
            raise UpstreamUnreachableError(
                f"cannot connect to {where(req)}: {reason}",
                hint="check that the upstream is running and the adapter's baseUrl",
            ) from None
        except aiohttp.ClientResponseError as exc:
            # The parser refused the answer (a limit above, or broken framing).
            raise UpstreamUnreachableError(
                f"{where(req)} sent an invalid HTTP answer ({_limit_hint(exc)}); "
                "the connection was closed",
            ) from None
        except aiohttp.ClientError:
            raise UpstreamUnreachableError(
                f"{where(req)} closed the connection without a valid answer"
            ) from None
        return UpstreamResponse(resp, req, self.read_timeout)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _limit_hint(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).lower()
    if "too long" in text:
        return f"a status or header line longer than {MAX_FIELD_SIZE} bytes"
    if "too many headers" in text:
        return f"more than {MAX_HEADERS} headers"
    return "malformed status line, headers or framing"
