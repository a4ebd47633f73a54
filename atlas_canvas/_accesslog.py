"""A cheap access log: one line per request, written in batches once per loop iteration.

Python's ``logging`` costs about a fifth of the server's throughput at thousands of
requests per second (a LogRecord, a format and a flushed write per line; measured in
``benchmarks/README.md``). This writer formats the timestamp once per second and writes
all lines produced during one event-loop iteration with a single ``write``.

Example::

    log = BatchedLineWriter(sys.stderr)
    log("127.0.0.1 \\"GET pagerduty /incidents\\" 200 upstream=200 3.1ms")
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["BatchedLineWriter", "logging_writer"]


class BatchedLineWriter:
    """Callable that queues a line (prefixed with a timestamp) and flushes soon after."""

    def __init__(self, stream: TextIO, *, level: str = "INFO") -> None:
        self._stream = stream
        self._level = level
        self._lines: list[str] = []
        self._second = -1
        self._stamp = ""
        self._scheduled = False

    def _prefix(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
        return f"{self._stamp} {self._level} "

    def __call__(self, line: str) -> None:
        self._lines.append(self._prefix() + line + "\n")
        if not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # closed stream at shutdown: nothing left to tell
            pass


def logging_writer(logger: logging.Logger) -> Callable[[str], None]:
    """A writer that sends each line to ``logger`` at INFO (for embedding apps)."""

    def write(line: str) -> None:
        logger.info("%s", line)

    return write
