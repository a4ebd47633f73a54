"""The request handler: auth, rate limit, faults, routing; one plain synchronous call.

Both the ASGI app and the WSGI app (for python-pagerduty's in-process transport) are thin
shells around :meth:`Simulator.handle`, so they behave identically.
"""

from __future__ import annotations

import dataclasses
import functools
import hmac
import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import _insights, _people
from ._filters import (
    INCIDENT_INCLUDES,
    Page,
    Params,
    boolean,
    first,
    many,
    parse_incident_query,
    parse_include,
    parse_page,
    parse_window,
    parse_zone,
)
from ._generator import generate_account
from ._model import Account, Incident
from ._problems import (
    ApiProblem,
    access_denied,
    bad_request,
    from_required,
    not_found,
    rate_limited,
    unauthorized,
)
from ._ratelimit import RateLimiter
from ._settings import SimulatorConfig
from ._store import Store, dumps
from ._timefmt import get_zone, parse_ts

__all__ = ["Reply", "Simulator"]

JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
BULK_MAX = 250
_TOKEN_RE = re.compile(r"^Token\s+token=(\S+)$", re.IGNORECASE)
_BEARER_RE = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)
_USERS_ME_ACCOUNT_KEY = {
    "error": "Because this request was made using an account-level access token, we were unable "
    "to determine the user's identity. Please use a user-level token."
}


@dataclasses.dataclass
class Reply:
    """One answer: status, headers (bytes pairs, as ASGI wants them), body.

    ``drop`` asks the server shell to cut the connection after part of the body.
    """

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    drop: bool = False


@dataclasses.dataclass(frozen=True)
class Identity:
    kind: str  # "account", "read_only" or "user"
    user: int  # the acting user for user tokens, else -1
    bucket: str


@dataclasses.dataclass
class Call:
    method: str
    parts: list[str]
    params: Params
    headers: Mapping[str, str]
    body: bytes
    who: Identity


class Simulator:
    """A simulated PagerDuty account answering REST requests.

    Example::

        sim = Simulator(SimulatorConfig(seed=7, incidents=300, token="tok"))
        reply = sim.handle("GET", "/incidents", "limit=1", {"authorization": "Token token=tok"})
        reply.status  # 200
    """

    def __init__(self, config: SimulatorConfig, account: Account | None = None) -> None:
        self.config = config
        if account is None:
            account = generate_account(
                config.seed,
                config.incidents,
                now=config.anchor(),
                months=config.months,
                users=config.users,
            )
        self.account = account
        self.store = Store(config, account)
        self.limiter = RateLimiter(config.rate_limit_per_min)
        self._faults = random.Random(config.seed * 31 + 7)
        self._request_no = 0
        self._prefix = urlsplit(config.public_url).path.rstrip("/") if config.public_url else ""
        self._account_zone = get_zone(account.time_zone)
        tokens: list[tuple[str, Identity]] = [(config.token, Identity("account", -1, "a"))]
        if config.read_only_token:
            tokens.append((config.read_only_token, Identity("read_only", -1, "r")))
        if config.user_token:
            email = (config.user_token_email or account.users[0].email).lower()
            if email not in self.store.users_by_email:
                raise ValueError(f"user_token_email {email!r} is not a user of the account")
            tokens.append(
                (config.user_token, Identity("user", self.store.users_by_email[email], "u"))
            )
        self._tokens = [(t.encode(), who) for t, who in tokens]

    # -- entry point -----------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Reply:
        """Answer one request. ``headers`` keys must be lower-case."""
        headers = headers or {}
        self._request_no += 1
        who = self._authenticate(headers.get("authorization", ""))
        allowed, rate_headers = self.limiter.hit(who.bucket if who else "anonymous")
        try:
            if who is None:
                raise unauthorized()
            if not allowed:
                raise rate_limited()
            if self.config.drop_rate and self._faults.random() < self.config.drop_rate:
                return Reply(500, [JSON_TYPE, *rate_headers], b'{"incidents":[', drop=True)
            if self.config.fault_rate and self._faults.random() < self.config.fault_rate:
                return self._fault(rate_headers)
            call = Call(method.upper(), self._split(path), _params(query), headers, body, who)
            status, payload = self._route(call)
        except ApiProblem as problem:
            extra = [(k.encode(), v.encode()) for k, v in problem.headers.items()]
            return Reply(
                problem.status,
                [JSON_TYPE, *rate_headers, *extra, (b"x-request-id", self._request_id())],
                dumps(problem.body),
            )
        body_bytes = payload if isinstance(payload, bytes) else dumps(payload)
        return Reply(status, [JSON_TYPE, *rate_headers], body_bytes)

    def _request_id(self) -> bytes:
        return f"{self.config.seed & 0xFFFF:04x}{self._request_no:012x}".encode()

    def _fault(self, rate_headers: list[tuple[bytes, bytes]]) -> Reply:
        status = self._faults.choice((500, 502, 503))
        if status == 500:
            body = dumps({"error": {"message": "Internal Server Error", "code": 2000}})
            return Reply(500, [JSON_TYPE, *rate_headers], body)
        # Gateways in front of the API answer HTML, not the API's JSON. The ratelimit-*
        # headers stay, so clients see them on every response as the brief for tests asks.
        phrase = "Bad Gateway" if status == 502 else "Service Unavailable"
        html = f"<html><body><h1>{status} {phrase}</h1></body></html>".encode()
        return Reply(status, [(b"content-type", b"text/html"), *rate_headers], html)

    def _authenticate(self, header: str) -> Identity | None:
        header = header.strip()
        m = _TOKEN_RE.match(header) or _BEARER_RE.match(header)
        if not m:
            return None
        given = m.group(1).encode()
        found = None
        for token, who in self._tokens:
            # Compare against every token so timing does not tell which one matched.
            if hmac.compare_digest(given, token):
                found = who
        return found

    def _split(self, path: str) -> list[str]:
        if self._prefix and (path == self._prefix or path.startswith(self._prefix + "/")):
            path = path[len(self._prefix) :]
        return [p for p in path.split("/") if p]

    # -- routing ---------------------------------------------------------------------------

    def _route(self, call: Call) -> tuple[int, Any]:
        parts, method = call.parts, call.method
        if not parts:
            raise not_found()
        head, n = parts[0], len(parts)
        if head == "incidents":
            if n == 1:
                if method == "GET":
                    return 200, self.list_incidents(call)
                if method == "PUT":
                    return 200, self.bulk_update(call)
                if method == "POST":
                    return 201, self.create_incident(call)
            elif n == 2:
                if method == "GET":
                    return 200, self.get_incident(call, parts[1])
                if method == "PUT":
                    return 200, self.update_incident(call, parts[1])
            elif n == 3:
                sub = parts[2]
                if sub == "log_entries" and method == "GET":
                    return 200, self.log_entries(call, parts[1])
                if sub == "alerts" and method == "GET":
                    return 200, self.alerts(call, parts[1])
                if sub == "notes" and method == "GET":
                    return 200, self.notes(call, parts[1])
                if sub == "notes" and method == "POST":
                    return 200, self.add_note(call, parts[1])
            raise not_found()
        if head == "analytics":
            return 200, _insights.route(self, call)
        if method != "GET":
            raise not_found()
        if head == "schedules" and n == 3 and parts[2] == "users":
            return 200, _people.schedule_users(self, call, parts[1])
        if head == "users" and n == 2 and parts[1] == "me":
            return self.users_me(call)
        if head == "log_entries" and n == 1:
            return 200, self.list_log_entries(call)
        if head == "log_entries" and n == 2:
            return 200, self.get_log_entry(call, parts[1])
        lister = _LISTS.get(head)
        if lister is not None and n == 1:
            return 200, lister(self, call)
        detail = _DETAILS.get(head)
        if detail is not None and n == 2:
            return 200, detail(self, call, parts[1])
        raise not_found()

    # -- incidents -------------------------------------------------------------------------

    def list_incidents(self, call: Call) -> bytes:
        page = parse_page(call.params)
        q = parse_incident_query(call.params, self.store.clock(), self._account_zone)
        selected = self.store.select(q)
        if q.zone is None and not q.include:
            joined = self.store.page_json(selected, page.offset, page.limit)
            count = min(page.limit, max(0, len(selected) - page.offset))
            return _page_bytes("incidents", [joined] if count else [], page, len(selected), count)
        items = selected[page.offset : page.offset + page.limit]
        parts = [dumps(self.store.render.incident(inc, q.zone, q.include)) for inc in items]
        return _page_bytes("incidents", parts, page, len(selected))

    def _incident(self, ident: str) -> Incident:
        inc = self.store.find_incident(ident)
        if inc is None:
            raise not_found()
        return inc

    def get_incident(self, call: Call, ident: str) -> dict[str, Any]:
        include = parse_include(call.params, INCIDENT_INCLUDES)
        inc = self._incident(ident)
        zone = parse_zone(call.params)
        incident = self.store.render.incident(inc, zone, include)
        if "custom_fields" in include:
            incident["custom_fields"] = []
        return {"incident": incident}

    def _writer(self, call: Call) -> tuple[int, Any]:
        """Check a write's credentials, ``From`` header and JSON body; return (actor, body)."""
        if call.who.kind == "read_only":
            raise access_denied("The API key used is read-only and cannot perform writes.")
        if call.who.kind == "user":
            actor = call.who.user
        else:
            email = call.headers.get("from", "").strip().lower()
            if not email:
                raise from_required()
            if email not in self.store.users_by_email:
                raise bad_request("Requester User Not Found", code=1008)
            actor = self.store.users_by_email[email]
        if "json" not in call.headers.get("content-type", ""):
            raise bad_request("params must be a Hash")
        try:
            body = json.loads(call.body or b"null")
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise bad_request("params must be a Hash")
        return actor, body

    def update_incident(self, call: Call, ident: str) -> dict[str, Any]:
        actor, body = self._writer(call)
        inc = self._incident(ident)
        if "incident" not in body:
            raise bad_request("Incident is required.", code=2003)
        self.store.update_incident(inc, body["incident"], actor)
        return {"incident": self.store.render.incident(inc)}

    def bulk_update(self, call: Call) -> bytes:
        actor, body = self._writer(call)
        items = body.get("incidents")
        if not isinstance(items, list) or not items:
            raise bad_request("Incidents must be a non-empty list.", code=2003)
        if len(items) > BULK_MAX:
            raise ApiProblem(
                413,
                {
                    "error": {
                        "message": "Request Entity Too Large",
                        "code": 2001,
                        "errors": [f"Incidents may contain at most {BULK_MAX} items."],
                    }
                },
            )
        targets: list[Incident] = []
        for item in items:
            ident = item.get("id") if isinstance(item, dict) else None
            if not isinstance(ident, str):
                raise bad_request("Each incident must have an id.")
            targets.append(self._incident(ident))
        # Validate every change before applying any, so a bad item changes nothing.
        for inc, item in zip(targets, items, strict=True):
            self.store.check_update(inc, item)
        for inc, item in zip(targets, items, strict=True):
            self.store.update_incident(inc, item, actor)
        parts = [dumps(self.store.render.incident(inc)) for inc in targets]
        page = Page(limit=len(parts), offset=0, total=False)
        return _page_bytes("incidents", parts, page, len(parts))

    def create_incident(self, call: Call) -> dict[str, Any]:
        actor, body = self._writer(call)
        inc = self.store.create_incident(body.get("incident"), actor)
        return {"incident": self.store.render.incident(inc)}

    def log_entries(self, call: Call, ident: str) -> bytes:
        page = parse_page(call.params)
        zone = parse_zone(call.params)
        include = parse_include(
            call.params, frozenset({"incidents", "services", "channels", "teams"})
        )
        inc = self._incident(ident)
        entries = self.store.render.log_entries(inc, zone)
        self._expand(entries, include, inc, zone)
        since, until = first(call.params, "since"), first(call.params, "until")
        if since or until:
            try:
                lo = parse_ts(since, zone or self._account_zone) if since else None
                hi = parse_ts(until, zone or self._account_zone) if until else None
            except ValueError:
                raise bad_request("Since and until must be ISO 8601 dates.", code=2004) from None
            events = _events_by_id(self.store, inc)
            entries = [
                e
                for e in entries
                if (lo is None or events[e["id"]] >= lo) and (hi is None or events[e["id"]] < hi)
            ]
        if boolean(call.params, "is_overview"):
            entries = [e for e in entries if e["type"] in _OVERVIEW]
        return _page_of("log_entries", entries, page)

    def list_log_entries(self, call: Call) -> bytes:
        """``GET /log_entries``: every incident's log entries in a window, newest first.

        PagerDuty documents no default window for this list; the simulator applies the rules
        of ``/incidents`` (one month by default, at most 6 months, ``since`` inclusive and
        ``until`` exclusive, bounds without an offset read in ``time_zone`` else the account's
        zone) and the same 10,000 offset cap, so a client that pages it correctly here stays
        within any limit the real API may have.
        """
        page = parse_page(call.params)
        zone = parse_zone(call.params)
        include = parse_include(
            call.params, frozenset({"incidents", "services", "channels", "teams"})
        )
        read_zone = zone if first(call.params, "time_zone") else self._account_zone
        since, until = parse_window(call.params, self.store.clock(), read_zone)
        kinds = _OVERVIEW_KINDS if boolean(call.params, "is_overview") else None
        events = self.store.account_log(since, until, kinds)
        teams = self._ids(call.params, "team_ids", self.store.teams_by_id)
        if teams is not None:
            services = self.account.services
            events = [(inc, ev) for inc, ev in events if services[inc.service].team in teams]
        render = self.store.render
        parts = []
        for inc, ev in events[page.offset : page.offset + page.limit]:
            entry = render.log_entry(inc, ev, zone)
            self._expand([entry], include, inc, zone)
            parts.append(dumps(entry))
        return _page_bytes("log_entries", parts, page, len(events))

    def get_log_entry(self, call: Call, entry_id: str) -> dict[str, Any]:
        zone = parse_zone(call.params)
        include = parse_include(
            call.params, frozenset({"incidents", "services", "channels", "teams"})
        )
        found = self.store.find_log_entry(entry_id)
        if found is None:
            raise not_found()
        inc, event = found
        entry = self.store.render.log_entry(inc, event, zone)
        self._expand([entry], include, inc, zone)
        return {"log_entry": entry}

    def alerts(self, call: Call, ident: str) -> bytes:
        page = parse_page(call.params)
        zone = parse_zone(call.params)
        include = parse_include(
            call.params, frozenset({"services", "first_trigger_log_entries", "incidents"})
        )
        inc = self._incident(ident)
        statuses = many(call.params, "statuses")
        if any(s not in ("triggered", "resolved") for s in statuses):
            raise bad_request("Statuses must be a list of triggered or resolved.")
        alerts = self.store.render.alerts(inc, zone)
        self._expand(alerts, include, inc, zone)
        if "first_trigger_log_entries" in include:
            trigger = self.store.render.log_entries(inc, zone)[-1]
            for alert in alerts:
                alert["first_trigger_log_entry"] = trigger
        if statuses:
            alerts = [a for a in alerts if a["status"] in statuses]
        key = first(call.params, "alert_key")
        if key:
            alerts = [a for a in alerts if a["alert_key"] == key]
        sort = first(call.params, "sort_by")
        if sort:
            field, _, direction = sort.partition(":")
            if field not in ("created_at", "resolved_at") or direction not in ("", "asc", "desc"):
                raise bad_request("Sort by must be created_at or resolved_at.")
            alerts.sort(key=lambda a: a["created_at"], reverse=direction == "desc")
        return _page_of("alerts", alerts, page)

    def _expand(
        self, items: list[dict[str, Any]], include: frozenset[str], inc: Incident, zone: Any
    ) -> None:
        """Replace references by full objects for ``include[]`` (log entries and alerts)."""
        if not include:
            return
        render = self.store.render
        service = self.account.services[inc.service]
        full_incident = render.incident(inc, zone) if "incidents" in include else None
        for item in items:
            if "services" in include:
                item["service"] = render.service(
                    inc.service, zone, *self.store.service_status()[inc.service]
                )
            if "teams" in include and "teams" in item:
                item["teams"] = [render.team(service.team)]
            if full_incident is not None:
                item["incident"] = full_incident
        # include[]=channels needs nothing: channels are always rendered in full here.

    def notes(self, call: Call, ident: str) -> dict[str, Any]:
        inc = self._incident(ident)
        return {"notes": [self.store.render.note(n) for n in inc.notes or ()]}

    def add_note(self, call: Call, ident: str) -> dict[str, Any]:
        actor, body = self._writer(call)
        inc = self._incident(ident)
        note = body.get("note")
        if not isinstance(note, dict):
            raise bad_request("Note is required.", code=2003)
        created = self.store.add_note(inc, note.get("content"), actor)
        return {"note": self.store.render.note(created)}

    # -- other resources -------------------------------------------------------------------

    def users_me(self, call: Call) -> tuple[int, Any]:
        if call.who.kind != "user":
            return 400, _USERS_ME_ACCOUNT_KEY
        return 200, {"user": self.store.render.user(call.who.user)}

    def list_services(self, call: Call) -> bytes:
        page = parse_page(call.params)
        zone = parse_zone(call.params)
        include = parse_include(
            call.params,
            frozenset(
                {
                    "escalation_policies",
                    "teams",
                    "integrations",
                    "auto_pause_notifications_parameters",
                }
            ),
        )
        teams = self._ids(call.params, "team_ids", self.store.teams_by_id)
        services = [
            s
            for s in self.account.services
            if _query_matches(call.params, s.name) and (teams is None or s.team in teams)
        ]
        services = _sorted_by_name(services, first(call.params, "sort_by"))
        status = self.store.service_status()
        render = self.store.render
        out = []
        for s in services:
            obj = render.service(s.idx, zone, *status[s.idx])
            if "escalation_policies" in include:
                obj["escalation_policy"] = render.escalation_policy(s.escalation_policy)
            if "teams" in include:
                obj["teams"] = [render.team(s.team)]
            out.append(obj)
        return _page_of("services", out, page)

    def get_service(self, call: Call, ident: str) -> dict[str, Any]:
        idx = self.store.services_by_id.get(ident)
        if idx is None:
            raise not_found()
        return {
            "service": self.store.render.service(
                idx, parse_zone(call.params), *self.store.service_status()[idx]
            )
        }

    def list_users(self, call: Call) -> bytes:
        page = parse_page(call.params)
        parse_include(
            call.params, frozenset({"contact_methods", "notification_rules", "teams", "subdomains"})
        )
        teams = self._ids(call.params, "team_ids", self.store.teams_by_id)
        users = [
            u
            for u in self.account.users
            if (_query_matches(call.params, u.name) or _query_matches(call.params, u.email))
            and (teams is None or any(t in teams for t in u.teams))
        ]
        users.sort(key=lambda u: u.name.lower())
        return _page_of("users", [self.store.render.user(u.idx) for u in users], page)

    def get_user(self, call: Call, ident: str) -> dict[str, Any]:
        idx = self.store.users_by_id.get(ident)
        if idx is None:
            raise not_found()
        return {"user": self.store.render.user(idx)}

    def list_teams(self, call: Call) -> bytes:
        page = parse_page(call.params)
        teams = [t for t in self.account.teams if _query_matches(call.params, t.name)]
        teams.sort(key=lambda t: t.name.lower())
        return _page_of("teams", [self.store.render.team(t.idx) for t in teams], page)

    def get_team(self, call: Call, ident: str) -> dict[str, Any]:
        idx = self.store.teams_by_id.get(ident)
        if idx is None:
            raise not_found()
        return {"team": self.store.render.team(idx)}

    def list_escalation_policies(self, call: Call) -> bytes:
        page = parse_page(call.params)
        parse_include(
            call.params,
            frozenset({"services", "teams", "targets", "escalation_rule_assignment_strategies"}),
        )
        teams = self._ids(call.params, "team_ids", self.store.teams_by_id)
        users = self._ids(call.params, "user_ids", self.store.users_by_id)
        a = self.account
        policies = [
            p
            for p in a.escalation_policies
            if _query_matches(call.params, p.name)
            and (teams is None or p.team in teams)
            and (
                users is None
                or any(u in users for _, _, s in p.rules for u in a.schedules[s].users)
            )
        ]
        policies = _sorted_by_name(policies, first(call.params, "sort_by"))
        out = [self.store.render.escalation_policy(p.idx) for p in policies]
        return _page_of("escalation_policies", out, page)

    def get_escalation_policy(self, call: Call, ident: str) -> dict[str, Any]:
        idx = self.store.eps_by_id.get(ident)
        if idx is None:
            raise not_found()
        return {"escalation_policy": self.store.render.escalation_policy(idx)}

    def list_priorities(self, call: Call) -> bytes:
        page = parse_page(call.params)
        return _page_of("priorities", list(self.store.render.priority_objs), page)

    def _ids(self, params: Params, name: str, index: Mapping[str, int]) -> set[int] | None:
        values = many(params, name)
        if not values:
            return None
        return {index[v] for v in values if v in index}

    ids = _ids

    @property
    def account_zone(self) -> Any:
        return self._account_zone

    @functools.cached_property
    def schedules_by_id(self) -> dict[str, int]:
        return {s.id: s.idx for s in self.account.schedules}

    @functools.cached_property
    def user_zones(self) -> dict[str, str | None]:
        """Each user's time zone by id (interruption hours are counted in it)."""
        return {u.id: u.time_zone for u in self.account.users}

    @functools.cached_property
    def user_names(self) -> dict[str, str]:
        return {u.id: u.name for u in self.account.users}

    def schedule_teams(self, schedule: int) -> list[int]:
        """Teams whose escalation policies use ``schedule``."""
        return sorted(
            {
                p.team
                for p in self.account.escalation_policies
                if any(r[2] == schedule for r in p.rules)
            }
        )


_LISTS: dict[str, Callable[[Simulator, Call], Any]] = {
    "services": Simulator.list_services,
    "users": Simulator.list_users,
    "teams": Simulator.list_teams,
    "escalation_policies": Simulator.list_escalation_policies,
    "priorities": Simulator.list_priorities,
    "oncalls": _people.list_oncalls,
    "schedules": _people.list_schedules,
    "notifications": _people.list_notifications,
}
_DETAILS: dict[str, Callable[[Simulator, Call, str], Any]] = {
    "services": Simulator.get_service,
    "users": Simulator.get_user,
    "teams": Simulator.get_team,
    "escalation_policies": Simulator.get_escalation_policy,
    "schedules": _people.get_schedule,
}
_OVERVIEW = frozenset(
    {
        "trigger_log_entry",
        "acknowledge_log_entry",
        "resolve_log_entry",
        "escalate_log_entry",
        "assign_log_entry",
        "annotate_log_entry",
        "unacknowledge_log_entry",
    }
)


#: ``_OVERVIEW`` as event kinds of the model (``LogEvent.kind`` lacks ``_log_entry``).
_OVERVIEW_KINDS = frozenset(t.removesuffix("_log_entry") for t in _OVERVIEW)


def _params(query: str) -> Params:
    return parse_qs(query, keep_blank_values=True) if query else {}


def _query_matches(params: Params, name: str) -> bool:
    q = first(params, "query")
    return not q or q.lower() in name.lower()


def _sorted_by_name(items: list[Any], sort_by: str | None) -> list[Any]:
    if sort_by not in (None, "", "name", "name:asc", "name:desc"):
        raise bad_request("Sort by must be name, name:asc or name:desc.")
    return sorted(items, key=lambda x: x.name.lower(), reverse=sort_by == "name:desc")


def _events_by_id(store: Store, inc: Incident) -> dict[str, int]:
    from ._render import timeline

    events = inc.history if inc.history is not None else timeline(store.account, inc)
    return {e.id: e.at for e in events}


def _page_bytes(
    key: str, parts: list[bytes], page: Page, total: int, count: int | None = None
) -> bytes:
    """A classic-pagination body; ``count`` is the item count when ``parts`` is pre-joined."""
    more = page.offset + (len(parts) if count is None else count) < total
    return b"".join(
        (
            b'{"',
            key.encode(),
            b'":[',
            b",".join(parts),
            b'],"limit":%d,"offset":%d,"total":%s,"more":%s}'
            % (
                page.limit,
                page.offset,
                str(total).encode() if page.total else b"null",
                b"true" if more else b"false",
            ),
        )
    )


def _page_of(key: str, items: list[Any], page: Page) -> bytes:
    window = items[page.offset : page.offset + page.limit]
    return _page_bytes(key, [dumps(x) for x in window], page, len(items))


# Names the endpoint modules (_people, _insights) share.
page_of = _page_of
page_bytes = _page_bytes
query_matches = _query_matches
