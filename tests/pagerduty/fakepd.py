"""A small fake of Atlas + PagerDuty's ``/incidents`` for paging unit tests (MockTransport).

It answers ``/v1/apis/http/<adapter>/...`` in the real PagerDuty shapes: offset pagination with
``total``, the 10,000 offset cap (400, code 2002), ``since``/``until`` on ``created_at``
(since inclusive, until exclusive, like the simulator), ``sort_by=created_at:asc|desc``,
statuses/urgencies filters, and scripted faults (429 with ``ratelimit-reset``, 5xx, dropped
connections). Writes are recorded and never faulted unless asked.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def make_incident(i: int, *, created: datetime, **over: Any) -> dict[str, Any]:
    iid = f"Q{i:08d}"
    status = ("triggered", "acknowledged", "resolved")[i % 3]
    inc: dict[str, Any] = {
        "id": iid,
        "type": "incident",
        "summary": f"[#{i}] Incident {i}",
        "self": f"https://api.pagerduty.com/incidents/{iid}",
        "html_url": f"https://acme.pagerduty.com/incidents/{iid}",
        "incident_number": i,
        "title": f"Incident {i}",
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": status,
        "urgency": "high" if i % 4 == 0 else "low",
        "service": {
            "id": f"PSVC{i % 5}",
            "type": "service_reference",
            "summary": f"Service {i % 5}",
        },
        "assignments": [],
        "acknowledgements": [],
        "teams": [{"id": "PT1", "type": "team_reference", "summary": "Payments"}],
        "escalation_policy": {"id": "PEP1", "summary": "Default"},
        "priority": None,
        "resolved_at": None,
        "alert_counts": {"all": 1 + i % 3, "triggered": 0, "resolved": 1},
    }
    if status != "triggered":
        ack = (created + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        inc["acknowledgements"] = [{"at": ack, "acknowledger": {"summary": "Dana"}}]
    if status == "resolved":
        inc["resolved_at"] = (created + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    inc.update(over)
    return inc


def make_incidents(n: int, *, span: timedelta = timedelta(days=30)) -> list[dict[str, Any]]:
    step = span / max(n, 1)
    return [make_incident(i + 1, created=T0 + step * i) for i in range(n)]


def _parse(ts: str) -> datetime:
    ts = ts.replace("Z", "+00:00")
    if len(ts) >= 5 and ts[-5] in "+-" and ts[-3] != ":":
        ts = ts[:-2] + ":" + ts[-2:]
    return datetime.fromisoformat(ts)


@dataclass
class FakePD:
    incidents: list[dict[str, Any]]
    cap: int = 10_000
    honour_total: bool = True
    # Scripted faults for GET /incidents: a list consumed in order, each entry is
    # ("429", reset_seconds) | ("500", None) | ("drop", None) | ("ok", None).
    faults: list[tuple[str, Any]] = field(default_factory=list)
    fault_on_offset: dict[int, list[tuple[str, Any]]] = field(default_factory=dict)
    write_status: int = 200
    requests: list[httpx.Request] = field(default_factory=list)
    writes: list[tuple[str, str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    served: Counter[str] = field(default_factory=Counter)
    on_request: Callable[[httpx.Request], None] | None = None
    adapters: tuple[str, ...] = ("pagerduty",)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # ------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.on_request:
            self.on_request(request)
        path = request.url.path
        if path == "/v1/apis/http":
            return httpx.Response(
                200,
                json=[
                    {"kind": "HTTP", "name": n, "baseUrl": "https://api.pagerduty.com"}
                    for n in self.adapters
                ],
            )
        prefix = "/v1/apis/http/"
        name, _, rest = path[len(prefix) :].partition("/")
        if name not in self.adapters:
            known = ", ".join(self.adapters)
            return httpx.Response(
                404,
                json={
                    "error": {
                        "code": "API_NoMatchingInstanceError",
                        "message": f"no adapter named '{name}' (known adapters: {known})",
                    }
                },
            )
        if request.method == "GET" and rest == "incidents":
            return self._list(request)
        if request.method == "PUT" and rest == "incidents":
            return self._write(request, rest)
        if request.method == "POST" and rest.startswith("incidents/") and rest.endswith("/notes"):
            return self._write(request, rest)
        return httpx.Response(404, json={"error": {"message": "Not Found", "code": 2100}})

    def _fault(self, offset: int) -> httpx.Response | None:
        queue = self.fault_on_offset.get(offset)
        kind, arg = ("ok", None)
        if queue:
            kind, arg = queue.pop(0)
        elif self.faults:
            kind, arg = self.faults.pop(0)
        if kind == "429":
            headers = {} if arg is None else {"ratelimit-reset": str(arg)}
            return httpx.Response(
                429,
                headers=headers,
                json={"error": {"message": "Rate Limit Exceeded", "code": 2020}},
            )
        if kind == "500":
            return httpx.Response(500, json={"error": {"message": "Internal", "code": 2000}})
        if kind == "502atlas":
            return httpx.Response(
                502,
                json={
                    "error": {
                        "code": "ATLAS_UpstreamUnreachableError",
                        "message": "upstream unreachable",
                    }
                },
            )
        if kind == "drop":
            raise httpx.ConnectError("connection dropped")
        if kind == "401":
            return httpx.Response(
                401, json={"error": {"message": "Authentication failed", "code": 2006}}
            )
        return None

    def _list(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params
        offset = int(q.get("offset", "0"))
        limit = int(q.get("limit", "25"))
        fault = self._fault(offset)
        if fault is not None:
            return fault
        if limit > 100:
            limit = 100
        if offset + limit > self.cap:
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": "Arguments Caused Error",
                        "code": 2002,
                        "errors": [
                            "Offset+limit exceeds maximum allowed value of 10000. Please try to "
                            "refine your search to reduce the returned set of records below this "
                            "number, like adding a date range."
                        ],
                    }
                },
            )
        items = self.incidents
        statuses = q.get_list("statuses[]")
        if statuses:
            items = [i for i in items if i["status"] in statuses]
        urg = q.get_list("urgencies[]")
        if urg:
            items = [i for i in items if i["urgency"] in urg]
        if q.get("date_range") != "all" and ("since" in q or "until" in q):
            # created_at strings share one format, so they sort like the times they denote.
            lo = _parse(q["since"]).strftime("%Y-%m-%dT%H:%M:%SZ") if "since" in q else ""
            hi = _parse(q["until"]).strftime("%Y-%m-%dT%H:%M:%SZ") if "until" in q else "~"
            items = [i for i in items if lo <= i["created_at"] < hi]
        sort = q.get("sort_by")
        if sort == "created_at:desc":
            items = sorted(items, key=lambda i: i["created_at"], reverse=True)
        elif sort == "created_at:asc":
            items = sorted(items, key=lambda i: i["created_at"])
        page = items[offset : offset + limit]
        for i in page:
            self.served[i["id"]] += 1
        body = {
            "incidents": page,
            "limit": limit,
            "offset": offset,
            "total": len(items) if (q.get("total") == "true" and self.honour_total) else None,
            "more": offset + len(page) < len(items),
        }
        return httpx.Response(200, json=body, headers={"ratelimit-remaining": "900"})

    def _write(self, request: httpx.Request, rest: str) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.writes.append((request.method, rest, body, dict(request.headers)))
        if self.write_status != 200:
            return httpx.Response(
                self.write_status, json={"error": {"message": "Internal", "code": 2000}}
            )
        if "From" not in request.headers and "from" not in request.headers:
            return httpx.Response(
                400,
                json={
                    "error": {
                        "message": 'You must specify a user\'s email address in the "From" header',
                        "code": 2001,
                    }
                },
            )
        if rest == "incidents":
            by_id = {i["id"]: i for i in self.incidents}
            out = []
            for upd in body["incidents"]:
                inc = by_id[upd["id"]]
                inc["status"] = upd["status"]
                out.append(inc)
            return httpx.Response(200, json={"incidents": out})
        note = {"id": "PNOTE1", "content": body["note"]["content"], "user": {"summary": "Dana"}}
        return httpx.Response(200, json={"note": note})
