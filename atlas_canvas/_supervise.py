"""Process supervision: servers started as children, stopped with everything they left behind.

What ``mom demo`` (and any other front door that runs servers) needs, apart from what it runs:

* :class:`InstanceLock`: one running instance per directory (``flock``, released by the
  kernel when the process dies) plus an info file saying where the running one is;
* :class:`Child`: a server in its own process group, its output in a log file; ``stop()``
  sends SIGTERM, SIGKILL after a grace period, then stops every descendant it left (Jupyter
  kernels run in sessions of their own) with psutil; on Linux a child also gets SIGTERM if
  its parent is killed outright;
* :func:`wait_http` (poll until a server answers, failing early if it exits),
  :func:`stop_signals` (SIGINT/SIGTERM/SIGHUP set an event), :func:`port_free`,
  :func:`free_port`.

Example::

    lock = InstanceLock(directory, "demo")
    with stop_signals(stop):
        child = Child("simulator", argv, env, directory / "sim.log")
        wait_http(child, url, {}, timeout=60, stop=stop)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from ._errors import AtlasError

__all__ = [
    "LOOPBACK",
    "Child",
    "InstanceLock",
    "ProcessFailedError",
    "free_port",
    "pid_alive",
    "port_free",
    "stop_signals",
    "wait_http",
]

LOOPBACK = "127.0.0.1"


class ProcessFailedError(AtlasError):
    """A supervised server failed to start or stopped unexpectedly (exit 1)."""

    code = "ATLAS_ProcessFailedError"


class InstanceLock:
    """One running instance per directory: an ``flock`` on ``<name>.lock`` for the life of
    the process (released by the kernel even if the process is killed) plus ``<name>.json``
    saying where the running one is. Without ``fcntl`` (Windows) a pid check stands in.

    Example::

        lock = InstanceLock(Path("~/.local/state/atlas-canvas/demo").expanduser(), "demo")
        if not lock.acquire():
            print("already running:", lock.read_info())
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.lock_path = directory / f"{name}.lock"
        self.info_path = directory / f"{name}.json"
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            info = self.read_info()
            if info and pid_alive(int(info.get("pid", 0))):
                os.close(fd)
                return False
            self._fd = fd
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        self.info_path.unlink(missing_ok=True)  # a stale one from a killed demo
        return True

    def write_info(self, info: Mapping[str, Any]) -> None:
        # The file may hold a URL with a token (JupyterLab's): only the user may read it.
        tmp = self.info_path.with_name(f".{self.info_path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(dict(info), fh, indent=1)
        os.replace(tmp, self.info_path)

    def read_info(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.info_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- processes


def port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        if os.name == "posix":
            # As the servers bind: a port whose old connections sit in TIME_WAIT is usable.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(avoid: Sequence[int] = ()) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((LOOPBACK, 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: deliver SIGTERM to the child when its parent dies, even by SIGKILL.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Child:
    """A server started and supervised: its own process group, its output in a log file.

    Example::

        sim = Child("simulator", [sys.executable, "-m", "atlas_canvas", "pagerduty-sim"],
                    os.environ, Path("sim.log"))
        ...
        sim.stop(timeout=15)
    """

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh: IO[bytes] = open(log, "wb")  # closed in stop()
        kwargs: dict[str, Any] = {}
        if os.name == "posix":
            kwargs["start_new_session"] = True  # Ctrl-C in the terminal reaches only us
            if sys.platform.startswith("linux"):
                kwargs["preexec_fn"] = _die_with_parent
        else:  # pragma: no cover - Windows
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        self.proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            **kwargs,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float) -> None:
        """SIGTERM to the group, SIGKILL after ``timeout``, then every leftover descendant."""
        leftovers = descendants(self.proc.pid)
        if self.running():
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL if os.name == "posix" else signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(5)
        else:
            self.proc.poll()
        # Jupyter kernels live in sessions of their own: the group signal missed them if
        # the server could not shut them down itself.
        reap(leftovers, timeout=5.0)
        with contextlib.suppress(OSError):
            self._log_fh.close()

    def _signal(self, sig: int) -> None:
        try:
            if os.name == "posix":
                os.killpg(self.proc.pid, sig)
            else:  # pragma: no cover - Windows
                self.proc.terminate() if sig == signal.SIGTERM else self.proc.kill()
        except (ProcessLookupError, PermissionError):
            pass


def descendants(pid: int) -> list[Any]:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        return []
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def reap(processes: list[Any], timeout: float) -> None:
    if not processes:
        return
    import psutil

    alive = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                p.terminate()
                alive.append(p)
    _, still = psutil.wait_procs(alive, timeout=timeout)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(still, timeout=2)


# --------------------------------------------------------------------------- waiting


def wait_http(
    child: Child,
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    stop: threading.Event,
    error: type[AtlasError] = ProcessFailedError,
) -> Any:
    """Poll ``url`` until it answers 200; fail early when ``child`` exits or on Ctrl-C.

    Failures raise ``error`` with the last lines of the child's log.
    """
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            if stop.is_set():
                raise KeyboardInterrupt
            if not child.running():
                raise error(
                    f"{child.name} exited with code {child.proc.returncode} while starting; "
                    f"last lines of {child.log}:\n{child.log_tail()}"
                )
            try:
                r = client.get(url, headers=dict(headers))
                if r.status_code == 200:
                    return r
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise error(
                    f"{child.name} did not answer within {timeout:.0f}s ({last}); "
                    f"last lines of {child.log}:\n{child.log_tail()}"
                )
            stop.wait(0.25)


@contextlib.contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP set ``stop`` (the caller's main loop acts on it)."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    sigs = [getattr(signal, n) for n in names if hasattr(signal, n)]

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
