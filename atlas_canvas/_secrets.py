"""``${{ NAME }}`` secret templates: parse at load, resolve at send time, never show.

A header value such as ``Token token=${{ PAGERDUTY_ACCOUNT_TOKEN }}`` is parsed once into a
:class:`Template`. Its ``repr``/``str`` show the *template text* (variable names only); the
resolved value exists only in the request being built.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._errors import MissingSecretError

__all__ = ["TEMPLATE_RE", "Template", "redact"]

#: ``${{ NAME }}`` with optional spacing; NAME is a POSIX-ish environment variable name.
TEMPLATE_RE = re.compile(r"\$\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ANY_TEMPLATE_RE = re.compile(r"\$\{\{(.*?)\}\}")


@dataclass(frozen=True)
class Template:
    """A string with zero or more ``${{ VAR }}`` placeholders.

    Example::

        t = Template.parse("Token token=${{ PD_TOKEN }}")
        t.variables            # ('PD_TOKEN',)
        t.resolve({"PD_TOKEN": "s3cret"})   # 'Token token=s3cret'
    """

    text: str
    variables: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Template:
        """Parse ``text``; raise ``ValueError`` for a malformed ``${{ ... }}``."""
        for match in _ANY_TEMPLATE_RE.finditer(text):
            if not TEMPLATE_RE.fullmatch(match.group(0)):
                raise ValueError(
                    f"malformed secret template {match.group(0)!r}: expected ${{{{ NAME }}}} "
                    "with NAME made of letters, digits and '_'"
                )
        names = tuple(dict.fromkeys(m.group(1) for m in TEMPLATE_RE.finditer(text)))
        return cls(text=text, variables=names)

    @property
    def is_secret(self) -> bool:
        return bool(self.variables)

    def missing(self, environ: Mapping[str, str] | None = None) -> list[str]:
        env = os.environ if environ is None else environ
        return [name for name in self.variables if name not in env]

    def resolve(
        self, environ: Mapping[str, str] | None = None, *, adapter: str | None = None
    ) -> str:
        """The value with every placeholder replaced from ``environ`` (default: os.environ).

        Raises :class:`MissingSecretError` naming the first unset variable (never a value).
        """
        if not self.variables:
            return self.text
        env = os.environ if environ is None else environ

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            try:
                return env[name]
            except KeyError:
                raise MissingSecretError(name, adapter=adapter) from None

        return TEMPLATE_RE.sub(substitute, self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Template({self.text!r})"


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace each non-empty secret value found in ``text`` with ``***``."""
    for value in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(value, "***")
    return text
