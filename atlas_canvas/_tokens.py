"""The Atlas access token: where it comes from and where a generated one is kept.

Order: the environment variable ``ATLAS_ACCESS_TOKEN`` if set and non-empty; otherwise
``mom atlas run`` makes a random one (``secrets.token_urlsafe(32)``), prints it once and
stores it in :func:`token_file_path` (mode 0600, directory 0700), where ``mom curl`` and
``atlasProxyFetch`` find it when ``ATLAS_ACCESS_TOKEN`` is unset.

The file is ``$ATLAS_TOKEN_FILE`` if set, else ``$XDG_CONFIG_HOME/atlas-canvas/access-token``
(``~/.config/atlas-canvas/access-token`` by default).

Example::

    token, path = ensure_server_token()      # (token, None) when ATLAS_ACCESS_TOKEN is set
    client_token()                           # env var, else the stored file, else None
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

__all__ = ["TOKEN_ENV", "client_token", "ensure_server_token", "token_file_path"]

TOKEN_ENV = "ATLAS_ACCESS_TOKEN"


def token_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where a generated access token is stored (see the module docstring)."""
    env = os.environ if environ is None else environ
    explicit = env.get("ATLAS_TOKEN_FILE")
    if explicit:
        return Path(explicit)
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "atlas-canvas" / "access-token"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    # Created 0600 from the start (no window where another user could read it).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def ensure_server_token(environ: Mapping[str, str] | None = None) -> tuple[str, Path | None]:
    """The token the server accepts: ``(token, None)`` from the environment, or a new
    random token and the file it was stored in."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if token:
        return token, None
    token = secrets.token_urlsafe(32)
    path = token_file_path(env)
    _write_private(path, token + "\n")
    return token, path


def client_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The token a client sends: ``ATLAS_ACCESS_TOKEN``, else the stored file, else None."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if token:
        return token
    try:
        text = token_file_path(env).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None
