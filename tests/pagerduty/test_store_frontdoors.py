"""The store's front doors: pagerduty.incidents(store=True), %atlas sync, %%atlas sql,
``mom pagerduty sync|export`` and the Kubernetes CronJob example, against the simulator."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from ruamel.yaml import YAML

from atlas_canvas import pagerduty
from atlas_canvas._cli import main
from atlas_canvas._errors import UsageError
from atlas_canvas.pagerduty._sync import SyncReport
from tests import ipython_shell
from tests.ipython_shell import atlas_shell
from tests.pagerduty.simenv import NOW, SimEnv, applied_simulator_env

ROOT = Path(__file__).resolve().parents[2]
SINCE = (NOW - dt.timedelta(days=200)).isoformat()
UNTIL = (NOW + dt.timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    with applied_simulator_env(tmp_path_factory.mktemp("sim"), incidents=300) as se:
        yield se


@pytest.fixture
def store_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: SimEnv) -> Path:
    monkeypatch.setenv("ATLAS_STORE", str(tmp_path / "stores"))
    return tmp_path / "stores"


def test_incidents_through_the_store(sim: SimEnv, store_dir: Path) -> None:
    window: dict[str, Any] = {"since": SINCE, "until": (NOW + dt.timedelta(days=1)).isoformat()}
    direct = pagerduty.incidents(statuses="resolved", progress=False, **window)
    first = pagerduty.incidents(statuses="resolved", progress=False, store=True, **window)
    assert (store_dir / "pagerduty.duckdb").exists()
    assert first.attrs["sync"]["first"] is True and first.attrs["fetch"]["requests"] > 0
    assert list(first.id) == list(direct.sort_values(["created_at", "incident_number"]).id)
    assert first.dtypes.equals(direct.dtypes)
    # Resolved incidents come with their first-ack times (the list alone has none).
    assert direct.acknowledged_at.isna().all() and first.acknowledged_at.notna().any()
    again = pagerduty.incidents(statuses="resolved", progress=False, store=True, **window)
    assert again.attrs["sync"]["first"] is False
    assert (again.attrs["sync"]["new"], again.attrs["sync"]["changed"]) == (0, 0)
    # The second sync confirms the last minutes the first one fetched while the log was read;
    # from then on a sync with nothing new is the identity check and the log since the mark.
    third = pagerduty.incidents(statuses="resolved", progress=False, store=True, **window)
    assert third.attrs["sync"]["log_entries"] == 0 and third.attrs["sync"]["refetched"] == 0
    assert third.attrs["sync"]["requests"] <= 3, str(third.attrs["sync"])
    third.attrs.clear()
    first.attrs.clear()
    pd.testing.assert_frame_equal(third, first)


def test_incidents_store_accepts_a_path_and_a_store(sim: SimEnv, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.duckdb"
    df = pagerduty.incidents(since=SINCE, progress=False, store=str(path))
    assert path.exists() and len(df) > 0
    store = pagerduty.open_store(path=path)
    assert isinstance(store, pagerduty.Store)
    df2 = pagerduty.incidents(since=SINCE, progress=False, store=store)
    assert len(df2) == len(df)


@pytest.fixture
def shell(sim: SimEnv, store_dir: Path) -> Iterator[InteractiveShell]:
    with atlas_shell() as ip:
        yield ip


def run(ip: InteractiveShell, code: str) -> tuple[Any, Any, str]:
    return ipython_shell.run(ip, code, outputs=True)


def test_sync_and_sql_magics(shell: InteractiveShell, store_dir: Path) -> None:
    report, err, shown = run(shell, f"%atlas sync --since {SINCE}")
    assert err is None and isinstance(report, SyncReport) and report.first
    assert f"{report.new:,} new" in shown and "requests" in shown
    again, err, _ = run(shell, "%atlas sync")
    assert err is None and again.new == 0 and not again.first
    df, err, _ = run(
        shell,
        "%%atlas sql -o counts\nselect status, count(*) as n from incidents group by 1 order by 1",
    )
    assert err is None and isinstance(df, pd.DataFrame) and df.n.sum() == report.new
    assert shell.user_ns["counts"] is df
    _, err, _ = run(shell, "%%atlas sql\n   ")
    assert isinstance(err, UsageError)
    _, err, _ = run(shell, "%%atlas sql\nselect * from nope")
    assert isinstance(err, UsageError) and "refused the SQL" in str(err)
    _, err, _ = run(shell, "%atlas sync --bogus")
    assert isinstance(err, UsageError)
    help_text, _, _ = run(shell, "%atlas")
    assert "%atlas sync" in repr(help_text) and "%%atlas sql" in repr(help_text)


def test_cli_sync_then_export(
    sim: SimEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "cli.duckdb"
    code = main(
        [
            "pagerduty",
            "sync",
            "--store",
            str(store),
            "--since",
            SINCE,
            "-f",
            str(sim.config_path),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads(out)
    assert report["first"] and report["new"] > 0
    code = main(["pagerduty", "sync", "--store", str(store), "-f", str(sim.config_path)])
    line = capsys.readouterr().out
    assert code == 0 and line.startswith(f"{store}: 0 changed, 0 new, ")
    code = main(["pagerduty", "export", "--parquet", str(tmp_path / "pq"), "--store", str(store)])
    listed = capsys.readouterr().out.split()
    assert code == 0 and len(listed) == 8 and all(Path(p).exists() for p in listed)
    code = main(["pagerduty", "export", "--store", str(store)])
    assert code == 2 and "--parquet" in capsys.readouterr().err


def test_cli_sync_with_a_bad_config_says_so_and_makes_no_store(
    sim: SimEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "never.duckdb"
    broken = tmp_path / "broken.yml"
    broken.write_text("kind: [unclosed\n")
    cases = [
        (["-f", str(tmp_path / "missing.yml")], "config file not found"),
        (["-f", str(broken)], "broken.yml"),
        (["-f", str(sim.config_path), "--adapter", "nosuch"], "no adapter named 'nosuch'"),
    ]
    for args, said in cases:
        code = main(["pagerduty", "sync", "--store", str(store), *args])
        err = capsys.readouterr().err
        assert code != 0 and said in err, (args, err)
        assert not store.exists() and list(tmp_path.glob("never.duckdb*")) == [], args


def test_every_sync_door_checks_the_config_before_it_makes_a_store(
    sim: SimEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from atlas_canvas._errors import AtlasError

    missing = tmp_path / "missing.yml"
    store = tmp_path / "never.duckdb"
    doors = {
        "pagerduty.sync": lambda: pagerduty.sync("pagerduty", store=store, config=missing),
        "incidents(store=path)": lambda: pagerduty.incidents(
            since=SINCE, store=store, config=missing, progress=False
        ),
        "unknown adapter": lambda: pagerduty.sync("nosuch", store=store, config=sim.config_path),
    }
    for name, door in doors.items():
        with pytest.raises(AtlasError) as caught:
            door()
        assert caught.value.hint, name  # says how to fix it
        assert list(tmp_path.glob("never.duckdb*")) == [], name
    # sync_oncall() opens the default store: same check (ATLAS_CONFIG names the missing file)
    monkeypatch.setenv("ATLAS_STORE", str(store))
    monkeypatch.setenv("ATLAS_CONFIG", str(missing))
    monkeypatch.delenv("ATLAS_URL", raising=False)
    with pytest.raises(AtlasError):
        pagerduty.sync_oncall()
    assert list(tmp_path.glob("never.duckdb*")) == []


def test_kubernetes_cronjob_runs_a_real_sync() -> None:
    from tests.test_docs import _check_options, _resolve

    docs = [
        d
        for d in YAML(typ="safe").load_all((ROOT / "docs/deploy/store-cronjob.yaml").read_text())
        if d
    ]
    kinds = {d["kind"]: d for d in docs}
    job = kinds["CronJob"]
    spec = job["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"  # the store's lock would make it wait anyway
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    command, rest = _resolve(["mom", *container["args"]])
    assert command.name == "sync"
    _check_options(command, rest, "store-cronjob.yaml")
    store_path = rest[rest.index("--store") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert store_path.startswith(mounts["store"])
    assert kinds["PersistentVolumeClaim"]["metadata"]["name"] in json.dumps(pod["volumes"])
    # It goes through the team's Atlas server: the PagerDuty key is never in this pod.
    base = rest[rest.index("--base-url") + 1]
    assert base.startswith("https://")
    env = {e["name"] for e in container.get("env", [])}
    assert "ATLAS_ACCESS_TOKEN" in env and not any(n.startswith("PAGERDUTY") for n in env)
    assert "envFrom" not in container
    dockerfile = (ROOT / "docs/deploy/Dockerfile.sync").read_text()
    assert "duckdb" in dockerfile and "pandas" in dockerfile


def test_dashboard_refresh_is_an_incremental_sync(sim: SimEnv, tmp_path: Path) -> None:
    path = tmp_path / "board.duckdb"
    board = pagerduty.dashboard("pagerduty", since=SINCE, until=UNTIL, progress=False, store=path)
    assert path.exists() and len(board.df) > 0 and board.df.attrs["sync"]["first"]
    board.refresh_w.click()  # confirms the first sync's last minutes
    open_ids = board.df[board.df.status == "triggered"].id.tolist()
    done_ids = board.df[board.df.status == "resolved"].id.tolist()
    assert open_ids and done_ids, "the simulated account has open and resolved incidents"
    pagerduty.acknowledge(open_ids[:1])
    pagerduty.add_note(done_ids[0], "postmortem linked")
    board.refresh_w.click()
    message = board.message_w.value
    assert "refreshed: 2 changed, 0 new, " in message and " requests, " in message, message
    assert board.df.set_index("id").status[open_ids[0]] == "acknowledged"
    # A dashboard over a frame read through the store refreshes through the store too.
    df = pagerduty.incidents(since=SINCE, until=UNTIL, progress=False, store=path)
    again = pagerduty.dashboard(df)
    again.refresh_w.click()
    assert "refreshed: 0 changed, 0 new, " in again.message_w.value, again.message_w.value


def test_the_readme_store_block_runs_verbatim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    import textwrap

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [
        textwrap.dedent(body)
        for _, body in re.findall(r"^( *)```python\n(.*?)^\1```", text, flags=re.M | re.S)
        if "pagerduty.open_store()" in body
    ]
    assert len(blocks) == 1
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    with applied_simulator_env(tmp_path, incidents=300, now=now):
        monkeypatch.setenv("ATLAS_STORE", str(tmp_path / "stores"))
        ns: dict[str, Any] = {}
        exec(compile(blocks[0], "README.md", "exec"), ns)
    assert len(ns["df"]) > 0 and (tmp_path / "stores" / "pagerduty.duckdb").exists()
    assert ns["store"].state["account"] == "acme.pagerduty.com"
