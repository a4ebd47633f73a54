"""Unit table for the credential stripping done before the routing core sees a request."""

from __future__ import annotations

import json

import pytest

from atlas_canvas.jupyter._handlers import _json, strip_jupyter_credentials


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("token=abc", ""),
        ("token=abc&limit=5", "limit=5"),
        ("limit=5&token=abc", "limit=5"),
        ("statuses[]=a&token=t&statuses[]=b", "statuses[]=a&statuses[]=b"),
        # Tornado decodes parameter names, so Jupyter reads these as `token` too.
        ("%74oken=abc&q=1", "q=1"),
        ("to%6Ben=abc", ""),
        ("_xsrf=2|abc&q=%20x", "q=%20x"),
        ("token&q=1", "q=1"),
        # Look-alikes are someone else's parameters and pass byte-for-byte.
        ("tokens=1&my_token=2&Token=3", "tokens=1&my_token=2&Token=3"),
        ("q=token%3Dabc", "q=token%3Dabc"),
    ],
)
def test_query(query: str, expected: str) -> None:
    assert strip_jupyter_credentials([], query)[1] == expected


def test_headers() -> None:
    headers = [
        ("Authorization", "token abc"),
        ("authorization", "Bearer abc"),
        ("Cookie", "username-127-0-0-1-8888=x; _xsrf=y"),
        ("X-XSRFToken", "y"),
        ("X-CSRFToken", "y"),
        ("Referer", "http://127.0.0.1:8888/lab?token=abc"),
        ("Origin", "http://127.0.0.1:8888"),
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("From", "oncall@example.com"),
        ("X-Request-Id", "r1"),
    ]
    kept, _ = strip_jupyter_credentials(headers, "")
    assert kept == [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("From", "oncall@example.com"),
        ("X-Request-Id", "r1"),
    ]


def test_json_is_inert_in_html() -> None:
    text = _json({"error": {"message": "no adapter named '</script><b>&'"}})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["error"]["message"] == "no adapter named '</script><b>&'"
