"""One writer at a time: an advisory lock beside the store file (``<store>.lock``).

Two kernels, or a kernel and ``mom pagerduty sync`` (a cron job, a Kubernetes CronJob) may
sync the same store. DuckDB itself lets only one process open a file for writing, but a sync
spends most of its time on the network before it writes; the lock serialises whole syncs so
the second one waits, then starts from the first one's watermark instead of fetching the same
changes again. ``fcntl.flock`` is released by the kernel when the holder dies (SIGKILL
included), so a crashed sync never leaves a stale lock behind.

The lock file holds the holder's pid, command and start time (no secrets) so the one that
waits can say who it waits for.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from ._store_schema import StoreBusyError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "sync_lock"]

#: Seconds a sync waits for another one on the same store before giving up.
DEFAULT_LOCK_TIMEOUT = 600.0


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


@contextlib.contextmanager
def sync_lock(
    store_path: Path,
    *,
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    waiting: Callable[[str], None] | None = None,
    poll: float = 0.1,
) -> Iterator[None]:
    """Hold the store's sync lock; wait up to ``timeout`` seconds for another holder.

    ``waiting(message)`` is called once when the lock is taken by someone else (the caller
    shows it). Raises :class:`StoreBusyError` naming the holder after ``timeout``.

    Example::

        with sync_lock(Path("incidents.duckdb"), timeout=30):
            ...  # fetch, then write in one transaction
    """
    import fcntl

    lock_path = store_path.with_name(store_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = _holder(lock_path)
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the store {store_path} is being synced by {holder}; "
                        f"gave up after waiting {timeout:g} s",
                        hint="let that sync finish (its result is in the store afterwards), "
                        "or wait longer with lock_timeout= / --wait",
                    ) from None
                if not told and waiting is not None:
                    waiting(f"waiting for the sync already running on {store_path}: {holder}")
                    told = True
                time.sleep(poll)
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({command}), started {started}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
