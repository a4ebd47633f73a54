"""One PagerDuty adapter reached one way: the object every PagerDuty function works through.

A :class:`PagerDutySession` is made once per call from the keyword arguments the public
functions take (``adapter``, ``config=``, ``base_url=``, ``transport=``); where requests go is
decided then, by :func:`~atlas_canvas._target.resolve_target`, and never again. Requests
through it carry PagerDuty's ``Accept`` header and are paced by the adapter's shared
:class:`~atlas_canvas.pagerduty._pacer.RatePacer`.

Example::

    from atlas_canvas.pagerduty import PagerDutySession
    pd = PagerDutySession.create("pagerduty")               # ATLAS_URL, or in-process
    me = await pd.get_json("users/me")                       # raises the explained error
    r = await pd.request("GET", "incidents", params={"limit": 5})
    pd.url("incidents")                                      # '/v1/apis/http/pagerduty/incidents'
"""

from __future__ import annotations

import asyncio
import json as _json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .._errors import AtlasError, UpstreamError
from .._routing import adapter_path
from .._target import Target, resolve_target
from ._pacer import RatePacer, pacer_for

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

    from .._config import AtlasConfig
    from .._response import Response

__all__ = ["PD_ACCEPT", "PagerDutySession"]

#: PagerDuty's REST API v2 media type, sent as ``Accept`` on every request.
PD_ACCEPT = "application/vnd.pagerduty+json;version=2"


@dataclass(frozen=True)
class PagerDutySession:
    """A PagerDuty adapter and where requests to it go (frozen; ``repr`` holds no secret).

    Build it with :meth:`create` (the keywords the public functions take). ``rest`` in the
    methods is relative to the adapter's base URL: ``"incidents"``, ``"users/P1"``.
    """

    adapter: str
    target: Target

    @classmethod
    def create(
        cls,
        adapter: str = "pagerduty",
        *,
        config: str | os.PathLike[str] | AtlasConfig | None = None,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        session: PagerDutySession | None = None,
    ) -> PagerDutySession:
        """The session for ``adapter`` (``session=`` is passed through, re-aimed at ``adapter``).

        Example::

            pd = PagerDutySession.create("pagerduty", base_url="http://127.0.0.1:8082")
        """
        adapter_path(adapter)  # refuses a bad adapter name now, with a clear message
        if session is not None:
            return session if session.adapter == adapter else replace(session, adapter=adapter)
        return cls(
            adapter=adapter,
            target=resolve_target(config=config, base_url=base_url, transport=transport),
        )

    @property
    def pacer(self) -> RatePacer:
        """The rate pacer this adapter shares with every session aimed at the same place."""
        return pacer_for(self.target.key, self.adapter, transport=self.target.transport)

    def checked(self) -> PagerDutySession:
        """This session, once where its requests go has been looked at: a local config that
        is missing, broken or without this adapter raises now (before a caller writes
        anything, such as a new store file), not at the first request.

        Example::

            PagerDutySession.create("pagerduty", config="atlas.yml").checked()
        """
        config = self.target.current_config()
        if config is not None:
            config.get(self.adapter)
        return self

    def url(self, rest: str = "") -> str:
        """The Atlas path of ``rest`` through this adapter, e.g. ``url("incidents")``."""
        return adapter_path(self.adapter, rest)

    async def request(
        self,
        method: str,
        rest: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_wait: Callable[[float], None] | None = None,
    ) -> Response:
        """Send one request (paced, never retried) and return the answer, whatever its status.

        ``sleep`` is how the pacer waits for budget (tests pass a recorder); ``on_wait`` is
        told how many seconds this request waited for it.
        """
        from .._fetch import send

        sent: dict[str, str] = {"Accept": PD_ACCEPT}
        sent.update(headers or {})
        content = None
        if json is not None:
            content = _json.dumps(json).encode()
            if not any(k.lower() == "content-type" for k in sent):
                sent["Content-Type"] = "application/json"
        pacer = self.pacer
        waited = await pacer.acquire(sleep)
        if on_wait is not None and waited:
            on_wait(waited)
        r: Response | None = None
        try:
            r = await send(
                self.target,
                method.upper(),
                self.url(rest),
                headers=sent,
                params=params,
                content=content,
            )
        finally:
            pacer.release(r.headers if r is not None else None, status=r.status if r else None)
        return r

    async def get_json(self, rest: str, params: Any = None) -> Any:
        """``GET rest`` and its JSON body; a non-2xx answer raises the explained AtlasError.

        Example::

            services = (await pd.get_json("services", {"limit": 100}))["services"]
        """
        r = await self.request("GET", rest, params=params)
        if not r.ok:
            raise await self.explain(r)
        try:
            return r.data
        except ValueError:
            raise UpstreamError(
                f"GET {self.url(rest)} answered {r.status} with a body that is not JSON",
                hint="is the adapter's baseUrl a PagerDuty REST API (https://api.pagerduty.com)?",
            ) from None

    async def explain(self, r: Response) -> AtlasError:
        """The :class:`~atlas_canvas.AtlasError` a failed answer stands for, with its fix."""
        from ._explain import explain_error

        return await explain_error(r, session=self)
