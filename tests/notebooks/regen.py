"""Re-execute the shipped notebooks in place against the test simulator (fixed seed and clock).

Run after editing a notebook, then commit the outputs nbval compares::

    .venv/bin/python -m tests.notebooks.regen
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import PLANTED_SECRET
from tests.pagerduty.simenv import apply_env, simulator_env

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = [
    ROOT / "notebooks" / "pagerduty_incidents.ipynb",
    ROOT / "notebooks" / "incident_review.ipynb",
]


def main(paths: list[Path]) -> None:
    with tempfile.TemporaryDirectory() as tmp, simulator_env(Path(tmp)) as se:
        undo = apply_env(se.env)
        try:
            for path in paths:
                nb = nbformat.read(path, as_version=4)
                NotebookClient(
                    nb,
                    timeout=300,
                    kernel_name="python3",
                    resources={"metadata": {"path": str(path.parent)}},
                ).execute()
                text = nbformat.writes(nb)
                if PLANTED_SECRET in text:
                    raise SystemExit(f"{path.name}: the planted secret is in an output")
                nbformat.write(nb, path)
                print(f"executed {path.relative_to(ROOT)}")
        finally:
            undo()


if __name__ == "__main__":
    main([Path(p).resolve() for p in sys.argv[1:]] or NOTEBOOKS)
