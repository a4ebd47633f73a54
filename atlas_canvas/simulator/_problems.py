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


def range_too_long() -> ApiProblem:
    """The observed 400 when ``until - since`` is more than 6 months (sic: empty field name)."""
    return _error(400, "Invalid Input Provided", 2001, [" is invalid."])


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
