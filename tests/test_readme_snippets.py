"""The README's notebook lines, verbatim, in an IPython shell with top-level await.

A new user copies the README's ``%load_ext atlas_canvas`` block into a notebook: it must run
as written (``atlasProxyFetch`` is put into the namespace by the extension, no import).
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.conftest import PLANTED_SECRET
from tests.ipython_shell import atlas_shell
from tests.pagerduty.simenv import SimEnv, applied_simulator_env

README = Path(__file__).resolve().parents[1] / "README.md"


def notebook_blocks() -> list[str]:
    """The README's python blocks that load the extension, dedented as a user pastes them."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"^( *)```python\n(.*?)^\1```", text, flags=re.M | re.S)
    found = [textwrap.dedent(body) for _, body in blocks if "%load_ext atlas_canvas" in body]
    assert found, "the README has no notebook block with %load_ext atlas_canvas"
    return found


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimEnv]:
    # Data up to today, so the README's relative windows ("30d") hold incidents.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with applied_simulator_env(tmp_path, incidents=400, now=now) as se:
        yield se


@pytest.fixture
def shell(sim: SimEnv) -> Iterator[InteractiveShell]:
    with atlas_shell(load_ext=False) as ip:  # the README's block loads it
        yield ip


@pytest.mark.parametrize("index", range(len(notebook_blocks())))
def test_readme_notebook_block_runs_verbatim(shell: InteractiveShell, index: int) -> None:
    code = notebook_blocks()[index]
    assert "await atlasProxyFetch" in code and "import atlasProxyFetch" not in code
    with capture_output() as cap:
        result = shell.run_cell(code)
    assert result.error_before_exec is None and result.error_in_exec is None, result
    ns = shell.user_ns
    r = ns["r"]
    assert r.status == 200 and r.ok
    assert len(ns["df"]) > 0  # since="30d": the last 30 days, all of them
    shown = cap.stdout + cap.stderr + repr([o.data for o in cap.outputs])
    assert PLANTED_SECRET not in shown


def test_load_ext_puts_the_fetch_into_the_namespace_and_unload_takes_it_back(
    shell: InteractiveShell,
) -> None:
    from atlas_canvas import atlas_proxy_fetch, atlasProxyFetch

    shell.run_cell("%load_ext atlas_canvas")
    assert shell.user_ns["atlasProxyFetch"] is atlasProxyFetch
    assert shell.user_ns["atlas_proxy_fetch"] is atlas_proxy_fetch
    result = shell.run_cell("r = await atlas_proxy_fetch('/v1/apis/http')\nr.data[0]['name']")
    assert result.result == "pagerduty"
    assert "atlasProxyFetch" in shell.user_ns_hidden  # a global like a canvas's: not in %whos
    shell.run_cell("atlas_proxy_fetch = 'mine'")
    shell.run_cell("%unload_ext atlas_canvas")
    assert "atlasProxyFetch" not in shell.user_ns
    assert shell.user_ns["atlas_proxy_fetch"] == "mine"  # the user's own binding stays
