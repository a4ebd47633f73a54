"""The ASGI and WSGI shells around :class:`~._handler.Simulator`.

The ASGI app is a raw callable (no framework): the per-request work is the handler itself,
so a page of 100 incidents costs little more than joining cached bytes. The WSGI app exists
for clients that only take a WSGI transport in-process (python-pagerduty's
``httpx2.WSGITransport``).
"""

from __future__ import annotations

import asyncio
import http
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ._handler import Reply, Simulator
from ._model import Account
from ._settings import SimulatorConfig

__all__ = ["SimulatorApp", "SimulatorWsgiApp", "create_app", "create_wsgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_BODY = 8 << 20


class DroppedConnection(ConnectionResetError):
    """Raised after a partial body to make the server cut the connection (fault injection)."""


class SimulatorApp:
    """ASGI application serving one simulated account. ``.simulator`` exposes the state.

    Example::

        app = create_app(SimulatorConfig(seed=7, incidents=300, token="tok"))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="https://api.pagerduty.com") as c:
            r = await c.get("/incidents", headers={"Authorization": "Token token=tok"})
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._latency = simulator.config.latency_ms / 1000.0

    @property
    def config(self) -> SimulatorConfig:
        return self.simulator.config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > _MAX_BODY:
                break
            chunks.append(chunk)
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        reply = self.simulator.handle(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            b"".join(chunks),
        )
        if self._latency:
            await asyncio.sleep(self._latency)
        await _send(send, reply)


async def _send(send: Send, reply: Reply) -> None:
    body = reply.body
    if reply.drop:
        # Promise more than is sent, then fail: the server closes the connection mid-body.
        length = str(len(body) + 4096).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*reply.headers, (b"content-length", length)],
            }
        )
        await send({"type": "http.response.body", "body": body, "more_body": True})
        raise DroppedConnection("simulated dropped connection")
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [*reply.headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class SimulatorWsgiApp:
    """WSGI application over the same handler (thread-safe: one request at a time).

    Example::

        import httpx2, pagerduty
        app = create_wsgi_app(SimulatorConfig(seed=7, incidents=300, token="tok"))
        client = pagerduty.RestApiV2Client("tok", default_from="...",
                                           transport=httpx2.WSGITransport(app=app))
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._lock = threading.Lock()
        self._latency = simulator.config.latency_ms / 1000.0

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(min(length, _MAX_BODY)) if length > 0 else b""
        path = environ.get("PATH_INFO", "/")
        if isinstance(path, str):
            # PEP 3333 hands the path over as latin-1 decoded bytes.
            path = path.encode("latin-1").decode("utf-8", "replace")
        with self._lock:
            reply = self.simulator.handle(
                environ.get("REQUEST_METHOD", "GET"),
                path,
                environ.get("QUERY_STRING", ""),
                headers,
                body,
            )
        if self._latency:
            time.sleep(self._latency)
        if reply.drop:
            raise DroppedConnection("simulated dropped connection")
        status = f"{reply.status} {http.HTTPStatus(reply.status).phrase}"
        start_response(
            status,
            [(k.decode(), v.decode()) for k, v in reply.headers]
            + [("Content-Length", str(len(reply.body)))],
        )
        return [reply.body]


def create_app(
    config: SimulatorConfig | None = None, *, account: Account | None = None
) -> SimulatorApp:
    """Build the ASGI app (generating the account now unless ``account`` is given).

    Example::

        app = create_app(SimulatorConfig(seed=7, incidents=3000, token="tok"))
    """
    return SimulatorApp(Simulator(config or SimulatorConfig(), account))


def create_wsgi_app(
    config: SimulatorConfig | None = None, *, account: Account | None = None
) -> SimulatorWsgiApp:
    """Build the WSGI twin of :func:`create_app` (same state model, same answers)."""
    return SimulatorWsgiApp(Simulator(config or SimulatorConfig(), account))
