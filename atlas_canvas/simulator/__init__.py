"""A local PagerDuty REST API v2 simulator: a deterministic account behind a real-looking API.

It knows nothing of Atlas; point anything that speaks PagerDuty REST at it. Importing this
package is cheap; the account is generated when an app is created.

In-process (no socket)::

    import httpx
    from atlas_canvas.simulator import SimulatorConfig, create_app

    app = create_app(SimulatorConfig(seed=7, incidents=3000, token="tok", latency_ms=0,
                                     rate_limit_per_min=960))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://api.pagerduty.com") as client:
        r = await client.get("/incidents", params={"limit": 100, "date_range": "all"},
                             headers={"Authorization": "Token token=tok"})

On a loopback port in a background thread (tests, demos)::

    from atlas_canvas.simulator import running, serve_in_thread

    with running(SimulatorConfig(incidents=500, token="tok")) as base_url:
        ...                                   # e.g. an Atlas adapter with baseUrl=base_url
    base_url, stop = serve_in_thread(config)  # the same, without a with-block; call stop()

Served this way (or by the CLI), ``self`` links point back at the server unless
``public_url`` is set; in-process they use the region's real API host, like the real API.
``serve_in_thread(config, certfile=..., keyfile=...)`` serves HTTPS.

python-pagerduty (https base URLs only) in-process, through its WSGI transport::

    import httpx2, pagerduty
    from atlas_canvas.simulator import create_wsgi_app

    client = pagerduty.RestApiV2Client("tok", default_from="<a user's email>",
                                       transport=httpx2.WSGITransport(app=create_wsgi_app(cfg)))

The account (``generate_account``) is a function of ``(seed, incidents, now, months)`` only:
pass ``now=`` for byte-identical bodies across runs. Auth: ``Authorization: Token token=<t>``
or ``Bearer <t>``; ``read_only_token`` answers 403 on writes; an account token needs a
``From: <user email>`` header on writes (``app.simulator.account.users[0].email`` works).
Command line: ``mom pagerduty-sim --help``.

Endpoints: ``GET /incidents`` (``statuses[]``, ``urgencies[]``, ``service_ids[]``,
``team_ids[]``, ``user_ids[]``, ``since``/``until``, ``date_range=all``, ``incident_key``,
``sort_by``, ``include[]``, ``time_zone``, ``limit``/``offset``/``total``), ``GET|PUT
/incidents/{id or number}``, bulk ``PUT /incidents`` (at most 250, else 413),
``POST /incidents`` (201), ``GET /incidents/{id}/log_entries|alerts|notes``,
``POST /incidents/{id}/notes``, ``GET /log_entries`` (account-wide, newest first:
``since``/``until``, ``is_overview``, ``team_ids[]``, ``include[]``, ``time_zone``, paging
and window rules as ``/incidents``), ``GET /log_entries/{id}``, ``GET /services[/{id}]``,
``/users[/{id}]``, ``/users/me``, ``/teams[/{id}]``, ``/escalation_policies[/{id}]``,
``/priorities``, ``/oncalls`` (``since``/``until``, ``earliest``, ``schedule_ids[]``,
``user_ids[]``, ``escalation_policy_ids[]``, ``include[]``), ``/schedules[/{id}[/users]]``
(layers, overrides, ``final_schedule`` rendered over ``since``/``until``),
``/notifications``, and the Analytics API (``POST /analytics/raw/incidents`` with
``starting_after`` cursors up to 1,000 rows, ``GET /analytics/raw/incidents/{id}/responses``,
``POST /analytics/metrics/incidents/all|services|teams`` with ``aggregate_unit`` and
``time_zone``, ``POST /analytics/metrics/responders/all``); ``plan="professional"`` makes the
Analytics API answer 402 code 2014, as on an account without it.

Edges, as the real API: limit 25 by default, at most 100 (bigger is served as 100);
``offset + limit > 10000`` is 400 code 2002 with the observed body; no ``since``/``until``
means the last month, one bound means one month from it, more than 180 days (PagerDuty's
"6 months", the same span whatever the start date) is 400 naming ``until``; naive bounds
are read in the account's zone (America/New_York) or ``time_zone``; bad credentials are
401 code 2006; ``ratelimit-limit``, ``-remaining`` and ``-reset`` come on every response
and a spent per-token budget is 429 code 2020; unknown ids are 404 code 2100.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "DEFAULT_TOKEN",
    "Account",
    "Simulator",
    "SimulatorApp",
    "SimulatorConfig",
    "SimulatorWsgiApp",
    "create_app",
    "create_wsgi_app",
    "generate_account",
    "running",
    "serve",
    "serve_in_thread",
]

if TYPE_CHECKING:  # pragma: no cover - typing only
    from ._app import SimulatorApp, SimulatorWsgiApp, create_app, create_wsgi_app
    from ._generator import generate_account
    from ._handler import Simulator
    from ._model import Account
    from ._serve import running, serve, serve_in_thread
    from ._settings import DEFAULT_TOKEN, SimulatorConfig

_LAZY = {
    "DEFAULT_TOKEN": "._settings",
    "SimulatorConfig": "._settings",
    "Account": "._model",
    "generate_account": "._generator",
    "Simulator": "._handler",
    "SimulatorApp": "._app",
    "SimulatorWsgiApp": "._app",
    "create_app": "._app",
    "create_wsgi_app": "._app",
    "running": "._serve",
    "serve": "._serve",
    "serve_in_thread": "._serve",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
