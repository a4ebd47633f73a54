"""The shipped notebooks run under nbval against the simulator and match their saved outputs.

``tests/notebooks/plugin.py`` starts a seeded simulator with a frozen clock and sets
``ATLAS_CONFIG``/``PAGERDUTY_ACCOUNT_TOKEN``/``PAGERDUTY_FROM`` before nbval starts kernels.
Outputs are compared cell by cell (only the simulator's random port is sanitized); to update
them after a change: ``.venv/bin/python -m tests.notebooks.regen``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PLANTED_SECRET

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    ROOT / "notebooks" / "pagerduty_incidents.ipynb",
    ROOT / "notebooks" / "incident_review.ipynb",
]
SANITIZE = ROOT / "tests" / "notebooks" / "sanitize.cfg"

pytestmark = pytest.mark.integration


def nbval(*paths: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "tests.notebooks.plugin",
        "--nbval",
        "--nbval-current-env",
        "--nbval-sanitize-with",
        str(SANITIZE),
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        *extra,
        *map(str, paths),
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_notebooks_match_their_saved_outputs() -> None:
    out = nbval(*NOTEBOOKS)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_outputs_are_compared_not_ignored(tmp_path: Path) -> None:
    nb = json.loads(NOTEBOOKS[1].read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "noisiest_services" in "".join(cell["source"]):
            cell["outputs"][0]["data"]["text/plain"] = ["a different answer"]
            break
    else:  # pragma: no cover - the notebook changed shape
        pytest.fail("cell not found")
    tampered = tmp_path / "tampered.ipynb"
    tampered.write_text(json.dumps(nb))
    out = nbval(tampered, extra=("-x",))
    assert out.returncode != 0 and "a different answer" in out.stdout


def test_no_notebook_holds_the_planted_secret_or_ignores_outputs() -> None:
    for path in NOTEBOOKS:
        text = path.read_text()
        assert PLANTED_SECRET not in text, path.name
        assert "NBVAL_IGNORE_OUTPUT" not in text and "nbval-ignore-output" not in text
        nb = json.loads(text)
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c.get("execution_count") for c in code), f"{path.name} has unexecuted cells"
    # The sanitizer cannot hide a leaked secret: none of its patterns touches it.
    rules = re.findall(r"^regex: (.*)$", SANITIZE.read_text(), flags=re.M)
    assert rules and all(re.sub(r, "X", PLANTED_SECRET) == PLANTED_SECRET for r in rules)


def test_magic_mistakes_fail_the_run_with_one_short_line(tmp_path: Path) -> None:
    """Under nbclient (hence nbmake, papermill) and nbval, a user error stops the run."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell("%load_ext atlas_canvas"),
            new_code_cell("%atlas incidnts --all"),
            new_code_cell("print('not reached')"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    client = NotebookClient(nb, timeout=120, kernel_name="python3")
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    assert "did you mean 'incidents'" in str(info.value)
    (error,) = [o for o in nb.cells[1].outputs if o["output_type"] == "error"]
    assert error["ename"] == "UsageError"
    assert len(error["traceback"]) == 1  # the short line, not a Python traceback
    assert nb.cells[2].outputs == []

    saved = tmp_path / "mistake.ipynb"
    nbformat.write(nb, saved)
    out = nbval(saved)
    assert out.returncode != 0 and "UsageError" in out.stdout
