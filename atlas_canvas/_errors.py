"""The one error tree of atlas-canvas.

Every error the product raises on purpose is an :class:`AtlasError`. Each carries

* ``code``: a stable machine-readable name (Atlas's names where Atlas has one),
* ``http_status``: what the Atlas server answers for it,
* ``exit_code``: what ``mom`` exits with (0 ok, 2 usage/config, 1 anything else),
* a message that says what happened **and how to fix it**.

Messages never contain a secret value: callers pass variable *names*, never values.

Tree::

    AtlasError
    ├── UsageError                 bad arguments (exit 2)
    ├── ConfigError                bad/missing config file, bad edit (exit 2)
    │   └── MissingSecretError     ${{ VAR }} not set when a request is sent (500)
    ├── ProxyError                 a request Atlas refuses or cannot route
    │   ├── MissingAccessTokenError  401 API_MissingAccessTokenError
    │   ├── InvalidAccessTokenError  401 API_InvalidAccessTokenError
    │   ├── NoMatchingInstanceError  404 API_NoMatchingInstanceError (unknown adapter)
    │   ├── UnsupportedAdapterError  501 ATLAS_UnsupportedAdapterKindError
    │   ├── BadPathError             400 ATLAS_BadPathError
    │   ├── RequestTooLargeError     413 ATLAS_RequestTooLargeError
    │   ├── RouteNotFoundError       404 ATLAS_RouteNotFoundError (not an Atlas route)
    │   └── MethodNotAllowedError    405 ATLAS_MethodNotAllowedError
    ├── UpstreamError              the upstream could not be reached or answered badly
    │   ├── UpstreamTimeoutError     504 API_InstanceRequestTimeoutError
    │   ├── UpstreamUnreachableError 502 ATLAS_UpstreamUnreachableError
    │   └── HTTPStatusError          upstream answered >= 400 (exit 1, status shown)
    └── StoreError                 the incident store cannot be used as asked
        ├── StoreBusyError           another process holds the store too long
        └── StoreAccountError        the key is another account's than the store's (exit 2)
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

__all__ = [
    "AtlasError",
    "BadHeaderError",
    "BadPathError",
    "BadRequestError",
    "CallerBodyTimeoutError",
    "ConfigError",
    "HTTPStatusError",
    "InvalidAccessTokenError",
    "MethodNotAllowedError",
    "MissingAccessTokenError",
    "MissingSecretError",
    "NoMatchingInstanceError",
    "ProxyError",
    "RequestTooLargeError",
    "RouteNotFoundError",
    "StoreAccountError",
    "StoreBusyError",
    "StoreError",
    "UnsupportedAdapterError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnreachableError",
    "UsageError",
    "error_from_body",
]


class AtlasError(Exception):
    """Base of every error atlas-canvas raises on purpose.

    Example::

        try:
            ...
        except AtlasError as exc:
            print(exc.code, exc.http_status, exc)
    """

    code: ClassVar[str] = "InvalidErrorType"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.hint = hint
        #: What the error is about, for a form or an editor: a form field / JSON key
        #: (``"baseUrl"``) for usage errors, the key path (``"spec.baseUrl"``) for config
        #: errors; ``None`` when it is about no one field.
        self.field = field
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The wire form: ``{"error": {"code", "message", "hint", "field"}}``.

        ``message`` is the whole one-line text (what happened, then the fix in
        parentheses), so clients that read only Atlas's ``code``/``message`` lose nothing.
        ``hint`` is the fix alone and ``field`` what the error is about (see
        :attr:`field`); both are ``null`` when unknown.

        Example::

            UsageError("the base URL is required", field="baseUrl").to_dict()
            # {'error': {'code': 'ATLAS_UsageError', 'message': 'the base URL is required',
            #            'hint': None, 'field': 'baseUrl'}}
        """
        return {
            "error": {
                "code": self.code,
                "message": str(self),
                "hint": self.hint,
                "field": self.field,
            }
        }

    def to_json_bytes(self) -> bytes:
        return json.dumps(self.to_dict()).encode()

    # IPython shows this instead of a traceback; raising still fails the cell under
    # nbval/nbclient (IPython's own UsageError would not).
    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class UsageError(AtlasError):
    """The command or function was called wrongly (exit 2)."""

    code = "ATLAS_UsageError"
    http_status = 400
    exit_code = 2


class ConfigError(AtlasError):
    """The Atlas config file is missing, malformed, or an edit of it was refused (exit 2).

    ``location`` fields are optional; ``str()`` joins those that are known:
    ``atlas.yml:12: document 3 (HTTP 'pagerduty'): spec.baseUrl: got 'ftp://x', expected ...``
    """

    code = "ATLAS_ConfigError"
    http_status = 500
    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        document: str | None = None,
        key_path: str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.document = document
        self.key_path = key_path
        # A config error is about its key path unless the caller names a form field.
        super().__init__(message, hint=hint, field=field if field is not None else key_path)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        if self.document:
            where += f"{self.document}: "
        if self.key_path:
            where += f"{self.key_path}: "
        return where + super().__str__()


class MissingSecretError(ConfigError):
    """A ``${{ VAR }}`` template names an environment variable that is not set."""

    code = "ATLAS_MissingSecretError"
    http_status = 500

    def __init__(self, variable: str, *, adapter: str | None = None) -> None:
        self.variable = variable
        self.adapter = adapter
        where = f" for adapter '{adapter}'" if adapter else ""
        super().__init__(
            f"environment variable {variable} is not set{where}",
            hint=f"export {variable}=... in the environment of the process that sends requests",
        )


class ProxyError(AtlasError):
    """A request the proxy refuses or cannot route."""

    code = "InvalidErrorType"
    http_status = 500
    exit_code = 1


class MissingAccessTokenError(ProxyError):
    code = "API_MissingAccessTokenError"
    http_status = 401


class InvalidAccessTokenError(ProxyError):
    code = "API_InvalidAccessTokenError"
    http_status = 401


class NoMatchingInstanceError(ProxyError):
    """The adapter named in the path is not active in the config."""

    code = "API_NoMatchingInstanceError"
    http_status = 404


class UnsupportedAdapterError(ProxyError):
    code = "ATLAS_UnsupportedAdapterKindError"
    http_status = 501


class BadPathError(ProxyError):
    code = "ATLAS_BadPathError"
    http_status = 400


class RequestTooLargeError(ProxyError):
    code = "ATLAS_RequestTooLargeError"
    http_status = 413


class BadHeaderError(ProxyError):
    """A request header that cannot be forwarded byte for byte (not UTF-8, or a line break)."""

    code = "ATLAS_BadHeaderError"
    http_status = 400


class CallerBodyTimeoutError(ProxyError):
    """The caller stopped sending its request body for longer than the server's body idle
    timeout (``mom atlas run --body-idle-timeout``); the upstream request was abandoned."""

    code = "ATLAS_RequestBodyTimeout"
    http_status = 408


class BadRequestError(ProxyError):
    """A request the server's HTTP parser could not read (broken framing or body encoding)."""

    code = "ATLAS_BadRequestError"
    http_status = 400


class RouteNotFoundError(ProxyError):
    """The path is not one of the Atlas server's routes."""

    code = "ATLAS_RouteNotFoundError"
    http_status = 404


class MethodNotAllowedError(ProxyError):
    code = "ATLAS_MethodNotAllowedError"
    http_status = 405


class UpstreamError(AtlasError):
    """The upstream API could not be reached, timed out, or answered with an error."""

    code = "ATLAS_UpstreamError"
    http_status = 502
    exit_code = 1


class UpstreamTimeoutError(UpstreamError):
    code = "API_InstanceRequestTimeoutError"
    http_status = 504


class UpstreamUnreachableError(UpstreamError):
    code = "ATLAS_UpstreamUnreachableError"
    http_status = 502


class HTTPStatusError(UpstreamError):
    """An HTTP answer with status >= 400 where the caller asked for success."""

    code = "ATLAS_HTTPStatusError"

    def __init__(
        self, message: str, *, status: int, body: str = "", hint: str | None = None
    ) -> None:
        self.status = status
        self.body = body
        super().__init__(message, hint=hint)


class StoreError(AtlasError):
    """The incident store cannot be used as asked (what happened and how to fix it).

    Raised by ``atlas_canvas.pagerduty`` when the store file is not a store, was written by a
    newer atlas-canvas, or cannot be opened. Never sent to an Atlas client.

    Example::

        try:
            from atlas_canvas import pagerduty
            pagerduty.open_store(path="/tmp/other.duckdb").incidents()
        except StoreError as exc:
            print(exc)
    """

    code = "ATLAS_StoreError"


class StoreBusyError(StoreError):
    """Another process holds the store (a sync, or a read-only connection) for too long."""

    code = "ATLAS_StoreBusyError"


class StoreAccountError(StoreError):
    """The adapter's key belongs to another PagerDuty account than the store's."""

    code = "ATLAS_StoreAccountError"
    exit_code = 2


_BY_CODE: dict[str, type[AtlasError]] = {
    cls.code: cls
    for cls in (
        MissingAccessTokenError,
        InvalidAccessTokenError,
        NoMatchingInstanceError,
        UnsupportedAdapterError,
        BadPathError,
        RequestTooLargeError,
        RouteNotFoundError,
        MethodNotAllowedError,
        UpstreamTimeoutError,
        UpstreamUnreachableError,
        ProxyError,
    )
}


def error_from_body(status: int, body: bytes) -> AtlasError | None:
    """Rebuild an :class:`AtlasError` from an Atlas server error body, if it is one."""
    try:
        data = json.loads(body)
        code = data["error"]["code"]
        message = data["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    # ``message`` already ends with the hint; only ``field`` is taken over separately.
    field = data["error"].get("field")
    field = field if isinstance(field, str) else None
    if code == MissingSecretError.code:
        err: AtlasError = ConfigError(message, field=field)
        return err
    cls = _BY_CODE.get(code)
    if cls is None:
        return None
    err = cls(message)
    err.field = field
    return err
