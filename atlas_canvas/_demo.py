"""``mom demo``: the PagerDuty simulator, a demo Atlas config and JupyterLab, in one command.

What it does, in order:

1. takes a lock in the demo directory (default ``$XDG_STATE_HOME/atlas-canvas/demo``, i.e.
   ``~/.local/state/atlas-canvas/demo``); if another ``mom demo`` holds it, says where that
   one runs and stops there (no second set of servers, no "port busy" crash);
2. starts ``python -m atlas_canvas pagerduty-sim`` on a free loopback port with a random token;
3. writes ``atlas.yml`` in the demo directory with the ``mom atlas config generate`` and
   ``add-http-adapter`` code: the ``pagerduty`` adapter points at the simulator and its header
   is ``Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}``. The token itself is put
   only in JupyterLab's environment, never in a file;
4. copies the shipped notebooks into ``<demo dir>/notebooks`` (a copy the user edits is kept)
   and starts ``python -m jupyterlab`` there with ``ATLAS_CONFIG`` set;
5. prints what runs where, opens the browser on ``pagerduty_incidents.ipynb``, and waits.

Ctrl-C (SIGINT), SIGTERM or SIGHUP stops everything it started: each child runs in its own
process group, gets SIGTERM, then SIGKILL after a grace period, and any process it left
behind (Jupyter kernels run in their own sessions) is found with psutil and stopped too.
On Linux the children also get SIGTERM if ``mom demo`` itself is killed outright. That
supervision and the single-instance lock live in :mod:`~atlas_canvas._supervise`; this
module is the recipe.

Example::

    from atlas_canvas._demo import DemoOptions, run_demo
    raise SystemExit(run_demo(DemoOptions(open_browser=False)))
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._errors import UsageError
from ._supervise import (
    LOOPBACK,
    Child,
    InstanceLock,
    ProcessFailedError,
    free_port,
    port_free,
    stop_signals,
    wait_http,
)

__all__ = [
    "DEMO_NOTEBOOK",
    "DemoOptions",
    "default_demo_dir",
    "find_notebooks",
    "run_demo",
    "sync_notebooks",
]

#: The notebook the demo opens.
DEMO_NOTEBOOK = "pagerduty_incidents.ipynb"
#: Name of the adapter the demo config defines (the public guide's name).
ADAPTER = "pagerduty"
#: The environment variable holding the simulator's token (the public guide's name).
TOKEN_VARIABLE = "PAGERDUTY_ACCOUNT_TOKEN"
#: JupyterLab's usual port; the demo falls back to a free one when it is taken.
DEFAULT_LAB_PORT = 8888
_MANIFEST = ".atlas-demo-manifest.json"
#: The demo directory's lock and info files: demo.lock, demo.json.
_INSTANCE = "demo"

Echo = Callable[[str], None]


class DemoError(ProcessFailedError):
    """A part of the demo failed to start or stopped unexpectedly (exit 1)."""

    code = "ATLAS_DemoError"


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """How ``mom demo`` runs. Every field has the default ``mom demo`` uses.

    Example::

        DemoOptions(port=8899, seed=7, incidents=2000, open_browser=False)
    """

    port: int | None = None  # JupyterLab; None: 8888 if free, else any free port
    sim_port: int | None = None  # simulator; None: any free port
    seed: int = 7
    incidents: int = 3000
    open_browser: bool = True
    demo_dir: Path | None = None  # None: default_demo_dir()
    start_timeout: float = 120.0  # seconds each server gets to answer (2-core CI is slow)
    stop_timeout: float = 15.0  # seconds between SIGTERM and SIGKILL

    def __post_init__(self) -> None:
        for name in ("port", "sim_port"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= 65535:
                raise UsageError(f"--{name.replace('_', '-')} must be 1..65535, got {value}")
        if self.incidents < 0:
            raise UsageError(f"--incidents must be >= 0, got {self.incidents}")
        if self.port is not None and self.port == self.sim_port:
            raise UsageError("--port and --sim-port must differ")


def default_demo_dir() -> Path:
    """``$ATLAS_CANVAS_DEMO_DIR``, else ``$XDG_STATE_HOME/atlas-canvas/demo``."""
    explicit = os.environ.get("ATLAS_CANVAS_DEMO_DIR")
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "atlas-canvas" / "demo"


# --------------------------------------------------------------------------- notebooks


def find_notebooks() -> Path:
    """Where the shipped notebooks are: inside the installed package (wheel) or the checkout.

    The wheel carries them as ``atlas_canvas/notebooks/``; an editable install or a
    source checkout has them in the top-level ``notebooks/`` folder.
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / "notebooks", package.parent / "notebooks"):
        if (candidate / DEMO_NOTEBOOK).is_file():
            return candidate
    raise DemoError(
        f"the demo notebook {DEMO_NOTEBOOK} is not installed",
        hint="reinstall atlas-canvas from a wheel or run from a source checkout",
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sync_notebooks(source: Path, workspace: Path) -> list[str]:
    """Copy ``source/*.ipynb`` into ``workspace``, keeping the user's own edits.

    A notebook is copied when the workspace lacks it, or refreshed when the shipped one
    changed and the workspace copy is still exactly what was copied last time. A copy the
    user changed is left alone. Returns one line per notebook kept back, for the user.

    Example::

        sync_notebooks(find_notebooks(), Path("/tmp/demo/notebooks"))
    """
    workspace.mkdir(parents=True, exist_ok=True)
    manifest_path = workspace / _MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            manifest = {}
    except (OSError, ValueError):
        manifest = {}
    notes: list[str] = []
    for src in sorted(source.glob("*.ipynb")):
        dest = workspace / src.name
        shipped = _sha256(src)
        if dest.exists():
            current = _sha256(dest)
            if current == shipped:
                manifest[src.name] = shipped
                continue
            if manifest.get(src.name) != current:
                notes.append(
                    f"kept your edited {dest} (the shipped version is in {src}; "
                    "delete your copy to get it)"
                )
                continue
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        manifest[src.name] = shipped
    tmp_manifest = manifest_path.with_name(f".{_MANIFEST}.tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp_manifest, manifest_path)
    return notes


# --------------------------------------------------------------------------- config


def write_demo_config(path: Path, simulator_url: str) -> None:
    """Write the demo Atlas config with the code behind ``mom atlas config generate`` and
    ``mom atlas config add-http-adapter``, so the demo file is exactly what a user would get.

    Example::

        write_demo_config(Path("/tmp/demo/atlas.yml"), "http://127.0.0.1:8765")
    """
    from ._config import parse_config
    from ._config_edit import add_http_adapter_text, render_new_config, write_atomic

    text = render_new_config("atlas-canvas-demo")
    text = add_http_adapter_text(
        text,
        name=ADAPTER,
        base_url=simulator_url,
        headers=[("Authorization", f"Token token=${{{{ {TOKEN_VARIABLE} }}}}")],
        filename=str(path),
    )
    cfg = parse_config(text, str(path), environ={TOKEN_VARIABLE: "x"})
    if cfg.get(ADAPTER).base_url != simulator_url:  # pragma: no cover - a config-layer bug
        raise DemoError(f"the demo config does not point at {simulator_url}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)


_NOTIFICATION = "@jupyterlab/apputils-extension:notification"


def write_lab_settings(directory: Path) -> Path:
    """JupyterLab app settings for the demo: the environment's ``overrides.json`` plus "never
    fetch news / check for updates", so the demo neither calls home nor asks about it.

    The user's own settings (theme, shortcuts) are untouched: this is the app-level layer.
    """
    app_dir = os.environ.get("JUPYTERLAB_DIR") or str(Path(sys.prefix) / "share/jupyter/lab")
    overrides: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads((Path(app_dir) / "settings" / "overrides.json").read_text("utf-8"))
        if isinstance(loaded, dict):
            overrides = loaded
    notification = dict(overrides.get(_NOTIFICATION) or {})
    notification.update({"fetchNews": "false", "checkForUpdates": False})
    overrides[_NOTIFICATION] = notification
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "overrides.json").write_text(json.dumps(overrides, indent=1), encoding="utf-8")
    return directory


# --------------------------------------------------------------------------- the demo


def _check_notebook_stack() -> None:
    import importlib.util

    missing = [m for m in ("jupyterlab", "ipykernel") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"mom demo needs {' and '.join(missing)}, which is not installed",
            hint="pip install 'atlas-canvas[notebook]'",
        )


def _lab_port(requested: int | None, avoid: Sequence[int]) -> int:
    if requested is not None:
        if not port_free(requested):
            raise UsageError(
                f"port {requested} on {LOOPBACK} is in use by another program",
                hint="choose another with --port, or leave --port out to get a free one",
            )
        return requested
    if DEFAULT_LAB_PORT not in avoid and port_free(DEFAULT_LAB_PORT):
        return DEFAULT_LAB_PORT
    return free_port(avoid)


def _first_user_email(sim_url: str, token: str) -> str | None:
    import httpx

    try:
        r = httpx.get(
            f"{sim_url}/users",
            params={"limit": 1},
            headers={"Authorization": f"Token token={token}"},
            timeout=5.0,
            trust_env=False,
        )
        users = r.json().get("users") or []
        email = users[0].get("email") if users else None
        return email if isinstance(email, str) else None
    except Exception:
        return None


def _extension_check(lab_url: str, token: str) -> str:
    """One line on whether JupyterLab's Atlas routes see the simulator through the proxy."""
    import httpx

    from ._routing import adapter_path

    auth = {"Authorization": f"token {token}"}
    try:
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            r = client.get(f"{lab_url}/atlas-canvas/adapters", headers=auth)
            if r.status_code == 404:
                return "not loaded (notebooks still work in-process)"
            if r.status_code != 200:
                return f"answered HTTP {r.status_code} on /atlas-canvas/adapters"
            r = client.get(
                f"{lab_url}/atlas-canvas{adapter_path(ADAPTER, 'incidents')}",
                params={"limit": 1, "total": "true"},
                headers=auth,
            )
            if r.status_code != 200:
                return f"active, but the proxied simulator answered HTTP {r.status_code}"
            total = r.json().get("total")
            return f"active; {ADAPTER} answers through it ({total} incidents in the last month)"
    except (httpx.HTTPError, ValueError) as exc:
        return f"could not be checked ({type(exc).__name__})"


def run_demo(options: DemoOptions, echo: Echo | None = None) -> int:
    """Run the demo until a stop signal; return the exit code (0 on a requested stop)."""
    say: Echo = echo or (lambda line: print(line, flush=True))
    _check_notebook_stack()
    demo_dir = (options.demo_dir or default_demo_dir()).expanduser().resolve()
    lock = InstanceLock(demo_dir, _INSTANCE)
    if not lock.acquire():
        info = lock.read_info() or {}
        url = info.get("notebook_url")
        if url:
            say(f"mom demo is already running (pid {info.get('pid')}): {url}")
            say(f"stop it with Ctrl-C in its terminal or `kill {info.get('pid')}`.")
            if options.open_browser:
                _open_browser(str(url), say)
        else:
            say(f"mom demo is already running (starting up) in {demo_dir}; try again shortly.")
        return 0

    stop = threading.Event()
    children: list[Child] = []
    try:
        with stop_signals(stop):
            return _run(options, demo_dir, lock, children, stop, say)
    except KeyboardInterrupt:
        return 0
    finally:
        if children:
            say("stopping: " + ", ".join(c.name for c in reversed(children)) + " ...")
        for child in reversed(children):  # JupyterLab first: it shuts its kernels down
            child.stop(options.stop_timeout)
        lock.release()
        if children:
            say("stopped; nothing left running.")


def _run(
    options: DemoOptions,
    demo_dir: Path,
    lock: InstanceLock,
    children: list[Child],
    stop: threading.Event,
    say: Echo,
) -> int:
    sim_token = "demo-" + secrets.token_urlsafe(24)
    lab_token = secrets.token_hex(24)
    sim_port = options.sim_port if options.sim_port is not None else free_port()
    if options.sim_port is not None and not port_free(sim_port):
        raise UsageError(f"port {sim_port} on {LOOPBACK} is in use", hint="choose another")
    lab_port = _lab_port(options.port, avoid=[sim_port])
    sim_url = f"http://{LOOPBACK}:{sim_port}"
    lab_url = f"http://{LOOPBACK}:{lab_port}"
    logs = demo_dir / "logs"
    notebooks_src = find_notebooks()

    base_env = {k: v for k, v in os.environ.items() if k not in ("ATLAS_URL", "ATLAS_ACCESS_TOKEN")}
    # The children run the same interpreter; its bin dir first finds the right `python`
    # for kernels started by name.
    base_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base_env.get("PATH", "")])
    base_env.pop(TOKEN_VARIABLE, None)

    sim_env = dict(base_env)
    sim_env["PAGERDUTY_SIM_TOKEN"] = sim_token  # not on the command line, where `ps` shows it
    children.append(
        Child(
            "PagerDuty simulator",
            [
                sys.executable, "-m", "atlas_canvas", "pagerduty-sim",
                "--host", LOOPBACK, "--port", str(sim_port),
                "--seed", str(options.seed), "--incidents", str(options.incidents),
            ],
            sim_env,
            logs / "simulator.log",
        )
    )  # fmt: skip
    sim_headers = {
        "Authorization": f"Token token={sim_token}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }
    wait_http(
        children[0],
        f"{sim_url}/incidents?limit=1",
        sim_headers,
        options.start_timeout,
        stop,
        error=DemoError,
    )

    config_path = demo_dir / "atlas.yml"
    write_demo_config(config_path, sim_url)
    workspace = demo_dir / "notebooks"
    notes = sync_notebooks(notebooks_src, workspace)

    lab_env = dict(base_env)
    lab_env[TOKEN_VARIABLE] = sim_token
    lab_env["ATLAS_CONFIG"] = str(config_path)
    lab_env["JUPYTER_TOKEN"] = lab_token  # in the environment, not on the command line
    # The notebooks' incident store: the demo's own, never a real account's store, and new
    # with each simulator (a fresh account each run), so the first notebook run syncs it.
    stores = demo_dir / "stores"
    shutil.rmtree(stores, ignore_errors=True)
    lab_env["ATLAS_STORE"] = str(stores)
    if not lab_env.get("PAGERDUTY_FROM"):
        email = _first_user_email(sim_url, sim_token)
        if email:
            lab_env["PAGERDUTY_FROM"] = email
    children.append(
        Child(
            "JupyterLab",
            [
                sys.executable, "-m", "jupyterlab", "--no-browser",
                f"--ServerApp.ip={LOOPBACK}", f"--ServerApp.port={lab_port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={workspace}",
                f"--LabApp.app_settings_dir={write_lab_settings(demo_dir / 'lab-settings')}",
                # The demo's open tabs and layout stay with the demo, not the user's workspace.
                f"--LabApp.workspaces_dir={demo_dir / 'lab-workspaces'}",
                # The demo makes no calls home: no update check, no news feed.
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.news_url=None",
                # Jupyter refuses root without this; CI and containers run as root, and the
                # demo binds loopback only, behind a random token.
                *(["--allow-root"] if _is_root() else []),
            ],
            lab_env,
            logs / "jupyterlab.log",
        )
    )  # fmt: skip
    wait_http(
        children[1],
        f"{lab_url}/api/status",
        {"Authorization": f"token {lab_token}"},
        options.start_timeout,
        stop,
        error=DemoError,
    )
    notebook_url = f"{lab_url}/lab/tree/{DEMO_NOTEBOOK}?token={lab_token}"
    extension = _extension_check(lab_url, lab_token)
    lock.write_info(
        {
            "pid": os.getpid(),
            "notebook_url": notebook_url,
            "lab_url": lab_url,
            "simulator_url": sim_url,
            "config": str(config_path),
            "workspace": str(workspace),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )

    say("atlas-canvas demo is running:")
    say(
        f"  PagerDuty simulator  {sim_url}  (seed {options.seed}, {options.incidents} incidents;"
        f" pid {children[0].pid})"
    )
    say(
        f"  Atlas config         {config_path}  (adapter '{ADAPTER}' -> the simulator; "
        f"token only in JupyterLab's ${TOKEN_VARIABLE})"
    )
    say(f"  Notebooks            {workspace}")
    say(f"  JupyterLab           {notebook_url}  (pid {children[1].pid})")
    say(f"  Atlas extension      {extension}")
    say(f"  Logs                 {logs}")
    for note in notes:
        say(f"  note: {note}")
    if options.open_browser:
        _open_browser(notebook_url, say)
    say("Press Ctrl-C to stop everything.")

    while not stop.wait(0.5):
        for child in children:
            if not child.running():
                raise DemoError(
                    f"{child.name} stopped unexpectedly (exit code {child.proc.returncode}); "
                    f"last lines of {child.log}:\n{child.log_tail()}"
                )
    return 0


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _has_display() -> bool:
    # Without a display, Python's webbrowser falls back to text browsers (lynx, w3m) that
    # would take over this terminal; $BROWSER is the user's explicit choice.
    if os.environ.get("BROWSER") or sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_browser(url: str, say: Echo) -> None:
    import webbrowser

    opened = False
    if _has_display():
        try:
            opened = webbrowser.open(url)
        except Exception:
            opened = False
    if not opened:
        say("  (no browser here: open the JupyterLab URL above yourself)")
