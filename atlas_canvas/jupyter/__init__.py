"""The Jupyter server extension of atlas-canvas.

Installed and enabled automatically by the wheel (``jupyter_server_config.d/atlas_canvas.json``),
it adds these routes under the server's base URL, each authenticated by Jupyter and, for
non-GET methods, XSRF-checked (Jupyter's own checks are left on):

================================================  ===========================================
``GET  atlas-canvas/adapters``                     active adapters: kind, name, base URL,
                                                   secret variable *names* (never values)
``GET  atlas-canvas/adapters/<name>/health``       cheap upstream check: reachable, status,
                                                   latency, which secret variables are set
``POST atlas-canvas/adapters``                     add an HTTP adapter (same code as
                                                   ``mom atlas config add-http-adapter``)
``ANY  atlas-canvas/v1/apis/http/<name>/<path>``   the Atlas proxy route, through the routing
                                                   core; Jupyter's token, cookies and XSRF
                                                   header never reach the upstream
================================================  ===========================================

Secrets stay in the server process (see :mod:`._kernels` and :mod:`._pinning`):

* kernels start without the variables the config's adapters name, with ``ATLAS_URL`` set to
  the proxy route above and a per-kernel ``ATLAS_ACCESS_TOKEN`` that only that route accepts
  (in place of Jupyter's own authentication); terminals start without those variables too.
  A server started with ``ATLAS_URL`` (notebooks pointed at a team server) leaves kernels
  on that server;
* on Linux the server makes itself non-dumpable when it holds a secret, so same-user kernels
  cannot read ``/proc/<pid>/environ`` (``c.AtlasCanvas.protect_server_memory``);
* with ``allow_config_edits = False`` the config of the start is pinned: a changed file may not
  move an adapter's secret to another base URL nor name another variable.

Configuration (``jupyter_server_config.py`` or the command line)::

    c.AtlasCanvas.config_file = "/srv/atlas.yml"   # default: $ATLAS_CONFIG, else ./atlas.yml
    c.AtlasCanvas.allow_config_edits = False       # 403 on POST atlas-canvas/adapters; pin config
    c.AtlasCanvas.health_timeout = 5.0             # seconds
    c.AtlasCanvas.protect_server_memory = True     # prctl(PR_SET_DUMPABLE, 0) when holding secrets
    c.AtlasCanvas.kernel_atlas_url = ""            # ATLAS_URL for kernels (default: this server)
"""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Dict, Float, Unicode
from traitlets.config import Configurable

__all__ = ["AtlasCanvas"]

#: Key of the extension's state in ``web_app.settings``.
SETTINGS_KEY = "atlas_canvas"


class AtlasCanvas(Configurable):
    """Server-side settings of the atlas-canvas Jupyter extension (``c.AtlasCanvas.*``).

    Example (``jupyter_server_config.py``)::

        c.AtlasCanvas.config_file = "~/atlas.yml"
    """

    config_file = Unicode(
        "",
        help="Path of the Atlas config. Empty: $ATLAS_CONFIG, else ./atlas.yml "
        "(relative to the server's working directory), read again when it changes.",
    ).tag(config=True)

    allow_config_edits = Bool(
        True,
        help="Allow the sidebar to add HTTP adapters to the config file "
        "(POST atlas-canvas/adapters). Turn off for shared, read-only deployments.",
    ).tag(config=True)

    health_timeout = Float(
        5.0, help="Seconds the adapter health check waits for the upstream."
    ).tag(config=True)

    connect_timeout = Float(
        10.0, help="Seconds the proxy route waits for an upstream connection (then 504)."
    ).tag(config=True)

    read_timeout = Float(
        60.0, help="Seconds the proxy route waits for upstream bytes (then 504)."
    ).tag(config=True)

    protect_server_memory = Bool(
        True,
        help="On Linux, make the server process non-dumpable (prctl PR_SET_DUMPABLE 0) when "
        "adapter secrets are in its environment, so kernels of the same Unix user cannot read "
        "them from /proc/<pid>/environ or ptrace the server. Costs core dumps and same-user "
        "debuggers/profilers (py-spy, gdb) on the server. Root still can read them.",
    ).tag(config=True)

    kernel_atlas_url = Unicode(
        "",
        help="The URL kernels get as ATLAS_URL to reach the atlas-canvas route. Empty: "
        "http(s)://127.0.0.1:<port><base_url>atlas-canvas (the server's ip if it is bound to "
        "one address). Set it when the server's TLS certificate names another host, or "
        "kernels run elsewhere.",
    ).tag(config=True)

    health_paths = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        default_value={},
        help="Per-adapter path probed by the health check, relative to its base URL "
        "(default: the base URL itself), e.g. {'pagerduty': 'abilities'}.",
    ).tag(config=True)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Register the handlers on the running server (called by jupyter_server)."""
    from ._handlers import ExtensionState, handlers

    settings = AtlasCanvas(parent=serverapp)
    web_app = serverapp.web_app
    log = serverapp.log
    state = ExtensionState(settings, log=log)
    web_app.settings[SETTINGS_KEY] = state
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    _protect_kernels(serverapp, state)
    _warn_if_config_is_writable(serverapp, state)
    log.info("atlas-canvas server extension loaded (config: %s)", state.config_path_for_display())


def _protect_kernels(serverapp: Any, state: Any) -> None:
    """Kernels start without the adapters' secrets, with ATLAS_URL and a kernel token."""
    import os

    from ._kernels import KernelEnvPolicy, install, make_non_dumpable

    kernel_manager = serverapp.kernel_manager

    def secret_names() -> set[str]:
        cfg = state.config()
        pinned = state.pin.pinned if state.pin is not None else None
        configs = [c for c in (cfg, pinned) if c is not None]
        return {v for c in configs for a in c.adapters for v in a.secret_variables}

    protected: list[bool] = []

    def protect_memory(names: frozenset[str]) -> None:
        # Called at start and whenever a config names a new variable: the server holds a
        # secret as soon as one of them is set in its environment.
        held = [v for v in names if v in os.environ]
        if protected or not held or not state.settings.protect_server_memory:
            return
        if make_non_dumpable():
            protected.append(True)
            serverapp.log.info(
                "atlas-canvas: the server holds %d adapter secret(s); made it non-dumpable so "
                "same-user kernels cannot read /proc/%d/environ "
                "(c.AtlasCanvas.protect_server_memory)",
                len(held),
                os.getpid(),
            )

    policy = KernelEnvPolicy(
        secret_names=secret_names,
        atlas_url=lambda: state.settings.kernel_atlas_url or _route_for_kernels(serverapp),
        is_alive=lambda kernel_id: kernel_id in kernel_manager,
        log=serverapp.log,
        on_named=protect_memory,
    )
    state.kernels = policy
    install(kernel_manager, policy, log=serverapp.log)
    # Terminals inherit the server's environment too. jupyter_server_terminals loads after
    # this extension (extensions load in name order), so wrap its manager once the loop runs,
    # before any request is served.
    io_loop = getattr(serverapp, "io_loop", None)
    if io_loop is not None:
        io_loop.add_callback(_protect_terminals, serverapp, policy)
    else:  # pragma: no cover - jupyter_server creates the loop before loading extensions
        _protect_terminals(serverapp, policy)


def _protect_terminals(serverapp: Any, policy: Any) -> None:
    """Terminals start without the variables adapters name (no ATLAS_URL: a terminal is not
    a kernel and gets no token; `mom curl` there needs its own ATLAS_URL and token)."""
    manager = serverapp.web_app.settings.get("terminal_manager")
    original = getattr(manager, "make_term_env", None)
    if original is None:
        return

    def make_term_env(*args: Any, **kwargs: Any) -> dict[str, str]:
        env: dict[str, str] = original(*args, **kwargs)
        for name in policy.withheld(env):
            del env[name]
        return env

    manager.make_term_env = make_term_env


def _route_for_kernels(serverapp: Any) -> str | None:
    """This server's route, unless the server was started with ``ATLAS_URL``: notebooks are
    then pointed at that Atlas server (a team server) and keep its URL and token."""
    import os

    if os.environ.get("ATLAS_URL"):
        return None
    return _atlas_url(serverapp)


def _atlas_url(serverapp: Any) -> str | None:
    """The proxy route as a kernel on this machine reaches it; None over a Unix socket."""
    from jupyter_server.utils import url_path_join

    if getattr(serverapp, "sock", ""):
        return None
    ip = serverapp.ip or ""
    if ip in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif ip == "::":
        host = "[::1]"
    else:
        host = f"[{ip}]" if ":" in ip else ip
    scheme = "https" if getattr(serverapp, "certfile", "") else "http"
    path = url_path_join(serverapp.base_url or "/", "atlas-canvas")
    return f"{scheme}://{host}:{serverapp.port}{path}"


def _warn_if_config_is_writable(serverapp: Any, state: Any) -> None:
    from ._pinning import config_writable_through_contents

    if state.settings.allow_config_edits:
        return
    if config_writable_through_contents(state.config_path, serverapp):
        serverapp.log.warning(
            "atlas-canvas: config edits are off but the config file %s is inside the contents "
            "root, so anyone using this server can rewrite it through the contents API; the "
            "extension keeps each adapter's baseUrl and secret variables as they are now "
            "(pinned), but move the file outside %s to make it read-only",
            state.config_path,
            serverapp.root_dir,
        )


async def _unload_jupyter_server_extension(serverapp: Any) -> None:
    """Close the pooled upstream connections when the server stops."""
    state = serverapp.web_app.settings.get(SETTINGS_KEY)
    if state is not None:
        await state.close()
