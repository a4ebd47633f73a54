"""Query-string parsing and validation, the way PagerDuty reads it.

Array parameters are repeated keys (``statuses[]=a&statuses[]=b``); the bare name without
``[]`` is accepted too. Booleans accept ``true/1/false/0``. Set filters AND across
parameters and OR within one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ._problems import MAX_RANGE_SECONDS, bad_request, cap_exceeded, range_too_long
from ._timefmt import add_months, get_zone, parse_ts

__all__ = [
    "INCIDENT_INCLUDES",
    "IncidentQuery",
    "Page",
    "Params",
    "parse_incident_query",
    "parse_page",
]

Params = dict[str, list[str]]

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
OFFSET_CAP = 10_000
STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")
INCIDENT_INCLUDES = frozenset(
    {
        "acknowledgers",
        "agents",
        "assignees",
        "conference_bridge",
        "custom_fields",
        "escalation_policies",
        "first_trigger_log_entries",
        "priorities",
        "services",
        "teams",
        "users",
    }
)
SORT_FIELDS = ("incident_number", "created_at", "resolved_at", "urgency")


def first(params: Params, name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values else None


def many(params: Params, name: str) -> list[str]:
    """All values of an array parameter (``name[]`` and ``name``), empty strings dropped."""
    return [v for v in params.get(f"{name}[]", []) + params.get(name, []) if v != ""]


def boolean(params: Params, name: str, default: bool = False) -> bool:
    value = first(params, name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"{name.capitalize()} must be true or false.")


@dataclasses.dataclass(frozen=True)
class Page:
    """Classic pagination: ``limit`` (default 25, at most 100), ``offset``, ``total``."""

    limit: int
    offset: int
    total: bool


def parse_page(params: Params, *, cap: bool = True) -> Page:
    raw_limit = first(params, "limit")
    raw_offset = first(params, "offset")
    try:
        limit = DEFAULT_LIMIT if raw_limit in (None, "") else int(raw_limit)
    except ValueError:
        raise bad_request("Limit must be an integer.") from None
    try:
        offset = 0 if raw_offset in (None, "") else int(raw_offset)
    except ValueError:
        raise bad_request("Offset must be an integer.") from None
    if limit < 1:
        raise bad_request("Limit must be greater than 0.")
    if offset < 0:
        raise bad_request("Offset must be greater than or equal to 0.")
    # The API answers at most 100 per page; a bigger limit is served as 100.
    limit = min(limit, MAX_LIMIT)
    if cap and offset + limit > OFFSET_CAP:
        raise cap_exceeded()
    return Page(limit=limit, offset=offset, total=boolean(params, "total"))


def parse_zone(params: Params) -> dt.tzinfo | None:
    name = first(params, "time_zone")
    if not name:
        return None
    try:
        return get_zone(name)
    except KeyError:
        raise bad_request("Time zone is not a valid time zone.") from None


def parse_include(params: Params, allowed: frozenset[str]) -> frozenset[str]:
    values = many(params, "include")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise bad_request(f"Include must be a list of {', '.join(sorted(allowed))}.")
    return frozenset(values)


@dataclasses.dataclass(frozen=True)
class IncidentQuery:
    """A validated ``GET /incidents`` query. ``since``/``until`` are epoch seconds or None."""

    since: int | None
    until: int | None
    statuses: frozenset[str] | None
    urgencies: frozenset[str] | None
    service_ids: frozenset[str] | None
    team_ids: frozenset[str] | None
    user_ids: frozenset[str] | None
    incident_key: str | None
    sort: tuple[tuple[str, bool], ...]
    include: frozenset[str]
    zone: dt.tzinfo | None

    def filter_key(self) -> tuple[object, ...]:
        """What selects and orders incidents (not how they are rendered)."""
        return (
            self.statuses,
            self.urgencies,
            self.service_ids,
            self.team_ids,
            self.user_ids,
            self.incident_key,
            self.sort,
        )


def _set(
    params: Params, name: str, allowed: tuple[str, ...] | None, message: str
) -> frozenset[str] | None:
    values = many(params, name)
    if not values:
        return None
    if allowed is not None and any(v not in allowed for v in values):
        raise bad_request(message)
    return frozenset(values)


def parse_sort(value: str | None) -> tuple[tuple[str, bool], ...]:
    if not value:
        return ()
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > 2:
        raise bad_request("Sort by may contain at most two fields.")
    out = []
    for part in parts:
        field, _, direction = part.partition(":")
        if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise bad_request(
                "Sort by must be incident_number, created_at, resolved_at or urgency, "
                "optionally followed by :asc or :desc."
            )
        out.append((field, direction == "desc"))
    return tuple(out)


def parse_window(params: Params, now: int, read_zone: dt.tzinfo | None) -> tuple[int, int]:
    """``since``/``until`` as epoch seconds, with the default and maximum range PagerDuty uses
    for ``/incidents`` (and, as the simulator assumes, ``/log_entries``)."""
    since_raw, until_raw = first(params, "since"), first(params, "until")
    try:
        since = parse_ts(since_raw, read_zone) if since_raw else None
        until = parse_ts(until_raw, read_zone) if until_raw else None
    except ValueError:
        raise bad_request("Since and until must be ISO 8601 dates.", code=2004) from None
    if since is None and until is None:
        # Bounds are [since, until): one second past "now" keeps this second's items.
        until = now + 1
        since = add_months(now, -1, read_zone)
    elif until is None:
        assert since is not None
        until = add_months(since, 1, read_zone)
    elif since is None:
        since = add_months(until, -1, read_zone)
    assert since is not None and until is not None
    if until < since:
        raise bad_request("Until must be after since.", code=2005)
    if until - since > MAX_RANGE_SECONDS:
        raise range_too_long()
    return since, until


def parse_incident_query(params: Params, now: int, account_zone: dt.tzinfo | None) -> IncidentQuery:
    """Validate a ``GET /incidents`` query and resolve the date window.

    The window: ``date_range=all`` drops it; with neither bound it is the month before
    ``now``; with one bound, one month from ``since`` or up to ``until``; a range longer than
    180 days (PagerDuty's "6 months", counted the same for every start date) is a 400 that
    names ``until``.
    """
    zone = parse_zone(params)
    # Bounds without an offset are read in the time_zone parameter, else the account's zone.
    read_zone = zone if first(params, "time_zone") else account_zone
    since = until = None
    if first(params, "date_range") not in (None, "", "all"):
        raise bad_request("Date range must be all.")
    if first(params, "date_range") != "all":
        since, until = parse_window(params, now, read_zone)
    incident_key = first(params, "incident_key")
    return IncidentQuery(
        since=since,
        until=until,
        statuses=_set(
            params,
            "statuses",
            STATUSES,
            "Status must be a list of triggered, acknowledged, or resolved.",
        ),
        urgencies=_set(params, "urgencies", URGENCIES, "Urgencies must be a list of high or low."),
        service_ids=_set(params, "service_ids", None, ""),
        team_ids=_set(params, "team_ids", None, ""),
        user_ids=_set(params, "user_ids", None, ""),
        incident_key=incident_key or None,
        sort=parse_sort(first(params, "sort_by")),
        include=parse_include(params, INCIDENT_INCLUDES),
        zone=zone,
    )
