"""``mom pagerduty sync`` / ``mom pagerduty export``: the incident store from the shell.

A team runs ``mom pagerduty sync`` on a schedule (cron, a Kubernetes CronJob) beside
``mom atlas run``; notebooks then open the same store file and read it without a request.
"""

from __future__ import annotations

import json

import click

from ._cli import cli
from ._errors import UsageError

__all__ = ["pagerduty_group"]


@cli.group("pagerduty")
def pagerduty_group() -> None:
    """The PagerDuty incident store: sync it, export it."""


_adapter = click.option(
    "--adapter", default="pagerduty", show_default=True, help="The PagerDuty adapter's name."
)
_store = click.option(
    "--store",
    "store_path",
    default=None,
    help="The store file (default: $ATLAS_STORE, else the user's data directory).",
)


@pagerduty_group.command("sync")
@_adapter
@_store
@click.option(
    "--since",
    default=None,
    help="History window of a first sync (default 365d; ISO 8601 or 7d/12h). Later syncs "
    "fetch only what changed; an earlier --since extends the history.",
)
@click.option(
    "-f",
    "--config-file",
    "config_file",
    default=None,
    help="Atlas config, for use without a server (default: $ATLAS_CONFIG, ./atlas.yml).",
)
@click.option(
    "--base-url",
    default=None,
    help="A running Atlas server to go through instead (its token in $ATLAS_ACCESS_TOKEN).",
)
@click.option(
    "--wait",
    default=600.0,
    show_default=True,
    type=click.FloatRange(0, None),
    help="Seconds to wait for another sync of the same store before giving up.",
)
@click.option("--no-ack-times", is_flag=True, help="First sync: skip the log (first-ack times).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sync_command(
    adapter: str,
    store_path: str | None,
    since: str | None,
    config_file: str | None,
    base_url: str | None,
    wait: float,
    no_ack_times: bool,
    as_json: bool,
) -> None:
    """Bring the incident store up to date (first: the history; later: what changed).

    \b
    Examples:
      mom pagerduty sync -f atlas.yml --since 365d
      mom pagerduty sync --base-url https://atlas.internal:8082 --store /data/pd.duckdb
    """
    if config_file and base_url:
        raise UsageError("pass either -f FILE or --base-url URL, not both")
    from .pagerduty._store import open_store_for_sync

    store = open_store_for_sync(adapter, store_path, config=config_file, base_url=base_url)
    report = store.sync(since, progress=True, ack_times=not no_ack_times, lock_timeout=wait)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        click.echo(f"{store.path}: {report}")


@pagerduty_group.command("export")
@click.option(
    "--parquet",
    "directory",
    required=True,
    help="Directory for the Parquet files (one per table).",
)
@_adapter
@_store
def export_command(directory: str, adapter: str, store_path: str | None) -> None:
    """Write every table of the store as Parquet (Spark, Trino, pandas, DuckDB read them).

    \b
    Example:
      mom pagerduty export --parquet out/
    """
    from .pagerduty._store import open_store

    store = open_store(adapter, store_path)
    for path in store.export_parquet(directory):
        click.echo(str(path))
