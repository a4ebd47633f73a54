"""The answer to one Atlas request: :class:`Response`, fetch-style, body already read.

Example::

    r = atlas_proxy_fetch_sync("/v1/apis/http/pagerduty/incidents")
    r.status, r.ok, r.headers["content-type"]
    r.raise_for_status().data["incidents"]
"""

from __future__ import annotations

import html
import json as _json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._errors import AtlasError, HTTPStatusError, error_from_body
from ._secrets import redact

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

__all__ = ["Response"]


class Response:
    """The answer to one :func:`atlasProxyFetch` call; the body is already read.

    Mirrors the fetch API: ``status``, ``ok``, ``status_text``, ``headers``, ``url`` and the
    awaitables ``json()`` / ``text()``. ``body`` holds the raw bytes and ``data`` the parsed
    JSON for synchronous code.

    Example::

        r = atlas_proxy_fetch_sync("/v1/apis/http/pagerduty/incidents")
        r.raise_for_status()
        r.data["incidents"][0]["title"]
    """

    __slots__ = ("_secrets", "body", "headers", "method", "path", "status", "status_text", "url")

    def __init__(
        self,
        *,
        status: int,
        headers: httpx.Headers,
        body: bytes,
        url: str,
        method: str = "GET",
        path: str = "",
        status_text: str = "",
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.method = method
        self.path = path
        self.status_text = status_text
        self._secrets = secrets

    @property
    def ok(self) -> bool:
        """True for a 2xx status, like ``Response.ok`` in JavaScript."""
        return 200 <= self.status < 300

    @property
    def content(self) -> bytes:
        return self.body

    @property
    def data(self) -> Any:
        """The body parsed as JSON (synchronously); raises ``ValueError`` if it is not JSON."""
        return _loads(self.body)

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return self.data

    async def text(self) -> str:
        """The body decoded as text (charset from ``Content-Type``, else UTF-8)."""
        return self._text()

    async def bytes(self) -> bytes:
        return self.body

    def _text(self) -> str:
        charset = "utf-8"
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def error(self) -> AtlasError | None:
        """The error this response stands for (``None`` when ``ok``)."""
        if self.ok:
            return None
        err = error_from_body(self.status, self.body)
        if err is not None:
            return err
        detail = _upstream_detail(self.body)
        reason = f" {self.status_text}" if self.status_text else ""
        msg = f"{self.method} {self.path} answered {self.status}{reason}"
        if detail:
            msg += f": {detail}"
        return HTTPStatusError(
            redact(msg, self._secrets), status=self.status, body=redact(self._text(), self._secrets)
        )

    def raise_for_status(self) -> Response:
        """Raise the matching :class:`AtlasError` unless the status is 2xx; returns ``self``."""
        err = self.error()
        if err is not None:
            raise err
        return self

    # -- display ------------------------------------------------------------------------------

    def _safe(self, text: str) -> str:
        return redact(text, self._secrets)

    def _pretty_body(self) -> tuple[str, Any]:
        text = self._text()
        try:
            parsed = _json.loads(text)
        except ValueError:
            return self._safe(text), None
        return self._safe(_json.dumps(parsed, indent=2, ensure_ascii=False)), parsed

    def __repr__(self) -> str:
        reason = f" {self.status_text}" if self.status_text else ""
        return self._safe(f"<Response [{self.status}{reason}] {self.method} {self.path}>")

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any]:
        pretty, parsed = self._pretty_body()
        limit = 20_000
        shown = pretty if len(pretty) <= limit else pretty[:limit] + "\n… (truncated)"
        head = repr(self)
        bundle: dict[str, Any] = {
            "text/plain": f"{head}\n{shown}" if shown else head,
            "text/html": (
                f"<div class='atlas-response'><div><code>{html.escape(head)}</code></div>"
                f"<pre>{html.escape(shown)}</pre></div>"
            ),
        }
        # A multi-megabyte JSON view would freeze the front end; the text view is truncated.
        if parsed is not None and isinstance(parsed, (dict, list)) and len(self.body) <= 2**20:
            # Round-trip through the redacted text so the JSON view cannot hold a secret either.
            try:
                bundle["application/json"] = _json.loads(self._safe(_json.dumps(parsed)))
            except ValueError:
                pass
        return bundle


def _loads(body: bytes) -> Any:
    # orjson decodes a page of 100 incidents ~4x faster than json, which is most of the CPU
    # time of a large incident fetch. Both raise ValueError subclasses on bad input.
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency; json still works
        return _json.loads(body)
    return orjson.loads(body)


def _upstream_detail(body: bytes) -> str:
    """A one-line summary of an upstream error body (PagerDuty's shapes included)."""
    try:
        data = _json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return text[:200]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, str):
        return err[:300]
    if isinstance(err, list):
        return "; ".join(str(e) for e in err)[:300]
    if isinstance(err, dict):
        parts = [str(err.get("message", ""))]
        errors = err.get("errors")
        if isinstance(errors, list):
            parts.extend(str(e) for e in errors)
        elif isinstance(errors, dict):
            parts.extend(f"{k}: {v}" for k, v in errors.items())
        elif isinstance(errors, str):
            parts.append(errors)
        if err.get("code") is not None:
            parts.append(f"code {err['code']}")
        return "; ".join(p for p in parts if p)[:300]
    return ""
