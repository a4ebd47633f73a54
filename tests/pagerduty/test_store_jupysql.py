"""jupysql's ``%sql`` on ``store.connection``, as the README shows it, in a real IPython.

jupysql is installed by the Makefile without its ``jupysql-plugin`` (a JupyterLab and server
extension that would enable itself in every Jupyter of the environment, the demo's and the
browser tests' included); the ``%sql`` magic does not use the plugin. The shell runs in a
subprocess so jupysql's process-wide connection registry and exit hooks stay out of the
other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from atlas_canvas.pagerduty._store import open_store
from tests.pagerduty.store_sim import NOW, TOKEN, SimAccount

SHELL = textwrap.dedent(
    """
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    cfg = Config()
    cfg.HistoryAccessor.enabled = False
    ip = InteractiveShell.instance(config=cfg)
    out = {}

    def cell(code):
        result = ip.run_cell(code)
        error = result.error_before_exec or result.error_in_exec
        return result.result, (type(error).__name__ + ": " + str(error)) if error else None

    out["load"] = cell("%load_ext sql")[1]
    cell("from atlas_canvas.pagerduty import open_store")
    cell(f"store = open_store(path={sys.argv[1]!r})")
    out["connect"] = cell("con = store.connection\\n%sql con --alias pd")[1]
    cell("%config SqlMagic.autopandas = True")
    cell("%config SqlMagic.displaylimit = 0")
    frame, out["select_error"] = cell(
        "%sql select status, count(*) as n from incidents group by 1 order by 1"
    )
    out["frame_type"] = type(frame).__name__
    out["counts"] = None
    if frame is not None:
        out["counts"] = {s: int(n) for s, n in zip(frame["status"], frame["n"], strict=True)}
    joined, out["join_error"] = cell(
        "%%sql\\n"
        "select s.name, count(*) as n from incidents i join services s "
        "on s.id = i.service_id group by 1 order by 2 desc, 1 limit 3"
    )
    out["join_rows"] = len(joined) if joined is not None else None
    out["delete_error"] = cell("%sql delete from incidents")[1]
    _, out["still_error"] = cell("n = %sql select count(*) as n from incidents")
    out["still"] = int(ip.user_ns["n"]["n"][0]) if out["still_error"] is None else None
    print("RESULT " + json.dumps(out))
    """
)


def test_jupysql_sql_magic_reads_the_store_connection(tmp_path: Path) -> None:
    acc = SimAccount(250)
    path = tmp_path / "pd.duckdb"
    store = open_store(path=path, transport=acc.transport)
    store.sync(since=NOW.replace(year=NOW.year - 1), progress=False)
    expected = store.sql("select status, count(*) as n from incidents group by 1 order by 1")
    store.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_", "PAGERDUTY_"))}
    env["PYTHONWARNINGS"] = "ignore"  # jupysql's own deprecation notices are not ours
    done = subprocess.run(
        [sys.executable, "-c", SHELL, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    out = json.loads(lines[-1].removeprefix("RESULT "))

    assert out["load"] is None and out["connect"] is None, out
    assert out["select_error"] is None and out["frame_type"] == "DataFrame", out
    assert out["counts"] == {s: int(n) for s, n in zip(expected.status, expected.n, strict=True)}
    assert sum(out["counts"].values()) == 250
    assert out["join_error"] is None and out["join_rows"] == 3, out
    # The connection is read-only: jupysql's DELETE is refused and nothing is lost.
    assert out["delete_error"] is not None and "read-only" in out["delete_error"], out
    assert out["still_error"] is None and out["still"] == 250, out
    assert TOKEN not in done.stdout + done.stderr + path.read_bytes().decode("latin-1")
