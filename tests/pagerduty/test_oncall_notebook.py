"""notebooks/oncall_health.ipynb runs under nbval against the simulator and matches its outputs.

Same harness as ``tests/test_notebooks.py`` (the seeded simulator plugin, the sanitizer); to
update the saved outputs after a change: ``.venv/bin/python -m tests.notebooks.regen
notebooks/oncall_health.ipynb``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PLANTED_SECRET
from tests.test_notebooks import nbval

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "oncall_health.ipynb"

pytestmark = pytest.mark.integration


def test_oncall_notebook_matches_its_saved_outputs() -> None:
    out = nbval(NOTEBOOK)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_outputs_are_saved_and_compared(tmp_path: Path) -> None:
    text = NOTEBOOK.read_text()
    assert PLANTED_SECRET not in text and "NBVAL_IGNORE_OUTPUT" not in text
    nb = json.loads(text)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(
        c.get("execution_count") and (c["outputs"] or "%load_ext" in "".join(c["source"]))
        for c in code
    )
    # A changed figure in the saved responder table fails the run.
    for cell in code:
        if "responder_load(" in "".join(cell["source"]):
            data = next(o for o in cell["outputs"] if o["output_type"] == "execute_result")
            data["data"]["text/plain"] = ["a different load"]
            break
    else:  # pragma: no cover - the notebook changed shape
        pytest.fail("cell not found")
    tampered = tmp_path / "tampered.ipynb"
    tampered.write_text(json.dumps(nb))
    out = nbval(tampered, extra=("-x",))
    assert out.returncode != 0 and "a different load" in out.stdout
