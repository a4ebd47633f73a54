"""The incident store against today's fetch: four ratios, measured in one run.

Against the PagerDuty simulator (a separate process, ``mom pagerduty-sim``) with 50 ms
injected latency per request and a year of 50,000 incidents (issue 10):

1. **Refresh**: after 100 changes (97 on recent incidents, 3 on old ones) an incremental sync
   makes at most **2 %** of the requests of a full fetch and takes **under 1 s**.
2. **Reopen**: reading the store back into the 50,000-row DataFrame (a fresh process, as a
   new kernel) takes **under 0.3 s**, and the process grows by at most **3x** the frame's
   own size.
3. **First sync** without the history log is within **1.2x** of ``pagerduty.incidents()``
   over the same year (the first sync *with* first-ack times is compared with
   ``incidents()`` + ``with_ack_times()``, what it replaces).
4. **Rate limit**: against ``--rate-limit 960`` a full sync with ack times finishes within
   **1.1x** of the rate-limit floor (requests / 16 per second) with **zero** 429s.

The simulator runs on the wall clock (no ``--now``): its year ends today and its writes get
today's time, as a real account's would. Run:
``.venv/bin/python benchmarks/store.py [--incidents 50000] [--latency-ms 50] [--skip-rate-limit]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _sim import TOKEN, simulators, write_config  # noqa: E402  (one copy of the helpers)

SEED = 11


@contextlib.contextmanager
def simulator(incidents: int, latency_ms: float, rate_limit: int) -> Iterator[str]:
    args = [
        "--seed", str(SEED), "--incidents", str(incidents), "--latency-ms", str(latency_ms),
        "--rate-limit", str(rate_limit),
    ]  # fmt: skip
    with simulators(args) as (url,):
        yield url


def changes(base_url: str, recent: list[str], old: list[str]) -> None:
    """100 changes straight to the simulator (not through the store): notes and acks."""
    headers = {
        "Authorization": f"Token token={TOKEN}",
        "From": "",
        "Content-Type": "application/json",
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as c:
        users = c.get("/users", params={"limit": 1}).json()["users"]
        c.headers["From"] = users[0]["email"]
        for k, iid in enumerate(recent[:97] + old[:3]):
            r = c.post(f"/incidents/{iid}/notes", json={"note": {"content": f"change {k}"}})
            r.raise_for_status()


REOPEN = textwrap.dedent(
    """
    import gc, json, sys, time
    import psutil
    import duckdb, pandas, numpy  # what a kernel that used the store has imported
    from atlas_canvas import pagerduty
    import atlas_canvas.pagerduty._store, atlas_canvas.pagerduty._frame
    gc.collect()
    proc = psutil.Process()
    before = proc.memory_info().rss
    t0 = time.perf_counter()
    store = pagerduty.open_store(path=sys.argv[1])
    df = store.incidents()
    seconds = time.perf_counter() - t0
    gc.collect()
    grown = proc.memory_info().rss - before
    print(json.dumps({"seconds": seconds, "rows": len(df), "grown": grown,
                      "frame": int(df.memory_usage(deep=True).sum())}))
    """
)


def reopen(path: Path) -> dict[str, float]:
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", REOPEN, str(path)], capture_output=True,
                             text=True, check=True, timeout=300)  # fmt: skip
        runs.append(json.loads(out.stdout))
    runs.sort(key=lambda r: r["seconds"])
    return dict(runs[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--incidents", type=int, default=50_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--skip-rate-limit", action="store_true")
    args = ap.parse_args()
    os.environ["BENCH_PD_TOKEN"] = TOKEN

    import pandas  # noqa: F401  (imports before the clocks start, as in fetch.py)

    from atlas_canvas import pagerduty
    from atlas_canvas.pagerduty._store import open_store

    work = Path(tempfile.mkdtemp(prefix="store-bench-"))
    results: dict[str, object] = {}
    print(f"{args.incidents:,} incidents over a year, {args.latency_ms:g} ms latency per request")
    with simulator(args.incidents, args.latency_ms, 10**7) as url:
        cfg = write_config(work, url)
        now = dt.datetime.now(dt.timezone.utc)
        since = now - dt.timedelta(days=366)
        # Today's fetch (a warm-up fetch first, so both sides meet a warm simulator).
        pagerduty.incidents(since=since, progress=False, config=cfg)
        t0 = time.perf_counter()
        df = pagerduty.incidents(since=since, progress=False, config=cfg)
        t_fetch = time.perf_counter() - t0
        r_fetch = int(df.attrs["fetch"]["requests"])
        t0 = time.perf_counter()
        pagerduty.with_ack_times(df, config=cfg, max_requests=100_000)
        t_ack = time.perf_counter() - t0
        print(f"  incidents(): {len(df):,} rows, {r_fetch} requests, {t_fetch:.2f} s;"
              f" + with_ack_times(): {t_ack:.2f} s")  # fmt: skip

        # 3. First sync: without the history log (the same listing), then with it.
        # Timed from outside, as incidents() is (the report's own seconds end with its write,
        # before the lock is let go and the call returns).
        bare = open_store(path=work / "bare.duckdb", config=cfg)
        t0 = time.perf_counter()
        first_bare = bare.sync(since=since, progress=False, ack_times=False)
        t_bare = time.perf_counter() - t0
        store = open_store(path=work / "pd.duckdb", config=cfg)
        t0 = time.perf_counter()
        first = store.sync(since=since, progress=False)
        t_first = time.perf_counter() - t0
        print(f"  first sync, no history log: {first_bare}; {t_bare:.2f} s wall")
        print(f"  first sync with ack times:  {first}; {t_first:.2f} s wall")
        settle = store.sync(progress=False)
        print(f"  next sync (confirms the first one's last minutes): {settle}")

        # 1. Refresh after 100 changes.
        ids = df.sort_values("created_at")["id"].tolist()
        changes(url, ids[-300:][::3], [ids[100], ids[len(ids) // 3], ids[len(ids) // 2]])
        # The simulator rebuilds its sorted account log after writes (a real API keeps an
        # index); ask it once, untimed, so the refresh below measures the sync, not that.
        httpx.get(url + "/log_entries", params={"limit": 1}, timeout=300,
                  headers={"Authorization": f"Token token={TOKEN}"})  # fmt: skip
        t0 = time.perf_counter()
        refresh = store.sync(progress=False)
        t_refresh = time.perf_counter() - t0
        print(f"  refresh after 100 changes: {refresh} ({refresh.windows} windows, "
              f"{refresh.per_incident} single incidents)")  # fmt: skip
        results.update(
            fetch_seconds=t_fetch, fetch_requests=r_fetch, ack_seconds=t_ack,
            first_bare={**first_bare.as_dict(), "wall": t_bare},
            first={**first.as_dict(), "wall": t_first},
            refresh={**refresh.as_dict(), "wall": t_refresh},
        )  # fmt: skip

    # 2. Reopen in a fresh process.
    again = reopen(work / "pd.duckdb")
    print(f"  reopen (fresh process, median of 3): {again['rows']:,} rows in "
          f"{again['seconds']:.3f} s; grew {again['grown'] / 2**20:.0f} MB for a "
          f"{again['frame'] / 2**20:.0f} MB frame")  # fmt: skip
    results["reopen"] = again

    # 4. Rate limit.
    if not args.skip_rate_limit:
        with simulator(args.incidents, args.latency_ms, 960) as url:
            cfg = write_config(work, url)
            limited = open_store(path=work / "limited.duckdb", config=cfg)
            t0 = time.perf_counter()
            rl = limited.sync(since=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=366),
                              progress=False)  # fmt: skip
            t_rl = time.perf_counter() - t0
        floor = rl.requests / 16
        print(f"  at 960/min: {rl}; floor {floor:.0f} s")
        results["rate_limit"] = {**rl.as_dict(), "wall": t_rl, "floor": floor}

    ref = results["refresh"]
    assert isinstance(ref, dict)
    fb = results["first_bare"]
    fa = results["first"]
    assert isinstance(fb, dict) and isinstance(fa, dict)
    print("\nratios")
    print(f"  1. refresh requests / incidents() requests: {ref['requests']} / {r_fetch} = "
          f"{ref['requests'] / r_fetch:.1%} (claim <= 2%); / first sync with ack times "
          f"{fa['requests']}: {ref['requests'] / fa['requests']:.2%}; "
          f"refresh time {ref['wall']:.2f} s wall (claim < 1 s)")  # fmt: skip
    print(f"  2. reopen {again['seconds']:.3f} s (claim < 0.3 s); growth / frame "
          f"{again['grown'] / again['frame']:.2f}x (claim <= 3x)")  # fmt: skip
    print(f"  3. first sync (no history log) / incidents(): {fb['wall']:.2f} / {t_fetch:.2f} "
          f"= {fb['wall'] / t_fetch:.2f}x (claim <= 1.2x); with ack times / "
          f"(incidents() + with_ack_times()): "
          f"{fa['wall'] / (t_fetch + t_ack):.2f}x")  # fmt: skip
    if "rate_limit" in results:
        rl_d = results["rate_limit"]
        assert isinstance(rl_d, dict)
        print(f"  4. at 960/min: {rl_d['wall']:.0f} s / floor {rl_d['floor']:.0f} s = "
              f"{rl_d['wall'] / rl_d['floor']:.2f}x (claim <= 1.1x), "
              f"{rl_d['rate_limited']} x 429 (claim 0)")  # fmt: skip


if __name__ == "__main__":
    main()
