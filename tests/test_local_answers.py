"""The one dispatcher of local answers (``Router.answer_local``) and the front doors that use
it: the in-process transport answers exactly what the dispatcher says."""

from __future__ import annotations

import json

import httpx
import pytest

from atlas_canvas._config import parse_config
from atlas_canvas._errors import MethodNotAllowedError, RouteNotFoundError
from atlas_canvas._routing import LocalAnswer, Router
from atlas_canvas._transport import AtlasTransport
from tests.proxy_fakes import config_yaml

CONFIG = parse_config(
    config_yaml({"pd": "https://api.example.com/v2", "odd": "https://x.example.com/a&b"})
)


@pytest.fixture
def router() -> Router:
    return Router(CONFIG)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_and_adapter_list(router: Router, method: str) -> None:
    assert router.answer_local(method, "/healthcheck") == LocalAnswer(200, b'{"status":"ok"}')
    listed = router.answer_local(method, "/v1/apis/http")
    assert listed is not None and listed.content_type == "application/json"
    assert json.loads(listed.body) == [
        {"kind": "HTTP", "name": "pd", "baseUrl": "https://api.example.com/v2"},
        {"kind": "HTTP", "name": "odd", "baseUrl": "https://x.example.com/a&b"},
    ]
    # Inert even if rendered as HTML: <, > and & are escaped inside the JSON strings.
    assert b"&" not in listed.body and b"\\u0026" in listed.body
    assert router.answer_local(method, "/v1/apis/http/") == listed


@pytest.mark.parametrize("path", ["/healthcheck", "/v1/apis/http"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_on_local_routes_are_405(router: Router, path: str, method: str) -> None:
    with pytest.raises(MethodNotAllowedError) as info:
        router.answer_local(method, path)
    assert "answers GET only" in str(info.value)


def test_proxy_paths_are_not_local_and_unknown_paths_are_404(router: Router) -> None:
    assert router.answer_local("GET", "/v1/apis/http/pd/incidents") is None
    assert router.answer_local("POST", "/v1/apis/http/pd/") is None
    with pytest.raises(RouteNotFoundError):
        router.answer_local("GET", "/admin")


async def test_the_in_process_transport_answers_what_the_dispatcher_says() -> None:
    transport = AtlasTransport(CONFIG)
    async with httpx.AsyncClient(transport=transport, base_url="http://atlas.local") as client:
        r = await client.get("/v1/apis/http")
        local = Router(CONFIG).answer_local("GET", "/v1/apis/http")
        assert local is not None and r.status_code == 200 and r.content == local.body
        r = await client.post("/healthcheck")
        assert r.status_code == 405
        assert r.json()["error"]["code"] == "ATLAS_MethodNotAllowedError"
        r = await client.get("/nope")
        assert r.status_code == 404
