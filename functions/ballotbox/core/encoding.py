"""Strict base64url without padding, the one encoding for keys, nonces and signatures.

Strict means one text per byte string: padding, foreign characters and non-zero
trailing bits are refused, so two different texts can never name the same key.
"""

from __future__ import annotations

import base64
import binascii
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url or raise ``ValueError``."""
    if not isinstance(text, str) or not _ALPHABET.fullmatch(text):
        raise ValueError("not base64url")
    if len(text) % 4 == 1:
        raise ValueError("impossible base64url length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the regex already excludes this
        raise ValueError("not base64url") from exc
    # Non-zero trailing bits would let several texts decode to the same bytes.
    if b64u_encode(data) != text:
        raise ValueError("non-canonical base64url")
    return data
