"""atlas_canvas.pagerduty: a cheap import and an honest __all__."""

from __future__ import annotations

import json
import subprocess
import sys

import atlas_canvas.pagerduty as pd_api


def test_import_is_cheap() -> None:
    code = (
        "import sys, json, atlas_canvas.pagerduty; "
        "print(json.dumps([m for m in ('pandas', 'ipywidgets', 'IPython', 'numpy') "
        "if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_all_is_honest() -> None:
    for name in pd_api.__all__:
        assert getattr(pd_api, name) is not None, name
    assert sorted(pd_api.__all__) == sorted(set(pd_api.__all__))
