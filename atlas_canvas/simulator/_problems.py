"""PagerDuty's error answers, as exceptions the request handler turns into responses.

Bodies follow the documented shape ``{"error": {"message", "code", "errors"}}`` with the
codes of PagerDuty's error table; where a real body was observed (the 10,000 cap, the
range limit, the rate limit) it is reproduced word for word.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiProblem",
    "access_denied",
    "bad_request",
    "cap_exceeded",
    "from_required",
    "not_found",
    "range_too_long",
    "rate_limited",
    "unauthorized",
]

CAP_MESSAGE = (
    "Offset+limit exceeds maximum allowed value of 10000. Please try to refine your search to "
    "reduce the returned set of records below this number, like adding a date range."
)


class ApiProblem(Exception):
    """An error answer: HTTP ``status`` with a JSON ``body`` (a dict)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str, code: int, errors: list[str] | None = None) -> ApiProblem:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return ApiProblem(status, {"error": body})


def bad_request(*errors: str, code: int = 2001) -> ApiProblem:
    """400 "Invalid Input Provided" (2001) with human-readable details."""
    return _error(400, "Invalid Input Provided", code, list(errors))


def cap_exceeded() -> ApiProblem:
    """The observed 400 when ``offset + limit > 10000``."""
    return _error(400, "Arguments Caused Error", 2002, [CAP_MESSAGE])


#: The longest ``since``/``until`` range ``/incidents`` and ``/log_entries`` accept. PagerDuty
#: documents "6 months" without saying how a month is counted, and Grafana's "Last 6 months"
#: (six calendar months, 181 days) was refused (grafana-pagerduty#19). A fixed length in
#: seconds refuses the same span whatever the start date, and 180 days is under every
#: reading of six months (181-184 days); the library splits at 179 days.
MAX_RANGE_SECONDS = 180 * 86400


def range_too_long(since: str = "since", until: str = "until") -> ApiProblem:
    """The 400 when ``until - since`` is more than :data:`MAX_RANGE_SECONDS`.

    The live API's body names no parameter (``" is invalid."``, an empty field name);
    the simulator names the one to change and the limit, so the error says how to fix it.
    """
    return _error(
        400,
        "Invalid Input Provided",
        2001,
        [
            f"{until.capitalize()} is invalid: {since} and {until} may be at most 180 days "
            "(PagerDuty's 6-month maximum) apart; split the range."
        ],
    )


def unauthorized() -> ApiProblem:
    return _error(401, "Authentication failed", 2006)


def access_denied(detail: str) -> ApiProblem:
    return _error(403, "Access Denied", 2010, [detail])


def from_required() -> ApiProblem:
    return _error(
        400,
        'You must specify a user\'s email address in the "From" header to perform this action',
        2001,
        ["From header is missing"],
    )


def not_found(message: str = "Not Found", code: int = 2100) -> ApiProblem:
    return _error(404, message, code)


def rate_limited() -> ApiProblem:
    return _error(429, "Rate Limit Exceeded", 2020)
