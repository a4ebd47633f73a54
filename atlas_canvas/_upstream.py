"""The upstream sender of the Atlas server: one pooled aiohttp client, errors mapped to Atlas.

Framework-neutral on its public side (plain tuples, bytes and async iterators), so any
asyncio front door can use it: the standalone server and the Jupyter server extension.

Example::

    sender = AiohttpSender(connect_timeout=5, read_timeout=30)
    up = router.prepare("GET", "/v1/apis/http/pagerduty/incidents", "", [])
    resp = await sender.send(up)
    try:
        print(resp.status, resp.headers)
        async for chunk in resp.iter_chunks():
            ...
    finally:
        resp.release()
    await sender.aclose()

Timeouts: ``connect_timeout`` bounds the TCP/TLS connect, ``read_timeout`` every wait for
upstream bytes (headers and each body chunk). Both raise :class:`UpstreamTimeoutError`
(504, ``API_InstanceRequestTimeoutError``); a refused or reset connection raises
:class:`UpstreamUnreachableError` (502). The sender never retries POST/PATCH (nor any
non-idempotent method); aiohttp may re-send an *idempotent* request once when a reused
keep-alive connection turns out closed before any answer, as RFC 9112 §9.3.1 allows.
Response bodies are passed through raw (``auto_decompress=False``), so ``Content-Encoding``
and ``Content-Length`` stay true.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from ._errors import UpstreamTimeoutError, UpstreamUnreachableError
from ._routing import UpstreamRequest

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

__all__ = ["AiohttpSender", "Sender", "SenderResponse", "UpstreamResponse"]


class SenderResponse(Protocol):
    """What a sender's ``send`` returns (``UpstreamResponse``, ``H1Response``)."""

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
    """An upstream client: :class:`AiohttpSender` or :class:`~._h1client.H1Sender`."""

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


_CHUNK = 64 * 1024
# aiohttp adds these unless told not to; the caller's own values (if any) are forwarded.
_SKIP_AUTO = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


def _where(req: UpstreamRequest) -> str:
    parts = urlsplit(req.url)
    return f"adapter '{req.adapter}' ({parts.scheme}://{parts.netloc})"


class UpstreamResponse:
    """An upstream answer whose body is read on demand. Call :meth:`release` when done."""

    def __init__(self, resp: aiohttp.ClientResponse, req: UpstreamRequest, read_timeout: float):
        self._resp = resp
        self._req = req
        self._read_timeout = read_timeout
        self.status: int = resp.status
        self.reason: str = resp.reason or ""
        self.headers: list[tuple[str, str]] = [
            (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
        ]

    @property
    def content_length(self) -> int | None:
        return self._resp.content_length

    def _map(self, exc: BaseException) -> Exception:
        import aiohttp

        if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return UpstreamTimeoutError(
                f"{_where(self._req)} stopped sending the response body for "
                f"{self._read_timeout:g} s"
            )
        return UpstreamUnreachableError(
            f"{_where(self._req)} broke the connection while sending the response body"
        )

    async def read(self) -> bytes:
        """The whole body (use only when its size is known to be small)."""
        import aiohttp

        try:
            return await self._resp.read()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise self._map(exc) from None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, in chunks of at most 64 KiB."""
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
        """Drop the connection (after an error mid-body)."""
        self._resp.close()


class AiohttpSender:
    """One pooled aiohttp client for every upstream, created lazily in the running loop."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        limit: int = 1024,
        limit_per_host: int = 0,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                ttl_dns_cache=300,
                enable_cleanup_closed=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=None,
                    sock_connect=self.connect_timeout,
                    sock_read=self.read_timeout,
                ),
                skip_auto_headers=_SKIP_AUTO,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._loop = loop
        return self._session

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
        import aiohttp
        import yarl

        session = self._get_session()
        headers = list(req.headers)
        if content_length is not None and not isinstance(body, bytes) and body is not None:
            headers.append(("Content-Length", str(content_length)))
        try:
            resp = await session.request(
                req.method,
                # encoded=True: the path and query go out byte-for-byte as validated.
                yarl.URL(req.url, encoded=True),
                headers=_multidict(headers),
                data=body,
                allow_redirects=False,
                compress=None,
                ssl=self._ssl_context(),
            )
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamTimeoutError(
                f"{_where(req)} did not accept a connection within {self.connect_timeout:g} s"
            ) from None
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeoutError(
                f"{_where(req)} did not answer within {self.read_timeout:g} s",
                hint="the upstream is slow or stuck; retry later or raise --read-timeout",
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise UpstreamUnreachableError(
                f"{_where(req)}: the TLS certificate could not be verified"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error else "connection failed"
            raise UpstreamUnreachableError(
                f"cannot connect to {_where(req)}: {reason}",
                hint="check that the upstream is running and the adapter's baseUrl",
            ) from None
        except aiohttp.ClientError:
            raise UpstreamUnreachableError(
                f"{_where(req)} closed the connection without a valid answer"
            ) from None
        return UpstreamResponse(resp, req, self.read_timeout)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            from ._h1client import _client_ssl_context

            self._ssl = _client_ssl_context()
        return self._ssl

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


def _multidict(items: list[tuple[str, str]]) -> Any:
    # A multidict keeps repeated caller headers (e.g. two Accept lines) as they came.
    from multidict import CIMultiDict

    return CIMultiDict(items)
