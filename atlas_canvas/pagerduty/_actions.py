"""Incident actions through the same adapter: acknowledge, resolve, add a note.

Writes need PagerDuty's ``From`` header (the email of a user on the account) when the adapter
uses an account-level token: it comes from ``from_email=`` or the ``PAGERDUTY_FROM``
environment variable. Bulk updates use ``PUT /incidents`` in chunks of 250 (PagerDuty's
maximum). Writes are **never retried**: a retried write could act twice.

Example::

    from atlas_canvas import pagerduty
    pagerduty.acknowledge(["Q1R2S3T4U5V6W7"], from_email="dana@example.com")
    pagerduty.resolve(df[df.service == "Checkout API"])     # a frame works too
    pagerduty.add_note("Q1R2S3T4U5V6W7", "Rolled back deploy 8841")
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .._bridge import run_sync
from .._errors import UsageError
from ._session import PagerDutySession

__all__ = [
    "BULK_LIMIT",
    "ActionResult",
    "acknowledge",
    "acknowledge_async",
    "add_note",
    "add_note_async",
    "resolve",
    "resolve_async",
]

BULK_LIMIT = 250
FROM_ENV = "PAGERDUTY_FROM"


@dataclass
class ActionResult:
    """What an action did: ``action``, the ``ids`` it covered and PagerDuty's answers."""

    action: str
    ids: list[str]
    incidents: list[dict[str, Any]] = field(default_factory=list)
    note: dict[str, Any] | None = None

    def __repr__(self) -> str:
        if self.action == "note":
            return f"added a note to incident {self.ids[0]}"
        n = len(self.ids)
        return f"{self.action} {n} incident{'s' if n != 1 else ''}"

    def _repr_html_(self) -> str:
        return f"<div class='atlas-action'>{html.escape(repr(self))}</div>"


def _ids(ids: Any) -> list[str]:
    if ids is None:
        raise UsageError("no incident ids given")
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is installed with the notebook extra
        pd = None  # type: ignore[assignment]  # only used for isinstance checks below
    if pd is not None and isinstance(ids, pd.DataFrame):
        if "id" not in ids.columns:
            raise UsageError("the DataFrame has no 'id' column")
        ids = ids["id"]
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, Iterable):
        raise UsageError(f"incident ids must be a string or a list, got {type(ids).__name__}")
    out = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    for i in out:
        if "/" in i or "?" in i or "#" in i:
            raise UsageError(f"{i!r} is not an incident id")
    if not out:
        raise UsageError("no incident ids given")
    return out


def _from(from_email: str | None) -> str:
    value = from_email or os.environ.get(FROM_ENV, "")
    if not value or "@" not in value:
        raise UsageError(
            "PagerDuty needs the email of the user acting (the From header)",
            hint=f"set {FROM_ENV}=you@example.com or pass from_email=",
        )
    return value


async def _bulk_status(
    ids: Any, status: str, *, session: PagerDutySession, from_email: str | None
) -> ActionResult:
    todo = _ids(ids)
    sender = _from(from_email)
    result = ActionResult(action=status, ids=todo)
    for start in range(0, len(todo), BULK_LIMIT):
        chunk = todo[start : start + BULK_LIMIT]
        r = await session.request(
            "PUT",
            "incidents",
            headers={"From": sender},
            json={
                "incidents": [
                    {"id": i, "type": "incident_reference", "status": status} for i in chunk
                ]
            },
        )
        if not r.ok:
            err = await session.explain(r)
            if start:
                err.message = (
                    f"{err.message} (after {start} of {len(todo)} incidents were {status})"
                )
            raise err
        data = r.data
        if isinstance(data, dict) and isinstance(data.get("incidents"), list):
            result.incidents.extend(data["incidents"])
    return result


async def acknowledge_async(
    ids: Any,
    *,
    adapter: str = "pagerduty",
    from_email: str | None = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> ActionResult:
    """Acknowledge incidents (ids, a list, a Series or an incidents DataFrame)."""
    pd_session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    return await _bulk_status(ids, "acknowledged", session=pd_session, from_email=from_email)


async def resolve_async(
    ids: Any,
    *,
    adapter: str = "pagerduty",
    from_email: str | None = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> ActionResult:
    """Resolve incidents (ids, a list, a Series or an incidents DataFrame)."""
    pd_session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    return await _bulk_status(ids, "resolved", session=pd_session, from_email=from_email)


async def add_note_async(
    incident_id: str,
    text: str,
    *,
    adapter: str = "pagerduty",
    from_email: str | None = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> ActionResult:
    """Add a note to one incident."""
    (iid,) = _ids([incident_id])
    if not isinstance(text, str) or not text.strip():
        raise UsageError("the note text is empty")
    sender = _from(from_email)
    pd_session = PagerDutySession.create(
        adapter, config=config, base_url=base_url, transport=transport, session=session
    )
    r = await pd_session.request(
        "POST", f"incidents/{iid}/notes", headers={"From": sender}, json={"note": {"content": text}}
    )
    if not r.ok:
        raise await pd_session.explain(r)
    data = r.data
    note = data.get("note") if isinstance(data, dict) else None
    return ActionResult(action="note", ids=[iid], note=note if isinstance(note, dict) else None)


def acknowledge(ids: Any, **kwargs: Any) -> ActionResult:
    """Acknowledge incidents (blocking). Example: ``acknowledge(df[df.urgency == "high"])``."""
    return run_sync(acknowledge_async(ids, **kwargs))


def resolve(ids: Any, **kwargs: Any) -> ActionResult:
    """Resolve incidents (blocking). Example: ``resolve(["Q1R2S3T4U5V6W7"])``."""
    return run_sync(resolve_async(ids, **kwargs))


def add_note(incident_id: str, text: str, **kwargs: Any) -> ActionResult:
    """Add a note to an incident (blocking). Example: ``add_note(id, "rolled back")``."""
    return run_sync(add_note_async(incident_id, text, **kwargs))
