"""The error tree's wire form: ``{"error": {"code", "message", "hint", "field"}}``."""

from __future__ import annotations

import json

import pytest

from atlas_canvas import (
    AtlasError,
    ConfigError,
    MissingSecretError,
    NoMatchingInstanceError,
    UpstreamTimeoutError,
    UsageError,
)
from atlas_canvas._errors import error_from_body


def test_usage_error_carries_hint_and_field() -> None:
    err = UsageError("bad base URL 'ftp://h'", hint="use http(s)", field="baseUrl")
    assert err.to_dict() == {
        "error": {
            "code": "ATLAS_UsageError",
            "message": "bad base URL 'ftp://h' (use http(s))",
            "hint": "use http(s)",
            "field": "baseUrl",
        }
    }
    assert json.loads(err.to_json_bytes()) == err.to_dict()


def test_config_error_field_is_its_key_path_unless_named() -> None:
    err = ConfigError("got 'x'", file="a.yml", line=3, key_path="spec.baseUrl", hint="fix it")
    wire = err.to_dict()["error"]
    assert wire["field"] == "spec.baseUrl"
    assert wire["hint"] == "fix it"
    assert wire["message"] == "a.yml:3: spec.baseUrl: got 'x' (fix it)"
    assert ConfigError("m", key_path="spec.x", field="baseUrl").field == "baseUrl"
    assert ConfigError("config file not found", file="a.yml").to_dict()["error"]["field"] is None


@pytest.mark.parametrize(
    "err",
    [
        NoMatchingInstanceError("no adapter named 'x'"),
        UpstreamTimeoutError("slow"),
        MissingSecretError("PD_TOKEN", adapter="pd"),
        AtlasError("anything"),
    ],
)
def test_every_error_has_the_same_keys(err: AtlasError) -> None:
    wire = err.to_dict()["error"]
    assert set(wire) == {"code", "message", "hint", "field"}
    assert wire["code"] == err.code and wire["message"] == str(err)


def test_error_from_body_keeps_code_message_and_field() -> None:
    body = UsageError("x", field="name").to_json_bytes()
    assert error_from_body(400, body) is None  # usage errors are not a server's answer
    body = json.dumps(
        {"error": {"code": "API_NoMatchingInstanceError", "message": "m (h)", "field": "name"}}
    ).encode()
    err = error_from_body(404, body)
    assert isinstance(err, NoMatchingInstanceError)
    assert str(err) == "m (h)" and err.field == "name"
    secret = MissingSecretError("PD_TOKEN").to_json_bytes()
    rebuilt = error_from_body(500, secret)
    assert isinstance(rebuilt, ConfigError) and "PD_TOKEN" in str(rebuilt)
    assert error_from_body(500, b"not json") is None
