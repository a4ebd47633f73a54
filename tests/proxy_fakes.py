"""Test doubles for the proxy tests: a recording upstream, a canary and an Atlas subprocess.

The recording upstream is a threaded stdlib HTTP/1.1 server on a loopback port that keeps
every request it sees *raw* (request target as sent, headers in order, body bytes), so tests
can assert what reached it byte-for-byte, or that nothing did.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.atlas_configs import atlas_config_text
from tests.conftest import PLANTED_SECRET, free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Seen:
    method: str
    target: str  # the raw request target, e.g. /base/x?a=1&a=2
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


@dataclass
class Recorder:
    """What an upstream saw, plus knobs the handler reads."""

    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    first_bytes: threading.Event = field(default_factory=threading.Event)

    def add(self, item: Seen) -> None:
        with self.lock:
            self.seen.append(item)

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()


def _read_chunked(rfile: object) -> bytes:
    out = bytearray()
    while True:
        line = rfile.readline()  # type: ignore[attr-defined]
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):  # type: ignore[attr-defined]
                pass
            return bytes(out)
        out += rfile.read(size)  # type: ignore[attr-defined]
        rfile.readline()  # type: ignore[attr-defined]


def _handler(rec: Recorder, name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = f"fake-{name}"

        def log_message(self, *args: object) -> None:
            pass

        def _send(
            self, status: int, body: bytes, ctype: str = "application/json", extra=()
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_one(self) -> None:
            if self.path.endswith("/stream-in"):
                # Read a chunked upload piece by piece, telling the test when bytes arrive.
                total = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    total += self.rfile.read(size)
                    self.rfile.readline()
                    rec.first_bytes.set()
                rec.add(Seen(self.command, self.path, list(self.headers.items()), bytes(total)))
                self._send(200, json.dumps({"length": len(total)}).encode())
                return
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = _read_chunked(self.rfile)
            else:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen = Seen(self.command, self.path, list(self.headers.items()), body)
            rec.add(seen)
            path = self.path.split("?", 1)[0]
            query = self.path.partition("?")[2]
            leaf = path.rstrip("/").rsplit("/", 1)[-1]
            if leaf == "slow":
                time.sleep(float(query.partition("s=")[2] or 3))
                self._send(200, b'{"slow":true}')
            elif "/status/" in path:
                code = int(leaf)
                self._send(
                    code,
                    json.dumps(
                        {"error": {"message": f"upstream says {code}", "code": 2001}}
                    ).encode(),
                    extra=[("Retry-After", "7"), ("X-Upstream", "yes")],
                )
            elif leaf == "close":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif leaf == "hop":
                self._send(
                    200,
                    b"{}",
                    extra=[
                        ("Keep-Alive", "timeout=5"),
                        ("X-Hop", "drop-me"),
                        ("Connection", "X-Hop"),
                        ("X-Request-Id", "abc-123"),
                        ("Set-Cookie", "a=1"),
                        ("Set-Cookie", "b=2"),
                    ],
                )
            elif leaf == "big":
                n = int(query.partition("n=")[2] or 0)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                block = bytes(range(256)) * 256  # 64 KiB
                sent = 0
                while sent < n:
                    part = block[: min(len(block), n - sent)]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    sent += len(part)
                self.wfile.write(b"0\r\n\r\n")
            elif leaf in ("cut", "cutsmall"):
                # A body that stops short: the client must notice, not get a clean truncation.
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if leaf == "cut":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    block = b"z" * 65536
                    for _ in range(32):  # 2 MiB, then no terminating chunk
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                else:
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"only ten b")
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif leaf == "wait":
                # First chunk now, the rest only once the test says so: proves streaming.
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"6\r\nfirst\n\r\n")
                self.wfile.flush()
                rec.release.wait(10)
                self.wfile.write(b"5\r\nlast\n\r\n0\r\n\r\n")
            elif leaf == "incidents":
                data = {
                    "incidents": [
                        {"id": f"P{i}", "type": "incident", "summary": f"incident {i}"}
                        for i in range(3)
                    ],
                    "limit": 100,
                    "offset": 0,
                    "more": False,
                    "total": None,
                }
                self._send(200, json.dumps(data).encode())
            else:
                echo = {
                    "method": self.command,
                    "target": self.path,
                    "length": len(body),
                    "server": name,
                }
                self._send(200, json.dumps(echo).encode(), extra=[("X-Upstream", name)])

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_one

    return Handler


@contextmanager
def recording_server(name: str = "upstream") -> Iterator[tuple[str, Recorder]]:
    """``(http://127.0.0.1:PORT, recorder)`` for a threaded recording server."""
    rec = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec, name))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


def config_yaml(
    adapters: dict[str, str], *, headers: dict[str, list[tuple[str, str]]] | None = None
) -> str:
    """An Atlas config with HTTP adapters ``{name: baseUrl}``; headers per adapter."""
    return atlas_config_text(adapters, headers)


PD_AUTH = [("Authorization", "Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}")]


@dataclass
class AtlasProcess:
    url: str
    token: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def client(self, **kw: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Atlas-Accesstoken": self.token}, timeout=20, **kw
        )  # type: ignore[arg-type]


def start_atlas(
    config: Path,
    tmp: Path,
    *args: str,
    token: str | None = "test-token-Abc123",
    env: dict[str, str] | None = None,
    scheme: str = "http",
    verify: object = True,
) -> AtlasProcess:
    port = free_port()
    full_env = {**os.environ, "PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET, **(env or {})}
    full_env.pop("ATLAS_ACCESS_TOKEN", None)
    if token is not None:
        full_env["ATLAS_ACCESS_TOKEN"] = token
    full_env.setdefault("XDG_CONFIG_HOME", str(tmp / "xdg"))
    log_path = tmp / f"atlas-{port}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "atlas_canvas",
                "atlas",
                "run",
                "-f",
                str(config),
                "--port",
                str(port),
                *args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=str(tmp),
        )
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"atlas exited {proc.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url + "/healthcheck", timeout=1, verify=verify).status_code == 200:  # type: ignore[arg-type]
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"atlas did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    return AtlasProcess(url=url, token=token or "", proc=proc, log_path=log_path)


def wait_for(pred: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll ``pred`` every 50 ms until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def stop_atlas(atlas: AtlasProcess) -> None:
    if atlas.proc.poll() is None:
        atlas.proc.terminate()
        try:
            atlas.proc.wait(10)
        except subprocess.TimeoutExpired:
            atlas.proc.kill()
            atlas.proc.wait()


def send_raw(host: str, port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send ``data`` on a new connection and return all the peer answers until it closes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_request(
    url: str,
    request_line_target: str,
    headers: dict[str, str],
    method: str = "GET",
    body: bytes = b"",
) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request with the target exactly as given (no client normalizing)."""
    host_port = url.split("://", 1)[1]
    host, _, port = host_port.partition(":")
    lines = [f"{method} {request_line_target} HTTP/1.1", f"Host: {host_port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    raw = send_raw(host, int(port), data)
    status_line, _, rest = raw.partition(b"\r\n")
    status = int(status_line.split()[1])
    _, _, payload = rest.partition(b"\r\n\r\n")
    return status, payload


def assert_no_secret(*texts: object) -> None:
    for t in texts:
        s = t.decode("latin-1") if isinstance(t, bytes) else str(t)
        assert PLANTED_SECRET not in s, "the planted secret leaked"


def assert_response_clean(r: httpx.Response) -> None:
    assert_no_secret(r.content, r.headers.multi_items())


#: Request targets after ``/v1/apis/http/`` that must be refused with 400 and reach no
#: upstream. ``{canary}`` is replaced by ``127.0.0.1:PORT`` of a canary server; the adapter
#: is named ``pd`` and its baseUrl ends with ``/base``.
HOSTILE_PATHS: list[str] = [
    "pd/..",
    "pd/../..",
    "pd/a/../../x",
    "pd/a/..",
    "pd/a/.",
    "pd/./x",
    "pd/%2e/x",
    "pd/%2e%2e/x",
    "pd/%2E%2E/x",
    "pd/.%2e/x",
    "pd/%2e./x",
    "pd/%252e%252e/x",
    "pd/%25252e%25252e/x",
    "pd/..;/x",
    "pd/%2e%2e;jsessionid=1/x",
    "pd/.../x",
    "pd/..%20/x",
    "pd/%C0%AE%C0%AE/x",
    "pd//{canary}/x",
    "pd//x",
    "pd/a//b",
    "pd/http://{canary}/x",
    "pd/https:%2f%2f{canary}/x",
    "pd/http:{canary}",
    "pd/javascript:alert(1)",
    "pd/@{canary}/x",
    "pd/a@{canary}",
    "pd/%2f%2f{canary}/x",
    "pd/%2F{canary}",
    "pd/a%2fb",
    "pd/a%252fb",
    "pd/%5c%5c{canary}/x",
    "pd/a%5c..%5cx",
    "pd/\\\\{canary}/x",
    "pd/a\\..\\x",
    "pd/%00",
    "pd/a%0d%0aX-Injected:%20yes",
    "pd/a%0a",
    "pd/a%09",
    "pd/a%7f",
    "pd/a%1f",
    "pd/a%250d%250a",
    "pd/a%zz",
    "pd/a%2",
    "pd/a%",
    "pd/%u002e%u002e/x",
    "pd/a#frag",
    "pd/a{b}",
    "pd/a|b",
    'pd/a"b',
    "pd/<script>",
    "pd/%C3%A9/../x",
    "..",
    "../x",
    "%2e%2e/x",
    "pd%2f..%2fx",
    "pd@{canary}/x",
    ".",
]
