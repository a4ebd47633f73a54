"""The fresh-machine check: build the sdist and wheel, install the wheel into a brand-new
virtualenv, and use it the way a new user would, with no Node on PATH.

Slow (minutes: one isolated build and two pip installs, from pip's cache when warm), so
the virtualenv is built once per test session. It never skips: a failure to build or
install is exactly what this test exists to catch, in CI (``CI=true``) as anywhere else.

Order matters and is the file order: the CLI checks run on the wheel installed *without*
extras (the base dependencies must be enough for ``mom``), then the ``notebook`` extra is
added for the Jupyter checks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, TEMPLATE, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

_STRIP = ("PAGERDUTY_ACCOUNT_TOKEN", "ATLAS_URL", "ATLAS_ACCESS_TOKEN", "ATLAS_CONFIG")


@dataclass
class FreshVenv:
    root: Path
    dist: Path
    wheel: Path
    sdist: Path
    home: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """An environment a new user would have: only the venv on PATH (no node), an empty
        home and Jupyter dirs, none of the developer's Atlas or PagerDuty variables."""
        env = {
            k: v for k, v in os.environ.items() if k not in _STRIP and not k.startswith("JUPYTER")
        }
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        env["PATH"] = str(self.bin)
        env["HOME"] = str(self.home)
        env["JUPYTER_CONFIG_DIR"] = str(self.home / ".jupyter")
        env["JUPYTER_DATA_DIR"] = str(self.home / ".local" / "share" / "jupyter")
        env["PYTHONNOUSERSITE"] = "1"
        env.update(extra)
        return env

    def run(
        self, *argv: str, timeout: float = 300, check: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [str(self.bin / argv[0]), *argv[1:]],
            env=self.env(**extra),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert r.returncode == 0, f"{argv} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        return r


def _run(argv: list[str], timeout: float, **kw: object) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
    assert r.returncode == 0, (
        f"{argv} exited {r.returncode}:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    )


def _pip_install(venv: Path, *requirements: str) -> None:
    # PyPI only (pip's cache makes it fast on a machine that ran `make venv`); the developer's
    # PATH is kept here because building a dependency from an sdist may need a compiler.
    _run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
         "-q", "--prefer-binary", *requirements],
        timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="session")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshVenv]:
    base = tmp_path_factory.mktemp("fresh")
    dist = base / "dist"
    # An isolated build, as a packager or CI would do it: build requirements come from PyPI.
    _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)],
         timeout=900)  # fmt: skip
    wheels = sorted(dist.glob("atlas_canvas-*.whl"))
    sdists = sorted(dist.glob("atlas_canvas-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    _pip_install(venv, str(wheels[0]))
    home = base / "home"
    home.mkdir()
    yield FreshVenv(venv, dist, wheels[0], sdists[0], home)


@pytest.fixture(scope="session")
def fresh_with_notebook(fresh: FreshVenv) -> FreshVenv:
    _pip_install(fresh.root, f"{fresh.wheel}[notebook]")
    return fresh


# ------------------------------------------------------------------ the artefacts


def test_wheel_ships_extension_notebooks_and_server_config(fresh: FreshVenv) -> None:
    with zipfile.ZipFile(fresh.wheel) as zf:
        names = set(zf.namelist())
    expected = {
        "atlas_canvas/__init__.py",
        "atlas_canvas/py.typed",
        "atlas_canvas/notebooks/pagerduty_incidents.ipynb",
        "atlas_canvas/notebooks/incident_review.ipynb",
    }
    assert expected <= names, sorted(expected - names)
    data = [n for n in names if ".data/data/" in n]
    assert any(n.endswith("share/jupyter/labextensions/atlas-canvas/package.json") for n in data)
    assert any("share/jupyter/labextensions/atlas-canvas/static/" in n for n in data)
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/atlas_canvas.json") for n in data)
    assert not any("node_modules" in n or n.startswith("tests/") for n in names)


def test_sdist_has_the_sources(fresh: FreshVenv) -> None:
    with tarfile.open(fresh.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "atlas_canvas/_cli.py",
                   "notebooks/pagerduty_incidents.ipynb", "labextension/package.json"):  # fmt: skip
        assert needed in names, needed
    assert not any(n.startswith((".venv/", "labextension/node_modules/")) for n in names)


# ------------------------------------------------------------------ mom, base dependencies only


def test_no_node_on_the_fresh_path(fresh: FreshVenv) -> None:
    assert shutil.which("node", path=fresh.env()["PATH"]) is None
    r = fresh.run("python", "-c", "import atlas_canvas, sys; print(atlas_canvas.__file__)")
    assert r.stdout.strip().startswith(str(fresh.root))  # the installed copy, not the checkout


def test_mom_help(fresh: FreshVenv) -> None:
    r = fresh.run("mom", "--help")
    for command in ("atlas", "curl", "demo", "pagerduty-sim"):
        assert command in r.stdout
    assert fresh.run("atlas-canvas", "--version").stdout.strip().endswith("0.1.0")


def test_validate_the_template_shaped_config(fresh: FreshVenv) -> None:
    r = fresh.run("mom", "atlas", "config", "validate", "-f", str(TEMPLATE))
    assert "warning" in r.stderr.lower()
    assert "Traceback" not in r.stderr


def test_mom_curl_against_the_simulator(fresh: FreshVenv) -> None:
    token, port = "fresh-" + os.urandom(8).hex(), free_port()
    sim = subprocess.Popen(
        [str(fresh.bin / "mom"), "pagerduty-sim", "--host", "127.0.0.1", "--port", str(port),
         "--seed", "5", "--incidents", "120", "--token", token],
        env=fresh.env(), cwd=fresh.home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(
            f"http://127.0.0.1:{port}/incidents", {"Authorization": f"Token token={token}"}, sim
        )
        cfg = fresh.home / "atlas.yml"
        fresh.run("mom", "atlas", "config", "generate", "--name", "fresh", "-o", str(cfg))
        fresh.run(
            "mom", "atlas", "config", "add-http-adapter", "-f", str(cfg),
            "--adapter-name", "pagerduty", "--base-url", f"http://127.0.0.1:{port}",
            "-H", "Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}",
        )  # fmt: skip
        assert token not in cfg.read_text()
        r = fresh.run(
            "mom", "curl", "-f", str(cfg), "/v1/apis/http/pagerduty/incidents?date_range=all",
            PAGERDUTY_ACCOUNT_TOKEN=token,
        )  # fmt: skip
        body = json.loads(r.stdout)
        assert body["incidents"] and all(i["type"] == "incident" for i in body["incidents"])
        assert token not in r.stdout + r.stderr
        # Without the variable: a one-line error naming it, exit 2.
        r = fresh.run("mom", "curl", "-f", str(cfg), "/v1/apis/http/pagerduty/incidents",
                      check=False)  # fmt: skip
        assert r.returncode == 2 and "PAGERDUTY_ACCOUNT_TOKEN" in r.stderr, r.stderr
    finally:
        os.killpg(sim.pid, signal.SIGTERM)
        sim.communicate(timeout=30)  # waits and closes the pipe


def test_mom_demo_without_the_notebook_extra_says_what_to_install(fresh: FreshVenv) -> None:
    r = fresh.run("mom", "demo", "--no-browser", check=False)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "atlas-canvas[notebook]" in r.stderr and "Traceback" not in r.stderr


def _wait_for(url: str, headers: dict[str, str], proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}"
        )
        try:
            if httpx.get(url, headers=headers, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} did not answer")


# ------------------------------------------------------------------ Jupyter, with [notebook]


def _section(output: str, prefix: str) -> str:
    """The lines under the first heading that mentions ``prefix`` (Jupyter lists by dir),
    without the terminal colours Jupyter adds."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", output).splitlines()
    for i, line in enumerate(lines):
        if prefix in line and not line.startswith((" ", "\t")):
            block = []
            for nxt in lines[i + 1 :]:
                if nxt and not nxt.startswith((" ", "\t")):
                    break
                block.append(nxt)
            return "\n".join(block)
    return ""


def test_labextension_enabled_without_node(fresh_with_notebook: FreshVenv) -> None:
    f = fresh_with_notebook
    r = f.run("jupyter", "labextension", "list")
    out = r.stdout + r.stderr
    section = _section(out, str(f.root))
    assert re.search(r"atlas-canvas v\S+ enabled\s+OK", section), out


def test_server_extension_enabled(fresh_with_notebook: FreshVenv) -> None:
    f = fresh_with_notebook
    r = f.run("jupyter", "server", "extension", "list")
    out = r.stdout + r.stderr
    section = _section(out, str(f.root))
    assert "atlas_canvas enabled" in section, out
    assert re.search(r"atlas_canvas( \S+)?\s+OK", section), out


def test_mom_demo_from_the_wheel(fresh_with_notebook: FreshVenv) -> None:
    f = fresh_with_notebook
    port = free_port()
    proc = subprocess.Popen(
        [str(f.bin / "mom"), "demo", "--no-browser", "--port", str(port), "--incidents", "100"],
        env=f.env(PYTHONUNBUFFERED="1"), cwd=f.home, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        out = "".join(lines)
        m = re.search(r"\?token=(\w+)", out)
        assert m, out
        # The shipped notebooks were copied into the default demo dir under the new HOME.
        demo_dir = f.home / ".local" / "state" / "atlas-canvas" / "demo"
        assert (demo_dir / "notebooks" / "pagerduty_incidents.ipynb").is_file(), out
        r = httpx.get(
            f"http://127.0.0.1:{port}/api/contents/pagerduty_incidents.ipynb",
            headers={"Authorization": f"token {m.group(1)}"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["type"] == "notebook"
        assert "Atlas extension      active" in out, out
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(90) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)  # waits and closes the pipe
