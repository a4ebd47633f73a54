"""A clone of the repository with nothing beside it runs the fast suite.

``git clone`` of the current HEAD into an empty temporary directory, then pytest inside it
with this virtualenv's Python on the tests that read files (config, YAML, routing, the
simulator's conformance to PagerDuty's OpenAPI file, the docs). An audit hook
(``tests/integration/outside_guard.py``) refuses any open of a file in the original checkout
or beside it (a ``shared`` reference folder, say), and the clone's own ``atlas_canvas`` must be the
one imported. Only committed files take part: that is what a new user gets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: Fast tests that read files of the repository (each a few seconds).
FAST_SUITE = (
    "tests/test_config.py",
    "tests/test_yaml.py",
    "tests/test_cli_config.py",
    "tests/test_routing.py",
    "tests/test_docs.py",
    "tests/simulator/test_conformance.py",
)


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("this check needs git and a git checkout of the project")
    alone = tmp_path_factory.mktemp("alone")
    target = alone / "atlas-canvas"
    _git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(target), cwd=alone)
    assert [p.name for p in alone.iterdir()] == ["atlas-canvas"]  # nothing beside it (yet:
    # the runs below add their temporary folder, "tmp", which the guard allows)
    assert _git("rev-parse", "HEAD", cwd=target) == _git("rev-parse", "HEAD", cwd=ROOT)
    return target


def _environment(clone: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    # The inner run's temporary files (pytest's basetemp, tempfile) go to a folder of its
    # own beside the clone: when the checkout itself sits in the system temp folder (a CI
    # clone in /tmp), that folder is "beside the checkout" and off limits.
    scratch = clone.parent / "tmp"
    scratch.mkdir(exist_ok=True)
    env["TMPDIR"] = str(scratch)
    # The checkout this test runs from and everything beside it are off limits; the
    # virtualenv providing Python and the dependencies is allowed even if it lives there.
    beside = [p for p in ROOT.parent.iterdir() if not p.name.startswith(".")]
    env["ATLAS_TEST_FORBIDDEN"] = os.pathsep.join(str(p) for p in [ROOT, *beside])
    env["ATLAS_TEST_ALLOWED"] = os.pathsep.join({sys.prefix, str(clone), str(scratch)})
    # Subprocesses the tests start (`mom ...`) import the clone's package too, not the
    # editable install's (the audit hook only watches the pytest process itself).
    env["PYTHONPATH"] = str(clone)
    return env


def test_the_clone_imports_its_own_package(clone: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import atlas_canvas; print(atlas_canvas.__file__)"],
        cwd=clone, env=_environment(clone), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).resolve() == (clone / "atlas_canvas" / "__init__.py").resolve()


def test_the_fast_suite_passes_in_a_clone_with_nothing_beside_it(clone: Path) -> None:
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
        "-p", "tests.integration.outside_guard", *FAST_SUITE,
    ]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=clone, env=_environment(clone), capture_output=True, text=True, timeout=540
    )
    output = done.stdout[-8000:] + done.stderr[-4000:]
    assert done.returncode == 0, output
    assert " passed" in done.stdout and "outside_guard:" not in done.stdout, output
    assert not (clone / ".pytest_cache").exists()


def test_the_guard_refuses_a_file_beside_the_clone(clone: Path, tmp_path: Path) -> None:
    """Positive control: the guard really fails a run that reads outside the clone."""
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "atlas-template.yml").write_text("kind: Atlas\n")
    probe = clone / "tests" / "test_reads_outside_probe.py"
    probe.write_text(
        "from pathlib import Path\n\n\n"
        "def test_reads_outside() -> None:\n"
        f"    Path({str(outside / 'atlas-template.yml')!r}).read_text()\n"
    )
    env = _environment(clone)
    env["ATLAS_TEST_FORBIDDEN"] += os.pathsep + str(outside)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-p", "tests.integration.outside_guard", str(probe)],
            cwd=clone, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        probe.unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "outside the clone" in done.stdout and str(outside) in done.stdout
