"""The upstream sender (HTTP/1.1 on httptools' llhttp, hardened) against raw-socket servers
with odd but legal (and some illegal) answers. Each server answers from a script of raw bytes.
The second half holds each limit and rule of issue 13 that a hand-written client could miss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from atlas_canvas._errors import UpstreamTimeoutError, UpstreamUnreachableError
from atlas_canvas._routing import UpstreamRequest
from atlas_canvas._sender import (
    MAX_FIELD_SIZE,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_LINE_SIZE,
    UpstreamSender,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_OPEN: list[UpstreamSender] = []


def Sender(**kw: float) -> UpstreamSender:
    """An UpstreamSender closed at the end of the test (an unclosed pool is a warning)."""
    sender = UpstreamSender(**kw)  # type: ignore[arg-type]
    _OPEN.append(sender)
    return sender


@pytest.fixture(autouse=True)
async def _close_senders() -> AsyncIterator[None]:
    yield
    while _OPEN:
        await _OPEN.pop().aclose()


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head + body


class Server:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.connections = 0
        self.url = ""
        self._server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> Server:
        async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


def _req(url: str, method: str = "GET", path: str = "/x") -> UpstreamRequest:
    return UpstreamRequest(
        method=method, url=url + path, headers=[("X-A", "1")], adapter="t", path=path
    )


async def _body(resp) -> bytes:  # type: ignore[no-untyped-def]
    out = await resp.read()
    resp.release()
    return out


async def test_keep_alive_reuse_and_exact_request_bytes() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await _read_request(reader))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-B: 2\r\n\r\nok")
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        for _ in range(3):
            resp = await sender.send(_req(srv.url, path="/a%20b/:id?s[]=1&s[]=2"))
            assert resp.status == 200 and ("X-B", "2") in resp.headers
            assert await _body(resp) == b"ok"
        resp = await sender.send(_req(srv.url, "POST"), b"\x00\x01binary")
        assert await _body(resp) == b"ok"
        await sender.aclose()
        assert srv.connections == 1  # one pooled connection for all four
    host = srv.url.split("://")[1]
    assert seen[0] == (
        f"GET /a%20b/:id?s[]=1&s[]=2 HTTP/1.1\r\nHost: {host}\r\nX-A: 1\r\n\r\n".encode()
    )
    assert seen[3].endswith(b"Content-Length: 8\r\n\r\n\x00\x01binary")


async def test_close_delimited_body_and_interim_100() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-C: 3\r\n\r\nall of")
        await writer.drain()
        writer.write(b" this until close")
        await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        resp = await sender.send(_req(srv.url))
        assert resp.status == 200 and resp.headers == [("X-C", "3")]
        assert await _body(resp) == b"all of this until close"
        await sender.aclose()


async def test_chunked_response_streams() -> None:
    gate = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await gate.wait()
        writer.write(b"4\r\nlast\r\n0\r\n\r\n")
        await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        resp = await sender.send(_req(srv.url))
        chunks = resp.iter_chunks()
        assert await chunks.__anext__() == b"first"
        gate.set()
        assert [c async for c in chunks] == [b"last"]
        resp.release()
        await sender.aclose()


async def test_head_response_does_not_wait_for_a_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            req = await _read_request(reader)
            if req.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nget")
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender(read_timeout=2)
        resp = await asyncio.wait_for(sender.send(_req(srv.url, "HEAD")), 3)
        assert resp.content_length == 1234
        assert await _body(resp) == b""
        resp = await sender.send(_req(srv.url))  # the same connection, still in sync
        assert await _body(resp) == b"get"
        assert srv.connections == 1
        await sender.aclose()


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"",
    ],
)
async def test_broken_answers_are_502(answer: bytes) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with Server(handler) as srv:
        sender = Sender(read_timeout=2)
        with pytest.raises(UpstreamUnreachableError):
            resp = await sender.send(_req(srv.url))
            await resp.read()
        await sender.aclose()


async def test_post_on_dead_connection_is_not_retried() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)  # then close without answering

    async with Server(handler) as srv:
        sender = Sender()
        with pytest.raises(UpstreamUnreachableError):
            await sender.send(_req(srv.url, "POST"), b"{}")
        assert srv.connections == 1
        await sender.aclose()


async def test_idempotent_request_retried_once_on_a_stale_reused_connection() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await _read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        # Keep-alive promised, but the next request on this connection is dropped unanswered.
        await _read_request(reader)

    async with Server(handler) as srv:
        sender = Sender()
        assert await _body(await sender.send(_req(srv.url))) == b"ok"
        # GET: the stale connection dies without a byte back; re-sent once on a new one.
        assert await _body(await sender.send(_req(srv.url))) == b"ok"
        assert srv.connections == 2
        # POST on the (again) stale connection: never re-sent.
        with pytest.raises(UpstreamUnreachableError):
            await sender.send(_req(srv.url, "POST"), b"{}")
        assert srv.connections == 2
        await sender.aclose()


async def test_read_timeout_and_connect_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    async with Server(handler) as srv:
        sender = Sender(read_timeout=0.2)
        with pytest.raises(UpstreamTimeoutError):
            await sender.send(_req(srv.url))
        await sender.aclose()
    from tests.conftest import free_port

    with pytest.raises(UpstreamUnreachableError) as info:
        await Sender().send(_req(f"http://127.0.0.1:{free_port()}"))
    assert "cannot connect to adapter 't'" in str(info.value)


async def test_streamed_upload_chunked_and_with_length() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"chunked" in head:
                data = b""
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    data += chunk[:-2]
            else:
                n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                data = await reader.readexactly(n)
            seen.append(data)
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

    async def gen() -> AsyncIterator[bytes]:
        for i in range(50):
            yield bytes([i]) * 10000

    async with Server(handler) as srv:
        sender = Sender()
        resp = await sender.send(_req(srv.url, "PUT"), gen())
        assert resp.status == 201
        resp.release()
        resp = await sender.send(_req(srv.url, "POST"), gen(), content_length=500000)
        assert resp.status == 201
        resp.release()
        await sender.aclose()
    expected = b"".join(bytes([i]) * 10000 for i in range(50))
    assert seen == [expected, expected]


@pytest.mark.parametrize(
    "headers",
    [[("X-A", "1\r\nX-Injected: 1")], [("X-A", "1\nGET / HTTP/1.1")], [("X-A\r\nX-B", "1")]],
)
async def test_header_line_breaks_never_reach_the_wire(headers: list[tuple[str, str]]) -> None:
    from atlas_canvas._errors import BadHeaderError

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise AssertionError("nothing may be sent")

    async with Server(handler) as srv:
        req = UpstreamRequest("GET", srv.url + "/x", headers, "t", "/x")
        with pytest.raises(BadHeaderError):
            await Sender().send(req)
        assert srv.connections == 0


async def test_https_upstream_verified_against_the_trust_store(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl
    from pathlib import Path

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecure")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        # Not trusted by the system store: refused, with a clear message.
        with pytest.raises(UpstreamUnreachableError) as info:
            await Sender().send(_req(url))
        assert "certificate" in str(info.value)
        # Trusted through SSL_CERT_FILE (how a corporate CA is added): verified and served.
        ca_file = Path(str(tmp_path)) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        sender = Sender()
        resp = await sender.send(_req(url))
        assert await _body(resp) == b"secure"
        await sender.aclose()
    finally:
        server.close()


async def test_an_unasked_second_response_is_never_mixed_in_or_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Evil: 1\r\n\r\nevil!"
            )
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        for _ in range(2):
            resp = await sender.send(_req(srv.url))
            body = await resp.read()
            assert body == b"ok" and ("X-Evil", "1") not in resp.headers
            resp.release()
        assert srv.connections == 2  # the first connection was not trusted again
        await sender.aclose()


async def test_requests_in_flight_per_origin_are_capped() -> None:
    in_flight = 0
    peak = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, peak
        while True:
            await _read_request(reader)
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.15)
            in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender(max_connections=2)

        async def one() -> bytes:
            return await _body(await sender.send(_req(srv.url)))

        assert await asyncio.gather(*(one() for _ in range(6))) == [b"ok"] * 6
        assert peak == 2 and srv.connections == 2
        # Waiting longer than the connect timeout for a free slot is a 504-style timeout.
        slow = Sender(max_connections=1, connect_timeout=0.05)
        first = asyncio.create_task(slow.send(_req(srv.url)))
        await asyncio.sleep(0.01)
        with pytest.raises(UpstreamTimeoutError) as info:
            await slow.send(_req(srv.url))
        assert "did not accept a connection within 0.05 s" in str(info.value)
        assert await _body(await first) == b"ok"
        # The slot came back: the next request goes through.
        assert await _body(await slow.send(_req(srv.url))) == b"ok"
        await sender.aclose()
        await slow.aclose()


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_bytes_arriving_on_an_idle_pooled_connection_close_it(method: str) -> None:
    """A stray response that arrives after a complete answer, while the connection waits in
    the pool, is never handed to the next request as its response."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            req = await _read_request(reader)
            if b"/plain" in req.split(b"\r\n", 1)[0]:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
                await writer.drain()
                continue
            body = b"" if req.startswith(b"HEAD") else b"first"
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + body)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Stray: 1\r\n\r\nevil!")
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        resp = await sender.send(_req(srv.url, method), b"{}" if method != "GET" else None)
        assert await _body(resp) == (b"" if method == "HEAD" else b"first")
        await asyncio.sleep(0.2)  # the stray bytes are in, on the idle connection
        resp = await sender.send(_req(srv.url, "GET", "/plain"))
        assert ("X-Stray", "1") not in resp.headers
        assert await _body(resp) == b"plain"
        assert srv.connections == 2  # the first connection was not trusted again


# -- issue 13 hardening: what the hand-written client must never let through ----------------


async def _one_answer(answer: bytes, **kw: float) -> tuple[Server, Exception]:
    """Send one GET to a server that answers ``answer`` (then stays open); the error."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(5)

    async with Server(handler) as srv:
        sender = Sender(read_timeout=3, **kw)
        with pytest.raises(UpstreamUnreachableError) as info:
            resp = await sender.send(_req(srv.url))
            await resp.read()
    return srv, info.value


@pytest.mark.parametrize(
    ("answer", "limit"),
    [
        (b"HTTP/1.1 200 " + b"O" * (MAX_LINE_SIZE + 1) + b"\r\n\r\n", "a status line longer"),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * MAX_FIELD_SIZE + b"\r\n\r\n", "a header line"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-N: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n",
            f"more than {MAX_HEADERS} headers",
        ),
        (
            b"HTTP/1.1 200 OK\r\n"
            + b"X-Big: "
            + b"b" * 1000
            + b"\r\n" * 1
            + b"X-Big: "
            + (b"b" * 1000 + b"\r\nX-Big: ") * 70
            + b"end\r\n\r\n",
            f"more than {MAX_HEADER_BYTES} bytes of headers",
        ),
    ],
    ids=["status-line", "header-line", "header-count", "header-bytes"],
)
async def test_each_named_limit_is_a_502_naming_it(answer: bytes, limit: str) -> None:
    _, err = await _one_answer(answer)
    assert "invalid HTTP answer" in str(err) and limit in str(err), str(err)
    assert "adapter 't'" in str(err)


@pytest.mark.parametrize(
    ("prefix", "unit"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Flood: 0123456789abcdef\r\n"),  # headers forever
        (b"HTTP/1.1 200 OK\r\nX-Long: ", b"a"),  # one endless header line
        (b"HTTP/1.1 200 ", b"O"),  # an endless status line
        # An endless trailer line after a complete chunked body.
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: ", b"t"),
    ],
    ids=["headers", "header-line", "status-line", "trailer-line"],
)
async def test_an_endless_answer_is_cut_at_the_limit_and_closed(prefix: bytes, unit: bytes) -> None:
    sent = 0
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await _read_request(reader)
        writer.write(prefix)
        block = unit * (16384 // len(unit))
        try:
            while sent < 256 * 1024 * 1024:
                writer.write(block)
                sent += len(block)
                await writer.drain()
        except ConnectionError:
            closed.set()

    async with Server(handler) as srv:
        sender = Sender(read_timeout=10)
        started = asyncio.get_running_loop().time()
        with pytest.raises(UpstreamUnreachableError) as info:
            resp = await sender.send(_req(srv.url))
            async for _ in resp.iter_chunks():
                pass
        assert "invalid HTTP answer" in str(info.value)
        assert asyncio.get_running_loop().time() - started < 3  # at the limit, not a timeout
        await asyncio.wait_for(closed.wait(), 5)  # the connection was closed
        assert sent < 16 * 1024 * 1024  # reading stopped at the limit


async def test_trailers_are_dropped_and_the_connection_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await _read_request(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Evil\r\n\r\n"
                b"5\r\nhello\r\n0\r\nX-Evil: merged\r\nSet-Cookie: t=1\r\n\r\n"
            )
            await writer.drain()

    async with Server(handler) as srv:
        sender = Sender()
        for _ in range(2):
            resp = await sender.send(_req(srv.url))
            assert await _body(resp) == b"hello"
            names = {n.lower() for n, _ in resp.headers}
            assert names == {"transfer-encoding", "trailer"}
        assert srv.connections == 1


async def test_header_bytes_pass_unchanged_both_ways() -> None:
    seen: list[bytes] = []
    value = "café 🔥 Ωμέγα"

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await _read_request(reader))
        writer.write(
            b"HTTP/1.1 200 OK\r\nX-Resp: caf\xc3\xa9 \xf0\x9f\x94\xa5\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()

    async with Server(handler) as srv:
        req = UpstreamRequest("GET", srv.url + "/x", [("X-Name", value)], "t", "/x")
        resp = await Sender().send(req)
        resp.release()
    assert b"\r\nX-Name: " + value.encode() + b"\r\n" in seen[0]
    assert ("X-Resp", "café 🔥") in resp.headers
    assert resp.headers[0][1].encode("utf-8") == b"caf\xc3\xa9 \xf0\x9f\x94\xa5"


async def test_non_utf8_bytes_are_refused_both_ways() -> None:
    _, err = await _one_answer(b"HTTP/1.1 200 OK\r\nX-Resp: caf\xe9\r\nContent-Length: 0\r\n\r\n")
    assert "X-Resp" in str(err) and "not valid UTF-8" in str(err)
    from atlas_canvas._errors import BadHeaderError

    # What a server decoded with surrogate escapes (a Latin-1 byte) cannot go out unchanged.
    bad = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(BadHeaderError):
        await Sender().send(
            UpstreamRequest("GET", "http://127.0.0.1:9/x", [("X-N", bad)], "t", "/x")
        )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HTTP/1.1 200 O\x01K\x7f", "OK"),
        (b"HTTP/1.1 404 caf\xc3\xa9", "Not Found"),
        (b"HTTP/1.1 299 \x00", ""),
        (b"HTTP/1.1 200 Fine, thanks", "Fine, thanks"),
    ],
)
async def test_reason_phrase_is_sanitised(line: bytes, reason: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(line + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    async with Server(handler) as srv:
        resp = await Sender().send(_req(srv.url))
        resp.release()
        assert resp.reason == reason


async def test_interim_answers_are_skipped_and_the_body_timeout_is_a_504() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Final: 1\r\n\r\nhalf"
        )
        await writer.drain()
        await asyncio.sleep(5)

    async with Server(handler) as srv:
        resp = await Sender(read_timeout=0.3).send(_req(srv.url))
        assert resp.status == 200 and resp.headers == [("Content-Length", "10"), ("X-Final", "1")]
        with pytest.raises(UpstreamTimeoutError) as info:
            await resp.read()
        assert "stopped sending the response body for 0.3 s" in str(info.value)
        resp.release()


async def test_an_upstream_that_never_reads_the_upload_is_a_504() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(10)  # never reads the body

    block = b"x" * (1024 * 1024)

    async def huge() -> AsyncIterator[bytes]:
        for _ in range(256):
            yield block

    async with Server(handler) as srv:
        with pytest.raises(UpstreamTimeoutError) as info:
            await Sender(read_timeout=0.3).send(_req(srv.url, "PUT"), huge())
        assert "did not take the request body for 0.3 s" in str(info.value)


async def test_an_error_of_the_callers_body_propagates_and_closes_the_connection() -> None:
    from atlas_canvas._errors import CallerBodyTimeoutError

    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # until the sender closes
        closed.set()

    async def stalls() -> AsyncIterator[bytes]:
        yield b"part"
        raise CallerBodyTimeoutError("the request body stalled")

    async with Server(handler) as srv:
        with pytest.raises(CallerBodyTimeoutError):
            await Sender().send(_req(srv.url, "POST"), stalls(), content_length=100)
        await asyncio.wait_for(closed.wait(), 5)
