"""Proxy throughput and latency: `mom atlas run` against the references, in one run.

Measures requests/s and p50/p99 latency at 32 connections (wrk, loopback) for:

1. the upstream direct: nginx serving a fixed ~25 KB JSON page of incidents;
2. nginx as a reverse proxy in front of it, adding the Authorization header;
3. jupyter-server-proxy (in a Jupyter server) in front of the same upstream;
4. `mom atlas run` (one process, and with ``--workers``), adding the header from a secret;
5. with ``--baseline REV``: `mom atlas run` of an earlier commit (its ``atlas_canvas`` package
   exported with ``git archive`` into a temporary directory), so a change of stack is
   measured against the previous implementation in the same run;

and prints the ratios and whether the goals hold (Atlas >= 5x jupyter-server-proxy, p99 under
20 ms; stretch: half of nginx's rate).

Needs (Debian): ``apt-get install -y wrk nginx-light`` (``nginx`` works too), and
``pip install -e '.[bench]'`` (jupyter-server-proxy). A missing reference is skipped
with a note; without wrk nothing can be measured.

Usage::

    .venv/bin/python benchmarks/proxy.py            # 3 interleaved rounds of 5 s each
    .venv/bin/python benchmarks/proxy.py --duration 10 --atlas 1,2 --baseline 0d5ef9f
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HEADER_SECRET = "bench-secret-token"
ACCESS_TOKEN = "bench-access-token"
JSP_TOKEN = "bench-jupyter-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def incidents_page(n: int = 83) -> bytes:
    """A PagerDuty-shaped page of incidents, about 25 KB."""
    incidents = [
        {
            "id": f"P{i:06d}",
            "type": "incident",
            "summary": f"[#{1000 + i}] Disk space low on db-{i}",
            "status": ("triggered", "acknowledged", "resolved")[i % 3],
            "urgency": "high" if i % 4 else "low",
            "created_at": "2026-11-01T00:00:00Z",
            "service": {"id": "PSVC001", "type": "service_reference", "summary": "db"},
            "html_url": f"https://acme.pagerduty.com/incidents/P{i:06d}",
        }
        for i in range(n)
    ]
    return json.dumps(
        {"incidents": incidents, "limit": n, "offset": 0, "more": False, "total": None}
    ).encode()


def wait_http(url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(req, timeout=2) as resp:
                return bytes(resp.read())
        except Exception as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer: {last}")


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    note: str = ""
    #: CPU time the proxy's processes spent per request (µs), when known. On a shared
    #: machine this moves much less with other jobs' load than requests/s does.
    cpu_us: float | None = None


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU seconds of every live process in process group ``pgid`` (Linux)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    found = False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rindex(b")") + 2 :].split()
        if int(fields[2]) == pgid:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime
            found = True
    return total / tick if found else None


def run_wrk(
    name: str,
    url: str,
    headers: dict[str, str],
    duration: int,
    connections: int,
    threads: int,
    pgid: int | None = None,
) -> Result:
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for k, v in headers.items():
        args[1:1] = ["-H", f"{k}: {v}"]
    warm = [*args]
    warm[warm.index(f"-d{duration}s")] = "-d1s"
    subprocess.run(warm, capture_output=True, check=False)
    cpu0 = group_cpu_seconds(pgid) if pgid is not None else None
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    cpu1 = group_cpu_seconds(pgid) if pgid is not None else None
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    cpu_us = None
    if cpu0 is not None and cpu1 is not None and total:
        cpu_us = (cpu1 - cpu0) / total * 1e6
    return Result(name, rps, p50, p99, errors, cpu_us=cpu_us)


class Procs:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            **kw,  # type: ignore[arg-type]
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def nginx_conf(tmp: Path, body: str, name: str) -> Path:
    conf = tmp / f"{name}.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/{name}-body;
  proxy_temp_path {tmp}/{name}-proxy;
  fastcgi_temp_path {tmp}/{name}-fcgi;
  uwsgi_temp_path {tmp}/{name}-uwsgi;
  scgi_temp_path {tmp}/{name}-scgi;
  {body}
}}
"""
    )
    return conf


def _line(r: Result) -> str:
    cpu = f"  cpu {r.cpu_us:5.0f} us/req" if r.cpu_us is not None else ""
    return (
        f"{r.name:<34} {r.rps:>9.0f} req/s  p50 {r.p50_ms:6.2f} ms  "
        f"p99 {r.p99_ms:6.2f} ms  errors {r.errors}{cpu}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; each target keeps its best"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--atlas", default="1,2", help="Atlas variants to measure: worker counts, comma-separated"
    )
    parser.add_argument(
        "--baseline",
        default="",
        help="also measure `mom atlas run` of this git revision (e.g. the commit before a change)",
    )
    parser.add_argument("--skip", default="", help="comma list: nginx-proxy,jsp")
    ns = parser.parse_args()
    skip = set(filter(None, ns.skip.split(",")))
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk (Debian) -- nothing measured")
        return 1
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    procs = Procs()
    results: list[Result] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as tmpdir:
        tmp = Path(tmpdir)
        tmp.chmod(0o755)  # nginx workers run as an unprivileged user when started as root
        www = tmp / "www"
        www.mkdir()
        page = incidents_page()
        (www / "incidents").write_bytes(page)
        up_port = free_port()
        try:
            if nginx:
                conf = nginx_conf(
                    tmp,
                    f"server {{ listen 127.0.0.1:{up_port}; location / {{ root {www}; "
                    "default_type application/json; } }",
                    "upstream",
                )
                procs.start([nginx, "-c", str(conf), "-p", str(tmp)])
            else:
                notes.append(
                    "nginx missing (apt-get install -y nginx-light): upstream is a Python "
                    "server (it may be the bottleneck) and the nginx proxy reference is skipped"
                )
                procs.start(
                    [
                        sys.executable,
                        "-m",
                        "http.server",
                        str(up_port),
                        "--bind",
                        "127.0.0.1",
                        "--directory",
                        str(www),
                    ]
                )
            upstream = f"http://127.0.0.1:{up_port}"
            assert wait_http(upstream + "/incidents") == page
            print(
                f"upstream page: {len(page)} bytes; {ns.connections} connections, "
                f"{ns.duration} s each; machine: {os.cpu_count()} CPUs, "
                f"load {os.getloadavg()[0]:.2f}",
                flush=True,
            )

            # Every target runs at once; the rounds interleave them so that load from other
            # jobs on a shared machine hits all alike, and each keeps its best round.
            targets: list[tuple[str, str, dict[str, str], int | None]] = []

            def measure(
                name: str,
                url: str,
                headers: dict[str, str] | None = None,
                proc: subprocess.Popen[bytes] | None = None,
            ) -> None:
                # proc: the proxy's process (its own group): its CPU per request is reported.
                targets.append((name, url, headers or {}, proc.pid if proc else None))

            measure("upstream direct (nginx)", upstream + "/incidents")

            if nginx and "nginx-proxy" not in skip:
                px_port = free_port()
                conf = nginx_conf(
                    tmp,
                    f"upstream up {{ server 127.0.0.1:{up_port}; keepalive 64; }}\n"
                    f"  server {{ listen 127.0.0.1:{px_port}; location /v1/apis/http/pd/ {{ "
                    f"proxy_pass http://up/; proxy_http_version 1.1; "
                    f'proxy_set_header Connection ""; '
                    f'proxy_set_header Authorization "Token token={HEADER_SECRET}"; }} }}',
                    "proxy",
                )
                px = procs.start([nginx, "-c", str(conf), "-p", str(tmp)])
                url = f"http://127.0.0.1:{px_port}/v1/apis/http/pd/incidents"
                assert wait_http(url) == page
                measure("nginx reverse proxy (+header)", url, proc=px)
            elif "nginx-proxy" not in skip:
                notes.append("skipped: nginx reverse proxy (nginx missing)")

            if "jsp" not in skip:
                try:
                    import jupyter_server_proxy  # noqa: F401
                except ImportError:
                    notes.append("skipped: jupyter-server-proxy (pip install jupyter-server-proxy)")
                else:
                    jp = free_port()
                    procs.start(
                        [
                            sys.executable,
                            "-m",
                            "jupyter_server",
                            "--no-browser",
                            f"--port={jp}",
                            "--ip=127.0.0.1",
                            f"--ServerApp.token={JSP_TOKEN}",
                            "--ServerApp.open_browser=False",
                            f"--ServerApp.root_dir={tmp}",
                            "--ServerApp.log_level=WARN",
                            *(["--allow-root"] if os.geteuid() == 0 else []),
                        ],
                        cwd=str(tmp),
                        env={
                            **os.environ,
                            "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
                            "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
                        },
                    )
                    url = f"http://127.0.0.1:{jp}/proxy/127.0.0.1:{up_port}/incidents"
                    hdr = {"Authorization": f"token {JSP_TOKEN}"}
                    assert wait_http(url, hdr, timeout=60) == page
                    measure("jupyter-server-proxy", url, hdr)

            cfg = tmp / "atlas.yml"
            from atlas_canvas._config_edit import add_http_adapter_text, render_new_config

            cfg.write_text(
                add_http_adapter_text(
                    render_new_config("bench"),
                    name="pd",
                    base_url=upstream,
                    headers=[("Authorization", "Token token=${{ BENCH_PD_TOKEN }}")],
                )
            )
            env = {
                **os.environ,
                "ATLAS_ACCESS_TOKEN": ACCESS_TOKEN,
                "BENCH_PD_TOKEN": HEADER_SECRET,
            }
            mom = [sys.executable, "-m", "atlas_canvas", "atlas", "run", "-f", str(cfg)]
            hdr = {"Atlas-Accesstoken": ACCESS_TOKEN}
            for workers in filter(None, ns.atlas.split(",")):
                port = free_port()
                proc = procs.start([*mom, "--port", str(port), "--workers", workers], env=env)
                url = f"http://127.0.0.1:{port}/v1/apis/http/pd/incidents"
                assert wait_http(url, hdr) == page
                measure(f"mom atlas run (w={workers})", url, hdr, proc)
            if ns.baseline:
                # The earlier implementation, imported from an exported copy of its package.
                old = tmp / "baseline"
                old.mkdir()
                repo = Path(__file__).resolve().parent.parent
                archive = subprocess.run(
                    ["git", "-C", str(repo), "archive", ns.baseline, "atlas_canvas"],
                    capture_output=True,
                    check=True,
                ).stdout
                subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
                port = free_port()
                proc = procs.start(
                    [*mom, "--port", str(port)],
                    env={**env, "PYTHONPATH": str(old)},
                    cwd=str(old),
                )
                url = f"http://127.0.0.1:{port}/v1/apis/http/pd/incidents"
                assert wait_http(url, hdr) == page
                measure(f"baseline {ns.baseline[:10]} (w=1)", url, hdr, proc)

            rounds: dict[str, list[Result]] = {name: [] for name, _, _, _ in targets}
            for i in range(ns.rounds):
                print(f"round {i + 1}/{ns.rounds} (load {os.getloadavg()[0]:.2f})", flush=True)
                for name, url, hdr, pgid in targets:
                    r = run_wrk(name, url, hdr, ns.duration, ns.connections, ns.threads, pgid)
                    rounds[name].append(r)
                    print(f"  {_line(r)}", flush=True)
            for runs in rounds.values():
                best = max(runs, key=lambda r: r.rps)
                best.errors = sum(r.errors for r in runs)
                # The least CPU per request of any round: the cost with the least disturbance.
                cpus = [r.cpu_us for r in runs if r.cpu_us is not None]
                best.cpu_us = min(cpus) if cpus else None
                results.append(best)
            print(f"\nbest of {ns.rounds} round(s) (cpu: least proxy CPU per request):")
            for r in results:
                print(f"  {_line(r)}")
        finally:
            procs.stop_all()

    by = {r.name: r for r in results}
    direct = by.get("upstream direct (nginx)")
    nginx_px = by.get("nginx reverse proxy (+header)")
    jsp_r = by.get("jupyter-server-proxy")
    print("\nratios (requests/s):")
    for r in results:
        parts = []
        if direct and r is not direct:
            parts.append(f"{r.rps / direct.rps:.2f}x direct")
        if nginx_px and r is not nginx_px and r is not direct:
            parts.append(f"{r.rps / nginx_px.rps:.2f}x nginx proxy")
        if jsp_r and r is not jsp_r and r.name.startswith(("mom", "baseline")):
            parts.append(f"{r.rps / jsp_r.rps:.1f}x jupyter-server-proxy")
        base = next((b for b in results if b.name.startswith("baseline")), None)
        if base and r.name.startswith("mom"):
            parts.append(f"{r.rps / base.rps:.2f}x baseline")
            if r.cpu_us and base.cpu_us:
                parts.append(f"{r.cpu_us / base.cpu_us:.2f}x baseline's CPU per request")
        if parts:
            print(f"  {r.name:<34} " + ", ".join(parts))
    atlas_rs = [r for r in results if r.name.startswith("mom")]
    if atlas_rs:
        best = max(atlas_rs, key=lambda r: r.rps)
        print(f"\ngoals (best Atlas: {best.name}):")
        if jsp_r:
            ok = best.rps >= 5 * jsp_r.rps
            print(
                f"  >= 5x jupyter-server-proxy: {best.rps / jsp_r.rps:.1f}x "
                f"{'OK' if ok else 'MISSED'}"
            )
        print(
            f"  p99 < 20 ms at {ns.connections} connections: {best.p99_ms:.1f} ms "
            f"{'OK' if best.p99_ms < 20 else 'MISSED'}"
        )
        if nginx_px:
            ratio = best.rps / nginx_px.rps
            print(
                f"  stretch, half of nginx: {ratio:.2f}x nginx "
                f"{'OK' if ratio >= 0.5 else 'not reached'}"
            )
    for note in notes:
        print(f"note: {note}")
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
