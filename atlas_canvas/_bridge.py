"""The blocking bridge: run a coroutine to completion from synchronous code.

Scripts, the magics, widget callbacks and the blocking PagerDuty helpers call
:func:`run_sync`. It works inside a running Jupyter kernel too: the coroutine runs on one
private, long-lived event loop in a daemon thread (never the caller's loop), so no
``nest_asyncio`` is needed and pooled connections stay alive between blocking calls.

Example::

    from atlas_canvas._bridge import run_sync
    r = run_sync(atlasProxyFetch("/v1/apis/http"))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


class _LoopThread:
    """A daemon thread running a private event loop, shared by all blocking calls.

    One long-lived loop (rather than ``asyncio.run`` per call) keeps pooled connections alive
    between blocking calls, and never touches the caller's loop (a running kernel's loop).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="atlas-canvas-loop", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread


_loop_thread = _LoopThread()


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` to completion from synchronous code, even inside a running kernel."""
    if _loop_thread.in_loop_thread():
        coro.close()
        raise RuntimeError(
            "blocking atlas-canvas call made from its own event loop; await the async API"
        )
    future = asyncio.run_coroutine_threadsafe(coro, _loop_thread.loop())
    try:
        return future.result(timeout)
    except KeyboardInterrupt:
        future.cancel()
        raise
