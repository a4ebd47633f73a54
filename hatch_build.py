"""Hatch build hook: ship the prebuilt JupyterLab extension in the wheel.

``atlas_canvas/labextension/`` is build output (git-ignored) of the TypeScript sources in
``labextension/`` (``make labextension``, needs Node). A regular wheel must carry it, both
inside the package and under ``share/jupyter/labextensions/atlas-canvas`` where JupyterLab
finds it, so ``pip install atlas-canvas`` needs no Node. Editable installs skip it:
``make labextension`` links the build folder with ``jupyter labextension develop``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LABEXTENSION = "atlas_canvas/labextension"
SHARE = "share/jupyter/labextensions/atlas-canvas"


class LabExtensionHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        built = Path(self.root) / LABEXTENSION
        if not (built / "package.json").is_file() or not (built / "static").is_dir():
            raise RuntimeError(
                f"{LABEXTENSION}/ is not built; run `make labextension` (needs Node 20 and "
                "the dev virtualenv) before building the wheel"
            )
        # Git-ignored build output: include it explicitly, in the package and as shared data.
        build_data["force_include"][str(built)] = LABEXTENSION
        build_data["shared_data"][str(built)] = SHARE
