"""Running the simulator on a real socket: in a background thread (tests) or blocking (CLI)."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator

from ._app import SimulatorApp, create_app
from ._settings import SimulatorConfig

__all__ = ["running", "serve", "serve_in_thread"]


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_in_thread(
    config: SimulatorConfig | None = None,
    *,
    app: SimulatorApp | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 30.0,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> tuple[str, Callable[[], None]]:
    """Serve the simulator with uvicorn in a daemon thread; return ``(base_url, stop)``.

    ``port=0`` picks a free loopback port. ``stop()`` shuts the server down and waits.
    Given a ``config`` without ``public_url``, ``self`` links point at this server (as with
    ``mom pagerduty-sim``); a ready ``app`` is served as it is.
    With ``certfile``/``keyfile`` it serves HTTPS (python-pagerduty accepts only https).

    Example::

        base_url, stop = serve_in_thread(SimulatorConfig(seed=1, incidents=300, token="tok"))
        try:
            httpx.get(f"{base_url}/incidents", headers={"Authorization": "Token token=tok"})
        finally:
            stop()
    """
    import uvicorn

    port = port or _free_port(host)
    scheme = "https" if certfile else "http"
    if app is None:
        config = config or SimulatorConfig()
        if config.public_url is None:
            # Like `mom pagerduty-sim`: `self` links lead back to this server.
            config = dataclasses.replace(config, public_url=f"{scheme}://{host}:{port}")
        app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ssl_certfile=certfile,
            ssl_keyfile=keyfile,
            # Clients holding keep-alive connections must not stall stop() for long.
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, name=f"pagerduty-sim:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the simulator did not start on {host}:{port}")
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(3)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)

    return f"{scheme}://{host}:{port}", stop


@contextlib.contextmanager
def running(
    config: SimulatorConfig | None = None,
    *,
    app: SimulatorApp | None = None,
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Context manager form of :func:`serve_in_thread`; yields the base URL.

    Example::

        with running(SimulatorConfig(incidents=300, token="tok")) as base_url:
            ...
    """
    base_url, stop = serve_in_thread(config, app=app, host=host)
    try:
        yield base_url
    finally:
        stop()


def serve(
    config: SimulatorConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8090,
    app: SimulatorApp | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> None:
    """Serve until interrupted (what ``mom pagerduty-sim`` runs)."""
    import uvicorn

    uvicorn.run(
        app or create_app(config),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
