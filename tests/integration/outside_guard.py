"""pytest plugin: fail the run if any file outside the checkout under test is opened.

Loaded by ``tests/integration/test_self_contained.py`` into a pytest run inside a fresh
clone (``-p tests.integration.outside_guard``). ``ATLAS_TEST_FORBIDDEN`` lists directories,
separated by ``os.pathsep``, that the run must not read from (the original checkout and
whatever lies beside it, such as a ``shared`` folder); ``ATLAS_TEST_ALLOWED`` lists
directories inside those that may be read (the virtualenv whose Python runs the tests). An
audit hook sees every ``open`` (module imports included), refuses it with an ``OSError``
naming the path, and the session fails at the end even if the code under test caught it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

_FORBIDDEN: tuple[str, ...] = ()
_ALLOWED: tuple[str, ...] = ()
_SEEN: list[str] = []


def _dirs(variable: str) -> tuple[str, ...]:
    value = os.environ.get(variable, "")
    dirs = [p for p in value.split(os.pathsep) if p]
    # Both spellings, in case a directory is reached through a symbolic link.
    forms = {os.path.abspath(p) for p in dirs} | {str(Path(p).resolve()) for p in dirs}
    return tuple(f.rstrip(os.sep) + os.sep for f in sorted(forms))


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _FORBIDDEN:
        return
    target = args[0]
    if not isinstance(target, (str, bytes, os.PathLike)):
        return  # a file descriptor
    path = os.path.abspath(os.fsdecode(target))
    if path.startswith(_FORBIDDEN) and not path.startswith(_ALLOWED):
        _SEEN.append(path)
        raise OSError(f"self-contained check: the tests opened {path}, outside the clone")


def pytest_configure(config: pytest.Config) -> None:
    global _FORBIDDEN, _ALLOWED
    _FORBIDDEN = _dirs("ATLAS_TEST_FORBIDDEN")
    _ALLOWED = _dirs("ATLAS_TEST_ALLOWED")
    if not _FORBIDDEN:
        raise pytest.UsageError(
            "outside_guard: set ATLAS_TEST_FORBIDDEN to the directories to guard"
        )
    sys.addaudithook(_audit)  # audit hooks cannot be removed; the run is a subprocess


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SEEN:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\noutside_guard: files opened outside the clone:", *sorted(set(_SEEN)), sep="\n  ")
