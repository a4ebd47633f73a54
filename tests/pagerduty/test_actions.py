"""Incident actions: bulk PUT in chunks of 250, From header, never retried."""

from __future__ import annotations

import pytest

from atlas_canvas._errors import HTTPStatusError, UsageError
from atlas_canvas.pagerduty._actions import (
    acknowledge,
    acknowledge_async,
    add_note_async,
    resolve_async,
)
from atlas_canvas.pagerduty._frame import incidents_frame

from .fakepd import FakePD, make_incidents


async def test_acknowledge_in_chunks_of_250_with_from_header() -> None:
    fake = FakePD(make_incidents(600))
    ids = [i["id"] for i in fake.incidents]
    result = await acknowledge_async(ids, from_email="dana@example.com", transport=fake.transport())
    assert [len(body["incidents"]) for _, _, body, _ in fake.writes] == [250, 250, 100]
    assert all(h["from"] == "dana@example.com" for *_, h in fake.writes)
    sent = [u for _, _, body, _ in fake.writes for u in body["incidents"]]
    assert [u["id"] for u in sent] == ids
    assert {u["status"] for u in sent} == {"acknowledged"}
    assert len(result.incidents) == 600 and repr(result) == "acknowledged 600 incidents"


async def test_resolve_takes_a_frame_and_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_FROM", "ops@example.com")
    fake = FakePD(make_incidents(9))
    df = incidents_frame(fake.incidents)
    await resolve_async(df[df["status"] == "triggered"], transport=fake.transport())
    ((_, path, body, headers),) = fake.writes
    assert path == "incidents" and headers["from"] == "ops@example.com"
    assert [u["id"] for u in body["incidents"]] == ["Q00000003", "Q00000006", "Q00000009"]


async def test_writes_are_never_retried() -> None:
    fake = FakePD(make_incidents(5), write_status=500)
    with pytest.raises(HTTPStatusError) as info:
        await acknowledge_async(["Q00000001"], from_email="a@b.c", transport=fake.transport())
    assert info.value.status == 500
    assert len(fake.writes) == 1


def test_missing_from_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGERDUTY_FROM", raising=False)
    fake = FakePD(make_incidents(2))
    with pytest.raises(UsageError, match="PAGERDUTY_FROM"):
        acknowledge(["Q00000001"], transport=fake.transport())
    assert fake.writes == []


async def test_add_note() -> None:
    fake = FakePD(make_incidents(2))
    result = await add_note_async(
        "Q00000001", "rolled back", from_email="a@b.c", transport=fake.transport()
    )
    ((method, path, body, _),) = fake.writes
    assert (method, path, body) == (
        "POST",
        "incidents/Q00000001/notes",
        {"note": {"content": "rolled back"}},
    )
    assert result.note and result.note["content"] == "rolled back"
    with pytest.raises(UsageError):
        await add_note_async("Q1", "  ", from_email="a@b.c", transport=fake.transport())
    with pytest.raises(UsageError):
        await add_note_async("../x", "hi", from_email="a@b.c", transport=fake.transport())
