"""Fixtures for the simulator tests: a small account with a frozen clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from atlas_canvas.simulator import SimulatorConfig, SimulatorWsgiApp, create_wsgi_app

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
TOKEN = "test-token"
READ_ONLY = "test-ro-token"
USER_TOKEN = "test-user-token"
AUTH = {"Authorization": f"Token token={TOKEN}"}


def make_config(**overrides: object) -> SimulatorConfig:
    values: dict[str, object] = {
        "seed": 11,
        "incidents": 1500,
        "token": TOKEN,
        "read_only_token": READ_ONLY,
        "user_token": USER_TOKEN,
        "now": NOW,
        "rate_limit_per_min": 100_000,
    }
    values.update(overrides)
    return SimulatorConfig(**values)  # type: ignore[arg-type]


def client_for(app: SimulatorWsgiApp) -> httpx.Client:
    return httpx.Client(
        transport=httpx.WSGITransport(app=app), base_url="https://api.pagerduty.com", headers=AUTH
    )


@pytest.fixture(scope="module")
def ro_app() -> SimulatorWsgiApp:
    """Shared by read-only tests of a module: never write through it."""
    return create_wsgi_app(make_config())


@pytest.fixture
def ro_api(ro_app: SimulatorWsgiApp) -> Iterator[httpx.Client]:
    with client_for(ro_app) as c:
        yield c


@pytest.fixture
def app() -> SimulatorWsgiApp:
    """A fresh account per test, for tests that write."""
    return create_wsgi_app(make_config(incidents=400))


@pytest.fixture
def api(app: SimulatorWsgiApp) -> Iterator[httpx.Client]:
    with client_for(app) as c:
        yield c


def from_header(app: SimulatorWsgiApp) -> dict[str, str]:
    return {"From": app.simulator.account.users[3].email}
