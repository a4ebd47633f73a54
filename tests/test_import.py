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


def test_all_is_sorted_and_complete() -> None:
    import inspect
    import types

    from atlas_canvas import _errors

    names = atlas_canvas.__all__
    assert names == sorted(names), "keep __all__ sorted"
    assert len(names) == len(set(names))
    # Every public name the package defines (not its submodules, not typing helpers).
    defined = {
        name
        for name, value in vars(atlas_canvas).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "TYPE_CHECKING", "Any"}
    }
    assert defined <= set(names), defined - set(names)
    # The whole error tree: every AtlasError class of the error module.
    tree = {
        name
        for name, value in vars(_errors).items()
        if inspect.isclass(value) and issubclass(value, _errors.AtlasError)
    }
    assert tree <= set(names), tree - set(names)
    for name in tree:
        assert getattr(atlas_canvas, name) is getattr(_errors, name)
    # Lazy names are listed, and everything listed is lazy or already defined.
    lazy = set(atlas_canvas._LAZY)
    assert lazy <= set(names)
    assert set(names) <= defined | lazy | {"__version__"}


def test_transport_is_exported_lazily() -> None:
    code = (
        "import sys, atlas_canvas; print('atlas_canvas._transport' in sys.modules); "
        "from atlas_canvas import AtlasTransport; print(AtlasTransport.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "AtlasTransport"]
