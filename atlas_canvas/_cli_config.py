"""``mom atlas config generate | add-http-adapter | remove-adapter | validate``.

Thin shells over the config and YAML layers: parse the arguments, call plain functions,
print. Errors are raised as :class:`AtlasError`s; ``_cli.main`` maps them to exit codes.

Every editing command reads the file, computes the new text, proves it loads with the
intended meaning, and only then replaces the file atomically. Any refusal leaves the file
byte-for-byte as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ._cli import config_group
from ._errors import ConfigError, UsageError

__all__ = ["parse_header_option"]

_FILE_HELP = "Atlas config file (default: $ATLAS_CONFIG, else ./atlas.yml)."

#: The editing layer names form fields (``_config_edit.FIELD_*``); on the command line the
#: same things are options.
_OPTION_OF_FIELD = {
    "name": "--adapter-name",
    "baseUrl": "--base-url",
    "headers": "-H 'Name: value'",
}


def parse_header_option(raw: str) -> tuple[str, str]:
    """The old name of :func:`atlas_canvas._config_edit.parse_header` (the one parser).

    Example::

        parse_header_option("Accept: application/json")   # ('Accept', 'application/json')
    """
    # Imported here: every `mom` command loads this module, and the editing layer pulls
    # in ruamel.yaml, which only the config commands need.
    from ._config_edit import parse_header

    return parse_header(raw)


@contextmanager
def _options_named() -> Iterator[None]:
    """Prefix a field's usage error with the option the user typed (``--base-url: ...``)."""
    try:
        yield
    except UsageError as exc:
        option = _OPTION_OF_FIELD.get(exc.field or "")
        if option is None:
            raise
        raise UsageError(f"{option}: {exc.message}", hint=exc.hint, field=exc.field) from None


def _config_path(path: str | None) -> Path:
    from ._config import resolve_config_path

    return resolve_config_path(path)


def _print_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@config_group.command("generate")
@click.option("--name", "name", required=True, help="Name of this Atlas instance.")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write to this file instead of stdout.",
)
@click.option("--force", is_flag=True, help="Overwrite the -o file if it exists.")
@click.option(
    "--preset",
    type=click.Choice(["production", "local"]),
    default="production",
    show_default=True,
    help="gatewayRegistration for Moment's gateway (unused by atlas-canvas itself).",
)
def generate_cmd(name: str, output: str | None, force: bool, preset: str) -> None:
    """Print (or write) a new config with an Atlas document and no adapters.

    \b
    Example:
      mom atlas config generate --name my-atlas -o atlas.yml
    """
    from ._config import parse_config
    from ._config_edit import render_new_config
    from ._yaml import write_atomic

    text = render_new_config(name, preset)
    parse_config(text, "<generated>", environ={})  # the template itself must stay valid
    if output is None:
        click.echo(text, nl=False)
        return
    target = Path(output)
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists",
            hint="pass --force to overwrite it, or choose another -o file",
        )
    write_atomic(target, text)
    click.echo(f"wrote a new Atlas config '{name}' to {target}", err=True)


@config_group.command("add-http-adapter")
@click.option("-f", "--file", "file", default=None, help=_FILE_HELP)
@click.option(
    "--adapter-name",
    required=True,
    help="Unique name; it becomes the URL segment /v1/apis/http/NAME/...",
)
@click.option("--base-url", required=True, help="Upstream base URL (http:// or https://).")
@click.option(
    "-H",
    "--header",
    "headers",
    multiple=True,
    help="Header added to every request, 'Name: value'; ${{ VAR }} is read from the "
    "environment when a request is sent. Repeatable.",
)
def add_http_adapter_cmd(
    file: str | None, adapter_name: str, base_url: str, headers: tuple[str, ...]
) -> None:
    """Add an HTTP adapter to FILE in place (only added lines; atomic write).

    \b
    Example:
      mom atlas config add-http-adapter -f atlas.yml --adapter-name pagerduty \\
          --base-url https://api.pagerduty.com \\
          -H 'Authorization: Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}'
    """
    from ._config_edit import add_http_adapter

    path = _config_path(file)
    with _options_named():
        cfg = add_http_adapter(path, name=adapter_name, base_url=base_url, headers=headers)
    adapter = cfg.get(adapter_name)
    click.echo(f"added HTTP adapter '{adapter_name}' ({adapter.base_url}) to {path}")
    missing = [v for v in adapter.secret_variables if v not in os.environ]
    if missing:
        click.echo(
            f"note: set {', '.join(missing)} in the environment of the process that sends "
            "requests (mom atlas run, the notebook kernel)",
            err=True,
        )


@config_group.command("remove-adapter")
@click.option("-f", "--file", "file", default=None, help=_FILE_HELP)
@click.option("--adapter-name", required=True, help="Name of the adapter to remove.")
def remove_adapter_cmd(file: str | None, adapter_name: str) -> None:
    """Remove an adapter (its adapterRef and its document) from FILE in place.

    \b
    Example:
      mom atlas config remove-adapter -f atlas.yml --adapter-name pagerduty
    """
    from ._config_edit import remove_adapter

    path = _config_path(file)
    with _options_named():
        remove_adapter(path, name=adapter_name)
    click.echo(f"removed adapter '{adapter_name}' from {path}")


@config_group.command("validate")
@click.option("-f", "--file", "file", default=None, help=_FILE_HELP)
@click.option("--strict", is_flag=True, help="Exit 2 when there are warnings too.")
def validate_cmd(file: str | None, strict: bool) -> None:
    """Check FILE: exit 0 if valid, 2 with the error's location if not.

    Warnings (unknown keys, inactive adapters, ${{ VAR }} not set in this environment)
    go to stderr; values of variables are never shown.
    """
    from ._config import parse_config
    from ._yaml import read_config_text

    path = _config_path(file)
    cfg = parse_config(read_config_text(path), str(path))
    _print_warnings(cfg.warnings)
    active = cfg.active
    by_kind: dict[str, list[str]] = {}
    for adapter in active.values():
        by_kind.setdefault(adapter.kind, []).append(adapter.name)
    kinds = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in by_kind.items())
    count = len(active)
    noun = "adapter" if count == 1 else "adapters"
    summary = f"{path}: valid Atlas config '{cfg.name}', {count} {noun} active"
    click.echo(summary + (f" ({kinds})" if kinds else ""))
    if strict and cfg.warnings:
        raise ConfigError(
            f"{len(cfg.warnings)} warning(s) and --strict given",
            file=str(path),
            hint="fix the warnings above",
        )
