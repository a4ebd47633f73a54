"""``mom pagerduty-sim``: run the local PagerDuty REST simulator."""

from __future__ import annotations

import datetime as dt

import click

from ._cli import cli
from ._errors import UsageError


def _parse_now(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--now {value!r} is not an ISO 8601 date-time", hint="e.g. --now 2026-01-01T00:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


@cli.command("pagerduty-sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(1, 65535))
@click.option("--seed", default=1, show_default=True, type=int, help="Account generator seed.")
@click.option(
    "--incidents",
    default=3000,
    show_default=True,
    type=click.IntRange(0, 2_000_000),
    help="Number of incidents over the generated span.",
)
@click.option(
    "--token",
    default=None,
    envvar="PAGERDUTY_SIM_TOKEN",
    help="Account API key to accept (default: 'sim-token'; env PAGERDUTY_SIM_TOKEN).",
)
@click.option("--read-only-token", default=None, help="An extra read-only key (403 on writes).")
@click.option(
    "--user-token", default=None, help="An extra user-level key acting as the first user."
)
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0, 60_000))
@click.option(
    "--rate-limit",
    "rate_limit",
    default=960,
    show_default=True,
    type=click.IntRange(1, None),
    help="Requests per minute per token before 429.",
)
@click.option("--region", type=click.Choice(["us", "eu"]), default="us", show_default=True)
@click.option(
    "--public-url",
    default=None,
    help="Base of `self` links (default: the URL it listens on, so links lead back here).",
)
@click.option("--now", "now", default=None, help="Freeze the clock and anchor data (ISO 8601).")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 60))
@click.option(
    "--users",
    default=36,
    show_default=True,
    type=click.IntRange(12, 800),
    help="Number of users, spread over the six teams and their on-call rotations.",
)
@click.option(
    "--plan",
    type=click.Choice(["business", "professional"]),
    default="business",
    show_default=True,
    help="The account's plan: the Analytics API answers only on business (else 402).",
)
@click.option(
    "--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of 5xx answers."
)
@click.option(
    "--drop-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of dropped connections."
)
@click.option(
    "--certfile", default=None, type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS."
)
@click.option("--keyfile", default=None, type=click.Path(exists=True, dir_okay=False))
def pagerduty_sim(
    host: str,
    port: int,
    seed: int,
    incidents: int,
    token: str | None,
    read_only_token: str | None,
    user_token: str | None,
    latency_ms: float,
    rate_limit: int,
    region: str,
    public_url: str | None,
    now: str | None,
    months: int,
    users: int,
    plan: str,
    fault_rate: float,
    drop_rate: float,
    certfile: str | None,
    keyfile: str | None,
) -> None:
    """Run the local PagerDuty REST API simulator (a generated, deterministic account).

    \b
    Example:
      mom pagerduty-sim --port 8090 --incidents 5000
      curl -H 'Authorization: Token token=sim-token' http://127.0.0.1:8090/incidents
    """
    from .simulator import DEFAULT_TOKEN, SimulatorConfig, create_app, serve

    if (certfile is None) != (keyfile is None):
        raise UsageError("--certfile and --keyfile go together")
    scheme = "https" if certfile else "http"
    url = f"{scheme}://{host}:{port}"
    try:
        config = SimulatorConfig(
            seed=seed,
            incidents=incidents,
            token=token or DEFAULT_TOKEN,
            read_only_token=read_only_token,
            user_token=user_token,
            latency_ms=latency_ms,
            rate_limit_per_min=rate_limit,
            region=region,  # type: ignore[arg-type]  # click.Choice guarantees us|eu
            public_url=public_url or url,
            now=_parse_now(now),
            months=months,
            users=users,
            plan=plan,  # type: ignore[arg-type]  # click.Choice guarantees the values
            fault_rate=fault_rate,
            drop_rate=drop_rate,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    app = create_app(config)
    account = app.simulator.account
    click.echo(f"PagerDuty simulator listening on {url}")
    click.echo(
        f"  account: {len(account.incidents)} incidents, {len(account.services)} services, "
        f"{len(account.users)} users, {len(account.schedules)} schedules (seed {seed}); "
        f"plan {plan}" + ("" if plan == "business" else " (the Analytics API answers 402)")
    )
    if token is None:
        # The default development key is not a secret; a key the user chose is never echoed.
        click.echo(f"  auth:    Authorization: Token token={DEFAULT_TOKEN}")
    else:
        click.echo("  auth:    Authorization: Token token=<the --token you gave>")
    click.echo(f"  writes:  From: {account.users[0].email}")
    click.echo(f"  try:     curl -H 'Authorization: Token token=...' {url}/incidents")
    serve(config, host=host, port=port, app=app, certfile=certfile, keyfile=keyfile)
