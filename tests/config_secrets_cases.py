"""Config files with a secret planted where a config error used to quote it.

Shared by the unit/CLI tests (tests/test_config_secrets.py) and the server tests
(tests/integration/test_config_secrets_servers.py, tests/jupyter/test_config_route.py).
"""

from __future__ import annotations

import json

#: The value planted in every case; it must appear in no output, log or response.
PLANTED = "s3cr3t-PLANTED-9d2e"

_BASE_URL = "https://api.example.com/v2"
_HEADER = '"Token token=${{ PD_TOKEN }}"'


def config_text(*, base_url: str = _BASE_URL, headers_block: str | None = None) -> str:
    """A one-adapter Atlas config; ``headers_block`` replaces the whole ``headers:`` value."""
    headers = (
        headers_block
        if headers_block is not None
        else (f"\n  - name: Authorization\n    value: {_HEADER}")
    )
    return (
        "kind: Atlas\n"
        "apiVersion: moment.dev/atlas/v1alpha1\n"
        "metadata:\n"
        "  name: planted\n"
        "spec:\n"
        "  apiAdapters:\n"
        "  - adapterRef:\n"
        "      apiVersion: moment.dev/adapters/v1alpha1\n"
        "      kind: HTTP\n"
        "      name: pd\n"
        "---\n"
        "apiVersion: moment.dev/adapters/v1alpha1\n"
        "kind: HTTP\n"
        "metadata:\n"
        "  name: pd\n"
        "spec:\n"
        f"  baseUrl: {json.dumps(base_url)}\n"
        f"  headers:{headers}\n"
    )


def _value(text: str) -> str:
    return f"\n  - name: Authorization\n    value: {json.dumps(text)}"


#: id -> (config text, parts the error message must hold: what is wrong, described)
CASES: dict[str, tuple[str, list[str]]] = {
    "template-bad-characters": (
        config_text(headers_block=_value(f"Token token=${{{{ {PLANTED} }}}}")),
        [
            "spec.headers[0].value",
            "malformed secret template at character 13",
            f"{len(PLANTED) + 7} characters long",
            "characters other than letters",
        ],
    ),
    "template-unclosed": (
        config_text(headers_block=_value(f"Token ${{{{ {PLANTED}")),
        ["malformed secret template at character 7", "no closing }}"],
    ),
    "template-two-words": (
        config_text(headers_block=_value(f"${{{{ Bearer {PLANTED} }}}}")),
        ["malformed secret template at character 1", "more than one word"],
    ),
    "url-userinfo": (
        config_text(base_url=f"https://user:{PLANTED}@api.example.com/v2"),
        ["spec.baseUrl", "https://***@api.example.com/v2", f"{len(PLANTED) + 5} characters"],
    ),
    "url-query": (
        config_text(base_url=f"https://api.example.com/v2?token={PLANTED}"),
        ["https://api.example.com/v2?***", "query string", f"{len(PLANTED) + 6} characters"],
    ),
    "url-fragment": (
        config_text(base_url=f"https://api.example.com/v2#{PLANTED}"),
        ["https://api.example.com/v2#***", "fragment", f"{len(PLANTED)} characters"],
    ),
    "url-port": (
        config_text(base_url=f"https://api.example.com:{PLANTED}/v2"),
        ["https://api.example.com:***/v2", "port", f"{len(PLANTED)} characters"],
    ),
    "headers-as-a-string": (
        config_text(headers_block=f" {json.dumps('Authorization: Token ' + PLANTED)}"),
        ["spec.headers", f"a string of {len(PLANTED) + 21} characters", "expected a list"],
    ),
    "header-item-as-a-string": (
        config_text(headers_block=f"\n  - {json.dumps('Authorization: Token ' + PLANTED)}"),
        ["spec.headers[0]", "a string of", "expected a mapping"],
    ),
    "header-value-control-character": (
        config_text(headers_block=_value(f"Token {PLANTED}\x01")),
        ["spec.headers[0].value", "control characters"],
    ),
    "header-value-unquoted-alias": (
        config_text(headers_block=f"\n  - name: Authorization\n    value: *{PLANTED}"),
        ["alias", "quote values that start with *"],
    ),
}
