"""Keyed hashes of the client's network prefix and User-Agent (PIPL: no raw IPs stored).

The analysis needs "these votes came from the same network / the same browser build",
never who: a keyed hash (HMAC-SHA256 under a server secret, truncated) gives exactly
that, and without the key nobody can enumerate the 2^24 IPv4 prefixes to undo it.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress

from ballotbox.core.encoding import b64u_encode

DIGEST_BYTES = 12  # 96 bits: collisions are negligible at any campaign's size


# Cached: parsing is ~50x the cost of a lookup, and a request asks twice (limit, record).
@functools.lru_cache(maxsize=8192)
def network_prefix(ip: str | None) -> str:
    """IPv4 /24 or IPv6 /48 as text; IPv4-mapped IPv6 counts as IPv4."""
    try:
        addr = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


class Hasher:
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the hashing key needs at least 128 bits")
        self._key = key

    def _hash(self, domain: bytes, value: str) -> str:
        # The domain tag keeps a UA string from ever hashing like a network prefix.
        mac = hmac.new(self._key, domain + b"\x00" + value.encode("utf-8", "replace"), "sha256")
        return b64u_encode(mac.digest()[:DIGEST_BYTES])

    def net(self, ip: str | None) -> str:
        return self._hash(b"net", network_prefix(ip))

    def ua(self, user_agent: str | None) -> str:
        return self._hash(b"ua", user_agent or "")

    def person(self, openid: str) -> str:
        """A WeChat OpenID as the ledger may keep it: ``wx:`` + its keyed hash, never raw."""
        return "wx:" + self._hash(b"wechat-openid", openid)

    def subkey(self, purpose: bytes) -> bytes:
        """A separate key for another use (e.g. sealing credentials): one secret to keep."""
        return hmac.new(self._key, b"ballotbox/" + purpose, "sha256").digest()
