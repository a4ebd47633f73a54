"""The one YAML loader: read, parse with positions, render scalars, write atomically.

A leaf: it imports nothing of atlas-canvas but the error tree. The config model
(:mod:`atlas_canvas._config`) imports it at the top; editing
(:mod:`atlas_canvas._config_edit`) sits above both.

Loading uses ruamel.yaml's round-trip loader, because it keeps the line/column of every
key and item (``node.lc``), which the config layer turns into precise error locations, and
because it refuses duplicate keys instead of silently keeping the last one.

Example::

    docs = load_documents("kind: Atlas\\n", "atlas.yml")
    docs[0].data["kind"]      # 'Atlas'
    docs[0].line              # 1
"""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.scanner import RoundTripScanner

from ._errors import ConfigError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_DOCUMENTS",
    "MAX_YAML_NODES",
    "SEPARATOR_RE",
    "Document",
    "load_documents",
    "position",
    "read_config_text",
    "render_scalar",
    "write_atomic",
]

# Limits: a config is a few kilobytes, six levels deep, a handful of documents. Past these
# the file is not a config, and parsing it could stall a server (a SIGHUP reload) or end in
# a RecursionError, so it is refused with a ConfigError naming the limit. ruamel's parser
# is pure Python (measured here: about 7 s for 1 MiB of plain block YAML, 49 s for 1 MiB of
# nested flow collections), hence a size limit far below what memory would allow and a
# value count that stops the costly shapes early: the worst 256 KiB file found is refused
# in about 1.5 s, a 3,000-deep one in milliseconds, the 3 KB template loads in 50 ms.

#: Largest config file or text accepted, in bytes (256 KiB; the public template is 3 KB).
MAX_CONFIG_BYTES = 256 * 1024
#: Deepest nesting of mappings/sequences (the Atlas format needs about six levels).
MAX_YAML_DEPTH = 64
#: Most documents (``---`` sections) in one file.
MAX_YAML_DOCUMENTS = 1000
#: Most values in the whole file once aliases (``*name``) are expanded: bounds the work of
#: every walk over the loaded data, so an alias bomb ("billion laughs") cannot stall one.
#: (A config with 100 HTTP adapters, 26 KB, has about 3,000.)
MAX_YAML_NODES = 20_000

#: A document separator line (``---`` alone or followed by a space/tab).
SEPARATOR_RE = re.compile(r"^---(?:[ \t]|$)")


@dataclass(frozen=True)
class Document:
    """One YAML document of a stream.

    ``index`` is the 1-based position of the document in the file (empty documents
    count), ``line`` the 1-based line where its content starts (``None`` for a bare
    scalar or an empty document), ``data`` the round-trip loaded value.
    """

    index: int
    data: Any
    line: int | None


def read_config_text(path: Path) -> str:
    """The exact text of ``path`` (line endings untouched), or a :class:`ConfigError`."""
    hint = (
        "create one with `mom atlas config generate --name NAME -o atlas.yml`, pass -f FILE, "
        "or set ATLAS_CONFIG"
    )
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)  # never more than the limit into memory
    except FileNotFoundError:
        raise ConfigError("config file not found", file=str(path), hint=hint) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=str(path)) from None
    except PermissionError:
        raise ConfigError("permission denied reading the config file", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", file=str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise _too_large(str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start})",
            file=str(path),
            hint="save the file as UTF-8",
        ) from None


def _too_large(filename: str) -> ConfigError:
    return ConfigError(
        f"the config is larger than {MAX_CONFIG_BYTES // 1024} KiB "
        "(the limit MAX_CONFIG_BYTES); not read",
        file=filename,
        hint="an Atlas config is a few kilobytes; check that this is the right file",
    )


class _LimitExceeded(Exception):
    """Raised inside ruamel's composer when the stream passes one of the limits."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.line = None if mark is None else int(mark.line) + 1


def _too_deep(mark: Any) -> _LimitExceeded:
    return _LimitExceeded(
        f"the YAML nests deeper than {MAX_YAML_DEPTH} levels (the limit MAX_YAML_DEPTH)", mark
    )


class _BoundedScanner(RoundTripScanner):
    """ruamel's scanner, refusing flow collections (``[``, ``{``) nested past the limit.

    Each open ``[``/``{`` may start a key, and the scanner looks up to 1,024 characters
    ahead over every such pending key; a few thousand nested ``[`` cost it seconds before
    the composer would see the depth. Counting here refuses them at once.
    """

    def fetch_flow_collection_start(self, *args: Any, **kwargs: Any) -> None:
        if self.flow_level >= MAX_YAML_DEPTH:
            raise _too_deep(self.reader.get_mark())
        super().fetch_flow_collection_start(*args, **kwargs)


class _BoundedComposer(Composer):
    """ruamel's composer with the depth, document and value-count limits.

    The composer is the recursive part of ruamel (one Python frame per nesting level);
    checking here, before each level is entered, refuses a 3,000-deep file after 64 levels
    instead of after a RecursionError. The scanner and parser below it are iterative.
    """

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._levels = 0
        self._documents = 0
        self._values = 0  # values composed so far in the file, aliases expanded
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded

    def compose_document(self) -> Any:
        self._documents += 1
        if self._documents > MAX_YAML_DOCUMENTS:
            raise _LimitExceeded(
                f"the file holds more than {MAX_YAML_DOCUMENTS} documents "
                "(the limit MAX_YAML_DOCUMENTS)",
                self.parser.peek_event().start_mark,
            )
        self._sizes = {}  # anchors do not cross documents
        return super().compose_document()

    def _count(self, values: int, mark: Any) -> None:
        self._values += values
        if self._values > MAX_YAML_NODES:
            raise _LimitExceeded(
                f"the file holds more than {MAX_YAML_NODES} values once aliases are "
                "expanded (the limit MAX_YAML_NODES)",
                mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            mark = self.parser.peek_event().start_mark
            node = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), mark)
            return node
        self._levels += 1
        mark = self.parser.peek_event().start_mark
        if self._levels > MAX_YAML_DEPTH:
            raise _too_deep(mark)
        self._count(1, mark)
        before = self._values
        node = super().compose_node(parent, index)
        self._levels -= 1
        # What an alias of this node will cost: itself and everything composed under it.
        self._sizes[id(node)] = 1 + self._values - before
        return node


def _round_trip_yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    y.Scanner = _BoundedScanner
    y.Composer = _BoundedComposer
    return y


def _mark_line(exc: MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return None if mark is None else int(mark.line) + 1


def load_documents(text: str, filename: str = "<string>") -> list[Document]:
    """Load every document of ``text``; YAML errors become :class:`ConfigError`.

    A duplicate key is reported at the line of its *second* occurrence. Text past
    :data:`MAX_CONFIG_BYTES`, nesting past :data:`MAX_YAML_DEPTH`, more than
    :data:`MAX_YAML_DOCUMENTS` documents or :data:`MAX_YAML_NODES` values is refused with a
    :class:`ConfigError` naming the limit.
    """
    # Characters first: a huge text is refused without encoding it.
    if len(text) > MAX_CONFIG_BYTES or len(text.encode("utf-8", "surrogatepass")) > (
        MAX_CONFIG_BYTES
    ):
        raise _too_large(filename)
    try:
        raw = list(_round_trip_yaml().load_all(text))
    except _LimitExceeded as exc:
        raise ConfigError(
            exc.message,
            file=filename,
            line=exc.line,
            document=_document_at(text, exc.line),
            hint="an Atlas config is a few levels deep with a handful of documents; "
            "check that this is the right file",
        ) from None
    except DuplicateKeyError as exc:
        key = _duplicate_key_name(exc)
        line = _mark_line(exc)
        raise ConfigError(
            f"duplicate key {key} in the same mapping",
            file=filename,
            line=line,
            document=_document_at(text, line),
            hint="keep only one of them; YAML does not merge repeated keys",
        ) from None
    except MarkedYAMLError as exc:
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        if "undefined alias" in what:
            # `value: *abc...` (a token pasted unquoted, starting with '*') reads as an
            # alias; ruamel's message would quote it.
            what = "an alias (*name) that no anchor (&name) defines; quote values that start with *"
        line = _mark_line(exc)
        raise ConfigError(
            f"malformed YAML: {what or 'syntax error'}",
            file=filename,
            line=line,
            document=_document_at(text, line),
            hint="fix the YAML syntax at that line (indentation, quotes, brackets)",
        ) from None
    except YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", file=filename) from None
    docs: list[Document] = []
    for i, data in enumerate(raw, start=1):
        docs.append(Document(index=i, data=data, line=position(data)))
    return docs


def _document_at(text: str, line: int | None) -> str | None:
    """``'document N'`` for a 1-based ``line``, counting ``---`` separators before it."""
    if line is None:
        return None
    index = 1
    seen_content = False
    for row in text.split("\n")[: line - 1]:
        if SEPARATOR_RE.match(row):
            if seen_content:
                index += 1
            seen_content = True  # a leading '---' opens document 1, later ones open the next
        elif row.strip() and not row.lstrip().startswith("#"):
            seen_content = True
    return f"document {index}"


def _duplicate_key_name(exc: DuplicateKeyError) -> str:
    # ruamel's problem text is 'found duplicate key "NAME" with value ...'.
    problem = exc.problem or ""
    start = problem.find('"')
    end = problem.find('"', start + 1)
    if start >= 0 and end > start:
        return repr(problem[start + 1 : end])
    return "(unknown)"


def position(container: Any, key: Any = None) -> int | None:
    """1-based line of ``container`` itself, or of ``container[key]`` when given.

    For a mapping key the line of the key is used (a value may start on a later line);
    for a sequence index the line of the item. ``None`` when ruamel kept no position.
    """
    lc = getattr(container, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return int(lc.line) + 1
        if isinstance(container, list):
            return int(lc.item(key)[0]) + 1
        return int(lc.key(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def render_scalar(value: str) -> str:
    """``value`` as YAML text for ``key: <here>``, quoted only when YAML requires it.

    ruamel decides the style; the result is checked to load back to exactly ``value``.

    Example::

        render_scalar("Token token=${{ PD_TOKEN }}")   # 'Token token=${{ PD_TOKEN }}'
        render_scalar("yes: no")                        # "'yes: no'"
    """
    y = _round_trip_yaml()
    y.width = 1 << 30  # never fold a long header value over several lines
    buf = io.StringIO()
    y.dump({"k": value}, buf)
    out = buf.getvalue()
    rendered = out[3:].rstrip("\n") if out.startswith("k: ") else ""
    if not rendered or "\n" in rendered or _load_scalar(rendered) != value:
        # The value may be a header value (a secret): described, never quoted.
        raise ConfigError(
            f"cannot write a value of {len(value)} characters as a single-line YAML scalar",
            hint="remove line breaks and control characters from the value",
        )
    return rendered


def _load_scalar(text: str) -> Any:
    try:
        loaded = YAML(typ="safe").load("k: " + text + "\n")
    except YAMLError:
        return None
    return loaded.get("k") if isinstance(loaded, dict) else None


def write_atomic(path: str | os.PathLike[str], text: str, *, expect: str | None = None) -> None:
    """Replace ``path`` with ``text`` atomically, keeping the file's permission bits.

    The text goes to a temporary file in the same directory, is flushed and fsynced, then
    renamed over ``path``; a reader sees the old or the new file, never half of one. A
    symlink is followed, so the file it points to is replaced, not the link. With
    ``expect``, the write is refused if the file no longer holds exactly that text (someone
    else edited it meanwhile).

    Example::

        write_atomic("atlas.yml", new_text, expect=old_text)
    """
    target = Path(path)
    if target.is_symlink():
        target = target.resolve()
    if expect is not None and read_config_text(target) != expect:
        raise ConfigError(
            "the file changed while it was being edited; nothing was written",
            file=str(path),
            hint="run the command again",
        )
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        # A new file gets the usual permissions (0666 minus umask), not mkstemp's 0600.
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable; not possible on every platform
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
