"""``%atlas oncall`` through a real IPython shell, against a simulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty._oncall import OnCallNow
from tests.conftest import PLANTED_SECRET
from tests.ipython_shell import atlas_shell
from tests.pagerduty.simenv import SimEnv, applied_simulator_env


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[InteractiveShell, SimEnv]]:
    with (
        applied_simulator_env(tmp_path_factory.mktemp("sim"), incidents=100) as se,
        atlas_shell(progress_off=False) as ip,
    ):
        yield ip, se


def test_oncall_now_and_at(shell: tuple[InteractiveShell, SimEnv]) -> None:
    ip, _ = shell
    with capture_output() as cap:
        result = ip.run_cell("%atlas oncall")
    assert result.error_in_exec is None
    table = result.result
    assert isinstance(table, OnCallNow) and len(table) == 12  # 6 policies x 2 levels
    text = repr(table)
    assert text.startswith("on call at now") and "Payments On-call" in text
    assert "<table>" in table._repr_html_() and PLANTED_SECRET not in cap.stdout + text
    levels = {(p, level) for p, level, *_ in table.rows()}
    assert len(levels) == 12
    result = ip.run_cell("%atlas oncall --at 2026-01-03T12:00:00Z -o then")
    then = ip.user_ns["then"]
    assert result.error_in_exec is None and then.at.startswith("2026-01-03T12:00")
    assert (then.frame["start"] <= "2026-01-03T12:00:00Z").all()
    assert (then.frame["end"] > "2026-01-03T12:00:00Z").all()
    policy = then.frame["escalation_policy_id"].iloc[0]
    one = ip.run_cell(f"%atlas oncall --at 2026-01-03T12:00:00Z --escalation-policy {policy}")
    assert set(one.result.frame["escalation_policy_id"]) == {policy} and len(one.result) == 2


def test_oncall_bad_input_fails_the_cell(shell: tuple[InteractiveShell, SimEnv]) -> None:
    ip, _ = shell
    with capture_output():
        result = ip.run_cell("%atlas oncall --when now")
    assert isinstance(result.error_in_exec, UsageError)
    with capture_output():
        result = ip.run_cell("%atlas oncal")
    assert isinstance(result.error_in_exec, UsageError)
    assert "oncall" in str(result.error_in_exec)
