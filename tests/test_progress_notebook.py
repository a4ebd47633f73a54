"""Progress bars in a real kernel: shown on long fetches, gone from the saved notebook.

A notebook run by nbclient/nbconvert (or saved in JupyterLab after a run) used to keep a
frozen "0%" bar: the widget's text form. The bar now lives under a display id and is blanked
when the fetch ends, so the saved file holds no bar, only an empty display.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PLANTED_SECRET
from tests.pagerduty.simenv import SimEnv, applied_simulator_env

pytestmark = pytest.mark.integration

CELLS = [
    "from atlas_canvas import pagerduty",
    "df = pagerduty.incidents(date_range='all')\nlen(df)",
    "acked = pagerduty.with_ack_times(df)\nacked.attrs['ack_times']['method']",
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with applied_simulator_env(tmp_path_factory.mktemp("progress"), incidents=1500) as se:
        yield se


def test_saved_notebook_keeps_no_progress_bar(sim: SimEnv, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    saved = path.read_text(encoding="utf-8")
    assert PLANTED_SECRET not in saved
    fetch, acks = nb.cells[1].outputs, nb.cells[2].outputs
    # The bars were there while the cells ran (each left its emptied display behind) ...
    for outputs in (fetch, acks):
        blanked = [o for o in outputs if o.output_type == "display_data" and not o.data]
        assert blanked, json.dumps(outputs, indent=1)[:2000]
    # ... and nothing of them is saved: no widget view, no bar text, no stray stderr.
    assert "widget-view" not in saved and "%|" not in saved and "it/s" not in saved
    assert not [o for c in nb.cells for o in c.outputs if o.output_type == "stream"]
    assert fetch[-1].data["text/plain"] == "1500"
    assert acks[-1].data["text/plain"] in (
        "'account-wide log entries'",
        "'per-incident log entries'",
    )
