"""The wheel carries the prebuilt labextension and the server config; no Node needed.

Offline and quick: the wheel is built from this checkout with the dev venv's hatchling (no
build isolation, no download), installed with ``--no-deps`` into a brand-new virtualenv whose
only other packages come from the dev venv through a ``.pth`` line (so nothing is fetched),
and Jupyter is asked, with a PATH that holds no ``node``, whether the extensions are enabled.
(``tests/integration/test_fresh_machine.py`` does the full networked install.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

BUILT = ROOT / "atlas_canvas" / "labextension"


def _require_build() -> None:
    if not (BUILT / "package.json").exists():
        message = "atlas_canvas/labextension is not built (make labextension)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _clean_env(tmp: Path, path: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "PYTHON", "VIRTUAL_ENV", "ATLAS_"))
    }
    env.update(
        {
            "PATH": path,
            "HOME": str(tmp / "home"),
            "JUPYTER_CONFIG_DIR": str(tmp / "home" / "jupyter-config"),
            "JUPYTER_DATA_DIR": str(tmp / "home" / "jupyter-data"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PIP_NO_INDEX": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )
    return env


def _build_wheel(source: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, dict[str, str]]]:
    _require_build()
    tmp = tmp_path_factory.mktemp("wheel")
    (tmp / "home").mkdir()
    dev_env = _clean_env(tmp, os.environ.get("PATH", ""))
    built = _build_wheel(ROOT, tmp / "dist", dev_env)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp / "dist").glob("atlas_canvas-*.whl")

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The dependencies (jupyterlab, jupyter_server, ...) come from the dev venv, read-only.
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (site / "_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        env=dev_env,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    # No node anywhere on the PATH the fresh install is used with.
    env = _clean_env(tmp, str(venv / "bin"))
    assert shutil.which("node", path=env["PATH"]) is None
    yield wheel, venv, env


def _run(venv: Path, env: dict[str, str], code: str, *args: str) -> str:
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=str(venv),
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    return out


def test_wheel_contents(fresh: tuple[Path, Path, dict[str, str]]) -> None:
    wheel, _venv, _env = fresh
    names = zipfile.ZipFile(wheel).namelist()
    data = [n for n in names if ".data/data/" in n]
    share = "share/jupyter/labextensions/atlas-canvas/"
    assert any(n.endswith(share + "package.json") for n in data)
    assert any(share + "static/remoteEntry." in n for n in data)
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/atlas_canvas.json") for n in data)
    # The same build inside the package, for `jupyter labextension develop`.
    assert "atlas_canvas/labextension/package.json" in names
    # The wheel ships exactly the current build (make rebuilt it from the current sources).
    shipped = sorted(n.split(share, 1)[1] for n in data if share in n)
    on_disk = sorted(str(p.relative_to(BUILT)) for p in BUILT.rglob("*") if p.is_file())
    assert shipped == on_disk


def test_extensions_enabled_without_node(fresh: tuple[Path, Path, dict[str, str]]) -> None:
    _wheel, venv, env = fresh
    where = _run(venv, env, "import atlas_canvas, sys; print(atlas_canvas.__file__, sys.prefix)")
    assert str(venv) in where.split()[0], "the wheel's package, not the checkout, is imported"

    labext = _run(
        venv, env, "import sys; from jupyterlab.labextensions import main; main()", "list"
    )
    line = next((ln for ln in labext.splitlines() if "atlas-canvas" in ln), "")
    assert "enabled" in line and "OK" in line, labext
    assert str(venv / "share" / "jupyter" / "labextensions") in labext

    server = _run(
        venv,
        env,
        "from jupyter_server.extension.serverextension import main; main()",
        "list",
    )
    assert str(venv / "etc" / "jupyter") in server
    lines = [ln for ln in server.splitlines() if "atlas_canvas" in ln]
    assert any("enabled" in ln for ln in lines), server
    assert any("OK" in ln for ln in lines), server


def test_wheel_build_refuses_without_labextension(tmp_path: Path) -> None:
    # A checkout where nobody ran `make labextension`: a wheel without the extension would
    # install "fine" and show nothing in JupyterLab, so the build must stop and say why.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "jupyter-config", src / "jupyter-config")
    shutil.copytree(
        ROOT / "atlas_canvas",
        src / "atlas_canvas",
        ignore=shutil.ignore_patterns("labextension", "__pycache__"),
    )
    (tmp_path / "home").mkdir()
    r = _build_wheel(src, tmp_path / "dist", _clean_env(tmp_path, os.environ.get("PATH", "")))
    assert r.returncode != 0
    assert "make labextension" in r.stdout + r.stderr
    assert not list((tmp_path / "dist").glob("*.whl")) if (tmp_path / "dist").exists() else True
