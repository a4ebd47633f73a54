"""pytest plugin for the notebook run: a seeded simulator with a frozen clock + Atlas config.

Loaded with ``-p tests.notebooks.plugin`` by ``tests/test_notebooks.py``. It starts before any
kernel, so nbval's kernels inherit ``ATLAS_CONFIG``, ``PAGERDUTY_ACCOUNT_TOKEN`` (the planted
secret) and ``PAGERDUTY_FROM`` from this process's environment.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.pagerduty.simenv import apply_env, simulator_env

_stack = ExitStack()


def pytest_configure(config: pytest.Config) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="atlas-nb-"))
    _stack.callback(shutil.rmtree, workdir, True)
    se = _stack.enter_context(simulator_env(workdir))
    _stack.callback(apply_env(se.env))


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()
