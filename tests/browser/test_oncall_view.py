"""The dashboard's on-call view in JupyterLab, in headless Chromium (issue 11).

Uses the JupyterLab server of ``test_lab.py`` (its simulator-backed ``pagerduty`` adapter): a
notebook builds the incidents dashboard, the test clicks **On call** like a user and checks
that who-is-on-call and the interruptions chart render. The screenshot goes to
``.ci-artifacts/screenshots/07-dashboard-oncall-view.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.test_lab import JupyterProcess, _notebook, _notebook_page, _shot, lab

pytestmark = [pytest.mark.browser, pytest.mark.integration]

__all__ = ["lab"]  # the fixture, shared with test_lab.py

CELL = (
    "from atlas_canvas import pagerduty\n"
    'board = pagerduty.dashboard("pagerduty", date_range="all", progress=False)\n'
    "board"
)


def test_dashboard_oncall_view_in_chromium(lab: tuple[JupyterProcess, Path]) -> None:
    from playwright.sync_api import expect

    server, cfg = lab
    name = "oncall-view.ipynb"
    (cfg.parent / "root" / name).write_text(json.dumps(_notebook([CELL])), encoding="utf-8")
    with _notebook_page(server, name, height=1400, failure="failure-oncall-view") as (
        page,
        panel_id,
    ):
        page.evaluate(
            "async () => { await window.jupyterapp.commands.execute('notebook:run-cell'); }"
        )
        panel = page.locator(f"[id='{panel_id}']")
        button = panel.get_by_role("button", name="On call")
        expect(button).to_be_visible(timeout=180_000)
        button.click()
        view = panel.locator(".atlas-oncall-view")
        expect(view).to_be_visible(timeout=120_000)
        expect(view).to_contain_text("On call at now")
        expect(view).to_contain_text("Payments On-call")
        # The Vega-Lite chart of interruptions per responder renders (SVG or canvas).
        chart = view.locator(".vega-embed")
        expect(chart.first).to_be_visible(timeout=60_000)
        expect(view.locator("table.atlas-oncall-load tr").nth(1)).to_be_visible()
        view.scroll_into_view_if_needed()
        path = _shot(page, "07-dashboard-oncall-view")
        assert path.stat().st_size > 10_000
