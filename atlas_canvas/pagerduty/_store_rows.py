"""The store's incident rows read out of the API's JSON by DuckDB, in SQL.

A first sync stages a year of incidents while it fetches (``_sync._Stager``). Building each
batch's rows in Python (:func:`_sync.incident_rows`: :func:`incidents_frame` plus the raw
JSON, then DuckDB scanning the pandas objects) held the interpreter lock for ~1.5 s of a
50,000-incident year, time the event loop answering the requests then waited for. Here
DuckDB reads the same columns out of the JSON text itself, outside the lock: Python only
serialises the batch (orjson, the same text the ``raw`` column has always held).

**One meaning, two readers.** The SQL reads a field only in the shapes where it means what
:func:`incidents_frame` makes of it (strings where strings are documented, ``summary``
strings in lists, timestamps in the API's ISO 8601 form, integers within 64 bits...). Each
row also says whether it has that shape (``regular``); a batch with any other row is built
by :func:`_sync.incident_rows` instead, so odd data keeps the frame's exact reading. A test
feeds both readers regular and irregular incidents (hypothesis) and requires equal rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["insert_incident_json"]

#: The API's timestamps, as :func:`pandas.to_datetime` and DuckDB both read them exactly:
#: years 1900-2099 (pandas' nanosecond range), valid hours, at most microseconds.
_TS = (
    r"^(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)

# One JSON text per line (orjson never writes a raw newline: it escapes them in strings).
_ROWS = r"""
with items as (
    select raw, raw::json as j from (select unnest(string_split(?, chr(10))) as raw)
),
f as (
    select raw, json_type(j) as kind, json_transform(j, '{"id":"JSON","incident_number":"JSON",
        "title":"JSON","status":"JSON","urgency":"JSON","priority":"JSON","service":"JSON",
        "teams":"JSON","assignments":"JSON","escalation_policy":"JSON","created_at":"JSON",
        "acknowledgements":"JSON","resolved_at":"JSON","alert_counts":"JSON","html_url":"JSON",
        "updated_at":"JSON"}') as r
    from items
),
g as (
    select raw, kind, r,
        from_json(case when json_type(r.teams) = 'ARRAY' then r.teams end, '["JSON"]')
            as teams,
        from_json(case when json_type(r.assignments) = 'ARRAY' then r.assignments end,
            '["JSON"]') as assignments,
        from_json(case when json_type(r.acknowledgements) = 'ARRAY' then r.acknowledgements end,
            '["JSON"]') as acks
    from f
)
select
    r.id->>'$' as id,
    try_cast(r.incident_number->>'$' as bigint) as incident_number,
    r.title->>'$' as title,
    case when r.status->>'$' in ('triggered', 'acknowledged', 'resolved')
        then r.status->>'$' end as status,
    case when r.urgency->>'$' in ('high', 'low') then r.urgency->>'$' end as urgency,
    coalesce(r.priority->>'$.summary', r.priority->>'$.name') as priority,
    r.service->>'$.id' as service_id,
    coalesce(r.service->>'$.summary', r.service->>'$.name') as service,
    coalesce([t->>'$.summary' for t in teams], []) as teams,
    coalesce([t->>'$.id' for t in teams if coalesce(t->>'$.id', '') <> ''], []) as team_ids,
    coalesce([a->>'$.assignee.summary' for a in assignments], []) as assignees,
    coalesce(r.escalation_policy->>'$.summary', r.escalation_policy->>'$.name')
        as escalation_policy,
    try_cast(r.created_at->>'$' as timestamptz) as created_at,
    list_min([try_cast(a->>'$.at' as timestamptz) for a in acks]) as acknowledged_at,
    try_cast(r.resolved_at->>'$' as timestamptz) as resolved_at,
    try_cast(r.alert_counts->>'$.all' as bigint) as alert_count,
    r.html_url->>'$' as html_url,
    try_cast(r.updated_at->>'$' as timestamptz) as updated_at,
    raw,
    -- Every test is wrapped in coalesce(..., false): a NULL (a missing key) is "no".
    coalesce(kind = 'OBJECT'
    and json_type(r.id) = 'VARCHAR'
    and (coalesce(json_type(r.incident_number), 'NULL') = 'NULL'
         or (json_type(r.incident_number) in ('BIGINT', 'UBIGINT')
             and try_cast(r.incident_number->>'$' as bigint) is not null))
    and coalesce(json_type(r.title), 'NULL') in ('NULL', 'VARCHAR')
    and coalesce(json_type(r.status), 'NULL') in ('NULL', 'VARCHAR')
    and coalesce(json_type(r.urgency), 'NULL') in ('NULL', 'VARCHAR')
    and coalesce(json_type(r.html_url), 'NULL') in ('NULL', 'VARCHAR')
    and list_bool_and([coalesce(coalesce(json_type(x), 'NULL') = 'NULL'
            or (json_type(x) = 'OBJECT'
                and coalesce(json_type(x, '$.summary'), 'NULL') in ('NULL', 'VARCHAR')
                and coalesce(json_type(x, '$.name'), 'NULL') in ('NULL', 'VARCHAR')
                and coalesce(json_type(x, '$.id'), 'NULL') in ('NULL', 'VARCHAR')), false)
        for x in [r.priority, r.service, r.escalation_policy]])
    and coalesce(json_type(r.teams), 'NULL') in ('NULL', 'ARRAY')
    and coalesce(list_bool_and([coalesce(json_type(t) = 'OBJECT'
            and json_type(t, '$.summary') = 'VARCHAR' and t->>'$.summary' <> ''
            and coalesce(json_type(t, '$.id'), 'NULL') in ('NULL', 'VARCHAR'), false)
        for t in teams]), true)
    and coalesce(json_type(r.assignments), 'NULL') in ('NULL', 'ARRAY')
    and coalesce(list_bool_and([coalesce(json_type(a) = 'OBJECT'
            and json_type(a, '$.assignee') = 'OBJECT'
            and json_type(a, '$.assignee.summary') = 'VARCHAR'
            and a->>'$.assignee.summary' <> '', false)
        for a in assignments]), true)
    and coalesce(json_type(r.acknowledgements), 'NULL') in ('NULL', 'ARRAY')
    and coalesce(list_bool_and([coalesce(json_type(a) = 'OBJECT'
            and json_type(a, '$.at') = 'VARCHAR'
            and regexp_full_match(a->>'$.at', '{TS}')
            and try_cast(a->>'$.at' as timestamptz) is not null, false)
        for a in acks]), true)
    and list_bool_and([coalesce(coalesce(json_type(x), 'NULL') = 'NULL'
            or (json_type(x) = 'VARCHAR' and regexp_full_match(x->>'$', '{TS}')
                and try_cast(x->>'$' as timestamptz) is not null), false)
        for x in [r.created_at, r.resolved_at, r.updated_at]])
    and (coalesce(json_type(r.alert_counts), 'NULL') = 'NULL'
         or (json_type(r.alert_counts) = 'OBJECT'
             and (coalesce(json_type(r.alert_counts, '$.all'), 'NULL') = 'NULL'
                  or (json_type(r.alert_counts, '$.all') in ('BIGINT', 'UBIGINT')
                      and try_cast(r.alert_counts->>'$.all' as bigint) is not null)))), false)
    as regular
from g
""".replace("{TS}", _TS)

_COLUMNS = (
    "id, incident_number, title, status, urgency, priority, service_id, service, teams, "
    "team_ids, assignees, escalation_policy, created_at, acknowledged_at, resolved_at, "
    "alert_count, html_url, updated_at"
)


def insert_incident_json(con: Any, texts: list[str], synced_at: datetime) -> bool:
    """Insert incidents (their orjson texts, one per incident) into ``incidents`` of ``con``.

    True when done; False, inserting nothing, when any incident is not in the documented
    shape (the caller then builds the rows with :func:`_sync.incident_rows`).

    Example::

        if not insert_incident_json(con, [orjson.dumps(r).decode() for r in page], now):
            ...  # the pandas way
    """
    if not texts:
        return True
    con.execute("create or replace temp table staged_json as " + _ROWS, ["\n".join(texts)])
    try:
        row = con.execute("select count(*), bool_and(regular) from staged_json").fetchone()
        if not row or int(row[0]) != len(texts) or not row[1]:
            return False
        con.execute(
            f"insert into incidents ({_COLUMNS}, synced_at, first_ack_at, raw) "
            f"select {_COLUMNS}, ?::timestamptz, null, raw from staged_json",
            [synced_at],
        )
        return True
    finally:
        con.execute("drop table if exists staged_json")
