"""Hostile path segments built from UTF-8 tricks and Unicode compatibility forms.

Shared by the routing-core tests (``tests/test_routing.py``) and the three-front-door test
(``tests/integration/test_hostile_paths.py``). The compatibility forms are not listed by
hand: :func:`nfkc_lookalikes` computes, over all of Unicode, every code point that NFKC
normalisation turns into text holding ``.``, ``/``, ``\\`` or ``%``.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from urllib.parse import quote_from_bytes


def enc(text: str | bytes) -> str:
    """Percent-encode every byte (the UTF-8 bytes of ``text`` if it is a str)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return quote_from_bytes(data, safe="")


def enc2(text: str | bytes) -> str:
    """Percent-encode twice (``%`` itself becomes ``%25``)."""
    return enc(enc(text))


@functools.cache
def nfkc_lookalikes() -> dict[str, list[str]]:
    """``{".": [...], "/": [...], "\\\\": [...], "%": [...]}``: every code point whose NFKC
    form differs from it and holds that character."""
    found: dict[str, list[str]] = {".": [], "/": [], "\\": [], "%": []}
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        folded = unicodedata.normalize("NFKC", ch)
        if folded == ch:
            continue
        for target, hits in found.items():
            if target in folded:
                hits.append(ch)
    return found


def dot_lookalikes() -> list[str]:
    """Code points whose NFKC form is made only of dots (a dot segment on its own)."""
    return [ch for ch in nfkc_lookalikes()["."] if set(unicodedata.normalize("NFKC", ch)) == {"."}]


#: Invalid UTF-8 of every class: 2-, 3- and 4-byte overlongs of '.', '/' and '\\',
#: surrogates, truncated and out-of-range sequences, lone continuation bytes.
INVALID_UTF8: list[bytes] = [
    b"\xc0\xae",  # '.' in 2 bytes
    b"\xc0\xae\xc0\xae",
    b"\xc0\xaf",  # '/'
    b"\xc1\x9c",  # '\\'
    b"\xe0\x80\xae",  # '.' in 3 bytes
    b"\xe0\x80\xae\xe0\x80\xae",
    b"\xe0\x80\xaf",  # '/'
    b"\xe0\x81\x9c",  # '\\'
    b"\xf0\x80\x80\xae",  # '.' in 4 bytes
    b"\xf0\x80\x80\xae\xf0\x80\x80\xae",
    b"\xf0\x80\x80\xaf",  # '/'
    b"\xf8\x80\x80\x80\xae",  # 5-byte form (never valid UTF-8)
    b"\xfc\x80\x80\x80\x80\xae",  # 6-byte form
    b"\xed\xa0\x80",  # surrogate U+D800
    b"\xed\xbf\xbf",  # surrogate U+DFFF
    b"\xed\xa0\xbd\xed\xb8\x80",  # CESU-8 surrogate pair
    b"\xc3",  # truncated 2-byte
    b"\xe6\x97",  # truncated 3-byte
    b"\xf0\x9f\x98",  # truncated 4-byte
    b"a\xc3",
    b"\x80",  # lone continuation byte
    b"\xbf.",
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xf5\x80\x80\x80",
    b"\xff",
    b"\xfe\xff",
]


def hostile_unicode_segments() -> list[str]:
    """Raw (percent-encoded) path segments that must all be refused with 400."""
    out: list[str] = []
    for data in INVALID_UTF8:
        out += [enc(data), enc2(data)]
    # The 3- and 4-byte overlongs of '.' written as the issue reported them, mixed case.
    out += ["%E0%80%AE", "%e0%80%ae%e0%80%ae", "%F0%80%80%AE", "%f0%80%80%ae.", "%ED%A0%80"]
    for ch in dot_lookalikes():
        out += [enc(ch), enc(ch * 2), enc(ch + "."), enc("." + ch), enc2(ch * 2)]
    for ch in nfkc_lookalikes()["/"] + nfkc_lookalikes()["\\"]:
        out += [enc(ch), enc("a" + ch + "b"), enc2("x" + ch)]
    # Fullwidth '%2e%2e' and '%2f': '%' by NFKC, then a dot segment or a slash once decoded.
    for pct in nfkc_lookalikes()["%"]:
        out += [enc(f"{pct}2e{pct}2e"), enc(pct + "2f"), enc(f"{pct}\uff12\uff45{pct}2e")]
    # Mixed: a fullwidth dot next to a real one, the ideographic space after dots.
    out += [enc("\uff0e."), enc("..\u3000"), enc("\u2025;x=1"), enc2("\uff0e\uff0e")]
    return list(dict.fromkeys(out))


#: Legitimate non-ASCII segments that must keep passing through unchanged.
LEGIT_UNICODE_SEGMENTS: list[str] = [
    enc("é"),
    enc("日本"),
    enc("😀"),
    enc("Ελλάδα"),
    enc("\u2488"),  # '1.' after NFKC: not a dot segment
    enc("a\uff0eb"),  # 'a.b' after NFKC: a plain name
    enc("ｆｕｌｌ"),
    enc2("é"),
]

__all__ = [
    "INVALID_UTF8",
    "LEGIT_UNICODE_SEGMENTS",
    "dot_lookalikes",
    "enc",
    "enc2",
    "hostile_unicode_segments",
    "nfkc_lookalikes",
]
