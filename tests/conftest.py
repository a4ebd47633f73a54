"""Shared fixtures. Real servers bind 127.0.0.1 on a free port; nothing leaves loopback.

Every test starts from a clean environment: the variables that choose where requests go
(``ATLAS_URL``, ``ATLAS_CONFIG``, ``ATLAS_ACCESS_TOKEN``, ``ATLAS_CA_BUNDLE``), where the
store lives (``ATLAS_STORE``) and PagerDuty's (``PAGERDUTY_*``) are removed for the whole
session when they come from the developer's shell, and whatever a test sets in them is put
back when it ends. A test that needs one sets it itself (``monkeypatch.setenv``, or a
fixture of its module).
"""

from __future__ import annotations

import gc
import os
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Files the tests read; everything lives inside the repository (tests/data/README.md).
DATA = Path(__file__).resolve().parent / "data"
#: The tests' own Atlas config in the shape of the public Atlas template.
TEMPLATE = DATA / "atlas.yml"
#: PagerDuty's REST OpenAPI file (source, commit and licence in tests/data/README.md).
PAGERDUTY_OPENAPI = DATA / "pagerduty-rest-openapiv3.json"

#: A distinctive secret planted by tests; it must never appear in any output.
PLANTED_SECRET = "pdSECRET-7f3a9c1e-DO-NOT-LEAK"

#: Variables no test may inherit from the shell that started pytest.
CLEAN_VARIABLES = (
    "ATLAS_URL",
    "ATLAS_CONFIG",
    "ATLAS_ACCESS_TOKEN",
    "ATLAS_STORE",
    "ATLAS_CA_BUNDLE",
)
CLEAN_PREFIXES = ("PAGERDUTY_",)


def is_clean_variable(name: str) -> bool:
    """Whether ``name`` is one of the variables every test starts without."""
    return name in CLEAN_VARIABLES or name.startswith(CLEAN_PREFIXES)


@dataclass(frozen=True)
class WarningException:
    """A warning let through for one test module only; every other warning fails its test
    (``filterwarnings = ["error"]`` in pyproject.toml)."""

    category: type[Warning]
    message: str  # a regular expression matched at the start of the warning's text
    reason: str

    @property
    def mark(self) -> pytest.MarkDecorator:
        name = self.category.__qualname__
        if self.category.__module__.startswith("_pytest"):
            name = f"pytest.{name}"  # the public name of pytest's own warnings
        elif self.category.__module__ != "builtins":
            name = f"{self.category.__module__}.{name}"
        return pytest.mark.filterwarnings(f"ignore:{self.message}:{name}")


#: Remove an entry once its module is fixed.
MODULE_WARNING_EXCEPTIONS: dict[str, list[WarningException]] = {
    "tests/test_fetch.py": [
        WarningException(
            ResourceWarning,
            "unclosed file <_io.BufferedReader",
            "the `server` fixture's `mom atlas run` stdout pipe (Popen(stdout=PIPE)) stays open",
        ),
        WarningException(
            pytest.PytestUnraisableExceptionWarning,
            "Exception ignored in. <_io.FileIO",
            "the same pipe, reported again when garbage-collected",
        ),
    ],
    "tests/integration/test_clients.py": [
        WarningException(
            ResourceWarning,
            "unclosed (<ssl.SSLSocket|<socket.socket|transport <_SelectorSocketTransport)",
            "connections to the https Atlas server are left open: the sync TLS clients"
            " (python-pagerduty, httpx) and the atlasProxyFetch calls of the CA-bundle test",
        ),
        WarningException(
            pytest.PytestUnraisableExceptionWarning,
            "Exception ignored in. (<ssl.SSLSocket|<socket.socket|<function _SelectorTransport)",
            "the same connections, reported again when garbage-collected",
        ),
    ],
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for exception in MODULE_WARNING_EXCEPTIONS.get(_module_of(item.nodeid), []):
            item.add_marker(exception.mark)


def _module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.fixture(scope="module", autouse=True)
def _collect_module_garbage(request: pytest.FixtureRequest) -> Iterator[None]:
    """Objects a module with warning exceptions leaked are collected while its exceptions
    apply; otherwise their warnings would surface in whichever later test runs the GC."""
    yield
    exceptions = MODULE_WARNING_EXCEPTIONS.get(_module_of(request.node.nodeid), [])
    if exceptions:
        with warnings.catch_warnings():
            for exception in exceptions:
                warnings.filterwarnings("ignore", exception.message, exception.category)
            gc.collect()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def _no_outside_environment() -> Iterator[None]:
    """The developer's ATLAS_*/PAGERDUTY_* values never reach a test (nor its subprocesses).

    Session-wide, so that module-scoped fixtures which set these variables for their
    module's tests (a simulator and its config) are not undone before each test.
    """
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if is_clean_variable(n)]:
            mp.delenv(name)
        yield


@pytest.fixture(autouse=True)
def _clean_environment(_no_outside_environment: None) -> Iterator[None]:
    """What a test (or its function-scoped fixtures) sets in these variables ends with it."""
    before = {n: v for n, v in os.environ.items() if is_clean_variable(n)}
    yield
    for name in [n for n in os.environ if is_clean_variable(n) and n not in before]:
        del os.environ[name]
    os.environ.update(before)


@pytest.fixture
def planted_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("PAGERDUTY_ACCOUNT_TOKEN", PLANTED_SECRET)
    yield PLANTED_SECRET


@pytest.fixture
def template_path() -> Path:
    """``tests/data/atlas.yml``: the tests' Atlas config (read it; copy it to edit it)."""
    return TEMPLATE
