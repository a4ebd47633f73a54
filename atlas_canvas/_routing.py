"""The routing core: from ``/v1/apis/http/<adapter>/<path>`` to an upstream request.

This module is pure logic, free of any web framework, so the three front doors (the
in-process :mod:`~atlas_canvas._transport`, the standalone :mod:`~atlas_canvas._server` and
the Jupyter server extension) share it and the server stack can change by measurement.

Example::

    router = Router(load_config("atlas.yml"))
    route = match_route("/v1/apis/http/pagerduty/incidents")     # Route(kind="proxy", ...)
    up = router.prepare("GET", "/v1/apis/http/pagerduty/incidents",
                        "statuses[]=triggered", [("Accept", "application/json")])
    up.url        # 'https://api.pagerduty.com/incidents?statuses[]=triggered'
    up.headers    # caller's end-to-end headers + the adapter's (secrets resolved now)

URL safety (the upstream URL never leaves the adapter's scheme, host, port and base path).
The path after the adapter name is checked **raw, still percent-encoded**, and refused with
:class:`BadPathError` (400) when it holds:

* a dot segment (``.``/``..``) in any encoding: ``%2e``, ``%2E``, double-encoded ``%252e``
  (each segment is decoded up to three times and every level is checked, because some
  upstreams and intermediaries decode twice); also ``..;x`` (Tomcat-style path parameters)
  and segments made only of dots and spaces (``...``, ``.. ``);
* an empty segment (``//``) anywhere but a final trailing slash;
* an encoded slash or backslash at any decoding level (``%2f``, ``%5c``, ``%252f``): an
  encoded slash is decoded into a separator by many servers, so its meaning is ambiguous;
* a control character (``%00``-``%1f``, ``%7f``, raw CR/LF/TAB) at any decoding level;
* bytes that are not strict UTF-8 at any decoding level: every overlong form (``%C0%AE``,
  ``%E0%80%AE``, ``%F0%80%80%AE`` are all ``.`` to a lax decoder), surrogates
  (``%ED%A0%80``), truncated sequences, bytes past U+10FFFF;
* a segment whose Unicode compatibility normalisation (NFKC), at any decoding level, is a
  dot segment or holds a separator or control character: fullwidth ``U+FF0E``/``U+FF0F``/
  ``U+FF3C``, the dot leaders ``U+2024``-``U+2026``, ``U+FE52``, ``U+FE68``, ``U+2100``
  (a/c), ...; the NFKC form is decoded further too (fullwidth ``%`` is ``%``);
* a raw character outside RFC 3986 ``pchar`` (space, ``\\``, ``"``, ``<``, ``>``, ``{``,
  ``|``, ``#``, non-ASCII, ...), a raw ``@``, or a malformed ``%`` escape;
* a first segment that looks like a URL scheme (``http:``, ``javascript:``), i.e. an
  absolute URL smuggled into the path.

Legitimate escapes (``%20``, ``%2B``, ``%C3%A9``, ``%40``) and ``:`` inside segments
(``users/:id``) pass through unchanged. The query string is passed byte-for-byte (repeated
keys such as ``statuses[]=a&statuses[]=b`` intact); only control characters, spaces and
``#`` are refused there. As a last line of defence the joined URL is parsed again and
compared with the base URL (scheme, host, port, path prefix).

Header policy (:func:`upstream_headers`): the caller's end-to-end headers are forwarded
(``Accept``, ``Content-Type``, ``From``, ``User-Agent``, ``Authorization`` ...) except
``Atlas-Accesstoken``, ``Cookie``, ``Host``, ``Content-Length`` (the sender recomputes it),
``Expect`` and hop-by-hop headers (``Connection``, ``Keep-Alive``, ``Proxy-*``, ``TE``,
``Trailer(s)``, ``Transfer-Encoding``, ``Upgrade`` and any header named in ``Connection``).
The adapter's headers are then added and **win** (case-insensitive) over the caller's.
Secrets (``${{ VAR }}``) are resolved at that moment from the process environment.
Responses lose their hop-by-hop headers (:func:`downstream_headers`).

Methods: any token method is forwarded except ``TRACE``/``TRACK`` (the upstream would echo
the request back, adapter secrets included) and ``CONNECT`` (a tunnel), refused with 405.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes, urlsplit

from ._config import Adapter, AtlasConfig, load_config
from ._errors import (
    BadPathError,
    ConfigError,
    MethodNotAllowedError,
    RouteNotFoundError,
    UnsupportedAdapterError,
    UsageError,
)

__all__ = [
    "HEALTH_PATH",
    "HOP_BY_HOP",
    "PROXY_PREFIX",
    "LocalAnswer",
    "Route",
    "Router",
    "UpstreamRequest",
    "adapter_path",
    "build_upstream_url",
    "downstream_headers",
    "match_route",
    "upstream_headers",
    "validate_proxy_path",
    "validate_query",
]

PROXY_PREFIX = "/v1/apis/http"
HEALTH_PATH = "/healthcheck"

#: Hop-by-hop headers (RFC 9110 §7.6.1 plus the usual legacy ones): never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)

# Request headers that never go upstream besides the hop-by-hop ones. Content-Length is
# recomputed by the sender from the body it actually sends; Expect is answered by us.
_NEVER_UPSTREAM = HOP_BY_HOP | {"host", "cookie", "atlas-accesstoken", "content-length", "expect"}

# RFC 3986 pchar without "%" (checked separately) and without "@" (refused on purpose).
_PCHAR_RAW = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:"
)
_HEX = frozenset("0123456789abcdefABCDEF")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_ADAPTER_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_CONTROL_BYTES = frozenset(range(0x20)) | {0x7F}
_MAX_DECODE_LEVELS = 3

Method = str


@dataclass(frozen=True)
class Route:
    """What a request path asks for: ``health``, ``list`` (the adapters) or ``proxy``."""

    kind: Literal["health", "list", "proxy"]
    adapter: str = ""
    rest: str = ""  # raw (still encoded) path after the adapter name: "", "/", "/a/b"


def match_route(raw_path: str) -> Route:
    """Classify a raw request path (no query string).

    Raises :class:`RouteNotFoundError` for paths outside the interface and
    :class:`BadPathError` for a malformed adapter segment.

    Example::

        match_route("/v1/apis/http/pagerduty/incidents")
        # Route(kind='proxy', adapter='pagerduty', rest='/incidents')
    """
    if raw_path == HEALTH_PATH:
        return Route("health")
    if raw_path in (PROXY_PREFIX, PROXY_PREFIX + "/"):
        return Route("list")
    prefix = PROXY_PREFIX + "/"
    if not raw_path.startswith(prefix):
        raise RouteNotFoundError(
            "no such route",
            hint=f"proxy paths look like {PROXY_PREFIX}/<adapter>/<path>; "
            f"GET {PROXY_PREFIX} lists the adapters, GET {HEALTH_PATH} checks health",
        )
    after = raw_path[len(prefix) :]
    adapter, slash, rest = after.partition("/")
    if not _ADAPTER_SEGMENT.match(adapter) or adapter in (".", ".."):
        raise BadPathError(
            "the adapter name in the path is not valid",
            hint="use the adapter's name as written in the config, "
            "e.g. /v1/apis/http/pagerduty/incidents",
        )
    return Route("proxy", adapter=adapter, rest=slash + rest)


def adapter_path(adapter: str, rest: str = "") -> str:
    """The Atlas path of ``rest`` (relative to the adapter's base URL) through ``adapter``.

    Every ``/v1/apis/http/...`` path the package sends is built here, from :data:`PROXY_PREFIX`.
    ``rest`` may start with ``/`` or not and may carry a query string; it is not re-encoded
    (the routing core checks it when the request arrives).

    Example::

        adapter_path("pagerduty", "incidents")    # '/v1/apis/http/pagerduty/incidents'
        adapter_path("pagerduty", "/users/P1")    # '/v1/apis/http/pagerduty/users/P1'
    """
    if not isinstance(adapter, str) or not _ADAPTER_SEGMENT.match(adapter):
        raise UsageError(
            f"bad adapter name {adapter!r}",
            hint="use the adapter's name as written in the config, e.g. adapter='pagerduty'",
        )
    # Always a slash after the name: ``rest=""`` is the adapter's base URL itself.
    return f"{PROXY_PREFIX}/{adapter}/{rest.lstrip('/')}"


def _bad(reason: str) -> BadPathError:
    return BadPathError(
        f"refused path: {reason}",
        hint="the path after the adapter name must be a plain relative API path such as "
        "/incidents or /users/P123; it can never leave the adapter's base URL",
    )


def _check_level(level: bytes, index: int, decoded: bool) -> bytes | None:
    """Check one decoding level of a segment; return its NFKC form if that differs.

    ``decoded`` is false for the raw segment (ASCII, checked character by character by
    :func:`validate_proxy_path`). Returns the UTF-8 bytes of the NFKC normalisation when it
    differs from ``level``, so the caller checks that form and decodes it further too.
    """
    if decoded:
        if b"/" in level:
            raise _bad(f"segment {index} holds an encoded slash (%2F)")
        if b"\\" in level:
            raise _bad(f"segment {index} holds an encoded backslash (%5C)")
        if not _CONTROL_BYTES.isdisjoint(level):
            raise _bad(f"segment {index} holds an encoded control character")
    _check_dots(level, index)
    if level.isascii():
        return None
    try:
        text = level.decode("utf-8")  # strict: overlongs, surrogates, truncation all fail
    except UnicodeDecodeError:
        # %C0%AE, %E0%80%AE and %F0%80%80%AE are all '.' to a lax decoder: a classic
        # traversal. Python's strict decoder refuses every overlong, surrogate (%ED%A0%80),
        # truncated or out-of-range sequence, so no lax reading of these bytes is reachable.
        raise _bad(f"segment {index} holds an overlong or invalid UTF-8 sequence") from None
    folded = unicodedata.normalize("NFKC", text)
    if folded == text:
        return None
    # Compatibility forms (fullwidth U+FF0E U+FF0F U+FF3C, one-dot leader U+2024...) become
    # '.', '/' or '\\' for an upstream that normalises (many do, e.g. for IDN-like paths).
    if "/" in folded or "\\" in folded:
        raise _bad(f"segment {index} holds a character that NFKC turns into a separator")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in folded):
        raise _bad(f"segment {index} holds a character that NFKC turns into a control character")
    out = folded.encode("utf-8")
    try:
        _check_dots(out, index)
    except BadPathError:
        raise _bad(f"segment {index} is a dot segment after NFKC normalisation") from None
    return out


def _check_dots(level: bytes, index: int) -> None:
    if level and not level.strip(b". "):
        raise _bad(f"segment {index} is made only of dots or spaces (a dot segment)")
    if level.split(b";", 1)[0] in (b".", b".."):
        raise _bad(f"segment {index} is a dot segment ('.' or '..' in some encoding)")


def _check_decoded(segment: str, index: int) -> None:
    """Check one raw segment and every form an upstream could read it as.

    The forms are the raw segment, up to ``_MAX_DECODE_LEVELS`` percent-decodings of it, and
    the NFKC normalisation of each of those (which is decoded further too: fullwidth
    percent U+FF05 is '%', so fullwidth ``%2e`` reads as ``%2e``, then ``.``).
    """
    if "%" not in segment:
        # Plain ASCII with nothing to decode (most API paths): only the raw level exists.
        _check_dots(segment.encode("ascii"), index)
        return
    frontier = [segment.encode("ascii")]
    seen: set[bytes] = set()
    for depth in range(_MAX_DECODE_LEVELS + 1):
        following: list[bytes] = []
        for level in frontier:
            if level in seen:
                continue
            seen.add(level)
            views = [level]
            folded = _check_level(level, index, decoded=depth > 0)
            if folded is not None:
                views.append(folded)
            for view in views:
                if b"%" in view:
                    decoded = unquote_to_bytes(view)
                    if decoded != view:
                        following.append(decoded)
        if not following:
            return
        frontier = following


def validate_proxy_path(rest: str) -> None:
    """Refuse (``BadPathError``) a raw path that could leave the adapter's base URL.

    ``rest`` is what follows the adapter name: ``""``, ``"/"`` or ``"/a/b"``, still
    percent-encoded exactly as received. See the module docstring for the rules.
    """
    if not rest:
        return
    if rest[0] != "/":
        raise _bad("the path must start with '/'")
    segments = rest[1:].split("/")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        if not seg:
            if i == last:
                continue  # a trailing slash is legitimate: /v1/apis/http/linear/
            raise _bad("empty path segment ('//')")
        for j, ch in enumerate(seg):
            if ch in _PCHAR_RAW:
                continue
            if ch == "%":
                if seg[j + 1 : j + 2] in _HEX and seg[j + 2 : j + 3] in _HEX:
                    continue
                raise _bad("malformed percent-encoding (expected %XX with two hex digits)")
            if ch == "@":
                raise _bad("'@' is not allowed raw in the path (percent-encode it as %40)")
            if ch == "\\":
                raise _bad("backslash in the path")
            if ch in "\r\n" or ord(ch) < 0x20 or ord(ch) == 0x7F:
                raise _bad("control character in the path")
            raise _bad(f"character {ch!a} is not allowed raw in a path (percent-encode it)")
        if i == 0 and _SCHEME_LIKE.match(seg):
            raise _bad("the path looks like an absolute URL (scheme:...)")
        _check_decoded(seg, i + 1)


def validate_query(query: str) -> None:
    """Refuse a query string holding control characters, spaces or ``#``."""
    for ch in query:
        o = ord(ch)
        if o <= 0x20 or o == 0x7F or ch == "#" or o > 0x7E:
            raise BadPathError(
                "refused query string: control character, space, '#' or non-ASCII",
                hint="percent-encode the query values",
            )


@dataclass(frozen=True)
class _Base:
    scheme: str
    netloc: str
    hostname: str
    port: int | None
    path: str  # without trailing slash


_BASE_CACHE: dict[str, _Base] = {}


def _parse_base(base_url: str) -> _Base:
    base = _BASE_CACHE.get(base_url)
    if base is None:
        parts = urlsplit(base_url)
        base = _Base(
            scheme=parts.scheme.lower(),
            netloc=parts.netloc,
            hostname=(parts.hostname or "").lower(),
            port=parts.port,
            path=parts.path.rstrip("/"),
        )
        if len(_BASE_CACHE) < 1024:
            _BASE_CACHE[base_url] = base
    return base


def build_upstream_url(base_url: str, rest: str, query: str = "") -> str:
    """Join ``base_url`` and the validated raw ``rest``; append ``?query`` unchanged.

    Raises :class:`BadPathError` if ``rest`` is unsafe or the joined URL would not stay
    under the base URL.

    Example::

        build_upstream_url("https://gitlab.com/api/v4", "/users/:id/projects", "a=1&a=2")
        # 'https://gitlab.com/api/v4/users/:id/projects?a=1&a=2'
    """
    validate_proxy_path(rest)
    if query:
        validate_query(query)
    base = _parse_base(base_url)
    url = f"{base.scheme}://{base.netloc}{base.path}{rest}"
    if query:
        url = f"{url}?{query}"
    # Defence in depth: the joined URL must parse back to the same origin and stay under
    # the base path, whatever the checks above might have missed.
    joined = urlsplit(url)
    try:
        port = joined.port
    except ValueError:
        raise _bad("the joined URL has an invalid port") from None
    if (
        joined.scheme.lower() != base.scheme
        or joined.netloc != base.netloc
        or (joined.hostname or "").lower() != base.hostname
        or port != base.port
        or joined.fragment
        or not (joined.path == base.path or joined.path.startswith(base.path + "/"))
    ):
        raise _bad("the joined URL would leave the adapter's base URL")
    return url


def upstream_headers(
    caller: Iterable[tuple[str, str]], adapter_headers: Iterable[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The headers sent upstream: the caller's end-to-end ones, then the adapter's (which win).

    Example::

        upstream_headers([("Accept", "application/json"), ("Cookie", "x"),
                          ("authorization", "mine")], [("Authorization", "Token token=s")])
        # [('Accept', 'application/json'), ('Authorization', 'Token token=s')]
    """
    caller = list(caller)
    adapter = list(adapter_headers)
    dropped = set(_NEVER_UPSTREAM)
    for name, value in caller:
        if name.lower() == "connection":
            dropped.update(t.strip().lower() for t in value.split(",") if t.strip())
    dropped.update(name.lower() for name, _ in adapter)
    out = [(n, v) for n, v in caller if n.lower() not in dropped]
    out.extend(adapter)
    return out


def downstream_headers(upstream: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream response headers without hop-by-hop ones (and those named in Connection)."""
    headers = list(upstream)
    dropped = set(HOP_BY_HOP)
    for name, value in headers:
        if name.lower() == "connection":
            dropped.update(t.strip().lower() for t in value.split(",") if t.strip())
    return [(n, v) for n, v in headers if n.lower() not in dropped]


@dataclass(frozen=True, repr=False)
class UpstreamRequest:
    """A request ready to send upstream. Its ``repr`` shows header *names* only."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    adapter: str
    path: str  # the raw path after the adapter name (for logs; no query)

    def __repr__(self) -> str:
        names = ", ".join(n for n, _ in self.headers)
        return f"UpstreamRequest({self.method} {self.url} headers=[{names}])"


@dataclass(frozen=True)
class LocalAnswer:
    """An answer a front door gives without any upstream (see :meth:`Router.answer_local`)."""

    status: int
    body: bytes
    content_type: str = "application/json"


_HEALTH_BODY = b'{"status":"ok"}'
_REFUSED_METHODS = frozenset({"TRACE", "CONNECT", "TRACK"})
_TOKEN_METHOD = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _stamp(path: Path) -> tuple[int, int] | None:
    # Size too: two writes inside one mtime tick (coarse filesystems) still differ in size.
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


class Router:
    """Routes proxy requests with one config, shared by every front door.

    ``config`` is a loaded :class:`AtlasConfig`; or give ``config_path`` and the file is
    loaded on first use (and again by :meth:`reload`, or automatically when its mtime or
    size changes if ``auto_reload`` is true: the package's one config-reload mechanism).
    ``environ`` (default ``os.environ``, read at each request) is where ``${{ VAR }}``
    secrets come from.

    Example::

        router = Router(config_path="atlas.yml")
        up = router.prepare("GET", "/v1/apis/http/pagerduty/incidents", "", [])
    """

    def __init__(
        self,
        config: AtlasConfig | None = None,
        *,
        config_path: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        auto_reload: bool = False,
        loader: Callable[[str | os.PathLike[str] | None], AtlasConfig] = load_config,
    ) -> None:
        if config is None and config_path is None:
            raise ValueError("Router needs a config or a config_path")
        self._config = config
        self._path = Path(config_path) if config_path is not None else None
        self._environ = environ
        self._auto_reload = auto_reload
        self._loader = loader
        self._mtime: tuple[int, int] | None = None  # (mtime_ns, size) of the loaded file
        self._active: dict[str, Adapter] = {}
        self._active_for: AtlasConfig | None = None

    @property
    def config_path(self) -> Path | None:
        return self._path if self._path is not None else getattr(self._config, "path", None)

    @property
    def config(self) -> AtlasConfig:
        """The current config (loaded on first use from ``config_path``)."""
        cfg = self._config
        if cfg is None:
            return self.reload()
        if self._auto_reload and self._path is not None and _stamp(self._path) != self._mtime:
            return self.reload()
        return cfg

    def reload(self) -> AtlasConfig:
        """Load the config file again; on error raise and keep the previous config."""
        if self._path is None:
            if self._config is None:  # pragma: no cover - guarded in __init__
                raise ConfigError("no config to reload")
            return self._config
        mtime = _stamp(self._path)
        cfg = self._loader(self._path)
        self._config = cfg
        self._mtime = mtime
        return cfg

    def set_config(self, config: AtlasConfig) -> None:
        """Swap in an already loaded config (e.g. after a reload done elsewhere)."""
        self._config = config

    def http_apis(self) -> list[dict[str, str]]:
        """``[{"kind", "name", "baseUrl"}]`` of the active HTTP adapters (no header values)."""
        return [
            {"kind": a.kind, "name": a.name, "baseUrl": a.base_url or ""}
            for a in self.config.http_adapters
        ]

    def answer_local(self, method: str, raw_path: str) -> LocalAnswer | None:
        """The one dispatcher of local answers, for all three front doors.

        ``GET``/``HEAD`` ``/healthcheck`` and ``/v1/apis/http`` are answered here; any other
        method on them is refused (405). ``None`` means "a proxy path: call
        :meth:`prepare`". Paths outside the interface raise :class:`RouteNotFoundError`.
        Authentication is the front door's job (everything but ``/healthcheck`` needs it).

        Example::

            router.answer_local("GET", "/healthcheck")  # LocalAnswer(200, b'{"status":"ok"}')
            router.answer_local("GET", "/v1/apis/http/pagerduty/incidents")  # None
        """
        route = match_route(raw_path)
        if route.kind == "proxy":
            return None
        if method not in ("GET", "HEAD"):
            where = HEALTH_PATH if route.kind == "health" else PROXY_PREFIX
            raise MethodNotAllowedError(f"{where} answers GET only")
        if route.kind == "health":
            return LocalAnswer(200, _HEALTH_BODY)
        # <, > and & escaped: inert even if a browser renders it (the Jupyter origin).
        text = json.dumps(self.http_apis())
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return LocalAnswer(200, text.encode())

    def adapter(self, name: str) -> Adapter:
        """The active HTTP adapter ``name`` (404 if unknown, 501 if of another kind)."""
        cfg = self.config
        # AtlasConfig.active rebuilds a dict per call: cache it per config object.
        if self._active_for is not cfg:
            self._active = cfg.active
            self._active_for = cfg
        adapter = self._active.get(name)
        if adapter is None:
            adapter = cfg.get(name)  # raises NoMatchingInstanceError listing the known names
        if adapter.kind != "HTTP" or not adapter.base_url:
            raise UnsupportedAdapterError(
                f"adapter '{name}' is of kind {adapter.kind}, which this Atlas does not proxy",
                hint="only HTTP adapters are served under /v1/apis/http/",
            )
        return adapter

    def prepare(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        *,
        route: Route | None = None,
    ) -> UpstreamRequest:
        """Build the upstream request for a proxy path (raw, still percent-encoded).

        Raises :class:`BadPathError`, :class:`NoMatchingInstanceError`,
        :class:`UnsupportedAdapterError` or :class:`MissingSecretError`.
        """
        if route is None:
            route = match_route(raw_path)
        if route.kind != "proxy":
            raise RouteNotFoundError(f"{raw_path} is not a proxy path")
        if not _TOKEN_METHOD.match(method):
            raise MethodNotAllowedError("invalid HTTP method")
        if method.upper() in _REFUSED_METHODS:
            # TRACE makes the upstream echo the request, adapter secrets included; CONNECT
            # asks for a tunnel. Neither is an API call.
            raise MethodNotAllowedError(
                f"{method.upper()} is not proxied",
                hint="use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS",
            )
        adapter = self.adapter(route.adapter)
        assert adapter.base_url is not None  # checked by self.adapter()
        url = build_upstream_url(adapter.base_url, route.rest, query)
        resolved = adapter.resolved_headers(self._environ)
        for name, value in resolved:
            if "\r" in value or "\n" in value or "\x00" in value:
                raise ConfigError(
                    f"header {name} of adapter '{adapter.name}' resolves to a value with a "
                    "line break or NUL",
                    hint="check the environment variables it uses "
                    f"({', '.join(adapter.secret_variables) or 'none'}) for a trailing newline",
                )
        return UpstreamRequest(
            method=method,
            url=url,
            headers=upstream_headers(headers, resolved),
            adapter=adapter.name,
            path=route.rest,
        )
