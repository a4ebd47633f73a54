"""Benchmark: the PagerDuty simulator serves pages of 100 incidents fast, in little memory.

Claims (issue 4): at least 1,000 pages of 100 incidents per second on loopback with
``--latency-ms 0``, and under 200 MB for 100,000 generated incidents.

Method: the simulator and a *reference* app run one after the other on the same stack
(uvicorn + httptools, one process, access log off). The reference is a trivial raw ASGI app
that answers a fixed, pre-serialised page of 100 of the same incidents, so it is what the
server stack alone can do with that body. The load generator is ``wrk`` (C, one thread)
when installed, else an aiohttp client in several processes. The simulator's requests
rotate over every page of the account (``date_range=all&limit=100&offset=...``), with the
per-incident JSON cache warm after the first pass. Ratios are printed against the reference.

Run::

    .venv/bin/python benchmarks/simulator.py            # full run
    .venv/bin/python benchmarks/simulator.py --quick    # shorter, for a smoke check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

TOKEN = "bench-token"
NOW = "2026-06-01T12:00:00+00:00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- servers (run in a child process: `simulator.py --serve KIND PORT INCIDENTS`) ----------


def _serve(kind: str, port: int, incidents: int) -> None:
    import uvicorn

    from atlas_canvas.simulator import SimulatorConfig, create_app

    config = SimulatorConfig(
        seed=1,
        incidents=incidents,
        token=TOKEN,
        now=dt.datetime.fromisoformat(NOW),
        rate_limit_per_min=1_000_000_000,
        latency_ms=0,
    )
    sim_app = create_app(config)
    app: Any = sim_app
    if kind == "reference":
        reply = sim_app.simulator.handle(
            "GET",
            "/incidents",
            "date_range=all&limit=100",
            {"authorization": f"Token token={TOKEN}"},
        )
        body = reply.body
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]

        async def reference(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        app = reference
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        access_log=False,
        lifespan="off",
        http="httptools",
        loop="uvloop" if _has("uvloop") else "asyncio",
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _start(kind: str, incidents: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(port), str(incidents)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, base
        except OSError:
            if proc.poll() is not None:
                detail = proc.stderr.read().decode() if proc.stderr else "server died"
                raise RuntimeError(detail) from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


# -- load generators -----------------------------------------------------------------------

_WRK_SCRIPT = """
local pages = %d
local n = 0
request = function()
  local off = (n %% pages) * 100
  n = n + 1
  return wrk.format("GET", "/incidents?date_range=all&limit=100&offset=" .. off,
                    {["Authorization"] = "Token token=%s"})
end
"""


def _wrk(base: str, pages: int, seconds: float, connections: int) -> tuple[float, float]:
    """(requests per second, MB/s) measured by wrk."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % (pages, TOKEN))
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", script, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script)
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the run:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    assert transfer is not None
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[transfer.group(2)]
    return rps, float(transfer.group(1)) * scale


def _aiohttp_worker(args: tuple[str, int, float, int, int]) -> tuple[int, int]:
    import asyncio

    import aiohttp

    base, pages, seconds, connections, start = args

    async def run() -> tuple[int, int]:
        done = size = 0
        stop = time.monotonic() + seconds
        headers = {"Authorization": f"Token token={TOKEN}"}
        async with aiohttp.ClientSession() as s:

            async def loop(k: int) -> None:
                nonlocal done, size
                n = start + k
                while time.monotonic() < stop:
                    off = (n % pages) * 100
                    n += connections
                    async with s.get(
                        f"{base}/incidents?date_range=all&limit=100&offset={off}", headers=headers
                    ) as r:
                        body = await r.read()
                        assert r.status == 200, body[:200]
                    done += 1
                    size += len(body)

            await asyncio.gather(*(loop(k) for k in range(connections)))
        return done, size

    return asyncio.run(run())


def _aiohttp(
    base: str, pages: int, seconds: float, connections: int, procs: int = 2
) -> tuple[float, float]:
    with multiprocessing.Pool(procs) as pool:
        results = pool.map(
            _aiohttp_worker, [(base, pages, seconds, connections, p * 7) for p in range(procs)]
        )
    done = sum(r[0] for r in results)
    size = sum(r[1] for r in results)
    return done / seconds, size / seconds / 1e6


# -- memory ---------------------------------------------------------------------------------


def _memory(incidents: int) -> dict[str, float]:
    code = (
        "import datetime as dt, time\n"
        # VmHWM is per address space: unlike ru_maxrss it is not inherited from a big parent.
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024\n"
        "from atlas_canvas.simulator import Simulator, SimulatorConfig\n"
        f"now = dt.datetime.fromisoformat({NOW!r})\n"
        "t = time.perf_counter()\n"
        f"sim = Simulator(SimulatorConfig(seed=1, incidents={incidents}, now=now))\n"
        "gen = time.perf_counter() - t\n"
        "after_gen = hwm()\n"
        "h = {'authorization': 'Token token=sim-token'}\n"
        "t = time.perf_counter(); pages = 0\n"
        # Two windows of the simulator's 180-day maximum (UTC, so no DST hour is added).
        "for since, until in (('2025-06-03T00:00:00Z', '2025-11-30T00:00:00Z'),\n"
        "                     ('2025-11-30T00:00:00Z', '2026-05-29T00:00:00Z')):\n"
        "    for off in range(0, 10_000, 100):\n"
        "        q = f'since={since}&until={until}&limit=100&offset={off}'\n"
        "        r = sim.handle('GET', '/incidents', q, h); assert r.status == 200; pages += 1\n"
        "cold = pages / (time.perf_counter() - t)\n"
        "peak = hwm()\n"
        "print(gen, after_gen, cold, peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    gen, after_gen, cold, peak = map(float, out.stdout.split())
    return {
        "generate_s": gen,
        "rss_after_generate_mb": after_gen,
        "cold_pages_per_s_in_process": cold,
        "peak_rss_mb": peak,
    }


# -- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=5000, help="account size for throughput")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="3 s runs")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--serve", nargs=3, metavar=("KIND", "PORT", "INCIDENTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return 0
    seconds = 3.0 if args.quick else args.seconds
    pages = args.incidents // 100
    use_wrk = shutil.which("wrk") is not None
    load = f"wrk -t1 -c{args.connections}" if use_wrk else "aiohttp, 2 processes"
    print(f"load generator: {load}; {seconds:.0f} s per run; {os.cpu_count()} CPUs (shared)")
    results: dict[str, Any] = {"load_generator": load}
    for kind in ("reference", "simulator"):
        proc, base = _start(kind, args.incidents)
        try:
            run = _wrk if use_wrk else _aiohttp
            run(base, pages, 1.0, args.connections)  # warm-up: fills the per-incident cache
            rps, mbps = run(base, pages, seconds, args.connections)
        finally:
            proc.terminate()
            proc.wait(10)
        results[kind] = {"pages_per_s": rps, "mb_per_s": mbps}
        print(f"{kind:>10}: {rps:8.0f} pages of 100/s   {mbps:7.1f} MB/s")
    ratio = results["simulator"]["pages_per_s"] / results["reference"]["pages_per_s"]
    results["ratio_vs_reference"] = ratio
    verdict = (
        "OK" if results["simulator"]["pages_per_s"] >= 1000 else "BELOW the 1,000 pages/s claim"
    )
    print(f"simulator / reference = {ratio:.2f}   ({verdict})")
    mem = _memory(100_000)
    results["memory_100k"] = mem
    print(
        f"100,000 incidents: generated in {mem['generate_s']:.1f} s, "
        f"RSS {mem['rss_after_generate_mb']:.0f} MB after generation, "
        f"peak {mem['peak_rss_mb']:.0f} MB after serving 200 pages uncached "
        f"({mem['cold_pages_per_s_in_process']:.0f} cold pages/s in-process) "
        f"({'OK' if mem['peak_rss_mb'] < 200 else 'OVER the 200 MB claim'})"
    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if results["simulator"]["pages_per_s"] >= 1000 and mem["peak_rss_mb"] < 200 else 1


if __name__ == "__main__":
    sys.exit(main())
