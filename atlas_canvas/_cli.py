"""``mom`` (alias ``atlas-canvas``): the command line.

This module holds the command tree and the **one place** that maps errors to exit codes:
0 success, 2 usage or config error, 1 anything else. Errors print one line ``error: ...``
with the fix, never a traceback. Subcommands live in ``_cli_*.py`` modules, one per area.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from . import __version__
from ._errors import AtlasError

__all__ = ["atlas", "cli", "config_group", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mom")
def cli() -> None:
    """atlas-canvas: an Atlas-compatible authenticating proxy for notebooks.

    \b
    Quick start:
      mom atlas config generate --name my-atlas -o atlas.yml
      mom atlas config add-http-adapter -f atlas.yml --adapter-name pagerduty \\
          --base-url https://api.pagerduty.com \\
          -H 'Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}'
      mom curl -f atlas.yml /v1/apis/http/pagerduty/incidents
    """


@cli.group()
def atlas() -> None:
    """Atlas config and server."""


@atlas.group("config")
def config_group() -> None:
    """Create, edit and validate an Atlas config file."""


@atlas.group("apis")
def apis_group() -> None:
    """List the APIs (adapters) a config or a running server exposes."""


def _register() -> None:
    # Each area registers its commands on the groups above. Imports stay cheap:
    # the modules import heavy libraries inside the command bodies.
    import importlib

    for name in ("_cli_config", "_cli_proxy", "_cli_sim", "_cli_demo", "_cli_pagerduty"):
        importlib.import_module(f"{__package__}.{name}")


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mom``; return (and, from the console script, exit with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=args, prog_name="mom", standalone_mode=False)
    except AtlasError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        # Usage errors: one line plus the hint to --help (click's own format is multi-line).
        click.echo(f"error: {exc.format_message()}", err=True)
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            click.echo(f"try '{exc.ctx.command_path} --help' for usage", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return 0


def _console_main() -> None:  # pragma: no cover - thin console-script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
