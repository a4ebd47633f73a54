"""On-call and responder health: ``responder_load`` for a month, Analytics page economy.

Claims (issue 11), against the PagerDuty simulator (200 users, 50,000 incidents over a year,
50 ms injected latency per request, rate limit lifted), through the in-process Atlas adapter:

1. ``pagerduty.responder_load()`` for one month finishes in **under 2 s** end to end
   (Analytics API: ``/analytics/metrics/responders/all`` plus the users list).
2. ``pagerduty.analytics_incidents()`` for the year reads the Analytics API in 1,000-row
   cursor pages, so it needs **at most a tenth** of the requests of listing the same
   incidents with ``pagerduty.incidents()`` (100 per page).

Also printed, for the record: the same month computed without the Analytics API (a second
simulator on ``--plan professional``: incidents + log entries + on-calls) and whether the two
sources give the same frame.

Run: ``.venv/bin/python benchmarks/oncall.py [--incidents 50000] [--users 200] [--latency-ms 50]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _sim  # noqa: E402  (one copy of the helpers)
from _sim import TOKEN, config_text  # noqa: E402

NOW = "2026-06-01T00:00:00Z"
MONTH = {"since": "2026-05-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}
YEAR = {"since": "2025-06-01T00:00:00Z", "until": "2026-06-01T00:00:00Z"}
RUNS = 3


@contextlib.contextmanager
def simulators(args: argparse.Namespace, plans: list[str]) -> Iterator[list[str]]:
    common = [
        "--seed", "11",
        "--incidents", str(args.incidents), "--users", str(args.users),
        "--latency-ms", str(args.latency_ms), "--rate-limit", "10000000",
        "--now", NOW,
    ]  # fmt: skip
    arg_lists = [[*common, "--plan", plan] for plan in plans]
    with _sim.simulators(*arg_lists, start_seconds=600) as urls:
        yield urls


def timed(fn: Any, runs: int = RUNS) -> tuple[list[float], float, Any]:
    """(every run's seconds, the median, the last result)."""
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    ordered = sorted(times)
    return times, ordered[(len(ordered) - 1) // 2], result


def fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--incidents", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()

    import pandas as pd

    from atlas_canvas import pagerduty

    os.environ["BENCH_PD_TOKEN"] = TOKEN
    print(
        f"simulators: {args.incidents:,} incidents, {args.users} users, "
        f"{args.latency_ms:g} ms latency (starting...)"
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        simulators(args, ["business", "professional"]) as (
            business,
            professional,
        ),
    ):
        cfg_b, cfg_p = Path(tmp) / "business.yml", Path(tmp) / "professional.yml"
        cfg_b.write_text(config_text(business))
        cfg_p.write_text(config_text(professional))

        print("\n1. responder_load() for a month (Analytics API)")
        runs, median, load = timed(lambda: pagerduty.responder_load(**MONTH, config=cfg_b))
        print(
            f"    {len(load)} responders, {int(load['interruptions'].sum())} interruptions, "
            f"{load.attrs['fetch']['requests']} requests; runs {fmt(runs)} s, "
            f"median {median:.2f} s (goal < 2 s: {'met' if median < 2 else 'MISSED'})"
        )

        print("\n   the same month computed without analytics (plan professional)")
        c_runs, c_median, computed = timed(lambda: pagerduty.responder_load(**MONTH, config=cfg_p))
        same = True
        try:
            pd.testing.assert_frame_equal(load, computed)
        except AssertionError:
            same = False
        print(
            f"    source={computed.attrs['source']}, {computed.attrs['fetch']['requests']} "
            f"requests; runs {fmt(c_runs)} s (the first builds the simulator's account log), "
            f"median {c_median:.2f} s; "
            f"same frame as the Analytics API: {same}; "
            f"ratio computed/analytics time {c_median / median:.1f}x"
        )

        print("\n2. a year of raw incident analytics vs listing the incidents")
        a_runs, _, rows = timed(lambda: pagerduty.analytics_incidents(**YEAR, config=cfg_b), runs=2)
        a_requests = rows.attrs["fetch"]["requests"]
        _, i_median, listed = timed(
            lambda: pagerduty.incidents(**YEAR, config=cfg_b, progress=False), runs=1
        )
        i_requests = listed.attrs["fetch"]["requests"]
        ratio = a_requests / i_requests
        print(
            f"    analytics_incidents: {len(rows):,} rows, {a_requests} requests "
            f"(1,000-row pages), runs {fmt(a_runs)} s (the first computes the simulator's rows)"
        )
        print(
            f"    incidents():         {len(listed):,} rows, {i_requests} requests, "
            f"{i_median:.2f} s"
        )
        print(
            f"    requests ratio analytics/listing = {ratio:.3f} "
            f"(goal <= 0.1: {'met' if ratio <= 0.1 else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
