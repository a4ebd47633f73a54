"""The store's two readers of incident JSON agree: DuckDB's SQL and incidents_frame().

A first sync stages incidents through ``_store_rows.insert_incident_json`` (DuckDB reads the
columns out of the JSON) when every incident of a batch has the documented shape, and through
``_sync.incident_rows`` (the DataFrame's reading) otherwise. Whatever the input, the rows
stored must be the ones the DataFrame's reading gives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas_canvas.pagerduty import _sync
from atlas_canvas.pagerduty._store_rows import insert_incident_json
from atlas_canvas.pagerduty._store_schema import create_schema

SYNCED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
MISSING = object()  # a key left out of the dict

names = st.text(min_size=1, max_size=12)
any_text = st.text(max_size=12)
ints = st.integers(-(2**63), 2**64 - 1)  # what JSON parsers of the API's answers accept
canonical_ts = st.datetimes(
    min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 12, 31)
).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
odd_ts = st.one_of(
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 1, 1)).map(
        lambda d: d.isoformat() + "+05:30"
    ),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2099, 1, 1)).map(
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    ),
    st.sampled_from(
        [
            "2026-02-30T10:00:00Z",  # no such day
            "2026-13-01T10:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T23:59:60Z",
            "2026-12-01",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00:00.123456789Z",
            "1800-01-01T00:00:00Z",
            "2300-01-01T00:00:00Z",
            "20261201T100000Z",
            "yesterday",
            "",
        ]
    ),
    ints,
)
junk = st.one_of(st.none(), ints, st.booleans(), any_text, st.just([]), st.just({}))


def ref(odd: bool) -> st.SearchStrategy[Any]:
    part = st.one_of(names, st.none(), st.just(MISSING))
    if odd:
        part = st.one_of(part, junk)
    obj = st.fixed_dictionaries({"id": part, "summary": part, "name": part})
    return st.one_of(st.none(), obj, junk) if odd else st.one_of(st.none(), obj)


team = st.fixed_dictionaries(
    {"id": st.one_of(names, st.none(), st.just(MISSING)), "summary": names}
)
odd_team = st.one_of(
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.just(""), names, junk),
            "summary": st.one_of(st.none(), st.just(""), ints, st.just(MISSING)),
        }
    ),
    st.fixed_dictionaries({"id": st.just(""), "summary": names}),
    junk,
)
assignment = st.fixed_dictionaries({"assignee": st.fixed_dictionaries({"summary": names})})
odd_assignment = st.one_of(
    st.fixed_dictionaries({"assignee": st.one_of(junk, st.just({"summary": ""}))}), junk
)
ack = st.fixed_dictionaries({"at": canonical_ts})
odd_ack = st.one_of(st.fixed_dictionaries({"at": st.one_of(odd_ts, junk)}), junk)
counts = st.fixed_dictionaries({"all": st.integers(0, 10**6)})
odd_counts = st.one_of(
    st.fixed_dictionaries({"all": st.one_of(junk, st.just(2**63), st.just("3"))}), junk
)
maybe_ts = st.one_of(st.none(), canonical_ts)

#: field -> (values in the documented shape, other values); either may also be left out.
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "id": (names, junk),
    "incident_number": (
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        st.one_of(st.booleans(), st.just(2**63), st.just("12")),
    ),
    "title": (st.one_of(st.none(), any_text), junk),
    "status": (st.sampled_from(["triggered", "acknowledged", "resolved", "snoozed", None]), junk),
    "urgency": (st.sampled_from(["high", "low", "medium", None]), junk),
    "priority": (ref(False), ref(True)),
    "service": (ref(False), ref(True)),
    "escalation_policy": (ref(False), ref(True)),
    "teams": (
        st.one_of(st.none(), st.lists(team, max_size=3)),
        st.one_of(st.lists(st.one_of(team, odd_team), min_size=1, max_size=3), junk),
    ),
    "assignments": (
        st.one_of(st.none(), st.lists(assignment, max_size=3)),
        st.one_of(st.lists(st.one_of(assignment, odd_assignment), min_size=1, max_size=3), junk),
    ),
    "acknowledgements": (
        st.one_of(st.none(), st.lists(ack, max_size=3)),
        st.one_of(st.lists(st.one_of(ack, odd_ack), min_size=1, max_size=3), junk),
    ),
    "created_at": (maybe_ts, odd_ts),
    "resolved_at": (maybe_ts, odd_ts),
    "updated_at": (maybe_ts, odd_ts),
    "alert_counts": (st.one_of(st.none(), counts), odd_counts),
    "html_url": (st.one_of(st.none(), any_text), junk),
}


def incident(odd: bool) -> st.SearchStrategy[dict[str, Any]]:
    """An incident; ``odd``: any field may take any of its other values too."""
    parts = {
        name: st.one_of(regular, *([other] if odd else []), st.just(MISSING))
        for name, (regular, other) in FIELDS.items()
    }
    parts["id"] = st.one_of(names, *([junk] if odd else []))
    parts["extra"] = st.dictionaries(names, st.one_of(st.none(), any_text, st.floats()))
    return st.fixed_dictionaries(parts).map(strip)


@st.composite
def one_odd_field(draw: Any) -> list[Any]:
    """Incidents in the documented shape but one field of one of them (or one whole record)."""
    records = draw(st.lists(incident(odd=False), min_size=1, max_size=4))
    k = draw(st.integers(0, len(records) - 1))
    name = draw(st.sampled_from([*FIELDS, "record"]))
    if name == "record":
        records[k] = draw(junk)
    else:
        records[k] = strip({**records[k], name: draw(FIELDS[name][1])})
    return records


def strip(value: Any) -> Any:
    """``value`` without the keys drawn as MISSING, at any depth."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if v is not MISSING}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


_CONNECTIONS: dict[str, Any] = {}


def fresh(name: str) -> Any:
    """An in-memory database with the store's tables, emptied (one per reader, reused)."""
    con = _CONNECTIONS.get(name)
    if con is None:
        con = _CONNECTIONS[name] = duckdb.connect()
        con.execute("set TimeZone = 'UTC'")
        con.execute(_sync._ANALYZE_ALL)
        create_schema(con)
    con.execute("delete from incidents")
    return con


def the_frames_way(records: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """The rows ``_sync.incident_rows`` stores (None when it cannot store them at all)."""
    con = fresh("frame")
    try:
        con.register("staged_batch", _sync.incident_rows(records, SYNCED))
        con.execute(_sync._STAGE_INCIDENTS)
    except Exception:
        return None
    finally:
        con.unregister("staged_batch")
    return con.execute("select * from incidents order by rowid").fetchall()


def the_sql_way(records: list[dict[str, Any]]) -> list[tuple[Any, ...]] | None:
    """The rows ``insert_incident_json`` stores (None when it declines the batch)."""
    con = fresh("sql")
    texts = [orjson.dumps(r).decode() for r in records]
    if not insert_incident_json(con, texts, SYNCED):
        assert con.execute("select count(*) from incidents").fetchone() == (0,)
        return None
    return con.execute("select * from incidents order by rowid").fetchall()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(incident(odd=False), min_size=1, max_size=6))
def test_documented_incidents_are_read_by_sql_exactly_as_the_frame_reads_them(
    records: list[dict[str, Any]],
) -> None:
    sql = the_sql_way(records)
    assert sql is not None, "a batch in the documented shape must take the SQL way"
    assert sql == the_frames_way(records)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(one_odd_field(), st.lists(incident(odd=True), min_size=1, max_size=4)))
def test_any_incidents_are_stored_as_the_frame_reads_them(records: list[Any]) -> None:
    sql = the_sql_way(records)
    if sql is not None:  # taken only where both readers agree
        assert sql == the_frames_way(records)


def test_one_odd_incident_sends_its_batch_the_frames_way() -> None:
    good = {
        "id": "P1",
        "incident_number": 1,
        "title": "disk",
        "status": "resolved",
        "urgency": "high",
        "teams": [{"id": "T1", "summary": "Ops"}],
        "created_at": "2026-12-01T10:00:00Z",
    }
    assert the_sql_way([good]) == the_frames_way([good])
    for odd in (
        {**good, "id": "P2", "created_at": "2026-12-01T10:00:00.123456789Z"},
        {**good, "id": "P2", "teams": [{"id": "T1"}]},  # no summary: the frame drops it
        {**good, "id": "P2", "incident_number": True},
        {**good, "id": "P2", "title": {"text": "disk"}},
        "not an incident",
    ):
        assert the_sql_way([good, odd]) is None  # type: ignore[list-item]
    # No team list on one incident sends the frame's reader down its careful path, which
    # drops empty team names; the SQL reader must not keep one then.
    pair = [{**good, "teams": None}, {**good, "id": "P2", "teams": [{"id": "T", "summary": ""}]}]
    assert the_frames_way(pair) is not None and the_frames_way(pair)[1][8] == []
    assert the_sql_way(pair) in (None, the_frames_way(pair))


def test_a_first_sync_of_documented_incidents_stages_them_with_sql(tmp_path: Any) -> None:
    # The simulator's incidents have the documented shape: the SQL way takes every batch.
    from unittest import mock

    from atlas_canvas.pagerduty import _store_rows
    from atlas_canvas.pagerduty._store import open_store
    from tests.pagerduty.store_sim import NOW, SimAccount

    taken: list[bool] = []
    real = _store_rows.insert_incident_json

    def spy(*args: Any) -> bool:
        taken.append(real(*args))
        return taken[-1]

    acc = SimAccount(300, seed=3)
    store = open_store(path=tmp_path / "pd.duckdb", transport=acc.transport)
    with mock.patch.object(_store_rows, "insert_incident_json", spy):
        store.sync(since=NOW - dt.timedelta(days=400), progress=False)
    assert taken and all(taken)
    assert len(store.incidents()) == len(acc.incident_ids())
