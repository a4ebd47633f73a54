"""The incident store's tables, its schema version and the migrations between versions.

One DuckDB file holds one PagerDuty account as seen through one adapter:

==================  ===========================================================================
table               rows
==================  ===========================================================================
incidents           one per incident: the DataFrame's typed columns (see ``_frame.COLUMNS``)
                    plus ``team_ids``, ``updated_at``, ``synced_at``, ``first_ack_at`` (the
                    first acknowledge log entry, kept up to date by each sync) and ``raw``
                    (the API's JSON text, so no field is lost; read on demand, never by the
                    frame)
log_entries         the account's log entries, typed columns (no raw JSON: at several entries
                    per incident it would double the file and the first sync's write): the
                    overview entries of the history (trigger, acknowledge, resolve, escalate,
                    assign, annotate, unacknowledge), every entry since the first sync;
                    first-ack times come from here
services, teams,    one per object: ``id``, ``name``, ``raw`` (users also ``email``)
users,
escalation_policies,
priorities
sync_state          ``key``/``value`` text: schema version, adapter, base URL, account,
                    history start, watermark, last report
==================  ===========================================================================

No column holds a credential: requests carry the adapter's headers, which never reach here.
Tables have no PRIMARY KEY constraint on purpose: a sync replaces changed rows with
``DELETE`` + ``INSERT`` in one transaction, which DuckDB's unique indexes refuse for the same
key inside one transaction; the sync code keeps ids unique itself.

A store written by an older version is migrated (in one transaction) when opened for a sync;
one written by a newer version is refused with a message saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The store's errors live in the one error tree; importable from here as before.
from .._errors import StoreAccountError, StoreBusyError, StoreError

__all__ = [
    "REFERENCE_TABLES",
    "SCHEMA_VERSION",
    "TABLES",
    "StoreAccountError",
    "StoreBusyError",
    "StoreError",
    "create_schema",
    "migrate",
    "read_state",
    "schema_version",
    "write_state",
]

#: Bump with a function in ``MIGRATIONS`` that brings version N-1 to N.
SCHEMA_VERSION = 3


_INCIDENTS = """
create table if not exists incidents (
    id varchar not null,
    incident_number bigint,
    title varchar,
    status varchar,
    urgency varchar,
    priority varchar,
    service_id varchar,
    service varchar,
    teams varchar[],
    team_ids varchar[],
    assignees varchar[],
    escalation_policy varchar,
    created_at timestamptz,
    acknowledged_at timestamptz,
    resolved_at timestamptz,
    alert_count bigint,
    html_url varchar,
    updated_at timestamptz,
    synced_at timestamptz,
    first_ack_at timestamptz,
    raw varchar using compression zstd
)
"""

_LOG_ENTRIES = """
create table if not exists log_entries (
    id varchar not null,
    type varchar,
    created_at timestamptz,
    incident_id varchar,
    agent_id varchar,
    agent_type varchar,
    channel_type varchar,
    summary varchar
)
"""

#: Reference tables: PagerDuty list path -> columns besides id, name, raw.
REFERENCE_TABLES: dict[str, tuple[str, ...]] = {
    "services": (),
    "teams": (),
    "users": ("email",),
    "escalation_policies": (),
    "priorities": (),
}

TABLES = ("incidents", "log_entries", *REFERENCE_TABLES, "sync_state")


def _reference_ddl(table: str, extra: tuple[str, ...]) -> str:
    cols = "".join(f", {c} varchar" for c in extra)
    return (
        f"create table if not exists {table} (id varchar not null, name varchar{cols}, raw varchar)"
    )


def create_schema(con: Any) -> None:
    """Create every table of the current version (inside the caller's transaction)."""
    con.execute(_INCIDENTS)
    con.execute(_LOG_ENTRIES)
    for table, extra in REFERENCE_TABLES.items():
        con.execute(_reference_ddl(table, extra))
    con.execute("create table if not exists sync_state (key varchar not null, value varchar)")
    write_state(con, {"schema_version": str(SCHEMA_VERSION)})


def _has_table(con: Any, name: str) -> bool:
    # duckdb_tables(), not information_schema (a view over every catalog: ~10x slower, and
    # this runs on each reopen).
    row = con.execute(
        "select count(*) from duckdb_tables() where table_name = ? and not temporary", [name]
    ).fetchone()
    return bool(row and row[0])


def schema_version(con: Any) -> int | None:
    """The version recorded in the file, or None for an empty (new) file."""
    if not _has_table(con, "sync_state"):
        return None
    row = con.execute("select value from sync_state where key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row else None
    except ValueError:
        return None


def _to_2(con: Any) -> None:
    """2: first-ack times kept on the incident (reads need no join); log entries lose ``raw``."""
    con.execute("alter table incidents add column first_ack_at timestamptz")
    con.execute(
        "update incidents set first_ack_at = a.first_at from (select incident_id, "
        "min(created_at) as first_at "
        "from log_entries where type = 'acknowledge_log_entry' group by 1) a "
        "where incidents.id = a.incident_id"
    )
    con.execute("alter table log_entries drop column if exists raw")


def _to_3(con: Any) -> None:
    """3: the incidents' raw JSON compressed with zstd (a year: 51 MB -> 9 MB of file, and
    the first sync's checkpoint 0.7 s -> 0.2 s: DuckDB's default string analysis is slow on
    100 MB of JSON). DuckDB sets a column's compression only when the table is created."""
    cols = ", ".join(
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where table_name = 'incidents' "
            "and database_name = current_database() and schema_name = 'main' "
            "order by column_index"
        ).fetchall()
    )
    con.execute("alter table incidents rename to incidents_v2")
    con.execute(_INCIDENTS)
    con.execute(f"insert into incidents ({cols}) select {cols} from incidents_v2")
    con.execute("drop table incidents_v2")


#: version N -> the function that brings a version N-1 store to N (one transaction).
MIGRATIONS: dict[int, Callable[[Any], None]] = {2: _to_2, 3: _to_3}


def migrate(con: Any, *, path: str) -> bool:
    """Create or upgrade the schema; True when something was written.

    Raises :class:`StoreError` for a file written by a newer atlas-canvas or not a store.
    """
    version = schema_version(con)
    if version is None:
        if _has_table(con, "incidents"):
            raise StoreError(
                f"{path} holds tables but no store schema version",
                hint="it was not written by atlas-canvas; pass another path= or remove the file",
            )
        con.execute("begin transaction")
        create_schema(con)
        con.execute("commit")
        return True
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer atlas-canvas (store schema {version}, "
            f"this one reads up to {SCHEMA_VERSION})",
            hint="upgrade atlas-canvas, or point ATLAS_STORE/path= at another file",
        )
    if version == SCHEMA_VERSION:
        return False
    con.execute("begin transaction")
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step](con)
    write_state(con, {"schema_version": str(SCHEMA_VERSION)})
    con.execute("commit")
    return True


def read_state(con: Any) -> dict[str, str]:
    """Every ``sync_state`` key and value."""
    if not _has_table(con, "sync_state"):
        return {}
    return {k: v for k, v in con.execute("select key, value from sync_state").fetchall()}


def write_state(con: Any, values: dict[str, str | None]) -> None:
    """Set (or, for None, delete) ``sync_state`` keys (inside the caller's transaction)."""
    for key, value in values.items():
        con.execute("delete from sync_state where key = ?", [key])
        if value is not None:
            con.execute("insert into sync_state values (?, ?)", [key, value])
