"""An in-process simulator behind an httpx MockTransport, for the on-call and responder tests.

Routes Atlas proxy paths (``/v1/apis/http/pagerduty/...``) to a
:class:`~atlas_canvas.simulator._handler.Simulator` (bodies and content types included, so
the Analytics API's POSTs work) and counts requests per path.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx

from atlas_canvas.simulator import SimulatorConfig
from atlas_canvas.simulator._handler import Simulator

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc)
PREFIX = "/v1/apis/http/pagerduty"
TOKEN = "tok"
USER_TOKEN = "user-tok"


class SimTransport:
    def __init__(self, incidents: int = 1500, *, token: str = TOKEN, **config: Any) -> None:
        self.sim = Simulator(
            SimulatorConfig(
                seed=5,
                incidents=incidents,
                token=TOKEN,
                user_token=USER_TOKEN,
                now=NOW,
                rate_limit_per_min=10**6,
                **config,
            )
        )
        self.token = token
        self.calls: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(PREFIX)
        self.calls[path] += 1
        reply = self.sim.handle(
            request.method,
            path,
            request.url.query.decode(),
            {
                "authorization": f"Token token={self.token}",
                "content-type": request.headers.get("content-type", ""),
            },
            request.content,
        )
        return httpx.Response(reply.status, headers=reply.headers, content=reply.body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
