"""A real IPython ``InteractiveShell`` for the magics tests, and a cell runner that checks
no output carries the planted secret.

Example::

    with atlas_shell() as ip:
        frame, error, printed = run(ip, "%atlas incidents --since 30d")
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from tests.conftest import PLANTED_SECRET


@contextmanager
def atlas_shell(*, load_ext: bool = True, progress_off: bool = True) -> Iterator[InteractiveShell]:
    """The process's shell instance, with ``%load_ext atlas_canvas`` run (unless ``load_ext``
    is false: the code under test loads it) and progress bars off (unless ``progress_off`` is
    false); the extension is unloaded and the instance cleared afterwards."""
    cfg = Config()
    cfg.HistoryAccessor.enabled = False  # no sqlite history files in tests
    ip = InteractiveShell.instance(config=cfg)
    ip.displayhook.flush = lambda: None  # type: ignore[method-assign]  # avoids a hang at exit
    try:
        if load_ext:
            ip.run_cell("%load_ext atlas_canvas")
            if progress_off:
                ip.run_cell("%config AtlasMagics.progress = False")
        yield ip
    finally:
        ip.run_cell("%unload_ext atlas_canvas")
        InteractiveShell.clear_instance()


def run(ip: InteractiveShell, code: str, *, outputs: bool = False) -> tuple[Any, Any, str]:
    """Run one cell: (its result, its exception, what it printed). With ``outputs`` the text
    also holds its rich outputs (as JSON). Fails the test if any of it holds the planted
    secret."""
    with capture_output() as cap:
        result = ip.run_cell(code)
    printed = cap.stdout + cap.stderr
    shown = printed + json.dumps([o.data for o in cap.outputs], default=str)
    assert PLANTED_SECRET not in shown
    return result.result, result.error_in_exec, shown if outputs else printed
