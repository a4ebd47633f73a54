"""The habits that catch mistakes early hold: one version, strict pytest, a clean environment.

The pytest checks run a small probe file in a subprocess under this project's own pytest
settings (``-c pyproject.toml``) with ``tests/conftest.py`` loaded as a plugin, so they test
the configuration itself rather than restating it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import atlas_canvas
from tests.conftest import ROOT, is_clean_variable


def test_one_version_for_the_package_and_the_labextension() -> None:
    project = (ROOT / "pyproject.toml").read_text().split("\n[project]\n", 1)[1]
    match = re.search(r'^version = "([^"]+)"$', project, re.M)  # tomllib is 3.11+
    assert match, "pyproject.toml has no static [project] version"
    declared = match.group(1)
    labext = json.loads((ROOT / "labextension" / "package.json").read_text())["version"]
    assert atlas_canvas.__version__ == declared == labext
    built = ROOT / "atlas_canvas" / "labextension" / "package.json"
    if built.exists():  # git-ignored build output; absent in a clone before `make labextension`
        assert json.loads(built.read_text())["version"] == declared


#: Probe test files, run together in one subprocess (pytest starts slowly with its plugins).
PROBES = {
    "test_marker_probe.py": (
        "import pytest\n\n\n@pytest.mark.integraton\ndef test_misspelt() -> None:\n    pass\n"
    ),
    "test_warning_probe.py": (
        "import warnings\n\n\ndef test_warns() -> None:\n"
        "    warnings.warn('deprecated thing', DeprecationWarning)\n"
    ),
    "test_env_probe.py": (
        "import os\n\n\n"
        "def test_1_outside_values_are_gone() -> None:\n"
        "    assert 'ATLAS_URL' not in os.environ and 'PAGERDUTY_API_TOKEN' not in os.environ\n"
        "    assert os.environ['ATLAS_HABITS_PROBE'] == 'kept'  # other variables are left alone\n"
        "    os.environ['ATLAS_CONFIG'] = '/leaked.yml'  # set without monkeypatch...\n\n\n"
        "def test_2_nothing_leaks_from_the_previous_test() -> None:\n"
        "    assert 'ATLAS_CONFIG' not in os.environ  # ...and gone for the next test\n"
    ),
}


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The probes under this project's pytest settings, as if started from a dirty shell."""
    tmp = tmp_path_factory.mktemp("probes")
    for name, source in PROBES.items():
        (tmp / name).write_text(source)
    env = {
        **os.environ,
        "ATLAS_URL": "http://127.0.0.1:9/",
        "PAGERDUTY_API_TOKEN": "from-the-shell",
        "ATLAS_HABITS_PROBE": "kept",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp), "-p", "tests.conftest", "-p", "no:cacheprovider",
         "-p", "no:randomly", "--continue-on-collection-errors", "-rA",
         *(str(tmp / name) for name in PROBES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # some probes fail on purpose
    return done.stdout


def _outcome(output: str, test_id: str) -> str:
    """PASSED/FAILED/ERROR of ``test_id`` in pytest's ``-rA`` summary."""
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if rest.split(" ", 1)[0].endswith("/" + test_id) or rest.startswith(test_id):
            return word
    raise AssertionError(f"{test_id} not in the summary:\n{output}")


def test_a_misspelt_marker_is_an_error(probe_run: str) -> None:
    assert "ERROR" in probe_run and "'integraton' not found in `markers`" in probe_run


def test_a_warning_fails_the_test(probe_run: str) -> None:
    assert _outcome(probe_run, "test_warning_probe.py::test_warns") == "FAILED"
    assert "DeprecationWarning: deprecated thing" in probe_run


def test_the_shell_environment_does_not_reach_tests_and_tests_do_not_leak(probe_run: str) -> None:
    assert _outcome(probe_run, "test_env_probe.py::test_1_outside_values_are_gone") == "PASSED"
    leak = "test_env_probe.py::test_2_nothing_leaks_from_the_previous_test"
    assert _outcome(probe_run, leak) == "PASSED"


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("ATLAS_URL", True),
        ("ATLAS_CONFIG", True),
        ("ATLAS_ACCESS_TOKEN", True),
        ("ATLAS_STORE", True),
        ("ATLAS_CA_BUNDLE", True),
        ("PAGERDUTY_ACCOUNT_TOKEN", True),
        ("PAGERDUTY_FROM", True),
        ("PATH", False),
        ("ATLAS_TEST_FORBIDDEN", False),
    ],
)
def test_clean_variables(name: str, clean: bool) -> None:
    assert is_clean_variable(name) is clean
