"""Rate-limit pacing: a fetch plus ack times against a small budget, zero 429s, near the floor.

Against the PagerDuty simulator (a separate process, ``mom pagerduty-sim --rate-limit N``,
PagerDuty's fixed one-minute window with ``ratelimit-*`` headers on every answer), one
process runs ``pagerduty.incidents(date_range="all")`` then ``pagerduty.with_ack_times()`` on
the frame, as a weekly-review notebook does. Claims (issue 10):

1. **zero 429s** however far past the budget the job goes (``df.attrs`` counts them, and every
   request, re-send and paced wait);
2. the job takes close to the **rate-limit floor**: requests ÷ (budget per second). With a
   fixed window the first minute's budget is spent at once, so a job of ``r`` requests and a
   budget of ``b`` a minute cannot end before ``60 * floor((r - 1) / b)`` seconds; the
   report gives both figures.

Run: ``.venv/bin/python benchmarks/pacing.py [--incidents 20000] [--rate-limit 960]``
(``--rate-limit 120 --incidents 3000`` shows the small-budget case in about a minute).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _sim import TOKEN, write_config  # noqa: E402  (one copy of the helpers)
from store import simulator  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--rate-limit", type=int, default=960)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()

    from atlas_canvas import pagerduty

    with (
        tempfile.TemporaryDirectory() as tmp,
        simulator(args.incidents, args.latency_ms, args.rate_limit) as url,
    ):
        config = write_config(Path(tmp), url)
        os.environ["BENCH_PD_TOKEN"] = TOKEN  # the variable the config names
        started = time.perf_counter()
        df = pagerduty.incidents(date_range="all", config=config, progress=False)
        fetched = time.perf_counter() - started
        out = pagerduty.with_ack_times(df, config=config, progress=False, max_requests=10**6)
        total = time.perf_counter() - started
    fetch, acks = df.attrs["fetch"], out.attrs["ack_times"]
    requests = fetch["requests"] + acks["requests"]
    per_second = args.rate_limit / 60
    floor = requests / per_second
    windows_floor = 60 * math.floor((requests - 1) / args.rate_limit)
    print(f"incidents(): {len(df):,} rows in {fetched:.1f} s: {json.dumps(fetch)}")
    print(f"with_ack_times(): {acks['found']:,} of {acks['asked']:,} found: {json.dumps(acks)}")
    print(
        f"{requests:,} requests at --rate-limit {args.rate_limit}: "
        f"{fetch['rate_limited'] + acks['rate_limited']} x 429, {total:.1f} s; "
        f"floor {floor:.1f} s (x{total / floor:.2f}), fixed-window floor {windows_floor} s"
    )


if __name__ == "__main__":
    main()
