"""Real servers for the Jupyter tests: a recording canary upstream and a Jupyter subprocess.

Both bind 127.0.0.1 on a free port. Shared by ``tests/jupyter`` and ``tests/browser``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.atlas_configs import write_atlas_config
from tests.conftest import ROOT, free_port


@dataclass
class Recorded:
    method: str
    path: str  # raw request target, query included
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Canary:
    """An upstream that records every request it gets and answers a small JSON body.

    ``/set-cookie`` answers with ``Set-Cookie`` and a CSP header (which must not reach the
    Jupyter origin); ``/status/<n>`` answers status n; anything else 200.
    """

    port: int
    requests: list[Recorded] = field(default_factory=list)
    #: ``/base/stream`` sends its first chunk, then waits for this before the rest.
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def clear(self) -> None:
        self.requests.clear()


def _canary_handler(canary: Canary) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            canary.requests.append(
                Recorded(self.command, self.path, list(self.headers.items()), body)
            )
            if self.path.startswith("/base/stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i, chunk in enumerate((b"data: first\n\n", b"data: second\n\n")):
                    if i:
                        canary.release.wait(10)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            status = 200
            extra: list[tuple[str, str]] = []
            if self.path.startswith("/base/status/"):
                status = int(self.path.rsplit("/", 1)[1].split("?")[0])
            if self.path.startswith("/base/set-cookie"):
                extra = [
                    ("Set-Cookie", "_xsrf=evil; Path=/"),
                    ("Content-Security-Policy", "default-src *"),
                ]
            payload = json.dumps(
                {"method": self.command, "path": self.path, "body": body.decode("latin-1")}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Upstream", "canary")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    return Handler


@contextmanager
def run_canary() -> Iterator[Canary]:
    canary = Canary(port=free_port())
    server = ThreadingHTTPServer(("127.0.0.1", canary.port), _canary_handler(canary))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield canary
    finally:
        server.shutdown()
        server.server_close()


def write_config(path: Path, adapters: dict[str, tuple[str, list[str]]]) -> Path:
    """An Atlas config with HTTP adapters ``{name: (baseUrl, ["Name: value", ...])}``."""
    return write_atlas_config(
        path,
        {name: url for name, (url, _) in adapters.items()},
        {name: headers for name, (_, headers) in adapters.items()},
    )


@dataclass
class JupyterProcess:
    port: int
    token: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    base_url: str = "/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def jupyter_env(
    tmp: Path, config_file: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """A clean environment: private config/runtime dirs, the extension enabled explicitly."""
    conf = tmp / "jupyter-config"
    conf.mkdir(exist_ok=True)
    (conf / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"atlas_canvas": True}}})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "ATLAS_"))}
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(conf),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "ATLAS_CONFIG": str(config_file),
            "PYTHONPATH": str(ROOT),
            "IPYTHONDIR": str(tmp / "ipython"),
        }
    )
    env.update(extra or {})
    return env


@contextmanager
def run_jupyter(
    tmp: Path,
    config_file: Path,
    *,
    app: str = "jupyter_server",
    args: list[str] | None = None,
    env_extra: dict[str, str] | None = None,
    token: str = "test-token-5b1c",
    base_url: str = "/",
    timeout: float = 60.0,
) -> Iterator[JupyterProcess]:
    """Start ``python -m <app>`` on a free loopback port and wait until it answers."""
    port = free_port()
    root = tmp / "root"
    root.mkdir(exist_ok=True)
    log_path = tmp / f"{app}.log"
    cmd = [
        sys.executable,
        "-m",
        app,
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        "--ServerApp.allow_unauthenticated_access=False",
        "--ServerApp.port_retries=0",
        *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        *(args or []),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=jupyter_env(tmp, config_file, env_extra),
            cwd=str(tmp),
        )
    jp = JupyterProcess(port, token, proc, log_path, base_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter exited with {proc.returncode}:\n{jp.log()}")
            try:
                r = httpx.get(jp.url + "api/status", headers={"Authorization": f"token {token}"})
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter did not start in {timeout} s:\n{jp.log()}")
            time.sleep(0.2)
        yield jp
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_in_kernel(jp: JupyterProcess, kernel_id: str, code: str) -> str:
    """Execute ``code`` in the kernel over its ZMQ channels; return its stdout."""
    from jupyter_client import BlockingKernelClient

    runtime = Path(jp.log_path.parent) / "runtime"
    conn = runtime / f"kernel-{kernel_id}.json"
    deadline = time.monotonic() + 30
    while not conn.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    kc = BlockingKernelClient(connection_file=str(conn))
    kc.load_connection_file()
    # No heartbeat channel: on a loaded machine a missed 1 s heartbeat made wait_for_ready
    # report a live kernel as dead; the execute reply is what counts.
    kc.start_channels(hb=False)
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        kind, content = msg["header"]["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content["traceback"]))

    try:
        kc.wait_for_ready(timeout=90)
        reply = kc.execute_interactive(code, timeout=180, output_hook=hook)
    finally:
        kc.stop_channels()
    assert reply["content"]["status"] == "ok", "".join(errors)
    return "".join(out)
