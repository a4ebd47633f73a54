"""A PagerDuty simulator on loopback plus an Atlas config pointing an adapter at it.

Used by the fetch/magics tests and by the notebook plugin (``tests/notebooks/plugin.py``).
The simulator's clock is frozen (``NOW``) and seeded, so every body is reproducible. Its token
is the planted secret: it must never show up in any output.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.atlas_configs import write_atlas_config
from tests.conftest import PLANTED_SECRET

NOW = dt.datetime(2026, 1, 5, tzinfo=dt.timezone.utc)
SEED = 7
INCIDENTS = 600
TOKEN_VARIABLE = "PAGERDUTY_ACCOUNT_TOKEN"


@dataclass
class SimEnv:
    base_url: str
    config_path: Path
    from_email: str
    env: dict[str, str]


def write_config(path: Path, base_url: str, variable: str = TOKEN_VARIABLE) -> Path:
    return write_atlas_config(
        path,
        {"pagerduty": base_url},
        {"pagerduty": [("Authorization", f"Token token=${{{{ {variable} }}}}")]},
        name="atlas-notebooks",
    )


@contextmanager
def simulator_env(
    workdir: Path,
    *,
    incidents: int = INCIDENTS,
    seed: int = SEED,
    now: dt.datetime = NOW,
    latency_ms: float = 0.0,
) -> Iterator[SimEnv]:
    """Start the simulator, write ``workdir/atlas.yml``; yield what a process needs to use it."""
    from atlas_canvas.simulator import SimulatorConfig, create_app, serve_in_thread

    app = create_app(
        SimulatorConfig(
            seed=seed, incidents=incidents, token=PLANTED_SECRET, now=now, latency_ms=latency_ms
        )
    )
    base_url, stop = serve_in_thread(app=app)
    try:
        from_email = app.simulator.account.users[0].email  # type: ignore[attr-defined]
        cfg = write_config(workdir / "atlas.yml", base_url)
        env = {
            "ATLAS_CONFIG": str(cfg),
            TOKEN_VARIABLE: PLANTED_SECRET,
            "PAGERDUTY_FROM": from_email,
            # The incident store of this simulated account lives here, never in the user's
            # data directory (and a fresh one per run keeps notebook outputs reproducible).
            "ATLAS_STORE": str(workdir / "stores"),
        }
        yield SimEnv(base_url=base_url, config_path=cfg, from_email=from_email, env=env)
    finally:
        stop()


def apply_env(env: dict[str, str]) -> Callable[[], None]:
    """Set ``env`` in ``os.environ`` (dropping ATLAS_URL); return a function that undoes it."""
    saved = {k: os.environ.get(k) for k in [*env, "ATLAS_URL", "ATLAS_ACCESS_TOKEN"]}
    os.environ.pop("ATLAS_URL", None)
    os.environ.pop("ATLAS_ACCESS_TOKEN", None)
    os.environ.update(env)

    def undo() -> None:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    return undo


@contextmanager
def applied_simulator_env(workdir: Path, **options: Any) -> Iterator[SimEnv]:
    """:func:`simulator_env` with its environment applied to this process (undone after)."""
    with simulator_env(workdir, **options) as se:
        undo = apply_env(se.env)
        try:
            yield se
        finally:
            undo()
