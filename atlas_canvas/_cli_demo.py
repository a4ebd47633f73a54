"""``mom demo``: the main job in one command (see :mod:`atlas_canvas._demo`)."""

from __future__ import annotations

from pathlib import Path

import click

from ._cli import cli


@cli.command("demo")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the URL.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="JupyterLab's port on 127.0.0.1 (default: 8888, or a free one if taken).",
)
@click.option(
    "--sim-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="The PagerDuty simulator's port on 127.0.0.1 (default: a free one).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Simulated account seed.")
@click.option(
    "--incidents",
    type=click.IntRange(0, 2_000_000),
    default=3000,
    show_default=True,
    help="How many incidents the simulated account has.",
)
@click.option(
    "--dir",
    "demo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Demo directory: config, notebooks, logs, lock "
    "(default: $ATLAS_CANVAS_DEMO_DIR or ~/.local/state/atlas-canvas/demo).",
)
def demo_command(
    no_browser: bool,
    port: int | None,
    sim_port: int | None,
    seed: int,
    incidents: int,
    demo_dir: Path | None,
) -> None:
    """Run the demo: PagerDuty simulator + Atlas config + JupyterLab.

    \b
    Starts the simulator on a free loopback port with a random token, writes a demo
    Atlas config whose 'pagerduty' adapter points at it (the token lives only in
    JupyterLab's environment, as PAGERDUTY_ACCOUNT_TOKEN), and opens JupyterLab on
    pagerduty_incidents.ipynb. Ctrl-C stops everything it started. A second run while
    one is running prints where the first one is.
    """
    from ._demo import DemoOptions, run_demo

    options = DemoOptions(
        port=port,
        sim_port=sim_port,
        seed=seed,
        incidents=incidents,
        open_browser=not no_browser,
        demo_dir=demo_dir,
    )
    code = run_demo(options, echo=lambda line: click.echo(line))
    if code:
        raise click.exceptions.Exit(code)
