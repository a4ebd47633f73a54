"""``%atlas`` / ``%%atlas``: thin IPython magics over the plain functions.

``%load_ext atlas_canvas`` registers them and, as a Moment canvas has it as a global, puts the
awaitable ``atlasProxyFetch`` (and ``atlas_proxy_fetch``) into the user namespace. Every
subcommand calls a function that works without IPython (``atlas_proxy_fetch_sync``,
``pagerduty.incidents``, ``pagerduty.dashboard``) and returns an object that displays itself
(HTML + text), so ``df = %atlas incidents`` works.

Settings (``%config AtlasMagics.<name> = value``):

* ``config_file``: the Atlas config for in-process requests (between an explicit argument and
  ``ATLAS_CONFIG`` in precedence);
* ``adapter``: the default PagerDuty adapter name (``pagerduty``);
* ``display_limit``: rows shown when an incidents frame is displayed (20);
* ``progress``: show a progress bar on long incident fetches (True).

User mistakes raise :class:`~atlas_canvas.AtlasError`, whose ``_render_traceback_`` shows one
short line instead of a traceback and which still fails the cell under nbval/nbclient
(IPython's own ``UsageError`` would not).
"""

from __future__ import annotations

import argparse
import difflib
import html
import json
import shlex
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from IPython.core.magic import (
    Magics,
    line_cell_magic,
    magics_class,
    needs_local_scope,
    no_var_expand,
)
from traitlets import Bool, Int, TraitError, Unicode, observe, validate
from traitlets.config import Configurable

from ._bridge import run_sync
from ._errors import AtlasError, HTTPStatusError, NoMatchingInstanceError, UsageError
from ._fetch import atlas_proxy_fetch_sync, atlasProxyFetch, list_adapters
from ._response import Response
from ._routing import match_route
from ._target import set_session_config_path

__all__ = ["AdapterTable", "AtlasMagics", "load_ipython_extension", "unload_ipython_extension"]

SUBCOMMANDS = ("adapters", "curl", "incidents", "dashboard", "oncall", "sync", "help")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

HELP = """\
%atlas adapters
    Table of the active HTTP adapters (kind, name, base URL; never header values).
%atlas curl PATH [-X METHOD] [-H 'Name: value']... [-d DATA] [-o NAME]
    One request through Atlas, e.g. %atlas curl /v1/apis/http/pagerduty/incidents
%atlas incidents [--adapter A] [--status S[,S]] [--urgency U] [--service ID] [--team ID]
                 [--since T] [--until T] [--all] [-o NAME]
    Every matching PagerDuty incident as a DataFrame (df = %atlas incidents ... works).
    T is ISO 8601 (2025-03-01, 2025-03-01T12:00:00Z) or relative (7d, 12h). --since alone
    fetches until now; --until alone the month before it; neither the last month.
%atlas dashboard [--adapter A] [same filters as incidents]
    The incidents dashboard (filters, tiles, chart, table, acknowledge/resolve).
%atlas oncall [--adapter A] [--at T] [--escalation-policy ID]... [-o NAME]
    Who is on call now (or at T), per escalation policy and level.
%atlas sync [--adapter A] [--since T] [--store PATH]
    Sync the incident store (first: the history, default 365d; later: what changed).
%%atlas METHOD PATH [-H 'Name: value']... [-o NAME]
    <body>
    One request with the cell as its body (JSON gets Content-Type: application/json).
%%atlas sql [--adapter A] [--store PATH] [-o NAME]
    <DuckDB SQL>
    A query against the incident store (tables incidents, log_entries, services, ...).

Settings: %config AtlasMagics.config_file / .adapter / .display_limit / .progress
Config: -f-like precedence: AtlasMagics.config_file, then $ATLAS_CONFIG, then ./atlas.yml;
with $ATLAS_URL set, requests go to that Atlas server with $ATLAS_ACCESS_TOKEN.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%atlas {self.prog.split()[-1]}: {message}", hint="see %atlas?")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%atlas {self.prog}: invalid arguments", hint="see %atlas?")


def _parser(name: str) -> _Parser:
    return _Parser(prog=f"%atlas {name}", add_help=False, allow_abbrev=False)


def _add_filters(p: _Parser) -> None:
    p.add_argument("--adapter", default=None)
    p.add_argument("--status", "--statuses", dest="status", action="append", default=None)
    p.add_argument("--urgency", "--urgencies", dest="urgency", action="append", default=None)
    p.add_argument("--service", "--service-id", dest="service", action="append", default=None)
    p.add_argument("--team", "--team-id", dest="team", action="append", default=None)
    p.add_argument("--since", default=None)
    p.add_argument("--until", default=None)
    p.add_argument("--all", dest="all_dates", action="store_true")
    p.add_argument("-o", "--out", dest="out", default=None)


def _headers(values: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in values or ():
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"bad header {raw!r}", hint="write headers as -H 'Name: value'")
        out[name.strip()] = value.strip()
    return out


def _split(line: str) -> list[str]:
    # IPython hands a line magic the rest of the line, comments included: `%atlas adapters
    # # note` must not read "#" and "note" as arguments (a quoted "#" stays an argument).
    try:
        return shlex.split(line, comments=True)
    except ValueError as exc:
        raise UsageError(f"cannot parse the line: {exc}", hint="check the quotes") from None


def _did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else None


class AdapterTable:
    """The active HTTP adapters, as returned by ``%atlas adapters``."""

    def __init__(self, adapters: list[dict[str, str]]) -> None:
        self.adapters = adapters

    def __len__(self) -> int:
        return len(self.adapters)

    def names(self) -> list[str]:
        return [a.get("name", "") for a in self.adapters]

    def __repr__(self) -> str:
        if not self.adapters:
            return "no active HTTP adapters"
        rows = [("KIND", "NAME", "BASE URL")] + [
            (a.get("kind", ""), a.get("name", ""), a.get("baseUrl", "")) for a in self.adapters
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows)

    def _repr_html_(self) -> str:
        e = html.escape
        body = "".join(
            f"<tr><td>{e(a.get('kind', ''))}</td><td><code>{e(a.get('name', ''))}</code></td>"
            f"<td>{e(a.get('baseUrl', ''))}</td></tr>"
            for a in self.adapters
        )
        if not body:
            return "<div>no active HTTP adapters</div>"
        return (
            "<table class='dataframe atlas-adapters'><thead><tr><th>kind</th><th>name</th>"
            f"<th>base URL</th></tr></thead><tbody>{body}</tbody></table>"
        )


@magics_class
class AtlasMagics(Magics, Configurable):
    """%atlas / %%atlas (see :data:`HELP`)."""

    config_file = Unicode(
        "", help="Atlas config file for in-process requests (default: $ATLAS_CONFIG, ./atlas.yml)"
    ).tag(config=True)
    adapter = Unicode("pagerduty", help="Default PagerDuty adapter name").tag(config=True)
    display_limit = Int(20, help="Rows shown when an incidents frame is displayed").tag(config=True)
    progress = Bool(True, help="Progress bar on long incident fetches").tag(config=True)

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        # `%config AtlasMagics.x = ...` finds configurables here (some IPython versions add
        # magics themselves; never twice).
        if self not in shell.configurables:
            shell.configurables.append(self)
        set_session_config_path(self.config_file or None)

    @observe("config_file")
    def _config_file_changed(self, change: dict[str, Any]) -> None:
        set_session_config_path(change["new"] or None)

    @validate("display_limit")
    def _check_limit(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 0:
            raise TraitError("display_limit must be >= 0")
        return value

    @validate("adapter")
    def _check_adapter(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        if not value or "/" in value:
            raise TraitError(f"bad adapter name {proposal['value']!r}")
        return value

    # ------------------------------------------------------------------------------------------

    @no_var_expand
    @needs_local_scope
    @line_cell_magic
    def atlas(self, line: str, cell: str | None = None, local_ns: Any = None) -> Any:
        """Atlas from a notebook: adapters, requests, PagerDuty incidents and dashboard.

        %atlas adapters
        %atlas curl PATH [-X METHOD] [-H 'Name: value']... [-d DATA] [-o NAME]
        %atlas incidents [--adapter A] [--status S[,S]] [--urgency U] [--service ID]
                         [--team ID] [--since T] [--until T] [--all] [-o NAME]
        %atlas dashboard [--adapter A] [same filters as incidents]
        %atlas oncall [--adapter A] [--at T] [--escalation-policy ID]... [-o NAME]
        %atlas sync [--adapter A] [--since T] [--store PATH]
        %%atlas METHOD PATH [-H 'Name: value']... [-o NAME]   (cell body = request body)
        %%atlas sql [--adapter A] [--store PATH] [-o NAME]    (cell body = DuckDB SQL)

        Examples::

            %atlas adapters
            r = %atlas curl /v1/apis/http/pagerduty/incidents?limit=5
            df = %atlas incidents --status triggered,acknowledged --since 7d
            %atlas dashboard --since 30d

        Settings: ``%config AtlasMagics.config_file|adapter|display_limit|progress``.
        """
        if cell is not None:
            return self._cell(line, cell)
        args = _split(line)
        if not args:
            return _Help()
        sub, rest = args[0], args[1:]
        if sub in ("help", "-h", "--help"):
            return _Help()
        handler = {
            "adapters": self._adapters,
            "curl": self._curl,
            "incidents": self._incidents,
            "dashboard": self._dashboard,
            "oncall": self._oncall,
            "sync": self._sync,
        }.get(sub)
        if handler is None:
            hint = _did_you_mean(sub, SUBCOMMANDS) or "subcommands: " + ", ".join(SUBCOMMANDS)
            if sub.upper() in METHODS:
                hint = f"a request with a body is a cell magic: %%atlas {sub.upper()} PATH"
            raise UsageError(f"unknown %atlas subcommand {sub!r}", hint=hint)
        return handler(rest)

    # -- subcommands ---------------------------------------------------------------------------

    def _adapters(self, argv: list[str]) -> AdapterTable:
        if argv:
            raise UsageError("%atlas adapters takes no arguments", hint="see %atlas?")
        return AdapterTable(run_sync(list_adapters()))

    def _store(self, name: str | None, value: Any) -> None:
        if name is None:
            return
        if not name.isidentifier():
            raise UsageError(f"-o needs a Python variable name, got {name!r}")
        if self.shell is not None:
            self.shell.user_ns[name] = value

    def _send(self, method: str, path: str, headers: dict[str, str], body: str | None) -> Response:
        r = atlas_proxy_fetch_sync(path, method=method, headers=headers, body=body)
        err = r.error()
        # Atlas's own refusals (unknown adapter, missing secret, bad path) are user errors;
        # upstream answers of any status are shown as responses.
        if err is not None and not isinstance(err, HTTPStatusError):
            if isinstance(err, NoMatchingInstanceError):
                adapter = match_route(path.split("?", 1)[0]).adapter
                try:
                    names = AdapterTable(run_sync(list_adapters())).names()
                except AtlasError:
                    names = []
                from .pagerduty._explain import with_suggestion

                raise with_suggestion(err, adapter, names)
            raise err
        return r

    def _curl(self, argv: list[str]) -> Response:
        p = _parser("curl")
        p.add_argument("path")
        p.add_argument("-X", "--request", dest="method", default=None)
        p.add_argument("-H", "--header", dest="headers", action="append", default=None)
        p.add_argument("-d", "--data", dest="data", default=None)
        p.add_argument("-o", "--out", dest="out", default=None)
        ns = p.parse_args(argv)
        method = (ns.method or ("POST" if ns.data is not None else "GET")).upper()
        if method not in METHODS:
            raise UsageError(f"unknown HTTP method {method!r}", hint=_did_you_mean(method, METHODS))
        headers = _headers(ns.headers)
        if ns.data is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = _content_type(ns.data)
        r = self._send(method, ns.path, headers, ns.data)
        self._store(ns.out, r)
        return r

    def _cell(self, line: str, cell: str) -> Response:
        argv = _split(line)
        p = _parser("cell")
        p.prog = "%%atlas"
        p.add_argument("method")
        p.add_argument("path")
        p.add_argument("-H", "--header", dest="headers", action="append", default=None)
        p.add_argument("-o", "--out", dest="out", default=None)
        if not argv:
            raise UsageError("%%atlas needs METHOD PATH on its first line", hint="see %atlas?")
        if argv[0].lower() == "sql":
            return self._sql(argv[1:], cell)
        if argv[0] in SUBCOMMANDS:
            raise UsageError(
                f"%%atlas runs one request; use %atlas {argv[0]} (one %) for that subcommand"
            )
        ns = p.parse_args(argv)
        method = ns.method.upper()
        if method not in METHODS:
            raise UsageError(
                f"unknown HTTP method {ns.method!r}",
                hint=_did_you_mean(method, METHODS) or "use one of " + ", ".join(METHODS),
            )
        headers = _headers(ns.headers)
        body = cell if cell.strip() else None
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = _content_type(body)
        r = self._send(method, ns.path, headers, body)
        self._store(ns.out, r)
        return r

    def _filters(self, ns: argparse.Namespace) -> dict[str, Any]:
        return {
            "statuses": ns.status,
            "urgencies": ns.urgency,
            "service_ids": ns.service,
            "team_ids": ns.team,
            "since": ns.since,
            "until": ns.until,
            "date_range": "all" if ns.all_dates else None,
        }

    def _incidents(self, argv: list[str]) -> Any:
        from .pagerduty import incidents

        p = _parser("incidents")
        _add_filters(p)
        ns = p.parse_args(argv)
        df = incidents(ns.adapter or self.adapter, progress=self.progress, **self._filters(ns))
        self._store(ns.out, df)
        return df

    def _dashboard(self, argv: list[str]) -> Any:
        from .pagerduty import dashboard

        p = _parser("dashboard")
        _add_filters(p)
        ns = p.parse_args(argv)
        board = dashboard(
            ns.adapter or self.adapter,
            progress=self.progress,
            page_size=max(1, self.display_limit or 20),
            **self._filters(ns),
        )
        self._store(ns.out, board)
        return board

    def _sync(self, argv: list[str]) -> Any:
        from .pagerduty._store import sync

        p = _parser("sync")
        p.add_argument("--adapter", default=None)
        p.add_argument("--since", default=None)
        p.add_argument("--store", default=None)
        ns = p.parse_args(argv)
        return sync(ns.adapter or self.adapter, ns.since, ns.store, progress=self.progress)

    def _sql(self, argv: list[str], cell: str) -> Any:
        from .pagerduty._store import open_store

        p = _parser("sql")
        p.prog = "%%atlas sql"
        p.add_argument("--adapter", default=None)
        p.add_argument("--store", default=None)
        p.add_argument("-o", "--out", dest="out", default=None)
        ns = p.parse_args(argv)
        if not cell.strip():
            raise UsageError("%%atlas sql needs a query in the cell", hint="e.g. select * ...")
        df = open_store(ns.adapter or self.adapter, ns.store).sql(cell)
        self._store(ns.out, df)
        return df

    def _oncall(self, argv: list[str]) -> Any:
        from .pagerduty._oncall import on_call_now

        p = _parser("oncall")
        p.add_argument("--adapter", default=None)
        p.add_argument("--at", default=None)
        p.add_argument(
            "--escalation-policy", "--escalation-policy-id", dest="policy", action="append"
        )
        p.add_argument("-o", "--out", dest="out", default=None)
        ns = p.parse_args(argv)
        table = on_call_now(ns.at, ns.policy, ns.adapter or self.adapter)
        self._store(ns.out, table)
        return table


def _content_type(body: str) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


class _Help:
    def __repr__(self) -> str:
        return HELP

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(HELP)}</pre>"


# ---------------------------------------------------------------------------------------------
# Extension hooks
# ---------------------------------------------------------------------------------------------

_registered: dict[int, tuple[AtlasMagics, dict[str, Any]]] = {}
#: What ``%load_ext atlas_canvas`` puts into the user namespace.
_NAMESPACE = {"atlasProxyFetch": atlasProxyFetch, "atlas_proxy_fetch": atlasProxyFetch}
_DATAFRAME_MODULES = ("pandas", "pandas.core.frame")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext atlas_canvas``: register the magics and the incidents-frame display."""
    if id(ipython) in _registered:
        return
    magics = AtlasMagics(ipython)
    ipython.register_magics(magics)

    def limit() -> int:
        return int(magics.display_limit)

    from .pagerduty._display_hook import frame_formatter

    formatter = ipython.display_formatter.mimebundle_formatter
    fmt = frame_formatter(limit)
    previous = {}
    # pandas >= 2 reports DataFrame.__module__ as "pandas"; older ones "pandas.core.frame".
    for module in _DATAFRAME_MODULES:
        previous[module] = formatter.for_type_by_name(module, "DataFrame", fmt)
    _registered[id(ipython)] = (magics, previous)
    # As in a Moment canvas, `await atlasProxyFetch(...)` works in the next cell unimported.
    ipython.push(dict(_NAMESPACE), interactive=False)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext atlas_canvas``: undo :func:`load_ipython_extension`."""
    entry = _registered.pop(id(ipython), None)
    if entry is None:
        return
    magics, previous = entry
    mm = ipython.magics_manager
    for kind in ("line", "cell"):
        mm.magics[kind].pop("atlas", None)
    mm.registry.pop(type(magics).__name__, None)
    ipython.configurables[:] = [c for c in ipython.configurables if c is not magics]
    formatter = ipython.display_formatter.mimebundle_formatter
    try:
        import pandas as pd

        formatter.pop(pd.DataFrame, None)
    except ImportError:
        pass
    for module in _DATAFRAME_MODULES:
        formatter.pop(f"{module}.DataFrame", None)
        if previous.get(module) is not None:
            formatter.for_type_by_name(module, "DataFrame", previous[module])
    for name, value in _NAMESPACE.items():
        if ipython.user_ns.get(name) is value:  # the user's own rebinding stays
            ipython.drop_by_id({name: value})
    set_session_config_path(None)
