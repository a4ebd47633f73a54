"""The routing core: route matching, URL safety, header policy, Router (pure, no sockets)."""

from __future__ import annotations

import os
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from atlas_canvas._config import parse_config
from atlas_canvas._errors import (
    BadPathError,
    ConfigError,
    MissingSecretError,
    NoMatchingInstanceError,
    RouteNotFoundError,
    UnsupportedAdapterError,
)
from atlas_canvas._routing import (
    Router,
    build_upstream_url,
    downstream_headers,
    match_route,
    upstream_headers,
    validate_proxy_path,
)
from tests.conftest import PLANTED_SECRET
from tests.hostile_unicode import (
    LEGIT_UNICODE_SEGMENTS,
    enc,
    enc2,
    hostile_unicode_segments,
    nfkc_lookalikes,
)
from tests.proxy_fakes import HOSTILE_PATHS, PD_AUTH, config_yaml

BASE = "http://127.0.0.1:18001/base"
CANARY = "127.0.0.1:18002"


@pytest.fixture(autouse=True)
def _secret(planted_secret: str) -> None:
    """Every test runs with the planted secret set, so any leak would show it."""


def _router(**adapters: str) -> Router:
    adapters = adapters or {"pd": BASE}
    cfg = parse_config(config_yaml(adapters, headers={"pd": PD_AUTH}))
    return Router(cfg)


@pytest.mark.parametrize("target", HOSTILE_PATHS)
def test_hostile_paths_are_refused(target: str, planted_secret: str) -> None:
    raw = "/v1/apis/http/" + target.replace("{canary}", CANARY)
    path, _, query = raw.partition("?")
    with pytest.raises(BadPathError) as info:
        _router().prepare("GET", path, query, [])
    assert info.value.http_status == 400
    assert planted_secret not in str(info.value)


def test_there_are_at_least_40_hostile_paths() -> None:
    assert len(set(HOSTILE_PATHS)) >= 40


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        ("", BASE),
        ("/", BASE + "/"),
        ("/incidents", BASE + "/incidents"),
        ("/users/:id/projects", BASE + "/users/:id/projects"),
        ("/a%20b", BASE + "/a%20b"),
        ("/a%2Bb/a+b", BASE + "/a%2Bb/a+b"),
        ("/%C3%A9t%C3%A9", BASE + "/%C3%A9t%C3%A9"),
        ("/users/a%40b.com", BASE + "/users/a%40b.com"),
        ("/a.b/c..d/.hidden/x.", BASE + "/a.b/c..d/.hidden/x."),
        ("/a;b=c", BASE + "/a;b=c"),
        ("/~user", BASE + "/~user"),
        ("/a%2520b", BASE + "/a%2520b"),
        ("/v1/query:search", BASE + "/v1/query:search"),
        ("/a!$&'()*+,=", BASE + "/a!$&'()*+,="),
        ("/3.0/", BASE + "/3.0/"),
    ],
)
def test_legit_paths_pass_through_unchanged(rest: str, expected: str) -> None:
    assert build_upstream_url(BASE, rest) == expected


def test_base_url_trailing_slash_and_root_base() -> None:
    assert build_upstream_url("https://api.x.com/api/", "/users") == "https://api.x.com/api/users"
    assert build_upstream_url("https://api.x.com", "/users") == "https://api.x.com/users"
    assert build_upstream_url("https://api.x.com", "") == "https://api.x.com"
    assert build_upstream_url("https://api.x.com:8443/v4", "/a") == "https://api.x.com:8443/v4/a"


@pytest.mark.parametrize(
    "query",
    [
        "statuses[]=triggered&statuses[]=acknowledged",
        "statuses%5B%5D=a&statuses%5B%5D=b&statuses%5B%5D=a",
        "a=1&a=1&a=2&b=&c",
        "q=%C3%A9+x%20y&since=2026-01-01T00:00:00%2B01:00",
        "x=a/b?c:d@e",
    ],
)
def test_query_string_is_passed_byte_for_byte(query: str) -> None:
    up = _router().prepare("GET", "/v1/apis/http/pd/incidents", query, [])
    assert up.url == f"{BASE}/incidents?{query}"


@pytest.mark.parametrize("query", ["a=1\r\nX: y", "a=b c", "a=1#frag", "a=\x00", "a=é"])
def test_bad_query_strings_are_refused(query: str) -> None:
    with pytest.raises(BadPathError):
        _router().prepare("GET", "/v1/apis/http/pd/x", query, [])


def test_match_route() -> None:
    assert match_route("/healthcheck").kind == "health"
    assert match_route("/v1/apis/http").kind == "list"
    assert match_route("/v1/apis/http/").kind == "list"
    r = match_route("/v1/apis/http/pagerduty/incidents/P1")
    assert (r.kind, r.adapter, r.rest) == ("proxy", "pagerduty", "/incidents/P1")
    assert match_route("/v1/apis/http/linear").rest == ""
    for bad in ("/", "/v1/apis/httpx/pd", "/v1/apis/aws/x", "/healthcheck/", "/v1/apis/../apis"):
        with pytest.raises(RouteNotFoundError):
            match_route(bad)


def test_header_policy_adapter_wins_and_private_headers_dropped() -> None:
    caller = [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("From", "ops@example.com"),
        ("X-Custom", "1"),
        ("authorization", "Token token=caller"),
        ("AUTHORIZATION", "Token token=caller2"),
        ("Atlas-Accesstoken", "tok"),
        ("atlas-accesstoken", "tok2"),
        ("Cookie", "session=1"),
        ("Host", "evil.example"),
        ("Content-Length", "999"),
        ("Connection", "keep-alive, X-Custom-Hop"),
        ("X-Custom-Hop", "x"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic x"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X"),
        ("Transfer-Encoding", "chunked"),
        ("Upgrade", "websocket"),
        ("Expect", "100-continue"),
    ]
    out = upstream_headers(caller, [("Authorization", "Token token=adapter")])
    assert out == [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("From", "ops@example.com"),
        ("X-Custom", "1"),
        ("Authorization", "Token token=adapter"),
    ]


def test_caller_authorization_passes_when_adapter_sets_none() -> None:
    out = upstream_headers([("Authorization", "Bearer mine")], [("X-Api-Key", "k")])
    assert out == [("Authorization", "Bearer mine"), ("X-Api-Key", "k")]


def test_response_hop_by_hop_headers_removed() -> None:
    up = [
        ("Content-Type", "application/json"),
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "10"),
        ("Retry-After", "3"),
    ]
    assert downstream_headers(up) == [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Length", "10"),
        ("Retry-After", "3"),
    ]


def test_secrets_resolved_at_send_time_and_never_in_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = _router()
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", "first")
    assert ("Authorization", "Token token=first") in router.prepare(
        "GET", "/v1/apis/http/pd/x", "", []
    ).headers
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", PLANTED_SECRET)
    up = router.prepare("GET", "/v1/apis/http/pd/x", "", [("Accept", "*/*")])
    assert ("Authorization", f"Token token={PLANTED_SECRET}") in up.headers
    assert PLANTED_SECRET not in repr(up)
    assert "Authorization" in repr(up)


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGERDUTY_ACCOUNT_TOKEN", raising=False)
    with pytest.raises(MissingSecretError) as info:
        _router().prepare("GET", "/v1/apis/http/pd/x", "", [])
    assert info.value.http_status == 500
    assert "PAGERDUTY_ACCOUNT_TOKEN" in str(info.value)
    assert "'pd'" in str(info.value)


def test_secret_with_line_break_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", PLANTED_SECRET + "\n")
    with pytest.raises(ConfigError) as info:
        _router().prepare("GET", "/v1/apis/http/pd/x", "", [])
    assert "PAGERDUTY_ACCOUNT_TOKEN" in str(info.value)
    assert PLANTED_SECRET not in str(info.value)


def test_unknown_adapter_lists_known_names(planted_secret: str) -> None:
    router = _router(pd=BASE, github="https://api.github.com")
    with pytest.raises(NoMatchingInstanceError) as info:
        router.prepare("GET", "/v1/apis/http/nope/x", "", [])
    assert info.value.http_status == 404
    assert "github" in str(info.value) and "pd" in str(info.value)


def test_non_http_adapter_is_not_supported(planted_secret: str) -> None:
    text = config_yaml({"pd": BASE}).replace(
        "spec:\n  apiAdapters:\n",
        "spec:\n  apiAdapters:\n  - adapterRef:\n      apiVersion: moment.dev/adapters/v1alpha1\n"
        "      kind: Postgres\n      name: db\n",
    ) + (
        "---\napiVersion: moment.dev/adapters/v1alpha1\nkind: Postgres\nmetadata:\n  name: db\n"
        "spec:\n  profiles:\n  - name: main\n    databaseUrl: postgres://x\n"
    )
    router = Router(parse_config(text))
    with pytest.raises(UnsupportedAdapterError):
        router.prepare("GET", "/v1/apis/http/db/x", "", [])
    assert [a["name"] for a in router.http_apis()] == ["pd"]


def test_http_apis_lists_no_header_values(planted_secret: str) -> None:
    apis = _router().http_apis()
    assert apis == [{"kind": "HTTP", "name": "pd", "baseUrl": BASE}]
    assert "token" not in repr(apis).lower()


def test_router_auto_reload_and_failed_reload_keeps_old(tmp_path: Path) -> None:
    path = tmp_path / "atlas.yml"
    path.write_text(config_yaml({"pd": BASE}))
    router = Router(config_path=path, auto_reload=True)
    assert [a["name"] for a in router.http_apis()] == ["pd"]
    path.write_text(config_yaml({"pd": BASE, "gh": "https://api.github.com"}))
    future = time.time() + 5
    os.utime(path, (future, future))
    assert [a["name"] for a in router.http_apis()] == ["pd", "gh"]
    path.write_text("kind: Atlas\nspec: [\n")
    with pytest.raises(ConfigError):
        router.reload()
    # The failed reload kept the previous config.
    static = Router(config_path=path)
    with pytest.raises(ConfigError):
        static.http_apis()
    assert router._config is not None and len(router._config.http_adapters) == 2


def test_router_needs_a_config() -> None:
    with pytest.raises(ValueError):
        Router()


@pytest.mark.parametrize("method", ["TRACE", "trace", "TRACK", "CONNECT", "GE T", "GET\r\n"])
def test_echoing_tunnelling_and_malformed_methods_are_refused(method: str) -> None:
    from atlas_canvas._errors import MethodNotAllowedError

    with pytest.raises(MethodNotAllowedError) as info:
        _router().prepare(method, "/v1/apis/http/pd/x", "", [])
    assert info.value.http_status == 405


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_api_methods_are_forwarded_as_given(method: str) -> None:
    assert _router().prepare(method, "/v1/apis/http/pd/x", "", []).method == method


_ALPHABET = [*"abc./%25eEfF0ACc@:;\\?#~+ ", "%2e", "%2E", "%2f", "%5c", "%25", "%00", "%C0%AE"]


def _decoded_levels(path: str) -> list[str]:
    from urllib.parse import unquote

    levels = [path]
    for _ in range(4):
        nxt = unquote(levels[-1], errors="surrogateescape")
        if nxt == levels[-1]:
            break
        levels.append(nxt)
    return levels


def test_property_accepted_urls_never_leave_the_base() -> None:
    """Any raw path either is refused or yields a URL under the base, at every decoding level
    (a upstream that decodes once or twice more still cannot climb out of /base)."""
    import posixpath
    from urllib.parse import urlsplit

    from hypothesis import given, settings
    from hypothesis import strategies as st

    segment = st.lists(st.sampled_from(_ALPHABET), min_size=0, max_size=6).map("".join)
    paths = st.lists(segment, min_size=1, max_size=5).map(lambda segs: "/" + "/".join(segs))

    @settings(max_examples=1500, deadline=None)
    @given(paths, st.sampled_from(["", "a=1", "x=%2e%2e/..&y[]=2"]))
    def check(rest: str, query: str) -> None:
        try:
            url = build_upstream_url(BASE, rest, query)
        except BadPathError:
            return
        parts = urlsplit(url)
        assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", 18001)
        for level in _decoded_levels(parts.path):
            assert "\\" not in level
            normalized = posixpath.normpath(level)
            assert normalized == "/base" or normalized.startswith("/base/"), (rest, level)
            assert ".." not in level.split("/")

    check()


# --- UTF-8 and Unicode compatibility forms (issue 13, item 5) --------------------------------


@pytest.mark.parametrize("segment", hostile_unicode_segments())
def test_invalid_utf8_and_nfkc_lookalikes_are_refused(segment: str, planted_secret: str) -> None:
    for rest in (f"/{segment}", f"/a/{segment}/x", f"/{segment}/"):
        with pytest.raises(BadPathError) as info:
            _router().prepare("GET", f"/v1/apis/http/pd{rest}", "", [])
        assert info.value.http_status == 400
        assert info.value.code == "ATLAS_BadPathError"
        assert planted_secret not in str(info.value)


def test_nfkc_lookalikes_are_computed_over_all_of_unicode() -> None:
    """The table is computed, not hand-written: it holds the well-known forms and more."""
    found = nfkc_lookalikes()
    assert {"\uff0e", "\u2024", "\u2025", "\u2026", "\ufe52"} <= set(found["."])
    assert {"\uff0f", "\u2100"} <= set(found["/"])
    assert {"\uff3c", "\ufe68"} == set(found["\\"])
    assert {"\uff05", "\ufe6a"} == set(found["%"])
    assert len(found["."]) >= 20


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xc0\xae", "2-byte overlong"),
        (b"\xe0\x80\xae", "3-byte overlong"),
        (b"\xf0\x80\x80\xae", "4-byte overlong"),
        (b"\xed\xa0\x80", "surrogate"),
        (b"\xe6\x97", "truncated"),
    ],
)
def test_invalid_utf8_message_says_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(BadPathError, match="overlong or invalid UTF-8"):
        build_upstream_url(BASE, "/" + enc(data))
    with pytest.raises(BadPathError, match="overlong or invalid UTF-8"):
        build_upstream_url(BASE, "/" + enc2(data))  # once more decoded


@pytest.mark.parametrize("segment", LEGIT_UNICODE_SEGMENTS)
def test_legit_unicode_passes_through_unchanged(segment: str) -> None:
    assert build_upstream_url(BASE, f"/{segment}/x") == f"{BASE}/{segment}/x"


def _levels_strict(segment: str) -> list[str]:
    """Every percent-decoding level of ``segment`` (up to 3) as strict UTF-8 text; raises
    UnicodeDecodeError if a level is not valid UTF-8. Written apart from the router."""
    from urllib.parse import unquote_to_bytes

    levels = [segment]
    raw = segment.encode("ascii")
    for _ in range(3):
        nxt = unquote_to_bytes(raw)
        if nxt == raw:
            break
        levels.append(nxt.decode("utf-8"))
        raw = nxt
    return levels


_BYTE_PIECES = [
    b"\xc0",
    b"\xc1",
    b"\xae",
    b"\xaf",
    b"\x80",
    b"\xe0",
    b"\xed",
    b"\xa0",
    b"\xf0",
    b"\xf4",
    b"\x90",
    b"\xff",
    b".",
    b"/",
    b"\\",
    b"%",
    b"2",
    b"e",
    b"f",
    b"a",
    b" ",
    b";",
    "\uff0e".encode(),
    "\uff0f".encode(),
    "\uff05".encode(),
    "\u2025".encode(),
    "\u2100".encode(),
    "é".encode(),
]


def test_property_random_bytes_refused_or_safe_at_every_level() -> None:
    """Random byte strings, percent-encoded once or twice: the core either refuses them with
    BadPathError (never another exception) or every decoding level is strict UTF-8 whose NFKC
    form holds no separator and is no dot segment; invalid UTF-8 is always refused."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    segments = st.one_of(
        st.binary(min_size=1, max_size=10),
        st.lists(st.sampled_from(_BYTE_PIECES), min_size=1, max_size=6).map(b"".join),
    )

    @settings(max_examples=3000, deadline=None)
    @given(segments, st.sampled_from([enc, enc2]))
    def check(data: bytes, encode: Callable[[bytes], str]) -> None:
        rest = "/" + encode(data)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            with pytest.raises(BadPathError):
                validate_proxy_path(rest)
            return
        try:
            validate_proxy_path(rest)
        except BadPathError:
            return
        for level in _levels_strict(encode(data))[1:]:
            folded = unicodedata.normalize("NFKC", level)
            for form in (level, folded):
                assert "/" not in form and "\\" not in form, (data, form)
                assert form.strip(". ") != "" and form.split(";")[0] not in (".", ".."), form
                assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in form), form

    check()
