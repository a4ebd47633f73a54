"""%atlas / %%atlas through a real IPython InteractiveShell, against the simulator."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from atlas_canvas import Response, _target
from atlas_canvas._errors import NoMatchingInstanceError, UsageError
from atlas_canvas._magics import AdapterTable
from atlas_canvas.pagerduty._dashboard import IncidentDashboard
from atlas_canvas.pagerduty._display import MIME_TYPE
from tests.ipython_shell import atlas_shell, run
from tests.pagerduty.simenv import SimEnv, applied_simulator_env, write_config

INCIDENTS = "/v1/apis/http/pagerduty/incidents"


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with applied_simulator_env(tmp_path_factory.mktemp("sim"), incidents=200) as se:
        yield se


@pytest.fixture(scope="module")
def shell(sim: SimEnv) -> Iterator[InteractiveShell]:
    with atlas_shell() as ip:
        yield ip


def test_adapters(shell: InteractiveShell, sim: SimEnv) -> None:
    table, err, _ = run(shell, "%atlas adapters")
    assert err is None and isinstance(table, AdapterTable)
    assert table.names() == ["pagerduty"]
    assert repr(table).splitlines()[0].split() == ["KIND", "NAME", "BASE", "URL"]
    assert sim.base_url in table._repr_html_()


def test_help(shell: InteractiveShell) -> None:
    out, err, _ = run(shell, "%atlas")
    assert err is None and "%atlas incidents" in repr(out)
    _, err, printed = run(shell, "%atlas?")
    assert err is None and "%atlas curl PATH" in printed and "AtlasMagics" in printed


def test_curl_and_cell_magic(shell: InteractiveShell, sim: SimEnv) -> None:
    r, err, _ = run(shell, f"r = %atlas curl '{INCIDENTS}?limit=2&statuses[]=resolved'\nr")
    assert err is None and isinstance(r, Response) and r.ok
    assert len(r.data["incidents"]) == 2
    bundle = r._repr_mimebundle_()
    assert bundle["application/json"] == r.data and "200 OK" in bundle["text/plain"]
    first = r.data["incidents"][0]["id"]
    r2, err, _ = run(
        shell,
        f"%%atlas POST {INCIDENTS}/{first}/notes -H 'From: {sim.from_email}' -o noted\n"
        '{"note": {"content": "from a cell ${{ NOT_EXPANDED }}"}}\n',
    )
    assert err is None and r2.ok, r2.data
    assert shell.user_ns["noted"] is r2
    r3, err, _ = run(shell, f"%atlas curl {INCIDENTS}/{first}/notes")
    assert r3.data["notes"][-1]["content"] == "from a cell ${{ NOT_EXPANDED }}"
    r4, err, _ = run(
        shell,
        f"%atlas curl {INCIDENTS}/{first}/notes -X POST -H 'From: {sim.from_email}' "
        """-d '{"note": {"content": "curl -d"}}'""",
    )
    assert err is None and r4.ok


def test_incidents_returns_a_frame(shell: InteractiveShell) -> None:
    df, err, _ = run(shell, "df = %atlas incidents --status triggered,acknowledged --all\ndf")
    assert err is None and isinstance(df, pd.DataFrame) and len(df) > 0
    assert set(df["status"].unique()) <= {"triggered", "acknowledged"}
    assert shell.user_ns["df"] is df
    _, err, _ = run(shell, "%atlas incidents --urgency high --all -o high")
    assert err is None and set(shell.user_ns["high"]["urgency"]) == {"high"}


def test_incident_frames_display_with_the_custom_mime_type(shell: InteractiveShell) -> None:
    run(shell, "%config AtlasMagics.display_limit = 3")
    try:
        df, _, _ = run(shell, "%atlas incidents --all")
        data, _ = shell.display_formatter.format(df)
        payload = data[MIME_TYPE]
        assert payload["total"] == len(df) and payload["shown"] == 3
        assert f"showing 3 of {len(df)} incidents" in data["text/plain"]
        assert "<table" in data["text/html"]
        plain, _ = shell.display_formatter.format(pd.DataFrame({"a": [1]}))
        assert MIME_TYPE not in plain  # other frames keep pandas' display
    finally:
        run(shell, "%config AtlasMagics.display_limit = 20")


def test_dashboard(shell: InteractiveShell) -> None:
    board, err, _ = run(shell, "%atlas dashboard --all")
    assert err is None and isinstance(board, IncidentDashboard)
    assert repr(board).startswith("IncidentDashboard: ")


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("%atlas incidnts", UsageError, "did you mean 'incidents'"),
        (
            "%atlas incidents --adapter pagerduti",
            NoMatchingInstanceError,
            "did you mean 'pagerduty'",
        ),
        ("%atlas curl /v1/apis/http/pagerdut/incidents", NoMatchingInstanceError, "did you mean"),
        ("%atlas incidents --bogus", UsageError, "unrecognized arguments"),
        ("%atlas incidents --status fixed", UsageError, "unknown status"),
        ("%atlas curl", UsageError, "path"),
        ("%atlas adapters extra", UsageError, "no arguments"),
        ("%atlas POST /x", UsageError, "cell magic"),
        ("%%atlas\nbody", UsageError, "METHOD PATH"),
        ("%%atlas FETCH /v1/apis/http/pagerduty/incidents\n{}", UsageError, "unknown HTTP method"),
        ("%atlas curl '/v1/apis/http/pagerduty/incidents", UsageError, "quotes"),
    ],
)
def test_user_errors_are_short_and_fail_the_cell(
    shell: InteractiveShell, line: str, error: type[Exception], message: str
) -> None:
    _, err, printed = run(shell, line)
    assert isinstance(err, error) and message in str(err)
    assert "Traceback" not in printed and message in printed
    assert len(printed.strip().splitlines()) == 1


def test_config_traits(shell: InteractiveShell, sim: SimEnv, tmp_path: Any) -> None:
    other = write_config(tmp_path / "other.yml", sim.base_url)
    other.write_text(other.read_text().replace("name: pagerduty", "name: pd-other"))
    _, err, _ = run(shell, f"%config AtlasMagics.config_file = '{other}'")
    try:
        assert err is None
        table, _, _ = run(shell, "%atlas adapters")
        assert table.names() == ["pd-other"]
        df, err, _ = run(shell, "%atlas incidents --all")
        assert isinstance(err, NoMatchingInstanceError)  # default adapter name is pagerduty
        run(shell, "%config AtlasMagics.adapter = 'pd-other'")
        df, err, _ = run(shell, "%atlas incidents --all")
        assert err is None and len(df) > 0
    finally:
        run(shell, "%config AtlasMagics.config_file = ''")
        run(shell, "%config AtlasMagics.adapter = 'pagerduty'")
    assert _target._session_config_path is None
    run(shell, "%config AtlasMagics.display_limit = -1")  # refused (IPython logs the error)
    magics = next(c for c in shell.configurables if type(c).__name__ == "AtlasMagics")
    assert magics.display_limit == 20


def test_load_is_cheap_and_unload_cleans_up() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "t = time.perf_counter()\n"
        "ip.run_line_magic('load_ext', 'atlas_canvas')\n"
        "assert 'atlas' in ip.magics_manager.magics['line']\n"
        "heavy = [m for m in ('pandas', 'ipywidgets', 'httpx', 'altair') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "ip.run_line_magic('unload_ext', 'atlas_canvas')\n"
        "assert 'atlas' not in ip.magics_manager.magics['line']\n"
        "assert not any(type(c).__name__ == 'AtlasMagics' for c in ip.configurables)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
