"""The IPython display hook for incidents frames; importing it loads nothing heavy.

``%load_ext atlas_canvas`` registers :func:`frame_formatter` for ``pandas.DataFrame`` by name,
so pandas is not imported at load time. Frames not built by ``atlas_canvas.pagerduty`` get
``None`` and keep pandas' own display.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["frame_formatter"]

Formatter = Callable[..., "dict[str, Any] | None"]


def frame_formatter(limit_getter: Callable[[], int]) -> Formatter:
    """An IPython mimebundle formatter for incidents frames (``None`` for other frames)."""

    def fmt(
        obj: Any, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> dict[str, Any] | None:
        attrs = getattr(obj, "attrs", None)
        if not isinstance(attrs, dict) or attrs.get("atlas_kind") != "pagerduty.incidents":
            return None
        from ._display import incidents_bundle
        from ._frame import is_incidents_frame

        if not is_incidents_frame(obj):
            return None
        return incidents_bundle(obj, limit=int(limit_getter()))

    return fmt
