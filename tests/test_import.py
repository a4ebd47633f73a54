"""`import atlas_canvas` stays cheap and `__all__` stays honest."""

from __future__ import annotations

import json
import subprocess
import sys

import atlas_canvas

HEAVY = ["pandas", "IPython", "ipywidgets", "uvicorn", "starlette", "aiohttp", "altair", "numpy"]


def test_import_is_cheap() -> None:
    code = (
        "import sys, json, atlas_canvas; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_all_is_honest() -> None:
    for name in atlas_canvas.__all__:
        assert getattr(atlas_canvas, name) is not None, name
