"""Tornado handlers of the Jupyter server extension.

Security rules (each one was a jupyter-server-proxy advisory somewhere):

* every verb of every handler is ``@web.authenticated`` and ``@authorized``; XSRF stays on
  (jupyter_server checks it for every non-GET request not authenticated by a token);
* the proxy route only reaches *named* adapters, through the routing core, which owns URL
  safety, header policy and secret resolution;
* Jupyter's credentials (``Authorization``, ``?token=``, ``Cookie``, ``X-XSRFToken``,
  ``_xsrf``) are removed before the routing core sees the request;
* errors are JSON built by ``json.dumps`` (``{"error": {"code", "message", "hint", "field"}}``,
  ``field`` naming the form field a refused edit is about) with ``<``,
  ``>`` and ``&`` escaped as ``\\u003c``..., served as ``application/json``, never HTML
  with request data echoed into it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from .._config import AtlasConfig, resolve_config_path
from .._errors import (
    AtlasError,
    BadPathError,
    ConfigError,
    InvalidAccessTokenError,
    MissingAccessTokenError,
    UsageError,
)
from .._routing import adapter_path, downstream_headers
from ._kernels import KernelEnvPolicy
from ._pinning import ConfigPin

if TYPE_CHECKING:  # pragma: no cover
    import logging

    from .._sender import SenderResponse
    from . import AtlasCanvas

__all__ = ["ExtensionState", "handlers", "strip_jupyter_credentials"]

_ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: Authorization resource name for jupyter_server's authorizer.
AUTH_RESOURCE = "atlas-canvas"

#: Request headers that carry Jupyter's own credentials or identify the Jupyter page; the
#: upstream never needs them. (``Authorization`` as a whole: Jupyter accepts both
#: ``token`` and ``bearer`` schemes, and upstream auth comes from the adapter's headers.)
_JUPYTER_REQUEST_HEADERS = frozenset(
    {"authorization", "cookie", "x-xsrftoken", "x-csrftoken", "referer", "origin"}
)
#: Query parameters Jupyter reads credentials from.
_JUPYTER_QUERY_PARAMS = frozenset({"token", "_xsrf"})
#: Response headers that must not act on the Jupyter origin (the hop-by-hop ones are gone
#: already: ``downstream_headers`` drops them, from the routing core's one list).
_BLOCKED_RESPONSE_HEADERS = frozenset(
    {
        "set-cookie",
        "set-cookie2",
        "content-security-policy",
        "content-security-policy-report-only",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-expose-headers",
        "strict-transport-security",
        "content-length",
        "server",
        "date",
    }
)


def _json(value: Any) -> str:
    """JSON that stays inert even if some client renders it as HTML (request data is echoed
    in error messages, e.g. an unknown adapter name)."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def strip_jupyter_credentials(
    headers: list[tuple[str, str]], query: str
) -> tuple[list[tuple[str, str]], str]:
    """Remove Jupyter's credentials from a request's headers and raw query string.

    The query is filtered piece by piece, so every other parameter keeps its exact bytes
    (repeated keys, ``statuses[]=``, percent-encoding).

    Example::

        >>> strip_jupyter_credentials([("Cookie", "a=b"), ("Accept", "x")], "token=t&q=1")
        ([('Accept', 'x')], 'q=1')
    """
    kept_headers = [(k, v) for k, v in headers if k.lower() not in _JUPYTER_REQUEST_HEADERS]
    pieces = []
    for piece in query.split("&") if query else []:
        key = unquote_plus(piece.split("=", 1)[0])
        if key in _JUPYTER_QUERY_PARAMS:
            continue
        pieces.append(piece)
    return kept_headers, "&".join(pieces)


class ExtensionState:
    """What the handlers share: settings, one router (config re-read when the file
    changes) and two pooled upstream senders (proxy, and a short-timeout one for health)."""

    def __init__(self, settings: AtlasCanvas, log: logging.Logger) -> None:
        from .._routing import Router
        from .._sender import UpstreamSender

        self.settings = settings
        self.log = log
        self.config_path = resolve_config_path(
            os.path.expanduser(settings.config_file) or None
        ).absolute()
        # With edits off, a rewritten or replaced file may not move a secret to another
        # base URL nor name another variable: the config of the start is pinned.
        self.pin: ConfigPin | None = None
        if settings.allow_config_edits:
            self.router = Router(config_path=self.config_path, auto_reload=True)
        else:
            self.pin = ConfigPin(self.config_path, log=log)
            self.router = Router(
                config_path=self.config_path, auto_reload=True, loader=self.pin.load
            )
        #: Kernel environments and per-kernel tokens (set when the extension is loaded).
        self.kernels: KernelEnvPolicy | None = None
        self.sender = UpstreamSender(
            connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout
        )
        self.health_sender = UpstreamSender(
            connect_timeout=settings.health_timeout, read_timeout=settings.health_timeout
        )

    def config_path_for_display(self) -> str:
        return str(self.config_path)

    def config(self) -> AtlasConfig:
        """The current config (re-read when the file changed); raises :class:`ConfigError`."""
        return self.router.config

    async def close(self) -> None:
        await self.sender.aclose()
        await self.health_sender.aclose()


class _Base(APIHandler):
    """JSON API handler: errors are ``{"error": {"code", "message", "hint", "field"}}`` JSON."""

    auth_resource = AUTH_RESOURCE

    async def prepare(self) -> None:  # type: ignore[override]  # APIHandler's is async too
        await super().prepare()
        # Tornado checks XSRF on unsafe methods only. These routes also make upstream
        # requests on GET (with the adapter's secrets), so a cookie-authenticated GET must
        # prove it is same-origin as well: the X-XSRFToken header or a same-origin Referer
        # (jupyter_server's rule for GETs, as on /files/). Token-authenticated requests pass.
        if self.request.method in ("GET", "HEAD"):
            self.check_xsrf_cookie()

    @property
    def state(self) -> ExtensionState:
        from . import SETTINGS_KEY

        state: ExtensionState = self.settings[SETTINGS_KEY]
        return state

    def write_atlas_error(self, exc: AtlasError) -> None:
        self.set_status(exc.http_status)
        self.finish(_json(exc.to_dict()))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado errors (403 XSRF, 404, 405...) in the same JSON shape; the message is the
        # standard reason phrase or our own log message, never request data.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        reason = self._reason or "error"
        message = reason
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json")
        # The same keys as AtlasError.to_dict(), so clients read one shape.
        body = {
            "error": {
                "code": f"HTTP_{status_code}",
                "message": message,
                "hint": None,
                "field": None,
            }
        }
        self.finish(_json(body))


def _adapter_json(adapter: Any) -> dict[str, Any]:
    return {
        "kind": adapter.kind,
        "name": adapter.name,
        "baseUrl": adapter.base_url,
        "secretVariables": list(adapter.secret_variables),
    }


class AdaptersHandler(_Base):
    """``GET`` lists the active adapters; ``POST`` adds an HTTP adapter to the config file."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        state = self.state
        try:
            cfg = state.config()
        except ConfigError as exc:
            self.set_status(exc.http_status)
            self.finish(
                _json(
                    {
                        **exc.to_dict(),
                        "adapters": [],
                        "configFile": state.config_path_for_display(),
                        "allowEdits": state.settings.allow_config_edits,
                    }
                )
            )
            return
        self.finish(
            _json(
                {
                    "adapters": [_adapter_json(a) for a in cfg.active.values()],
                    "configFile": state.config_path_for_display(),
                    "allowEdits": state.settings.allow_config_edits,
                    "warnings": list(cfg.warnings),
                }
            )
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        state = self.state
        if not state.settings.allow_config_edits:
            raise web.HTTPError(403, "config edits are disabled (c.AtlasCanvas.allow_config_edits)")
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            self.write_atlas_error(UsageError("the request body is not JSON"))
            return
        try:
            name, base_url, headers = _parse_add_body(body)
            # Off the event loop: reading, checking and re-parsing a config up to the
            # loader's size limit takes CPU time that must not hold other requests.
            await asyncio.to_thread(_add_http_adapter, state, name, base_url, headers)
            cfg = state.config()
            adapter = cfg.get(name)
        except AtlasError as exc:
            self.write_atlas_error(exc)
            return
        self.set_status(201)
        self.finish(_json({"adapter": _adapter_json(adapter)}))


def _parse_add_body(body: Any) -> tuple[str, str, list[str]]:
    if not isinstance(body, dict):
        raise UsageError("expected a JSON object with name, baseUrl and headers")
    name = body.get("name")
    base_url = body.get("baseUrl")
    headers = body.get("headers", [])
    # `field` names the form field / JSON key, so the sidebar shows the error beside it.
    if not isinstance(name, str) or not name.strip():
        raise UsageError("the adapter name is required", field="name")
    if not isinstance(base_url, str) or not base_url.strip():
        raise UsageError("the base URL is required", field="baseUrl")
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise UsageError("headers must be a list of 'Name: value' strings", field="headers")
    return name.strip(), base_url.strip(), [h for h in headers if h.strip()]


def _add_http_adapter(state: ExtensionState, name: str, base_url: str, headers: list[str]) -> None:
    """The same steps as ``mom atlas config add-http-adapter``: the editing layer's
    function, its one ``Name: value`` header parser, its checks and field errors."""
    from .._config_edit import add_http_adapter

    add_http_adapter(state.config_path, name=name, base_url=base_url, headers=headers)
    state.router.reload()


class HealthHandler(_Base):
    """``GET adapters/<name>/health``: reachable, status, latency, secret variables set."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        state = self.state
        try:
            if not _ADAPTER_NAME.match(name):
                raise BadPathError("the adapter name in the path is not valid")
            cfg = state.config()
            adapter = cfg.get(name)
        except AtlasError as exc:
            self.write_atlas_error(exc)
            return
        secrets = [{"name": v, "set": v in os.environ} for v in adapter.secret_variables]
        result: dict[str, Any] = {
            "name": adapter.name,
            "kind": adapter.kind,
            "secrets": secrets,
            "reachable": False,
            "status": None,
            "latencyMs": None,
            "state": "down",
            "message": None,
        }
        if adapter.kind != "HTTP":
            result.update(state="unsupported", message=f"{adapter.kind} adapters are not proxied")
        elif not all(s["set"] for s in secrets):
            missing = ", ".join(str(s["name"]) for s in secrets if not s["set"])
            result.update(state="secret-missing", message=f"not set: {missing}")
        else:
            result.update(await _probe(state, adapter.name, _probe_target(state, adapter)))
        self.finish(_json(result))


#: A cheap authenticated PagerDuty REST endpoint: a 200 also proves the token works.
_PAGERDUTY_PROBE = "priorities?limit=1"


def _probe_target(state: ExtensionState, adapter: Any) -> str:
    """``c.AtlasCanvas.health_paths[name]``, else a PagerDuty endpoint for PagerDuty-looking
    adapters, else the base URL itself."""
    configured = state.settings.health_paths.get(adapter.name)
    if configured is not None:
        return str(configured).lstrip("/")
    if "pagerduty" in f"{adapter.name} {adapter.base_url or ''}".lower():
        return _PAGERDUTY_PROBE
    return ""


async def _probe(state: ExtensionState, name: str, target: str) -> dict[str, Any]:
    """One GET through the routing core (headers only, body not read), classified."""
    started = time.perf_counter()
    path, _, query = target.partition("?")
    try:
        up = state.router.prepare(
            "GET", adapter_path(name, path), query, [("Accept", "application/json")]
        )
        resp = await asyncio.wait_for(
            state.health_sender.send(up), timeout=state.settings.health_timeout
        )
    except asyncio.TimeoutError:
        return {
            "reachable": False,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "state": "down",
            "message": f"no answer within {state.settings.health_timeout:g} s",
        }
    except AtlasError as exc:
        return {
            "reachable": False,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            "state": "down",
            "message": str(exc),
        }
    latency = (time.perf_counter() - started) * 1000
    status = resp.status
    resp.close()  # the body is not needed; do not wait for it
    if status in (401, 403, 407):
        verdict, message = "auth", f"the upstream refused the credentials ({status})"
    elif status >= 500:
        verdict, message = "error", f"the upstream answered {status}"
    elif status >= 400:
        # Up and answering, but the probed path is not a resource there (many APIs answer
        # 404 at their base URL): c.AtlasCanvas.health_paths can name a better one.
        verdict, message = "reachable", f"the upstream answered {status} at the probed path"
    else:
        verdict, message = "ok", None
    return {
        "reachable": True,
        "status": status,
        "latencyMs": round(latency, 1),
        "state": verdict,
        "message": message,
    }


class ProxyHandler(_Base):
    """``ANY atlas-canvas/v1/apis/http/<adapter>/<path>`` through the routing core."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

    @property
    def content_security_policy(self) -> str:
        # Upstream bodies are served from the Jupyter origin: if a browser navigates here,
        # make the page an opaque origin that can run nothing.
        return "default-src 'none'; frame-ancestors 'none'; sandbox"

    # check_xsrf_cookie is NOT overridden: jupyter-server-proxy turned XSRF off for its
    # routes ("defer to proxied apps"); here non-GET requests need the XSRF header or a token.

    async def prepare(self) -> None:  # type: ignore[override]  # _Base.prepare's signature
        token = self.request.headers.get("Atlas-Accesstoken")
        if token is None:
            await super().prepare()
            return
        # A kernel of this server: its ATLAS_ACCESS_TOKEN (see _kernels) is the credential,
        # accepted on this route only. A browser never sends it on its own (unlike a
        # cookie), so no XSRF check applies; Jupyter's Host check still does.
        if not self.check_host():
            raise web.HTTPError(403)
        kernels = self.state.kernels
        kernel_id = kernels.tokens.authenticate(token) if kernels is not None and token else None
        if kernel_id is None:
            self.write_atlas_error(
                InvalidAccessTokenError(
                    "the Atlas-Accesstoken is not the token of a running kernel of this server",
                    hint="kernels started by this Jupyter server get ATLAS_ACCESS_TOKEN; "
                    "a token dies with its kernel (restart the kernel after a server restart)",
                )
                if token
                else MissingAccessTokenError("the Atlas-Accesstoken header is empty")
            )
            return
        from jupyter_server.auth import User

        self.current_user = self._jupyter_current_user = User(username=f"kernel-{kernel_id}")

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        # Tornado decodes the path argument as UTF-8 and answers its own HTML-less 400 for
        # invalid bytes. The argument is unused (the raw request path goes to the routing
        # core), so keep every byte and let the core give the same verdict as the other
        # front doors: 400 ATLAS_BadPathError. (Tornado passes None for the optional group
        # when the path is just .../v1/apis/http.)
        return value.decode("latin-1") if value else ""

    async def _proxy(self) -> None:
        state = self.state
        prefix = url_path_join(self.base_url, "atlas-canvas")
        raw_path = self.request.path
        if not raw_path.startswith(prefix + "/"):
            raise web.HTTPError(404)
        atlas_path = raw_path[len(prefix) :]
        method = self.request.method or "GET"
        # Tornado decodes header bytes as Latin-1; the sender writes UTF-8. Recover the
        # caller's exact bytes (UTF-8 passes unchanged; other bytes are refused with 400).
        caller = [
            (n, v.encode("latin-1").decode("utf-8", "surrogateescape"))
            for n, v in self.request.headers.get_all()
        ]
        headers, query = strip_jupyter_credentials(caller, self.request.query)
        try:
            # The one dispatcher of local answers (the adapter list, method checks).
            local = state.router.answer_local(method, atlas_path)
            if local is not None:
                self.set_status(local.status)
                self.set_header("Content-Type", local.content_type)
                self.finish(local.body)
                return
            up = state.router.prepare(method, atlas_path, query, headers)
            resp = await state.sender.send(up, self.request.body or None)
        except AtlasError as exc:
            self.write_atlas_error(exc)
            return
        await self._relay(resp, method)

    async def _relay(self, resp: SenderResponse, method: str) -> None:
        """Status, headers (minus those that would act on the Jupyter origin), body streamed."""
        complete = False
        try:
            self.set_status(resp.status, resp.reason or "Upstream")
            content_type = "application/octet-stream"
            for name, value in downstream_headers(resp.headers):
                lower = name.lower()
                if lower == "content-type":
                    content_type = value
                elif lower not in _BLOCKED_RESPONSE_HEADERS:
                    # Tornado writes header text as Latin-1: hand it the upstream's exact
                    # bytes (the sender decoded them as UTF-8).
                    self.add_header(name, value.encode("utf-8").decode("latin-1"))
            self.set_header("Content-Type", content_type)
            self.set_header("X-Content-Type-Options", "nosniff")
            if method != "HEAD" and resp.status not in (204, 304):
                async for chunk in resp.iter_chunks():
                    self.write(chunk)
                    await self.flush()
            complete = True
        except AtlasError as exc:
            # Headers may already be out: nothing honest can be sent but a cut connection.
            self.log.warning("atlas-canvas: upstream body failed: %s", exc)
            if not self._headers_written:
                self.clear()
                self.write_atlas_error(exc)
                return
        except StreamClosedError:
            return  # the client went away; the finally drops the upstream connection
        finally:
            if complete:
                resp.release()
            else:
                resp.close()
        if complete:
            self.finish(set_content_type=content_type)
        elif not self._finished:
            self.request.connection.close()  # type: ignore[union-attr]

    @web.authenticated
    @authorized
    async def get(self, _rest: str) -> None:
        await self._proxy()

    @web.authenticated
    @authorized
    async def head(self, _rest: str) -> None:
        await self._proxy()

    @web.authenticated
    @authorized
    async def post(self, _rest: str) -> None:
        await self._proxy()

    @web.authenticated
    @authorized
    async def put(self, _rest: str) -> None:
        await self._proxy()

    @web.authenticated
    @authorized
    async def patch(self, _rest: str) -> None:
        await self._proxy()

    @web.authenticated
    @authorized
    async def delete(self, _rest: str) -> None:
        await self._proxy()


def handlers(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    """The URL specs, under ``base_url``."""
    root = url_path_join(base_url, "atlas-canvas")
    return [
        (url_path_join(root, "adapters") + "/?", AdaptersHandler),
        (url_path_join(root, "adapters", r"([^/]+)", "health") + "/?", HealthHandler),
        (url_path_join(root, "v1", "apis", "http") + r"(/.*)?", ProxyHandler),
    ]
