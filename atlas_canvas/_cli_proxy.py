"""``mom atlas run``, ``mom curl`` and ``mom atlas apis list``.

Heavy imports (the server stack, httpx) happen inside the command bodies so ``mom --help``
stays fast.

Where requests go (``mom curl`` and ``mom atlas apis list``) is decided by
:func:`~atlas_canvas._target.resolve_target`, as for ``atlasProxyFetch``: ``-f FILE`` is
in-process; ``--base-url`` or else ``ATLAS_URL`` is a running Atlas server, with the access
token from ``ATLAS_ACCESS_TOKEN`` or, if unset, the file ``mom atlas run`` stored it in (see
:mod:`~atlas_canvas._tokens`); otherwise in-process, through
:class:`~atlas_canvas._transport.AtlasSyncTransport` with ``ATLAS_CONFIG`` / ``./atlas.yml``.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._cli import apis_group, atlas, cli
from ._errors import AtlasError, UsageError, error_from_body

if TYPE_CHECKING:  # pragma: no cover - typing only
    import httpx

    from ._target import Target

__all__ = ["apis_list", "curl", "run"]


def _echo_err(message: str) -> None:
    click.echo(message, err=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- run
@atlas.command("run")
@click.option(
    "-f",
    "--file",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Atlas config file (default: $ATLAS_CONFIG, then ./atlas.yml).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (loopback by default).",
)
@click.option("--port", default=8082, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--certfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS certificate (PEM): serve https.",
)
@click.option(
    "--keyfile",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS private key (PEM), if not inside --certfile.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the port (SO_REUSEPORT).",
)
@click.option(
    "--connect-timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds to connect to an upstream (then 504).",
)
@click.option(
    "--read-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds to wait for upstream bytes (then 504).",
)
@click.option(
    "--max-body-size",
    default=10 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(0),
    help="Largest request body accepted, in bytes (then 413).",
)
@click.option(
    "--max-upstream-connections",
    default=256,
    show_default=True,
    type=click.IntRange(1),
    help="Requests in flight per upstream origin; more wait (up to --connect-timeout).",
)
@click.option(
    "--body-idle-timeout",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0.01),
    help="Seconds a caller may pause inside its request body (then 408).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One log line per request on stderr.",
)
def run(
    config_file: str | None,
    host: str,
    port: int,
    certfile: str | None,
    keyfile: str | None,
    workers: int,
    connect_timeout: float,
    read_timeout: float,
    max_body_size: int,
    max_upstream_connections: int,
    body_idle_timeout: float,
    access_log: bool,
) -> None:
    """Run the Atlas server.

    \b
    Without ATLAS_ACCESS_TOKEN a random token is made, printed once and stored
    (mode 0600) in ~/.config/atlas-canvas/access-token, where `mom curl` finds it.
    SIGHUP reloads the config (the old one stays if the new one is bad).

    \b
    Example:
      mom atlas run -f atlas.yml
      mom curl --base-url http://127.0.0.1:8082 /v1/apis/http/pagerduty/incidents
    """
    from ._accesslog import BatchedLineWriter
    from ._config import load_config, resolve_config_path
    from ._routing import Router
    from ._sender import UpstreamSender
    from ._server import AtlasApp, ServerOptions, run_server
    from ._tokens import TOKEN_ENV, ensure_server_token, token_file_path

    if keyfile and not certfile:
        raise UsageError("--keyfile needs --certfile")
    path = resolve_config_path(config_file)
    cfg = load_config(path)  # fail fast (exit 2) before binding anything
    for warning in cfg.warnings:
        _echo_err(f"warning: {warning}")
    options = ServerOptions(
        host=host,
        port=port,
        certfile=certfile,
        keyfile=keyfile,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_body_size=max_body_size,
        body_idle_timeout=body_idle_timeout,
        access_log=access_log,
        workers=workers,
    )
    if options.ssl_context() is None and not _is_loopback(host):
        _echo_err(
            f"warning: listening on {host} without TLS: the access token travels in clear "
            "text (use --certfile/--keyfile)"
        )
    if workers > 1 and port == 0:
        raise UsageError("--workers needs an explicit --port")
    try:
        token, token_path = ensure_server_token()
    except OSError as exc:
        raise AtlasError(
            f"cannot store the generated access token: {exc.strerror or exc} "
            f"({getattr(exc, 'filename', None) or token_file_path()})",
            hint=f"set {TOKEN_ENV}, or ATLAS_TOKEN_FILE to a writable path",
        ) from None

    def make_app() -> AtlasApp:
        router = Router(config_path=path)
        router.set_config(cfg)
        return AtlasApp(
            router,
            token=token,
            sender=UpstreamSender(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_connections=max_upstream_connections,
            ),
            max_body_size=max_body_size,
            body_idle_timeout=body_idle_timeout,
            access_writer=BatchedLineWriter(sys.stderr) if access_log else None,
        )

    adapters = ", ".join(f"{a.name} -> {a.base_url}" for a in cfg.http_adapters) or "none"

    def ready() -> None:
        _echo_err(f"Atlas '{cfg.name}' listening on {options.url} (workers: {workers})")
        _echo_err(f"  HTTP adapters: {adapters}")
        if token_path is None:
            _echo_err(f"  access token: from {TOKEN_ENV}")
        else:
            _echo_err(f"  access token (stored in {token_path}, mode 0600): {token}")
        _echo_err("  send it in the Atlas-Accesstoken header; Ctrl-C stops, SIGHUP reloads")

    try:
        run_server(make_app, options, on_ready=ready)
    except OSError as exc:
        raise AtlasError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port or stop the process using it",
        ) from None


# --------------------------------------------------------------------------- clients
def _target(
    base_url: str | None, config_file: str | None, cacert: str | None, insecure: bool
) -> Target:
    """Where the request goes: :func:`~atlas_canvas._target.resolve_target`'s one rule set."""
    from ._target import resolve_target

    return resolve_target(
        config=config_file or None, base_url=base_url or None, ca_bundle=cacert, insecure=insecure
    )


def _client(target: Target) -> httpx.Client:
    import httpx

    timeout = httpx.Timeout(120.0, connect=10.0)
    if target.mode == "remote":
        from ._target import ACCESS_TOKEN_HEADER
        from ._tokens import TOKEN_ENV

        token = target.access_token()
        headers = {}
        if token:
            headers[ACCESS_TOKEN_HEADER] = token
        else:
            _echo_err(f"warning: no access token ({TOKEN_ENV} unset and no stored token)")
        return httpx.Client(
            base_url=target.base_url, headers=headers, verify=target.ssl_verify(), timeout=timeout
        )
    from ._config import load_config
    from ._target import INPROCESS_BASE
    from ._transport import AtlasSyncTransport

    # One-shot: load now, so a broken file is a config error (exit 2) before anything is sent.
    cfg = load_config(target.config_path)
    return httpx.Client(transport=AtlasSyncTransport(cfg), base_url=INPROCESS_BASE, timeout=timeout)


def _atlas_error(response: httpx.Response) -> AtlasError | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    return error_from_body(response.status_code, response.content)


def _read_data(data: str) -> bytes:
    if data.startswith("@"):
        name = data[1:]
        if name == "-":
            return sys.stdin.buffer.read()
        try:
            return Path(name).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    return data.encode()


def _parse_header(raw: str) -> tuple[str, str]:
    name, sep, value = raw.partition(":")
    if not sep or not name.strip():
        raise UsageError(f"header {raw!r} must look like 'Name: value'")
    return name.strip(), value.strip()


@cli.command("curl")
@click.argument("path")
@click.option(
    "-X", "--request", "method", default=None, help="HTTP method (default GET, POST with -d)."
)
@click.option("-H", "--header", "headers", multiple=True, help="'Name: value' (repeatable).")
@click.option(
    "-d", "--data", "data", default=None, help="Request body; @FILE reads a file, @- stdin."
)
@click.option("--data-binary", "data_binary", default=None, help="Same as -d.")
@click.option("-i", "--include", is_flag=True, help="Show the status line and headers.")
@click.option("-s", "--silent", is_flag=True, hidden=True, help="Accepted for curl habits.")
@click.option(
    "--base-url",
    default=None,
    help="A running Atlas server (default: $ATLAS_URL; else in-process).",
)
@click.option(
    "-f",
    "--file",
    "config_file",
    default=None,
    help="Atlas config for in-process use (default: $ATLAS_CONFIG, ./atlas.yml).",
)
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    envvar="ATLAS_CA_BUNDLE",
    help="CA bundle to verify an https Atlas server (default: $ATLAS_CA_BUNDLE).",
)
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the server's TLS cert.")
def curl(
    path: str,
    method: str | None,
    headers: tuple[str, ...],
    data: str | None,
    data_binary: str | None,
    include: bool,
    silent: bool,
    base_url: str | None,
    config_file: str | None,
    cacert: str | None,
    insecure: bool,
) -> None:
    """Send one request through Atlas and print the body.

    \b
    JSON is pretty-printed on a terminal and passed raw when piped. An upstream
    status >= 400 prints the body and exits 1; an Atlas error prints one line.
    A JSON body (-d '{...}') without a Content-Type header is sent as application/json.
    Through a server (--base-url/ATLAS_URL), the access token is ATLAS_ACCESS_TOKEN
    or, if unset, the one `mom atlas run` stored (~/.config/atlas-canvas/access-token).

    \b
    Example:
      mom curl -f atlas.yml '/v1/apis/http/pagerduty/incidents?statuses[]=triggered'
      mom curl /v1/apis/http/pagerduty/incidents -X POST -d @incident.json
    """
    if not path.startswith("/"):
        raise UsageError(
            f"PATH must start with '/', like /v1/apis/http/pagerduty/incidents (got {path!r})"
        )
    header_list = [_parse_header(h) for h in headers]
    raw = data_binary if data_binary is not None else data
    body = _read_data(raw) if raw is not None else None
    verb = (method or ("POST" if body is not None else "GET")).upper()
    if body is not None and not any(n.lower() == "content-type" for n, _ in header_list):
        try:
            json.loads(body)
            header_list.append(("Content-Type", "application/json"))
        except ValueError:
            header_list.append(("Content-Type", "application/x-www-form-urlencoded"))
    import httpx

    target = _target(base_url, config_file, cacert, insecure)
    with _client(target) as client:
        try:
            response = client.request(verb, path, headers=header_list, content=body)
        except httpx.TransportError as exc:
            raise AtlasError(
                f"cannot reach the Atlas server at {target.base_url}: {exc}",
                hint="is `mom atlas run` running? check --base-url/ATLAS_URL",
            ) from None
    atlas_err = _atlas_error(response) if response.status_code >= 400 else None
    if include:
        reason = response.reason_phrase
        click.echo(f"{response.http_version} {response.status_code} {reason}".rstrip())
        for name, value in response.headers.multi_items():
            click.echo(f"{name}: {value}")
        click.echo("")
    if atlas_err is not None:
        if include:
            _write_body(response)
        raise atlas_err
    _write_body(response)
    if response.status_code >= 400:
        raise AtlasError(
            f"upstream answered {response.status_code} {response.reason_phrase}".rstrip()
        )


def _write_body(response: httpx.Response) -> None:
    content = response.content
    out = sys.stdout
    if out.isatty() and "json" in response.headers.get("content-type", ""):
        try:
            text = json.dumps(json.loads(content), indent=2, ensure_ascii=False)
        except ValueError:
            pass
        else:
            click.echo(text)
            return
    out.flush()
    out.buffer.write(content)
    if out.isatty() and content and not content.endswith(b"\n"):
        out.buffer.write(b"\n")
    out.buffer.flush()


# --------------------------------------------------------------------------- apis list
@apis_group.command("list")
@click.option(
    "-f",
    "--file",
    "config_file",
    default=None,
    help="Atlas config (default: $ATLAS_CONFIG, ./atlas.yml).",
)
@click.option(
    "--base-url",
    "-u",
    default=None,
    help="Ask a running Atlas server instead (default: $ATLAS_URL if -f not given).",
)
@click.option(
    "--cacert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    envvar="ATLAS_CA_BUNDLE",
    help="CA bundle to verify an https Atlas server (default: $ATLAS_CA_BUNDLE).",
)
@click.option("-k", "--insecure", is_flag=True, help="Do not verify the server's TLS cert.")
def apis_list(
    config_file: str | None, base_url: str | None, cacert: str | None, insecure: bool
) -> None:
    """List the adapters: KIND, NAME, BASE URL (never header values).

    \b
    Example:
      mom atlas apis list -f atlas.yml
      mom atlas apis list --base-url http://127.0.0.1:8082
    """
    rows: list[tuple[str, str, str]]
    target = _target(base_url, config_file, cacert, insecure)
    if target.mode == "remote":
        import httpx

        from ._routing import PROXY_PREFIX

        with _client(target) as client:
            try:
                response = client.get(PROXY_PREFIX)
            except httpx.TransportError as exc:
                raise AtlasError(
                    f"cannot reach the Atlas server at {target.base_url}: {exc}"
                ) from None
        if response.status_code != 200:
            err = _atlas_error(response)
            if err is not None:
                raise err
            raise AtlasError(f"the server answered {response.status_code} to GET {PROXY_PREFIX}")
        try:
            items = response.json()
            rows = [(str(i["kind"]), str(i["name"]), str(i["baseUrl"])) for i in items]
        except (ValueError, KeyError, TypeError):
            raise AtlasError(f"{target.base_url} did not answer like an Atlas server") from None
    else:
        from ._config import load_config

        # Every kind is listed here (the server's list has HTTP adapters only).
        cfg = load_config(target.config_path)
        rows = [(a.kind, a.name, a.base_url or "-") for a in cfg.active.values()]
    header = ("KIND", "NAME", "BASE URL")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(2)]
    for kind, name, url in [header, *rows]:
        click.echo(f"{kind:<{widths[0]}}  {name:<{widths[1]}}  {url}")
