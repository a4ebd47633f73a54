"""The JupyterLab extension in headless Chromium (Debian's, driven by Playwright).

JupyterLab runs as a subprocess on a free loopback port, its config's ``pagerduty`` adapter
pointing at the PagerDuty simulator. The test walks what a user does: open the Atlas
sidebar, see the adapter healthy, insert a snippet, run a cell that shows incidents, add an
adapter (first with a mistake), type a ``%%atlas`` cell. Screenshots go to
``.ci-artifacts/screenshots/``; any console error from the extension fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.jupyter.servers import JupyterProcess, run_jupyter, write_config

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = ROOT / ".ci-artifacts" / "screenshots"
SIM_TOKEN = "browser-test-token"
BUILT = ROOT / "atlas_canvas" / "labextension" / "package.json"


def _require_browser() -> None:
    """Missing pieces skip locally but FAIL in CI, so a broken set-up is never green."""
    problems = []
    if not Path(CHROMIUM).exists():
        problems.append(f"{CHROMIUM} not found (make browser-deps)")
    if not BUILT.exists():
        problems.append("atlas_canvas/labextension is not built (make labextension)")
    if importlib.util.find_spec("playwright") is None:
        problems.append("playwright is not installed")
    if problems:
        message = "browser tests cannot run: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _magics_available() -> bool:
    return importlib.util.find_spec("atlas_canvas._magics") is not None


def _incidents_cell() -> str:
    if _magics_available():
        return "%load_ext atlas_canvas\n%atlas incidents --adapter pagerduty"
    # Until the magics land: the same display through the public Python API.
    return (
        "from atlas_canvas import pagerduty\n"
        'df = await pagerduty.fetch_incidents("pagerduty", progress=False)\n'
        "pagerduty.IncidentTable(df)"
    )


#: A MIME bundle whose incident data tries to run script in the page, plus a bare `{}`.
HOSTILE_CELL = """from IPython.display import display
display({
    "application/vnd.atlas.pagerduty.incidents+json": {
        "total": 2,
        "incidents": [
            {
                "id": "PX1",
                "incident_number": "<b>7</b>",
                "title": '<img src=x onerror="window.__pwned=1">',
                "html_url": "javascript:window.__pwned=2",
                "status": "<b>triggered</b>",
                "urgency": "high",
                "service": {"summary": "<script>window.__pwned=3</script>"},
                "assignees": [{"summary": "<i>Eve</i>"}, 42, None],
                "created_at": "not a date",
            },
            {},
        ],
    },
    "text/plain": "2 incidents",
}, raw=True)"""


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterProcess, Path]]:
    _require_browser()
    from atlas_canvas.simulator import SimulatorConfig, running

    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    # A copy of the project's notebooks (the user's view), plus the test's own notebook.
    # Outputs are cleared, as in a fresh checkout a user runs (the test runs the cells).
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        data = json.loads(nb.read_text(encoding="utf-8"))
        for cell in data.get("cells", []):
            if cell.get("cell_type") == "code":
                cell["outputs"] = []
                cell["execution_count"] = None
        (root / nb.name).write_text(json.dumps(data), encoding="utf-8")
    (root / "atlas-browser-test.ipynb").write_text(json.dumps(_notebook([_incidents_cell()])))
    (root / "hostile.ipynb").write_text(json.dumps(_notebook([HOSTILE_CELL])))

    # No "get notified about Jupyter news?" toast (and no news fetch from the network).
    notif = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    notif.mkdir(parents=True)
    (notif / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')

    args = [
        "--LabApp.extension_manager=readonly",
        # window.jupyterapp: lets the test run notebook commands the way galata does.
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
    ]
    # Editable installs link the build into the venv (make labextension); otherwise serve it
    # from the source tree so the test sees the current build either way.
    linked = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "atlas-canvas"
    if not linked.exists():
        extra = tmp / "labextensions"
        extra.mkdir()
        (extra / "atlas-canvas").symlink_to(BUILT.parent)
        args.append(f"--LabApp.extra_labextensions_path={extra}")

    with running(SimulatorConfig(seed=3, incidents=60, token=SIM_TOKEN)) as sim_url:
        cfg = write_config(
            tmp / "atlas.yml",
            {
                "pagerduty": (
                    sim_url,
                    ["Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}"],
                ),
            },
        )
        with run_jupyter(
            tmp,
            cfg,
            app="jupyterlab",
            args=args,
            env_extra={"PAGERDUTY_ACCOUNT_TOKEN": SIM_TOKEN},
            timeout=120,
        ) as server:
            yield server, cfg


class ConsoleWatch:
    """Collects console errors and page exceptions; those from our extension fail the test."""

    def __init__(self) -> None:
        self.all: list[str] = []
        #: Resource errors the test provokes on purpose (status, path), allowed once each.
        self.expected: list[tuple[int, str]] = []

    def on_console(self, msg: Any) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.all.append(f"console: {msg.text} @ {loc.get('url', '')}")

    def on_pageerror(self, exc: Any) -> None:
        self.all.append(f"pageerror: {exc} {getattr(exc, 'stack', '')}")

    def ours(self) -> list[str]:
        expected = list(self.expected)
        out = []
        for m in self.all:
            hit = next(
                (
                    e
                    for e in expected
                    if f"status of {e[0]}" in m and re.search(rf"{re.escape(e[1])}(\?|$)", m)
                ),
                None,
            )
            if hit is not None:
                expected.remove(hit)
            elif "atlas" in m.lower():
                out.append(m)
        return out


def _launch(p: Any) -> Any:
    return p.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
        ],
    )


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def _wait_idle(page: Any, name: str) -> str:
    """Until notebook ``name`` is the current widget and its kernel is idle; its panel's id."""
    page.wait_for_function(
        f"() => window.jupyterapp?.shell.currentWidget?.context?.path === '{name}'"
        " && window.jupyterapp.shell.currentWidget.sessionContext?.session"
        "?.kernel?.status === 'idle'",
        timeout=120_000,
    )
    return str(page.evaluate("() => window.jupyterapp.shell.currentWidget.id"))


@contextmanager
def _notebook_page(
    server: JupyterProcess, name: str, *, height: int, failure: str | None = None
) -> Iterator[tuple[Any, str]]:
    """Chromium on notebook ``name`` with its kernel idle: (the page, the notebook panel's id).

    ``?reset`` gives a fresh workspace, not the previous test's open tabs. Afterwards the
    console errors go to ``browser-console.log`` and any from our extension fail the test; if
    the block fails, the page is photographed as ``failure`` first.
    """
    from playwright.sync_api import sync_playwright

    watch = ConsoleWatch()
    with sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": height})
        try:
            page.set_default_timeout(60_000)
            page.on("console", watch.on_console)
            page.on("pageerror", watch.on_pageerror)
            page.goto(f"{server.url}lab/tree/{name}?reset&token={server.token}")
            yield page, _wait_idle(page, name)
        except BaseException:
            if failure:
                _shot(page, failure)
            raise
        finally:
            browser.close()
    with (ARTIFACTS.parent / "browser-console.log").open("a") as log:
        log.write("\n".join(watch.all) + "\n")
    assert watch.ours() == [], watch.ours()


def test_sidebar_snippet_and_incidents_in_chromium(
    lab: tuple[JupyterProcess, Path],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, cfg = lab
    watch = ConsoleWatch()
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.on("console", watch.on_console)
            page.on("pageerror", watch.on_pageerror)
            page.goto(f"{server.url}lab/tree/atlas-browser-test.ipynb?reset&token={server.token}")

            # -- the sidebar lists the simulator-backed adapter as healthy ----------------
            tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="atlas-canvas-sidebar"]')
            expect(tab).to_be_visible()
            tab.click()
            sidebar = page.locator("#atlas-canvas-sidebar")
            expect(sidebar).to_be_visible()
            row = sidebar.locator('.jp-AtlasCanvas-adapter[data-adapter="pagerduty"]')
            expect(row).to_be_visible()
            expect(row.locator(".jp-AtlasCanvas-health")).to_have_attribute("data-state", "ok")
            expect(row.locator(".jp-AtlasCanvas-health")).to_contain_text("healthy")
            expect(row.locator(".jp-AtlasCanvas-url")).to_have_text(
                cfg.read_text().split("baseUrl: ")[1].split("\n")[0]
            )
            # No header value (the secret's template or value) is ever shown.
            assert SIM_TOKEN not in sidebar.inner_text()

            # -- "insert snippet" adds a cell to the open notebook ---------------------------
            notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
            expect(notebook.locator(".jp-Cell")).to_have_count(1)
            _wait_idle(page, "atlas-browser-test.ipynb")
            row.locator(".jp-AtlasCanvas-insert").click()
            expect(notebook.locator(".jp-Cell")).to_have_count(2)
            expect(notebook.locator(".jp-Cell").nth(1)).to_contain_text(
                "%atlas incidents --adapter pagerduty"
            )
            _shot(page, "01-sidebar-healthy-snippet-inserted")

            # -- running the incidents cell shows the rendered incidents --------------------
            sources = page.evaluate(
                "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel"
                ".cells.map(c => c.getSource())"
            )
            assert sources[1] == "%load_ext atlas_canvas\n%atlas incidents --adapter pagerduty"
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            first = notebook.locator(".jp-Cell").nth(0)
            rendered = first.locator(".jp-OutputArea .jp-AtlasIncidents")
            expect(rendered).to_be_visible(
                timeout=int(os.environ.get("ATLAS_RENDER_TIMEOUT", "120000"))
            )
            rows = rendered.locator("tr.jp-AtlasIncidents-row")
            assert rows.count() > 0
            expect(rendered.locator(".jp-AtlasIncidents-summary")).to_contain_text("incidents")
            # Status badges are coloured by status, links are safe.
            statuses = set(
                rendered.locator("td .jp-AtlasIncidents-badge[data-status]").evaluate_all(
                    "els => els.map(e => e.dataset.status)"
                )
            )
            assert statuses <= {"triggered", "acknowledged", "resolved"} and statuses
            colour = rendered.locator("td .jp-AtlasIncidents-badge[data-status]").first.evaluate(
                "e => getComputedStyle(e).backgroundColor"
            )
            assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
            links = rendered.locator(".jp-AtlasIncidents-title a")
            if links.count():
                assert links.first.get_attribute("rel") == "noopener noreferrer"
                assert (links.first.get_attribute("href") or "").startswith("http")
            expect(rendered.locator("time").first).to_contain_text("ago")
            rendered.scroll_into_view_if_needed()
            _shot(page, "02-incidents-rendered")

            # -- add-adapter form: inline validation, then success ---------------------------
            form = sidebar.locator(".jp-AtlasCanvas-form")
            form.locator('input[name="name"]').fill("statuspage")
            form.locator('input[name="baseUrl"]').fill("ftp://status.example.com")
            # The browser logs the (intended) 400 answer as a failed resource load.
            watch.expected.append((400, "/atlas-canvas/adapters"))
            form.locator(".jp-AtlasCanvas-submit").click()
            error = form.locator('.jp-AtlasCanvas-fieldError[data-field="baseUrl"]')
            expect(error).to_be_visible()
            expect(error).to_contain_text("expected an http:// or https:// URL")
            _shot(page, "03-add-adapter-validation")
            assert "statuspage" not in cfg.read_text()
            # The server's structured error names the field: a taken name shows under Name,
            # and the previous error is cleared.
            form.locator('input[name="name"]').fill("pagerduty")
            form.locator('input[name="baseUrl"]').fill("https://status.example.com/api/v2")
            watch.expected.append((400, "/atlas-canvas/adapters"))
            form.locator(".jp-AtlasCanvas-submit").click()
            name_error = form.locator('.jp-AtlasCanvas-fieldError[data-field="name"]')
            expect(name_error).to_be_visible()
            expect(name_error).to_contain_text("already exists")
            expect(error).to_be_hidden()
            expect(form.locator('.jp-AtlasCanvas-fieldError[data-field="form"]')).to_be_hidden()
            form.locator('input[name="name"]').fill("statuspage")
            form.locator('input[name="baseUrl"]').fill("https://status.example.com/api/v2")
            form.locator("textarea").fill("Authorization: OAuth ${{ STATUSPAGE_TOKEN }}")
            form.locator(".jp-AtlasCanvas-submit").click()
            new_row = sidebar.locator('.jp-AtlasCanvas-adapter[data-adapter="statuspage"]')
            expect(new_row).to_be_visible()
            expect(new_row.locator(".jp-AtlasCanvas-health")).to_have_attribute(
                "data-state", "secret-missing"
            )
            expect(new_row.locator(".jp-AtlasCanvas-health")).to_contain_text("STATUSPAGE_TOKEN")
            assert "name: statuspage" in cfg.read_text()
            _shot(page, "04-adapter-added")

            # -- %%atlas cells get JSON highlighting -------------------------------------------
            page.keyboard.press("Escape")
            notebook.locator(".jp-Cell").nth(1).locator(".jp-InputArea-editor").click()
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            expect(notebook.locator(".jp-Cell")).to_have_count(3)
            page.keyboard.press("Enter")
            page.keyboard.insert_text(
                '%%atlas POST /v1/apis/http/pagerduty/incidents\n{"incident": {"urgent": true}}'
            )
            third = notebook.locator(".jp-Cell").nth(2)
            expect(third.locator(".cm-atlas-json-key").first).to_have_text('"incident"')
            expect(third.locator(".cm-atlas-json-literal")).to_have_text("true")
            _shot(page, "05-cell-magic-highlight")
            # A plain Python cell is left alone.
            expect(notebook.locator(".jp-Cell").nth(0).locator(".cm-atlas-json-key")).to_have_count(
                0
            )
        except BaseException:
            _shot(page, "failure")
            raise
        finally:
            browser.close()

    log = ARTIFACTS.parent / "browser-console.log"
    log.write_text("\n".join(watch.all) + "\n")
    assert watch.ours() == [], watch.ours()
    # And the server never logged the secret.
    assert SIM_TOKEN not in server.log()
    time.sleep(0)  # keep the with-blocks above as the only waits


def _first_incidents_cell(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for i, cell in enumerate(cells):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "%atlas incidents" in source:
            return i
    raise AssertionError(f"{path.name} has no %atlas incidents cell")


def test_demo_notebook_renders_incidents(lab: tuple[JupyterProcess, Path]) -> None:
    """The project's own demo notebook, run in JupyterLab, shows the rendered incidents."""
    from playwright.sync_api import expect

    server, _cfg = lab
    name = "pagerduty_incidents.ipynb"
    if not (ROOT / "notebooks" / name).exists():
        pytest.fail(f"notebooks/{name} is missing")
    with _notebook_page(server, name, height=900, failure="failure-demo-notebook") as (
        page,
        panel_id,
    ):
        # Run the notebook from the top down to its first incidents display, as a user
        # reading it would (the cells below it are charts, dashboards and a typo demo).
        page.evaluate(
            """async (idx) => {
                    const app = window.jupyterapp;
                    app.shell.currentWidget.content.activeCellIndex = idx;
                    await app.commands.execute('notebook:run-all-above');
                    await app.commands.execute('notebook:run-cell');
                }""",
            _first_incidents_cell(ROOT / "notebooks" / name),
        )
        rendered = page.locator(f"[id='{panel_id}'] .jp-OutputArea .jp-AtlasIncidents")
        expect(rendered.first).to_be_visible(timeout=180_000)
        first = rendered.first
        assert first.locator("tr.jp-AtlasIncidents-row").count() > 0
        # The HTML fallback is not what JupyterLab shows: the renderer won.
        expect(first.locator(".jp-AtlasIncidents-summary")).to_contain_text("incidents")
        first.scroll_into_view_if_needed()
        _shot(page, "06-demo-notebook-incidents")


def test_renderer_is_inert_with_hostile_data(lab: tuple[JupyterProcess, Path]) -> None:
    """Incident data is third-party text: it renders as text, links only for http(s)."""
    from playwright.sync_api import expect

    server, _cfg = lab
    with _notebook_page(server, "hostile.ipynb", height=700, failure="failure-hostile") as (
        page,
        panel_id,
    ):
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        out = page.locator(f"[id='{panel_id}'] .jp-OutputArea .jp-AtlasIncidents")
        expect(out).to_be_visible(timeout=120_000)
        rows = out.locator("tr.jp-AtlasIncidents-row")
        expect(rows).to_have_count(2)
        hostile = rows.nth(0)
        expect(hostile.locator(".jp-AtlasIncidents-title")).to_have_text(
            '<img src=x onerror="window.__pwned=1">'
        )
        assert hostile.locator("a").count() == 0  # javascript: URL -> no link
        assert out.locator("img, script, b, i").count() == 0
        expect(hostile.locator(".jp-AtlasIncidents-service")).to_have_text(
            "<script>window.__pwned=3</script>"
        )
        expect(hostile.locator(".jp-AtlasIncidents-assignees")).to_have_text("<i>Eve</i>, 42")
        expect(hostile.locator("[data-status]").first).to_have_attribute("data-status", "other")
        expect(hostile.locator(".jp-AtlasIncidents-created")).to_have_text("not a date")
        # The empty incident renders as an empty row, not an error.
        expect(rows.nth(1).locator(".jp-AtlasIncidents-title")).to_have_text("(no title)")
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.__pwned") is None
        _shot(page, "07-hostile-incident-data")
