"""PagerDutySession: one adapter reached one way; requests, JSON, explained errors, pacing."""

from __future__ import annotations

import json

import httpx
import pytest

from atlas_canvas._errors import HTTPStatusError, NoMatchingInstanceError, UsageError
from atlas_canvas.pagerduty import PagerDutySession
from atlas_canvas.pagerduty._session import PD_ACCEPT

from .fakepd import FakePD, make_incidents


def test_create_from_the_public_keywords() -> None:
    fake = FakePD(make_incidents(3))
    transport = fake.transport()
    pd = PagerDutySession.create("pagerduty", transport=transport)
    assert pd.adapter == "pagerduty" and pd.target.mode == "injected"
    assert pd.url("incidents") == "/v1/apis/http/pagerduty/incidents"
    assert pd.url("/incidents/P1/notes") == "/v1/apis/http/pagerduty/incidents/P1/notes"
    # session= passes through; another adapter name re-aims it at the same place
    assert PagerDutySession.create("pagerduty", session=pd) is pd
    other = PagerDutySession.create("pd-eu", session=pd)
    assert other.adapter == "pd-eu" and other.target is pd.target
    with pytest.raises(UsageError, match="bad adapter name"):
        PagerDutySession.create("pager/duty", transport=transport)
    with pytest.raises(AttributeError):
        pd.adapter = "x"  # type: ignore[misc]  # frozen


def test_remote_session_repr_has_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_ACCESS_TOKEN", "tok-never-shown")
    pd = PagerDutySession.create(base_url="http://127.0.0.1:8082")
    assert pd.target.mode == "remote" and "tok-never-shown" not in repr(pd)


async def test_request_sends_pagerduty_accept_and_json() -> None:
    fake = FakePD(make_incidents(3))
    pd = PagerDutySession.create(transport=fake.transport())
    first = fake.incidents[0]["id"]
    r = await pd.request("GET", "incidents", params={"limit": 2})
    assert r.ok and len(r.data["incidents"]) == 2
    sent = fake.requests[-1]
    assert sent.headers["accept"] == PD_ACCEPT and sent.url.params["limit"] == "2"
    r = await pd.request(
        "PUT",
        "incidents",
        headers={"From": "a@example.com"},
        json={"incidents": [{"id": first, "type": "incident_reference", "status": "resolved"}]},
    )
    put = fake.requests[-1]
    assert put.method == "PUT" and put.headers["content-type"] == "application/json"
    assert r.ok and json.loads(put.content)["incidents"][0]["id"] == first


async def test_get_json_raises_the_explained_error() -> None:
    fake = FakePD(make_incidents(3), faults=[("401", None)])
    pd = PagerDutySession.create(transport=fake.transport())
    with pytest.raises(HTTPStatusError, match="rejected the credentials") as info:
        await pd.get_json("incidents")
    assert "api.eu.pagerduty.com" in str(info.value)
    assert (await pd.get_json("incidents", {"limit": 1}))["incidents"]

    typo = PagerDutySession.create("pagerduyt", transport=fake.transport())
    with pytest.raises(NoMatchingInstanceError) as err:
        await typo.get_json("incidents")
    assert "did you mean 'pagerduty'" in str(err.value)


async def test_get_json_refuses_a_body_that_is_not_json() -> None:
    pd = PagerDutySession.create(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))
    )
    with pytest.raises(Exception, match="not JSON"):
        await pd.get_json("incidents")


def test_sessions_aimed_at_the_same_place_share_one_pacer() -> None:
    transport = FakePD(make_incidents(1)).transport()
    a = PagerDutySession.create(transport=transport)
    b = PagerDutySession.create(transport=transport)
    assert a.pacer is b.pacer
    assert PagerDutySession.create("other", transport=transport).pacer is not a.pacer
    assert PagerDutySession.create(transport=FakePD([]).transport()).pacer is not a.pacer


def test_an_injected_transports_pacer_goes_with_it() -> None:
    import gc
    import weakref

    from atlas_canvas.pagerduty import _pacer

    transport = FakePD(make_incidents(1)).transport()
    PagerDutySession.create(transport=transport).pacer.hold(600)  # an exhausted budget
    assert transport in _pacer._by_transport
    gone = weakref.ref(transport)
    before = len(_pacer._by_transport)
    del transport
    gc.collect()
    # the pacer did not keep it alive, and its stale budget went with it (an id() reused by
    # a later transport cannot find it)
    assert gone() is None and len(_pacer._by_transport) < before
