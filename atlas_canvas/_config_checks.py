"""Value checks shared by config validation and config editing.

A value ``mom atlas config add-http-adapter`` (or the Jupyter form) accepts is exactly a value
the loader accepts, because both ask these functions. Each returns why a value is refused,
or ``None``; messages describe secret-bearing parts (a header value, a ``baseUrl``'s
user-info, port, query, fragment) and never repeat them.

Example::

    base_url_problem("https://h/?token=abc")
    # 'expected a URL without a query string (?...); this one has a query of 9 characters'
    redact_url("https://u:pw@h/x?token=abc")   # 'https://***@h/x?***'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._secrets import Template

__all__ = [
    "ADAPTER_NAME_RE",
    "adapter_name_problem",
    "base_url_problem",
    "chars",
    "header_name_problem",
    "header_value_problem",
    "redact_url",
]


#: An adapter name becomes a URL path segment: keep it to a safe alphabet.
ADAPTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# RFC 9110 token characters.
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def adapter_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an adapter name, or ``None`` if it can."""
    if not isinstance(name, str) or not name:
        return "expected a non-empty name"
    if name in (".", "..") or not ADAPTER_NAME_RE.match(name):
        return (
            "expected letters, digits, '-', '_' or '.', starting with a letter or digit "
            "(the name becomes a URL path segment)"
        )
    return None


def base_url_problem(url: object) -> str | None:
    """Why ``url`` cannot be an adapter ``baseUrl``, or ``None`` if it can.

    The answer describes the wrong part (which part, how long) and never repeats it: a
    pasted URL may carry a token in its user-info, port, query or fragment.
    """
    if not isinstance(url, str) or not url:
        return "expected an http:// or https:// URL"
    if url != url.strip() or _CONTROL_RE.search(url) or " " in url or "\\" in url:
        return "expected a URL without spaces, backslashes or control characters"
    parts = _split_url(url)
    if parts.userinfo is not None:
        return (
            "expected a URL without user:password@ (put credentials in a header); "
            f"this one has a user part of {chars(parts.userinfo)}"
        )
    try:
        split = urlsplit(url)
    except ValueError:
        # urlsplit's own message may quote the host: describe instead.
        return "expected a valid URL (check the host and the brackets around an IPv6 address)"
    if parts.port is not None and not parts.port.isdigit():
        return (
            "expected a numeric port after the host; "
            f"this one has a port part of {chars(parts.port)} that is not a number"
        )
    try:
        split.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return "expected a port from 0 to 65535"
    if split.scheme.lower() not in ("http", "https"):
        return "expected an http:// or https:// URL"
    if not split.hostname:
        return "expected a URL with a host, like https://api.example.com"
    if parts.query is not None:
        return (
            "expected a URL without a query string (?...); "
            f"this one has a query of {chars(parts.query)}"
        )
    if parts.fragment is not None:
        return (
            "expected a URL without a fragment (#...); "
            f"this one has a fragment of {chars(parts.fragment)}"
        )
    return None


def chars(text: str) -> str:
    """``'1 character'`` / ``'N characters'``: the length of ``text`` for a message."""
    return "1 character" if len(text) == 1 else f"{len(text)} characters"


@dataclass(frozen=True)
class _URLParts:
    """A URL cut into the pieces messages may show and those they may only describe."""

    scheme: str  # with '://', or '' when there is none
    userinfo: str | None
    host: str
    port: str | None
    path: str
    query: str | None
    fragment: str | None


def _split_url(url: str) -> _URLParts:
    # By hand, not urlsplit: this must work (and never raise) on any text.
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    slash = rest.find("/")
    authority, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    userinfo: str | None = None
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
    host, port = authority, None
    colon = authority.rfind(":")
    if colon >= 0 and "]" not in authority[colon:]:  # not a colon inside [IPv6]
        host, port = authority[:colon], authority[colon + 1 :]
    return _URLParts(
        scheme=scheme + sep,
        userinfo=userinfo,
        host=host,
        port=port,
        path=path,
        query=query if qmark else None,
        fragment=fragment if hash_ else None,
    )


def redact_url(url: str) -> str:
    """``url`` for a message: the scheme, host and path as they are, and ``***`` for the
    parts that may carry a secret (user-info, a port that is not a number, the query and the
    fragment).

    Example::

        redact_url("https://u:pw@h/x?token=abc")   # 'https://***@h/x?***'
    """
    parts = _split_url(url)
    out = parts.scheme
    if parts.userinfo is not None:
        out += "***@"
    out += parts.host
    if parts.port is not None:
        out += ":" + (parts.port if parts.port.isdigit() else "***")
    out += parts.path
    if parts.query is not None:
        out += "?***"
    if parts.fragment is not None:
        out += "#***"
    return out


def header_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an HTTP header name, or ``None`` if it can."""
    if not isinstance(name, str) or not name:
        return "expected a non-empty header name"
    if not _HEADER_NAME_RE.match(name):
        return "expected a header name made of letters, digits and !#$%&'*+-.^_`|~"
    return None


def header_value_problem(value: object) -> str | None:
    """Why ``value`` cannot be a header value (template text), or ``None``."""
    if not isinstance(value, str):
        return "expected a string (quote it)"
    if "\r" in value or "\n" in value:
        return "expected a single line (no CR/LF)"
    if _CONTROL_RE.search(value):
        return "expected no control characters"
    try:
        Template.parse(value)
    except ValueError as exc:
        return str(exc)
    return None
