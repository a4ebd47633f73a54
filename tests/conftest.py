"""Shared fixtures. Real servers bind 127.0.0.1 on a free port; nothing leaves loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TEMPLATE = SHARED / "reference" / "atlas-template.yml"

#: A distinctive secret planted by tests; it must never appear in any output.
PLANTED_SECRET = "pdSECRET-7f3a9c1e-DO-NOT-LEAK"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def planted_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", PLANTED_SECRET)
    yield PLANTED_SECRET


@pytest.fixture
def template_path() -> Path:
    assert TEMPLATE.exists(), f"shared reference missing: {TEMPLATE}"
    return TEMPLATE
