"""Retake ``docs/dashboard.png``: run ``mom demo``, open the demo notebook in headless
Chromium, run all cells, and capture the dashboard cell's output.

Usage (from the checkout, after ``make venv``; needs Debian's ``chromium``)::

    .venv/bin/python docs/screenshot.py [--out docs/dashboard.png] [--chromium /usr/bin/chromium]

It drives JupyterLab the way a person does (the Run menu, then scrolling to the dashboard),
so the picture shows what a newcomer sees after ``make demo``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _start_demo(demo_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "atlas_canvas", "demo", "--no-browser", "--dir", str(demo_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        out.append(line)
        print(line, end="")
        if "Press Ctrl-C" in line:
            break
    m = re.search(r"(http://\S+/lab/tree/\S+\?token=\w+)", "".join(out))
    if not m:
        proc.kill()
        raise SystemExit("mom demo did not start:\n" + "".join(out))
    return proc, m.group(1)


def _shoot(url: str, out: Path, chromium: str, cell_text: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        # Wait for the run to finish: no cell shows "[*]" and every code cell has a number.
        done = (
            "() => { const p = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];"
            " return p.length > 0 && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }"
        )
        page.wait_for_function(done, timeout=300_000, polling=1000)
        time.sleep(3)  # widgets and Vega finish rendering
        cell = page.locator(".jp-CodeCell").filter(has_text=cell_text).last
        cell.scroll_into_view_if_needed()
        output = cell.locator(".jp-OutputArea")
        output.screenshot(path=str(out))
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--cell", default="dashboard", help="text of the cell to capture")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = _start_demo(Path(tmp))
        try:
            _shoot(url, args.out, args.chromium, args.cell)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
