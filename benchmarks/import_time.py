"""``import atlas_canvas`` plus ``%load_ext atlas_canvas`` stays under 0.3 s.

Each measurement runs in a fresh interpreter. IPython itself is imported and its shell created
*before* the clock starts (a notebook kernel has both already); what is timed is exactly what a
user's first cell pays: importing the package and loading the extension. The median of
``--runs`` fresh processes is reported, next to a reference measured in the same run: the
bare interpreter start-up and ``import json`` (a floor every process pays anyway).

Run: ``.venv/bin/python benchmarks/import_time.py [--runs 7]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t0 = time.perf_counter()
import atlas_canvas
t1 = time.perf_counter()
ip.run_line_magic("load_ext", "atlas_canvas")
t2 = time.perf_counter()
assert "atlas" in ip.magics_manager.magics["line"]
heavy = [m for m in ("pandas", "ipywidgets", "httpx", "altair", "uvicorn", "aiohttp")
         if m in sys.modules]
print(json.dumps({"import": t1 - t0, "load_ext": t2 - t1, "heavy": heavy}))
"""

COLD = """
import json, time
t0 = time.perf_counter()
import atlas_canvas
print(json.dumps({"cold": time.perf_counter() - t0}))
"""

REFERENCE = """
import json, time
t0 = time.perf_counter()
import json as _j, decimal  # a stdlib module with some weight
print(json.dumps({"reference": time.perf_counter() - t0}))
"""


def run(code: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    samples = [run(CHILD) for _ in range(args.runs)]
    refs = [float(run(REFERENCE)["reference"]) for _ in range(args.runs)]  # type: ignore[arg-type]
    imp = statistics.median(float(s["import"]) for s in samples)  # type: ignore[arg-type]
    ext = statistics.median(float(s["load_ext"]) for s in samples)  # type: ignore[arg-type]
    total = statistics.median(
        float(s["import"]) + float(s["load_ext"])  # type: ignore[arg-type]
        for s in samples
    )
    colds = [float(run(COLD)["cold"]) for _ in range(args.runs)]  # type: ignore[arg-type]
    cold = statistics.median(colds)
    heavy = sorted({m for s in samples for m in s["heavy"]})  # type: ignore[attr-defined]
    print(f"import atlas_canvas:      {imp * 1000:6.1f} ms (median of {args.runs})")
    print(f"%load_ext atlas_canvas:   {ext * 1000:6.1f} ms")
    print(
        f"together:                 {total * 1000:6.1f} ms (goal < 300 ms): "
        f"{'OK' if total < 0.3 else 'MISSED'}"
    )
    print(
        f"reference (stdlib import json+decimal): {statistics.median(refs) * 1000:.1f} ms, "
        f"ratio {total / max(statistics.median(refs), 1e-9):.0f}x"
    )
    print(f"import atlas_canvas in a bare interpreter (no IPython loaded): {cold * 1000:.1f} ms")
    print(f"heavy modules loaded by it: {heavy or 'none'}")


if __name__ == "__main__":
    main()
