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
WIDTH, HEIGHT = 1440, 1000


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
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000
        )
        # More room for the dashboard: close the file browser (View > File Browser).
        page.click(".lm-MenuBar-itemLabel:text-is('View')")
        page.click(".lm-Menu-itemLabel:text-is('File Browser')")
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        # Wait for the run to finish: every code cell numbered, or a run stopped by an error.
        prompts = "[...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
        done = (
            f"() => {{ const p = {prompts}.map(e => e.textContent.trim());"
            " return p.length > 0 && !p.some(t => t.includes('*'))"
            " && p.some(t => /\\d/.test(t)); }"
        )
        time.sleep(2)
        try:
            page.wait_for_function(done, timeout=300_000, polling=1000)
        except Exception:
            page.screenshot(path=str(out.with_suffix(".error.png")), timeout=10_000)
            raise
        unrun = page.evaluate(f"() => {prompts}.filter(e => !/\\d/.test(e.textContent)).length")
        if unrun:
            page.screenshot(path=str(out.with_suffix(".error.png")), full_page=True)
            raise SystemExit(
                f"{unrun} cells did not run (an error stopped Run All?); see "
                f"{out.with_suffix('.error.png')}"
            )
        time.sleep(3)  # widgets and Vega finish rendering
        cell = page.locator(".jp-CodeCell").filter(has_text=cell_text).last
        output = cell.locator(".jp-Cell-outputArea")
        # The dashboard is taller than a screen: bring its top to the top of the notebook
        # panel and capture what a person sees there (tiles, filters, chart, first rows).
        output.evaluate("e => e.scrollIntoView({block: 'start'})")
        time.sleep(1)
        box = output.bounding_box()
        if box is None:
            raise SystemExit(f"the {cell_text!r} cell has no visible output")
        bottom = min(box["y"] + box["height"], HEIGHT - 30)
        page.screenshot(
            path=str(out),
            clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": bottom - box["y"]},
        )
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--cell", default="pagerduty.dashboard(", help="text of the cell to capture"
    )
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
