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
_OPEN = "${{"
_CLOSE = "}}"
_NAME_CHARS_RE = re.compile(r"^[A-Za-z0-9_]*$")


def _template_problem(inner: str) -> str:
    """What is wrong with the text between ``${{`` and ``}}``, without repeating it.

    The text may be a pasted token (the reason the template exists), so the answer names
    the kind of mistake only.
    """
    name = inner.strip()
    if not name:
        return "it has no variable name"
    if any(c.isspace() for c in name):
        return "it holds more than one word"
    if not _NAME_CHARS_RE.match(name):
        return "its name holds characters other than letters, digits and '_'"
    return "its name starts with a digit"


def _malformed(start: int, length: int, what: str) -> ValueError:
    return ValueError(
        f"malformed secret template at character {start + 1}, {length} characters long: "
        f"{what} (expected ${{{{ NAME }}}}, NAME made of letters, digits and '_' and not "
        "starting with a digit)"
    )


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
        """Parse ``text``; raise ``ValueError`` for a malformed ``${{ ... }}``.

        The error gives the template's position (1-based character), its length and what
        is wrong with it, never its text: a malformed template often holds a pasted token.
        A ``${{`` without a closing ``}}`` is malformed too.
        """
        start = text.find(_OPEN)
        while start >= 0:
            end = text.find(_CLOSE, start + len(_OPEN))
            if end < 0:
                raise _malformed(start, len(text) - start, "it has no closing }}")
            whole = text[start : end + len(_CLOSE)]
            if not TEMPLATE_RE.fullmatch(whole):
                inner = text[start + len(_OPEN) : end]
                raise _malformed(start, len(whole), _template_problem(inner))
            start = text.find(_OPEN, end + len(_CLOSE))
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
