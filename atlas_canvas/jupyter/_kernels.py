"""Kernel environment policy: adapter secrets never reach a kernel the server starts.

A Jupyter server holds the adapters' secrets (``PAGERDUTY_ACCOUNT_TOKEN``...) in its
environment and, left alone, every kernel it starts inherits them, so any notebook could
print ``os.environ``. With the extension loaded, every kernel is started instead with

* the server's environment **minus** every variable an adapter of the config names in a
  ``${{ VAR }}`` template (every name seen since the server started, so a config edit that
  drops an adapter does not hand its variable back to kernels);
* ``ATLAS_URL`` = the extension's proxy route on this server
  (``http://127.0.0.1:<port>/<base_url>atlas-canvas``), so ``atlasProxyFetch``, ``%atlas``
  and ``pagerduty.*`` go through the server, which adds the secrets upstream. (When the
  server itself was started with ``ATLAS_URL``, notebooks are meant for that Atlas server,
  e.g. a team server: kernels then keep its ``ATLAS_URL`` and ``ATLAS_ACCESS_TOKEN``.)
* ``ATLAS_ACCESS_TOKEN`` = a random token for this kernel only. The proxy route accepts it
  (``Atlas-Accesstoken`` header, constant-time compare) as long as the kernel is known to
  the kernel manager: it dies when the kernel is shut down, culled or dies.

How it hooks in: the extension wraps the server's ``kernel_manager.start_kernel`` so every
start passes ``env=`` (jupyter_client's documented launch argument). jupyter_client keeps
that object in the kernel manager's launch arguments and its provisioner calls ``.copy()``
on it at every launch, restarts and automatic restarts included; :class:`KernelEnv`
recomputes the scrubbed environment in ``copy()``, so a restart after a config change is
scrubbed against the current config. Even a provisioner that does not call ``copy()`` gets
the environment scrubbed as of the kernel's start.

What this does not do: a kernel runs as the server's Unix user, so it can still read the
server's memory (``/proc/<pid>/environ``, ptrace) unless the server is non-dumpable (see
:func:`make_non_dumpable`) or runs as another user. See the README's security section.

Example::

    policy = KernelEnvPolicy(secret_names=lambda: {"PAGERDUTY_ACCOUNT_TOKEN"},
                             atlas_url=lambda: "http://127.0.0.1:8888/atlas-canvas",
                             is_alive=lambda kid: True)
    env = policy.env_for("k1", {"PATH": "/bin", "PAGERDUTY_ACCOUNT_TOKEN": "s"})
    sorted(env)          # ['ATLAS_ACCESS_TOKEN', 'ATLAS_URL', 'PATH']
    policy.tokens.authenticate(env["ATLAS_ACCESS_TOKEN"])   # 'k1'
"""

from __future__ import annotations

import ctypes
import hmac
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KernelEnv", "KernelEnvPolicy", "KernelTokens", "install", "make_non_dumpable"]


@dataclass
class _Token:
    value: str
    issued: float  # time.monotonic()
    seen_alive: bool = False


class KernelTokens:
    """Per-kernel access tokens for the proxy route. Never shown in a repr or log.

    A token is valid while its kernel is known to the kernel manager. A kernel being
    started is not known yet, so a token is only dropped once its kernel was seen alive and
    is gone, or after ``start_grace`` seconds without ever being seen (a failed start).
    """

    def __init__(self, is_alive: Callable[[str], bool], *, start_grace: float = 600.0) -> None:
        self._is_alive = is_alive
        self._start_grace = start_grace
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KernelTokens({len(self._tokens)} kernels)"

    def issue(self, kernel_id: str) -> str:
        """The token of ``kernel_id`` (made on first use; the same across its restarts)."""
        with self._lock:
            self._prune()
            entry = self._tokens.get(kernel_id)
            if entry is None:
                entry = _Token(secrets.token_urlsafe(32), time.monotonic())
                self._tokens[kernel_id] = entry
            return entry.value

    def revoke(self, kernel_id: str) -> None:
        with self._lock:
            self._tokens.pop(kernel_id, None)

    def authenticate(self, token: str) -> str | None:
        """The kernel id ``token`` belongs to, or None. Every stored token is compared in
        constant time (no early exit), then the kernel must be alive."""
        given = token.encode("utf-8", "surrogateescape")
        found: str | None = None
        with self._lock:
            items = list(self._tokens.items())
        for kernel_id, entry in items:
            if hmac.compare_digest(entry.value.encode("ascii"), given):
                found = kernel_id
        if found is None:
            return None
        with self._lock:
            self._prune()
            entry_now = self._tokens.get(found)
            if entry_now is None or not self._is_alive(found):
                return None
        return found

    def _prune(self) -> None:
        now = time.monotonic()
        for kernel_id, entry in list(self._tokens.items()):
            if self._is_alive(kernel_id):
                entry.seen_alive = True
            elif entry.seen_alive or now - entry.issued > self._start_grace:
                del self._tokens[kernel_id]


class KernelEnvPolicy:
    """Builds kernel environments: secrets out, ``ATLAS_URL`` + a kernel token in.

    ``secret_names()`` gives the variables the current config names (it may raise; the
    names seen before are used then); ``atlas_url()`` the proxy route's URL, or None when
    kernels cannot reach the server over TCP (a Unix socket): then no ``ATLAS_URL`` is set
    and the secrets are still withheld. ``on_named(names)`` is called whenever a config
    names a variable not seen before (the server protects its memory then).
    """

    def __init__(
        self,
        *,
        secret_names: Callable[[], Iterable[str]],
        atlas_url: Callable[[], str | None],
        is_alive: Callable[[str], bool],
        log: Any = None,
        on_named: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._secret_names = secret_names
        self._on_named = on_named
        self._atlas_url = atlas_url
        self._log = log
        self._named: set[str] = set()
        self._lock = threading.Lock()
        self.tokens = KernelTokens(is_alive)
        self.named_variables()  # the names of the config the server starts with

    def named_variables(self) -> frozenset[str]:
        """Every variable any adapter has named since the server started."""
        try:
            current = set(self._secret_names())
        except Exception as exc:  # a broken config must not let a kernel start with secrets
            if self._log is not None:
                self._log.warning(
                    "atlas-canvas: could not read the config for the kernel environment "
                    "(%s); withholding the %d variables named before",
                    type(exc).__name__,
                    len(self._named),
                )
            current = set()
        with self._lock:
            grew = not current <= self._named
            self._named |= current
            named = frozenset(self._named)
        if grew and self._on_named is not None:
            self._on_named(named)
        return named

    def withheld(self, env: Mapping[str, str]) -> set[str]:
        """The names in ``env`` a kernel does not get."""
        names = self.named_variables()
        return {k for k in env if k in names}

    def env_for(
        self,
        kernel_id: str,
        base: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of a kernel launch: ``base`` (default the server's environment)
        and ``extra`` without the withheld names, plus ``ATLAS_URL`` and the kernel token
        (which replace the server's own); without a URL the server's ones are inherited."""
        source = dict(os.environ if base is None else base)
        source.update(extra or {})
        drop = self.withheld(source)
        env = {k: v for k, v in source.items() if k not in drop}
        url = self._atlas_url()
        if url:
            env["ATLAS_URL"] = url
            env["ATLAS_ACCESS_TOKEN"] = self.tokens.issue(kernel_id)
        return env


class KernelEnv(dict[str, str]):
    """The ``env=`` given to one kernel's launches; ``copy()`` recomputes it.

    jupyter_client's provisioner does ``env = kwargs.pop("env", os.environ).copy()`` at
    every launch, restarts included, so the scrubbing follows the current config. Updates
    (jupyter_server's ``update_env`` after a session rename) are kept and scrubbed too.
    """

    def __init__(
        self, policy: KernelEnvPolicy, kernel_id: str, base: Mapping[str, str] | None
    ) -> None:
        self._policy = policy
        self._kernel_id = kernel_id
        self._base = dict(base) if base is not None else None
        self._extra: dict[str, str] = {}
        super().__init__(policy.env_for(kernel_id, self._base))

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._extra.update(dict(*args, **kwargs))
        self._refresh()

    def copy(self) -> dict[str, str]:
        # A plain dict: what the provisioner hands to Popen.
        return dict(self._refresh())

    def _refresh(self) -> dict[str, str]:
        fresh = self._policy.env_for(self._kernel_id, self._base, self._extra)
        super().clear()
        super().update(fresh)
        return fresh

    def __repr__(self) -> str:
        return f"KernelEnv({self._kernel_id}, {len(self)} variables)"


def install(kernel_manager: Any, policy: KernelEnvPolicy, log: Any = None) -> None:
    """Wrap ``kernel_manager.start_kernel`` so every new kernel gets a :class:`KernelEnv`.

    ``kernel_manager`` is the server's (Async)MappingKernelManager; only this instance is
    changed. A start for an existing kernel id (jupyter_server reuses kernels) is passed
    through untouched.
    """
    from jupyter_core.utils import ensure_async

    original = kernel_manager.start_kernel

    async def start_kernel(*args: Any, **kwargs: Any) -> str:
        kernel_id = kwargs.get("kernel_id")
        if kernel_id is not None and kernel_id in kernel_manager:
            return str(await ensure_async(original(*args, **kwargs)))
        if kernel_id is None:
            kernel_id = kwargs["kernel_id"] = kernel_manager.new_kernel_id()
        given = kwargs.get("env")
        withheld = policy.withheld(os.environ if given is None else given)
        kwargs["env"] = KernelEnv(policy, kernel_id, given)
        if log is not None:
            log.info(
                "atlas-canvas: kernel %s starts without %d variable(s) the adapters name; "
                "ATLAS_URL points at this server's atlas-canvas route",
                kernel_id,
                len(withheld),
            )
        try:
            return str(await ensure_async(original(*args, **kwargs)))
        except BaseException:
            policy.tokens.revoke(kernel_id)
            raise

    kernel_manager.start_kernel = start_kernel


_PR_SET_DUMPABLE = 4


def make_non_dumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on this process (Linux only); True if it took effect.

    A non-dumpable process's ``/proc/<pid>/environ``, ``mem``, ``maps``, ``fd``... belong to
    root, and processes of the same user cannot ptrace it, so a kernel (which is dumpable
    again after its own ``execve``) cannot read the server's secrets out of it. Root, and
    anyone with ``CAP_SYS_PTRACE``, still can. The cost: no core dumps of the server, and
    same-user debuggers and profilers (py-spy, gdb) cannot attach to it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
