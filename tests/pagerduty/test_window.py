"""The window an incidents fetch covers: since-only, until-only, both, neither.

PagerDuty reads a lone ``since`` as one month from there; the library means since..now. These
run against the simulator (a year of incidents before 2026-01-05, PagerDuty's window rules)
through the function, the magics and the dashboard, and compare with the whole history
filtered locally.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pandas as pd
import pytest
from IPython.utils.capture import capture_output

from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty import dashboard, incidents
from atlas_canvas.pagerduty._query import IncidentQuery, add_months
from tests.ipython_shell import atlas_shell

from .simenv import SimEnv, applied_simulator_env

UTC = timezone.utc


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with applied_simulator_env(tmp_path_factory.mktemp("window"), incidents=1500) as se:
        yield se


@pytest.fixture(scope="module")
def everything(sim: SimEnv) -> pd.DataFrame:
    return incidents(date_range="all", progress=False)


def between(df: pd.DataFrame, since: str | None, until: str | None) -> set[str]:
    keep = pd.Series(True, index=df.index)
    if since:
        keep &= df.created_at >= pd.Timestamp(since)
    if until:
        keep &= df.created_at < pd.Timestamp(until)
    return set(df.loc[keep, "id"])


def test_since_alone_means_until_now_past_six_months(everything: pd.DataFrame) -> None:
    # About ten months back from the simulator's last incident: one month would be a tenth.
    df = incidents(since="2025-03-01", progress=False)
    expected = between(everything, "2025-03-01T00:00:00Z", None)
    assert len(expected) > 1000 and set(df.id) == expected and len(df) == len(expected)
    window = df.attrs["window"]
    assert window["basis"] == "since..now" and window["since"].startswith("2025-03-01")
    assert datetime.fromisoformat(window["until"]) >= datetime.now(UTC).replace(microsecond=0)
    assert df.attrs["fetch"]["windows"] >= 3  # split into pieces of at most six months
    # what was asked, so a refresh asks the same (a lone since still ends "now" then)
    assert df.attrs["query"]["until"] is None


def test_the_progress_line_names_the_window(
    everything: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from atlas_canvas.pagerduty import _pager

    monkeypatch.setattr(_pager, "interactive", lambda: True)
    df = incidents(since="2025-03-01")
    assert len(df) > _pager.PROGRESS_MIN_ITEMS  # long enough for a bar
    err = capsys.readouterr().err
    assert "incidents:" in err and "2025-03-01.." in err


def test_since_alone_longer_than_a_month(everything: pd.DataFrame) -> None:
    df = incidents(since="2025-11-01", progress=False)
    expected = between(everything, "2025-11-01T00:00:00Z", None)
    one_month = between(everything, "2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z")
    assert len(expected) > len(one_month) > 0 and set(df.id) == expected


def test_until_alone_is_the_month_before_it(everything: pd.DataFrame) -> None:
    df = incidents(until="2025-10-15", progress=False)
    assert set(df.id) == between(everything, "2025-09-15T00:00:00Z", "2025-10-15T00:00:00Z")
    assert len(df) > 0
    window = df.attrs["window"]
    assert window["basis"] == "month before until"
    assert window["since"].startswith("2025-09-15") and window["until"].startswith("2025-10-15")
    assert df.attrs["query"]["since"] is None and df.attrs["query"]["until"]


def test_both_longer_than_six_months(everything: pd.DataFrame) -> None:
    df = incidents(since="2025-02-01", until="2025-12-01", progress=False)
    assert set(df.id) == between(everything, "2025-02-01T00:00:00Z", "2025-12-01T00:00:00Z")
    assert df.attrs["window"]["basis"] == "explicit" and df.attrs["fetch"]["windows"] >= 2


def test_neither_is_pagerdutys_default_month(sim: SimEnv) -> None:
    df = incidents(progress=False)  # the simulator's data ends 2026-01-05; today is later
    window = df.attrs["window"]
    assert window["basis"] == "default"
    since, until = datetime.fromisoformat(window["since"]), datetime.fromisoformat(window["until"])
    assert add_months(until, -1) == since
    assert df.attrs["query"]["since"] is None and df.attrs["query"]["until"] is None


def test_bad_windows_are_refused_with_the_reason() -> None:
    with pytest.raises(UsageError, match="in the future"):
        IncidentQuery.build(since="2999-01-01")
    with pytest.raises(UsageError, match="must be before until"):
        IncidentQuery.build(since="2025-02-01", until="2025-01-01")
    q = IncidentQuery.build(since="2025-01-01", until="2025-03-01", date_range="all")
    assert q.since is None and q.until is None and q.window()["basis"] == "all"


def test_add_months_clamps_the_day() -> None:
    assert add_months(datetime(2025, 3, 31, tzinfo=UTC), -1) == datetime(2025, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 1, 15, tzinfo=UTC), -1) == datetime(2024, 12, 15, tzinfo=UTC)


def test_magics_fetch_the_same_window(sim: SimEnv, everything: pd.DataFrame) -> None:
    with atlas_shell() as ip:
        with capture_output():
            since_only = ip.run_cell("%atlas incidents --since 2025-03-01").result
            until_only = ip.run_cell("%atlas incidents --until 2025-10-15").result
            both = ip.run_cell("%atlas incidents --since 2025-02-01 --until 2025-12-01").result
            neither = ip.run_cell("%atlas incidents").result
        assert set(since_only.id) == between(everything, "2025-03-01T00:00:00Z", None)
        assert set(until_only.id) == between(
            everything, "2025-09-15T00:00:00Z", "2025-10-15T00:00:00Z"
        )
        assert set(both.id) == between(everything, "2025-02-01T00:00:00Z", "2025-12-01T00:00:00Z")
        assert neither.attrs["window"]["basis"] == "default"


def test_dashboard_fetches_and_refreshes_the_same_window(
    sim: SimEnv, everything: pd.DataFrame
) -> None:
    expected = between(everything, "2025-03-01T00:00:00Z", None)
    board = dashboard(since="2025-03-01", progress=False)
    assert set(board.df.id) == expected
    board.refresh_w.click()
    assert set(board.df.id) == expected
    # A dashboard opened on a frame refreshes the frame's window, still ending now.
    reopened = dashboard(incidents(until="2025-10-15", progress=False), progress=False)
    reopened.refresh_w.click()
    assert set(reopened.df.id) == between(
        everything, "2025-09-15T00:00:00Z", "2025-10-15T00:00:00Z"
    )
