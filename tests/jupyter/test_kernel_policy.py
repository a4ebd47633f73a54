"""The kernel environment policy, the per-kernel tokens, the config pin and the non-dumpable
server, as plain objects (the real-server tests are test_kernel_secrets / test_config_pinning)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from atlas_canvas._config import parse_config
from atlas_canvas._errors import ConfigError
from atlas_canvas.jupyter._kernels import KernelEnv, KernelEnvPolicy, KernelTokens
from atlas_canvas.jupyter._pinning import ConfigPin
from tests.conftest import PLANTED_SECRET
from tests.proxy_fakes import PD_AUTH, config_yaml

URL = "http://127.0.0.1:8888/atlas-canvas"


def _policy(names: set[str], alive: set[str] | None = None) -> KernelEnvPolicy:
    alive = alive if alive is not None else {"k1", "k2"}
    return KernelEnvPolicy(
        secret_names=lambda: set(names), atlas_url=lambda: URL, is_alive=alive.__contains__
    )


def test_env_drops_named_and_own_variables_and_adds_url_and_token() -> None:
    policy = _policy({"PAGERDUTY_ACCOUNT_TOKEN"})
    base = {
        "PATH": "/bin",
        "PAGERDUTY_ACCOUNT_TOKEN": PLANTED_SECRET,
        "ATLAS_URL": "http://elsewhere",
        "ATLAS_ACCESS_TOKEN": "server-token",
    }
    env = policy.env_for("k1", base)
    assert env["PATH"] == "/bin" and "PAGERDUTY_ACCOUNT_TOKEN" not in env
    assert env["ATLAS_URL"] == URL and env["ATLAS_ACCESS_TOKEN"] != "server-token"
    assert policy.tokens.authenticate(env["ATLAS_ACCESS_TOKEN"]) == "k1"
    assert PLANTED_SECRET not in repr(policy.tokens) + repr(KernelEnv(policy, "k1", base))


def test_without_a_url_the_servers_atlas_url_and_token_are_inherited() -> None:
    policy = KernelEnvPolicy(
        secret_names=lambda: {"S"}, atlas_url=lambda: None, is_alive=lambda k: True
    )
    base = {"S": "x", "ATLAS_URL": "https://team:8443", "ATLAS_ACCESS_TOKEN": "team-token"}
    assert policy.env_for("k", base) == {
        "ATLAS_URL": "https://team:8443",
        "ATLAS_ACCESS_TOKEN": "team-token",
    }


def test_names_are_remembered_and_a_broken_config_withholds_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = {"A"}
    state = {"broken": False}

    def secret_names() -> set[str]:
        if state["broken"]:
            raise ConfigError("bad file")
        return set(names)

    log = logging.getLogger("test.kernels")
    policy = KernelEnvPolicy(
        secret_names=secret_names, atlas_url=lambda: URL, is_alive=lambda k: True, log=log
    )
    names.clear()
    names.add("B")  # A is no longer named: still withheld
    assert "A" not in policy.env_for("k", {"A": "1", "B": "2", "C": "3"})
    assert "B" not in policy.env_for("k", {"A": "1", "B": "2", "C": "3"})
    state["broken"] = True
    with caplog.at_level(logging.WARNING, logger="test.kernels"):
        env = policy.env_for("k", {"A": "1", "B": "2", "C": "3"})
    assert set(env) == {"C", "ATLAS_URL", "ATLAS_ACCESS_TOKEN"}
    assert "withholding the 2 variables" in caplog.text


def test_kernel_env_copy_recomputes_and_updates_stay_scrubbed() -> None:
    names = {"S"}
    policy = KernelEnvPolicy(
        secret_names=lambda: set(names), atlas_url=lambda: URL, is_alive=lambda k: True
    )
    env = KernelEnv(policy, "k1", {"S": "secret", "T": "later", "PATH": "/bin"})
    assert "S" not in env and env["T"] == "later"
    names.add("T")  # the config now names T: the next launch (restart) drops it
    launched = env.copy()
    assert type(launched) is dict and "T" not in launched and "T" not in env
    # jupyter_server's update_env after a session rename passes the whole os.environ again.
    env.update({"S": "secret", "JPY_SESSION_NAME": "/x.ipynb"})
    assert "S" not in env and env["JPY_SESSION_NAME"] == "/x.ipynb"
    assert "S" not in env.copy() and env.copy()["JPY_SESSION_NAME"] == "/x.ipynb"


def test_no_url_no_token_but_still_scrubbed() -> None:
    policy = KernelEnvPolicy(
        secret_names=lambda: {"S"}, atlas_url=lambda: None, is_alive=lambda k: True
    )
    assert policy.env_for("k", {"S": "x", "P": "y"}) == {"P": "y"}


def test_tokens_constant_time_per_kernel_and_die_with_kernel() -> None:
    alive = {"k1", "k2"}
    tokens = KernelTokens(alive.__contains__)
    t1, t2 = tokens.issue("k1"), tokens.issue("k2")
    assert t1 != t2 and len(t1) >= 40 and tokens.issue("k1") == t1
    assert tokens.authenticate(t1) == "k1" and tokens.authenticate(t2) == "k2"
    for bad in ("", t1[:-1], t1 + "x", t1.upper(), "é" + t1, "\udcff"):
        assert tokens.authenticate(bad) is None
    alive.discard("k1")
    assert tokens.authenticate(t1) is None
    alive.add("k1")
    assert tokens.authenticate(t1) is None  # revoked for good, not resurrected
    tokens.revoke("k2")
    assert tokens.authenticate(t2) is None


def _cfg(adapters: dict[str, str], headers: dict[str, list[tuple[str, str]]]) -> str:
    return config_yaml(adapters, headers=headers)


def test_pin_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "atlas.yml"
    path.write_text(_cfg({"pd": "http://a/base", "open": "http://b"}, {"pd": PD_AUTH}))
    log = logging.getLogger("test.pin")
    pin = ConfigPin(path, log=log)

    def judge(adapters: dict[str, str], headers: dict[str, list[tuple[str, str]]]) -> list[str]:
        return pin.violations(parse_config(_cfg(adapters, headers)))

    assert judge({"pd": "http://a/base"}, {"pd": [("X-T", "${{ PAGERDUTY_ACCOUNT_TOKEN }}")]}) == []
    assert judge({"pd": "http://a/base", "new": "http://c"}, {"pd": PD_AUTH}) == []
    assert judge({"pd": "http://evil/base"}, {"pd": PD_AUTH}) == [
        "adapter 'pd' changes its baseUrl"
    ]
    assert judge({"pd": "http://a/base"}, {"pd": [*PD_AUTH, ("X", "${{ HOME }}")]}) == [
        "adapter 'pd' adds HOME"
    ]
    assert judge({"pd": "http://a/base"}, {"pd": []}) == [
        "adapter 'pd' drops PAGERDUTY_ACCOUNT_TOKEN"
    ]
    assert judge({"x": "http://c"}, {"x": [("X", "${{ HOME }}")]}) == ["new adapter 'x' names HOME"]
    # load(): a violating file gives the pinned config and one log line without the URL.
    path.write_text(_cfg({"pd": "http://evil/base"}, {"pd": PD_AUTH}))
    with caplog.at_level(logging.WARNING, logger="test.pin"):
        cfg = pin.load()
    assert cfg is pin.pinned and cfg.get("pd").base_url == "http://a/base"
    assert len(caplog.records) == 1 and "evil" not in caplog.text
    path.write_text("kind: Atlas\nspec: [\n")
    with pytest.raises(ConfigError):
        pin.load()  # invalid: the router keeps its current config


def test_pin_without_a_valid_start_config_refuses_every_variable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "missing.yml"
    with caplog.at_level(logging.WARNING, logger="test.pin2"):
        pin = ConfigPin(path, log=logging.getLogger("test.pin2"))
    assert pin.pinned is None and "could not be loaded at start" in caplog.text
    path.write_text(_cfg({"pd": "http://a"}, {"pd": PD_AUTH}))
    with pytest.raises(ConfigError, match="does not allow"):
        pin.load()
    path.write_text(_cfg({"open": "http://a"}, {}))
    assert [a.name for a in pin.load().http_adapters] == ["open"]


_TARGET = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location("k", sys.argv[1])
mod = sys.modules["k"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
print(mod.make_non_dumpable() if sys.argv[2] == "1" else "dumpable", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
@pytest.mark.parametrize("protect", [False, True])
def test_non_dumpable_process_environ_is_unreadable_by_the_same_user(protect: bool) -> None:
    """A process of the same (non-root) user can read a server's /proc/<pid>/environ unless the
    server made itself non-dumpable. Run as ``nobody`` when the tests run as root (root reads
    every process's environ: this protects nothing against root)."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    as_user: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to run as another user")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    module = Path(__file__).resolve().parents[2] / "atlas_canvas" / "jupyter" / "_kernels.py"
    with subprocess.Popen(
        [*as_user, python, "-c", _TARGET, str(module), "1" if protect else "0"],
        env={"PATH": "/usr/bin:/bin", "H7_PLANTED": PLANTED_SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd="/",
    ) as target:
        try:
            assert target.stdout is not None
            first = target.stdout.readline().strip()
            assert first == ("True" if protect else "dumpable"), first
            reader = subprocess.run(
                [*as_user, "cat", f"/proc/{target.pid}/environ"], capture_output=True, timeout=30
            )
        finally:
            target.kill()
    if protect:
        assert reader.returncode != 0 and b"Permission denied" in reader.stderr
        assert PLANTED_SECRET.encode() not in reader.stdout
    else:
        assert reader.returncode == 0 and PLANTED_SECRET.encode() in reader.stdout


@pytest.mark.parametrize(
    ("ip", "certfile", "sock", "base_url", "expected"),
    [
        ("127.0.0.1", "", "", "/", "http://127.0.0.1:8888/atlas-canvas"),
        ("", "", "", "/", "http://127.0.0.1:8888/atlas-canvas"),
        ("0.0.0.0", "", "", "/jp/", "http://127.0.0.1:8888/jp/atlas-canvas"),
        ("::", "", "", "/", "http://[::1]:8888/atlas-canvas"),
        ("::1", "", "", "/", "http://[::1]:8888/atlas-canvas"),
        ("localhost", "/tls/cert.pem", "", "/", "https://localhost:8888/atlas-canvas"),
        ("127.0.0.1", "", "/run/jupyter.sock", "/", None),
    ],
)
def test_kernel_atlas_url_follows_the_server(
    ip: str, certfile: str, sock: str, base_url: str, expected: str | None
) -> None:
    from types import SimpleNamespace

    from atlas_canvas.jupyter import _atlas_url

    app = SimpleNamespace(ip=ip, certfile=certfile, sock=sock, base_url=base_url, port=8888)
    assert _atlas_url(app) == expected


def test_config_writable_through_contents(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from atlas_canvas.jupyter._pinning import config_writable_through_contents

    root = tmp_path / "root"
    (root / ".hidden").mkdir(parents=True)
    shown = SimpleNamespace(allow_hidden=False)
    app = SimpleNamespace(root_dir=str(root), contents_manager=shown)
    assert config_writable_through_contents(root / "atlas.yml", app)
    assert config_writable_through_contents(root / "sub" / "atlas.yml", app)
    assert not config_writable_through_contents(tmp_path / "atlas.yml", app)
    assert not config_writable_through_contents(root / ".hidden" / "atlas.yml", app)
    assert not config_writable_through_contents(root / ".atlas.yml", app)
    app.contents_manager = SimpleNamespace(allow_hidden=True)
    assert config_writable_through_contents(root / ".hidden" / "atlas.yml", app)
    # A symlink inside the root can be replaced through the contents API, wherever it points;
    # one outside the root pointing in reads a file the contents API can rewrite.
    (tmp_path / "outside.yml").write_text("x")
    (root / "link.yml").symlink_to(tmp_path / "outside.yml")
    assert config_writable_through_contents(root / "link.yml", app)
    (tmp_path / "in.yml").symlink_to(root / "atlas.yml")
    assert config_writable_through_contents(tmp_path / "in.yml", app)
    (tmp_path / "plain.yml").write_text("x")
    assert not config_writable_through_contents(tmp_path / "plain.yml", app)


def test_a_kernel_still_starting_keeps_its_token_while_others_are_issued() -> None:
    """Two kernels starting at once: neither is known to the kernel manager yet, and issuing
    the second token must not drop the first; a start that never completes expires."""
    alive: set[str] = set()
    tokens = KernelTokens(alive.__contains__, start_grace=0.2)
    t1 = tokens.issue("k1")
    t2 = tokens.issue("k2")
    assert tokens.authenticate(t1) is None  # not running yet: refused, but kept
    alive.update({"k1", "k2"})
    assert tokens.authenticate(t1) == "k1" and tokens.authenticate(t2) == "k2"
    tokens.issue("k3")  # k3 never becomes alive
    import time

    time.sleep(0.3)
    t4 = tokens.issue("k4")  # prunes: k3 was never seen alive within its grace period
    alive.update({"k3", "k4"})
    assert "k3" not in tokens._tokens
    assert tokens.authenticate(t4) == "k4" and tokens.authenticate(t1) == "k1"
