"""An in-process simulated PagerDuty account for the store tests, with writes and a clock.

Requests reach the simulator through an ``httpx.MockTransport`` (no sockets), so request
counts are exact and a test can move the account's clock between writes (the simulator's
frozen clock is the only way to give writes chosen timestamps).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pandas as pd

from atlas_canvas.pagerduty._enrich import with_ack_times_async
from atlas_canvas.pagerduty._frame import incidents_frame
from atlas_canvas.pagerduty._pager import fetch_incident_records
from atlas_canvas.pagerduty._query import IncidentQuery
from atlas_canvas.simulator import SimulatorConfig
from atlas_canvas.simulator._handler import Simulator

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
PREFIX = "/v1/apis/http/pagerduty"
TOKEN = "tok-store-secret-9f3a"


class SimAccount:
    """A simulator plus the writes a responder makes (acknowledge, resolve, notes...)."""

    def __init__(
        self,
        incidents: int = 300,
        *,
        seed: int = 5,
        months: int = 12,
        subdomain: str = "acme",
        rate_limit: int = 10**6,
        now: dt.datetime = NOW,
    ) -> None:
        self.sim = Simulator(
            SimulatorConfig(
                seed=seed,
                incidents=incidents,
                token=TOKEN,
                now=now,
                months=months,
                subdomain=subdomain,
                rate_limit_per_min=rate_limit,
            )
        )
        self.email = self.sim.account.users[0].email
        self.calls: Counter[str] = Counter()
        self.status: Counter[int] = Counter()
        #: A hook that may rewrite a reply (path, query, status, body) -> body.
        self.rewrite: Callable[[str, str, bytes], bytes] | None = None
        self.down = False
        #: Refuse connections once this many requests were answered (the API goes away).
        self.fail_after: int | None = None
        #: Answer 429 (with ratelimit-reset) to the requests numbered in this range.
        self.storm: range = range(0)

    # -- transport -----------------------------------------------------------------------------

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down or (self.fail_after is not None and self.requests >= self.fail_after):
            raise httpx.ConnectError("simulator down", request=request)
        n = self.requests
        path = request.url.path.removeprefix(PREFIX)
        query = request.url.query.decode()
        self.calls[path if not path.startswith("/incidents/") else "/incidents/{id}"] += 1
        reply = self.sim.handle(
            request.method, path, query, {"authorization": f"Token token={TOKEN}"}, b""
        )
        if n in self.storm:
            self.status[429] += 1
            return httpx.Response(
                429,
                headers={
                    "ratelimit-limit": "960",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": "1",
                },
                json={"error": {"message": "Rate Limit Exceeded", "code": 2020}},
            )
        self.status[reply.status] += 1
        body = reply.body
        if self.rewrite is not None and reply.status == 200:
            body = self.rewrite(path, query, body)
        return httpx.Response(reply.status, headers=reply.headers, content=body)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def requests(self) -> int:
        return sum(self.calls.values())

    # -- clock and writes ----------------------------------------------------------------------

    @property
    def clock(self) -> int:
        return int(self.sim.store.clock())

    def advance(self, seconds: int) -> None:
        self.sim.store._frozen = self.clock + seconds

    def _write(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.sim.handle(
            method,
            path,
            "",
            {
                "authorization": f"Token token={TOKEN}",
                "from": self.email,
                "content-type": "application/json",
            },
            json.dumps(body).encode(),
        )
        assert reply.status in (200, 201), reply.body
        return json.loads(reply.body)

    def incident_ids(self, status: str | None = None) -> list[str]:
        return [i.id for i in self.sim.account.incidents if status is None or i.status == status]

    def create(self, title: str = "disk full") -> str:
        service = self.sim.account.services[0].id
        body = {
            "incident": {
                "type": "incident",
                "title": title,
                "service": {"id": service, "type": "service_reference"},
            }
        }
        return str(self._write("POST", "/incidents", body)["incident"]["id"])

    def set_status(self, iid: str, status: str) -> None:
        self._write(
            "PUT",
            f"/incidents/{iid}",
            {"incident": {"type": "incident_reference", "status": status}},
        )

    def reassign(self, iid: str, user_index: int) -> None:
        uid = self.sim.account.users[user_index % len(self.sim.account.users)].id
        body = {
            "incident": {
                "type": "incident_reference",
                "assignments": [{"assignee": {"id": uid, "type": "user_reference"}}],
            }
        }
        self._write("PUT", f"/incidents/{iid}", body)

    def note(self, iid: str, text: str = "looking") -> None:
        self._write("POST", f"/incidents/{iid}/notes", {"note": {"content": text}})

    # -- the truth -----------------------------------------------------------------------------

    async def fresh(self, since: dt.datetime, until: dt.datetime) -> pd.DataFrame:
        """A fresh full fetch of the window with first-ack times, sorted by id."""
        records, _ = await fetch_incident_records(
            IncidentQuery.build(since=since, until=until), transport=self.transport, progress=False
        )
        df = incidents_frame(records, adapter="pagerduty")
        df = await with_ack_times_async(df, transport=self.transport)
        return df.sort_values("id").reset_index(drop=True)


def same_rows(store_df: pd.DataFrame, fresh: pd.DataFrame) -> None:
    """Row for row, column for column (and dtype for dtype)."""
    got = store_df.sort_values("id").reset_index(drop=True)
    got.attrs.clear()
    want = fresh.copy()
    want.attrs.clear()
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    pd.testing.assert_frame_equal(got, want)
