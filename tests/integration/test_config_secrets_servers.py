"""``mom atlas run``: config errors at start-up and on a SIGHUP reload never show a secret,
and a file past the loader's limits is refused with one log line, the old config kept.

Real server processes on loopback; each planted config comes from
tests/config_secrets_cases.py, and the whole output/log is searched for the planted value.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.config_secrets_cases import CASES, PLANTED
from tests.proxy_fakes import config_yaml, recording_server, start_atlas, stop_atlas, wait_for

pytestmark = pytest.mark.integration

#: A sample of the planted cases for start-up (each one is a process start).
STARTUP_CASES = ["template-bad-characters", "url-query", "url-port", "headers-as-a-string"]


def _clean(text: str) -> None:
    assert PLANTED not in text and "PLANTED" not in text, text


@pytest.mark.parametrize("case", STARTUP_CASES)
def test_startup_config_error_is_clean(case: str, tmp_path: Path) -> None:
    path = tmp_path / "atlas.yml"
    path.write_text(CASES[case][0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env["ATLAS_ACCESS_TOKEN"] = "t"
    p = subprocess.run(
        [sys.executable, "-m", "atlas_canvas", "atlas", "run", "-f", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: ") and str(path) in p.stderr
    for part in CASES[case][1]:
        assert part in p.stderr, (part, p.stderr)
    _clean(p.stdout + p.stderr)


def _reload_failures(log: str) -> list[str]:
    return [line for line in log.splitlines() if "config reload failed" in line]


def test_sighup_reload_errors_are_clean_and_bounded(tmp_path: Path) -> None:
    with recording_server() as (url, _):
        path = tmp_path / "atlas.yml"
        path.write_text(config_yaml({"pd": url + "/base"}))
        atlas = start_atlas(path, tmp_path)

        def reload_with(text: str) -> str:
            """Write ``text``, SIGHUP, and return the one new 'reload failed' log line."""
            before = len(_reload_failures(atlas.log()))
            path.write_text(text)
            started = time.monotonic()
            atlas.proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: len(_reload_failures(atlas.log())) > before, timeout=20), (
                atlas.log()
            )
            assert time.monotonic() - started < 10
            lines = _reload_failures(atlas.log())
            assert len(lines) == before + 1, lines
            return lines[-1]

        try:
            with atlas.client() as client:
                assert client.get("/v1/apis/http/pd/x").status_code == 200
                for case in CASES:
                    line = reload_with(CASES[case][0])
                    assert "keeping the previous config" in line
                    for part in CASES[case][1]:
                        assert part in line, (case, part, line)
                # Past the loader's limits: one line each, quickly, the server answering.
                for text, limit in [
                    ("kind: Atlas\nspec:\n  x: " + "[" * 3000 + "]" * 3000, "MAX_YAML_DEPTH"),
                    ("- " * 3000 + "x\n", "MAX_YAML_DEPTH"),
                    ("kind: Atlas\n" + "#" * (300 * 1024) + "\n", "MAX_CONFIG_BYTES"),
                ]:
                    assert limit in reload_with(text)
                    assert client.get("/healthcheck").status_code == 200
                # The old config still serves.
                assert client.get("/v1/apis/http/pd/x").status_code == 200
        finally:
            stop_atlas(atlas)
    log = atlas.log()
    _clean(log)
    assert "RecursionError" not in log and "Traceback" not in log
    assert len(_reload_failures(log)) == len(CASES) + 3
