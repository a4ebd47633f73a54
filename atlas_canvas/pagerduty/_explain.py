"""What a failed PagerDuty answer means, in words that say how to fix it.

:func:`explain_error` turns a non-2xx :class:`~atlas_canvas._response.Response` into the
:class:`~atlas_canvas.AtlasError` a user should see: an unknown adapter gets "did you mean";
a 401 names the token variable and the region's base URL; a 403 says the key lacks the
right; a write without ``From`` says how to set it.

Example::

    r = await session.request("GET", "incidents")
    if not r.ok:
        raise await explain_error(r, session=session)
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from .._errors import (
    AtlasError,
    HTTPStatusError,
    InvalidAccessTokenError,
    MissingAccessTokenError,
    NoMatchingInstanceError,
    UpstreamError,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .._response import Response
    from ._session import PagerDutySession

__all__ = ["explain_error", "with_suggestion"]


async def explain_error(
    r: Response,
    *,
    adapter: str | None = None,
    config: Any = None,
    base_url: str | None = None,
    transport: Any = None,
    session: PagerDutySession | None = None,
) -> AtlasError:
    """The :class:`AtlasError` for a failed PagerDuty answer, with the fix in its hint.

    Pass the ``session`` the request went through (or the keywords it was made from).
    """
    from ._session import PagerDutySession

    if session is None:
        session = PagerDutySession.create(
            adapter or "pagerduty", config=config, base_url=base_url, transport=transport
        )
    adapter = session.adapter
    err = r.error() or UpstreamError(f"unexpected status {r.status}")
    if isinstance(err, NoMatchingInstanceError):
        from .._fetch import list_adapters

        try:
            listed = await list_adapters(target=session.target)
            names = [a["name"] for a in listed if "name" in a]
        except AtlasError:
            names = []
        return with_suggestion(err, adapter, names)
    if isinstance(err, (MissingAccessTokenError, InvalidAccessTokenError)):
        return type(err)(
            err.message,
            hint="set ATLAS_ACCESS_TOKEN to the token the Atlas server printed at start",
        )
    if r.status == 401:
        variables, base = _adapter_details(session)
        var_text = " or ".join(variables) if variables else "the variable in its headers"
        return HTTPStatusError(
            f"PagerDuty rejected the credentials of adapter '{adapter}' (401)",
            status=401,
            hint=f"check the token variable {var_text} and the region: "
            f"the adapter's baseUrl is {base or 'unknown'}; US accounts use "
            "https://api.pagerduty.com, EU accounts https://api.eu.pagerduty.com",
        )
    if r.status == 403:
        return HTTPStatusError(
            err.message,
            status=403,
            hint="the token is valid but not allowed to do this (read-only key or scope)",
        )
    if r.status == 400 and "From" in err.message:
        return HTTPStatusError(
            err.message,
            status=400,
            hint="set PAGERDUTY_FROM to the email of a PagerDuty user, or pass from_email=",
        )
    return err


def with_suggestion(
    err: NoMatchingInstanceError, adapter: str, names: list[str]
) -> NoMatchingInstanceError:
    """``err`` with "did you mean" first when a known adapter name is close to ``adapter``."""
    close = difflib.get_close_matches(adapter, names, n=1, cutoff=0.5)
    if not close:
        return err
    # The server's text carries its generic advice in parentheses; the suggestion replaces it.
    message = err.message.split(" (check the name", 1)[0]
    return NoMatchingInstanceError(
        message,
        hint=f"did you mean '{close[0]}'? Or add it with `mom atlas config add-http-adapter`",
    )


def _adapter_details(session: PagerDutySession) -> tuple[list[str], str | None]:
    """The adapter's secret variable names and base URL, when its config is local."""
    try:
        cfg = session.target.current_config()
    except AtlasError:
        cfg = None
    if cfg is None:
        return [], None
    try:
        found = cfg.get(session.adapter)
    except AtlasError:
        return [], None
    return list(found.secret_variables), found.base_url
