"""Who counts as one voter: the identity modes, their server-signed tokens and the work proof.

Three modes, chosen per campaign (``campaign.json`` → ``identity.mode``):

- ``device``: the anonymous device key, as the ballot defines it (docs/http-api.md).
  Nothing here runs.
- ``device+pow``: a key must earn a *credential* with a proof of work before it votes.
- ``wechat``: a key must earn a credential from a WeChat sign-in; the credential carries
  a keyed hash of the OpenID (the *person*), and the daily cap counts per person.

Why a credential rather than "a proof before a key's first vote": deciding "first" needs
a read of the key's past votes before the write (a race, and one more store call per
vote). A credential is stateless instead: it is an HMAC over (campaign, mode, key,
person, expiry) that the server checks in microseconds, and a key without one has simply
not done the work. Replaying a proof only yields another credential for the *same* key,
which buys nothing, so no store of spent proofs is needed either.

Pure: the clock arrives as ``now`` (epoch seconds), secrets as keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from ballotbox.core.encoding import b64u_decode, b64u_encode
from ballotbox.core.errors import (
    CredentialExpired,
    CredentialInvalid,
    MalformedRequest,
    ProofExpired,
    ProofInvalid,
)

Mode = Literal["device", "device+pow", "wechat"]
MODES: Final[tuple[Mode, ...]] = ("device", "device+pow", "wechat")

#: Leading zero bits of SHA-256 a proof needs; 2^18 hashes take about a second on a
#: mid-range phone (bench/README.md "Proof of work" has the measurement).
DEFAULT_POW_BITS: Final = 18
MAX_POW_BITS: Final = 32
CHALLENGE_SECONDS: Final = 300
#: A WeChat credential is short-lived: re-signing in inside WeChat is silent and fast.
DEFAULT_CREDENTIAL_MINUTES: Final = 120
#: Per network prefix: generous, because carrier NAT puts thousands of phones behind one
#: address; the WAF does the coarse limiting in the cloud.
DEFAULT_NETWORK_BURST: Final = 1200
DEFAULT_NETWORK_PER_MINUTE: Final = 6000
#: WeChat's OAuth page (the silent ``snsapi_base`` sign-in of wechat mode); the vote page
#: sends the voter there unless the campaign sets ``wechat_authorize_url``.
WECHAT_AUTHORIZE_URL: Final = "https://open.weixin.qq.com/connect/oauth2/authorize"
#: The person id's prefix: never confusable with a 43-character voter key.
PERSON_PREFIX: Final = "wx:"
_MAC_BYTES: Final = 16


#: The ``identity`` block's numbers, by their campaign.yaml / campaign.json name:
#: (default, lowest, highest). The one table the builder and the function both check.
LIMITS: Final[Mapping[str, tuple[int, int, int]]] = {
    "pow_difficulty": (DEFAULT_POW_BITS, 1, MAX_POW_BITS),
    "credential_minutes": (DEFAULT_CREDENTIAL_MINUTES, 1, 24 * 60),
    "network_burst": (DEFAULT_NETWORK_BURST, 1, 10**7),
    "network_per_minute": (DEFAULT_NETWORK_PER_MINUTE, 1, 10**8),
}
#: An AppID or URL: printable ASCII without spaces.
_TOKEN_TEXT: Final = re.compile(r"[\x21-\x7e]{1,200}")


class IdentityConfigError(ValueError):
    """The ``identity`` block of campaign.json is unusable (a deployment error)."""


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    mode: Mode = "device"
    pow_bits: int = DEFAULT_POW_BITS
    credential_minutes: int = DEFAULT_CREDENTIAL_MINUTES
    wechat_appid: str | None = None
    network_burst: int = DEFAULT_NETWORK_BURST
    network_per_minute: int = DEFAULT_NETWORK_PER_MINUTE

    @property
    def needs_credential(self) -> bool:
        return self.mode != "device"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> IdentityPolicy:
        """Read campaign.json's optional ``identity`` block; absent means ``device``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise IdentityConfigError("identity must be an object")
        mode = data.get("mode", "device")
        if mode not in MODES:
            raise IdentityConfigError(f"identity.mode must be one of {MODES}, not {mode!r}")
        numbers = {}
        for name, (default, low, high) in LIMITS.items():
            value = data.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise IdentityConfigError(f"identity.{name} must be a whole number {low}..{high}")
            numbers[name] = value
        appid = data.get("wechat_appid")
        if appid is not None and (not isinstance(appid, str) or not _TOKEN_TEXT.fullmatch(appid)):
            raise IdentityConfigError("identity.wechat_appid must be a text without spaces")
        if mode == "wechat" and appid is None:
            raise IdentityConfigError("identity.wechat_appid is needed in wechat mode")
        return cls(
            mode=mode,
            pow_bits=numbers["pow_difficulty"],
            credential_minutes=numbers["credential_minutes"],
            wechat_appid=appid,
            network_burst=numbers["network_burst"],
            network_per_minute=numbers["network_per_minute"],
        )


class TokenBox:
    """Seals small JSON payloads with an HMAC so the server can trust them when they return.

    A token is ``base64url(payload).base64url(mac)``; the ``kind`` is inside the MAC, so a
    challenge can never pass as a credential or the reverse.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the token key needs at least 128 bits")
        self._key = key

    def _mac(self, kind: str, body: bytes) -> bytes:
        return hmac.new(self._key, kind.encode() + b"\x00" + body, "sha256").digest()[:_MAC_BYTES]

    def seal(self, kind: str, payload: Mapping[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        return f"{b64u_encode(body)}.{b64u_encode(self._mac(kind, body))}"

    def open(self, kind: str, token: str) -> dict[str, Any]:
        """The payload, or ``ValueError`` for anything not sealed by this box as ``kind``."""
        if not isinstance(token, str) or len(token) > 1024 or token.count(".") != 1:
            raise ValueError("not a token")
        body_text, mac_text = token.split(".")
        body, mac = b64u_decode(body_text), b64u_decode(mac_text)
        if not hmac.compare_digest(mac, self._mac(kind, body)):
            raise ValueError("the token's MAC does not verify")
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError("not a token payload")
        return payload


# -- proof of work ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    token: str
    bits: int
    expires: int  # epoch seconds


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte:
            return bits + 8 - byte.bit_length()
        bits += 8
    return bits


def work_digest(challenge: str, solution: str) -> bytes:
    """What the worker hashes: SHA-256 of ``challenge ":" solution`` (ASCII)."""
    return hashlib.sha256(f"{challenge}:{solution}".encode("ascii", "replace")).digest()


def issue_challenge(
    box: TokenBox, *, campaign: str, voter: str, bits: int, now: float
) -> Challenge:
    expires = int(now) + CHALLENGE_SECONDS
    token = box.seal("challenge", {"c": campaign, "k": voter, "d": bits, "x": expires})
    return Challenge(token, bits, expires)


def check_proof(box: TokenBox, header: str, *, campaign: str, voter: str, now: float) -> None:
    """Accept ``challenge:solution`` only if sealed by us, for this key, fresh and worked.

    One HMAC and one SHA-256: microseconds. Raises ``ProofInvalid`` / ``ProofExpired``.
    """
    challenge, sep, solution = header.strip().rpartition(":")
    if not sep or not solution or len(solution) > 32 or not solution.isascii():
        raise ProofInvalid("a proof is challenge:solution")
    try:
        claim = box.open("challenge", challenge)
    except ValueError as exc:
        raise ProofInvalid("the challenge was not issued by this server") from exc
    if claim.get("c") != campaign or claim.get("k") != voter:
        raise ProofInvalid("the challenge is for another campaign or key")
    expires, bits = claim.get("x"), claim.get("d")
    if not isinstance(expires, int) or not isinstance(bits, int):
        raise ProofInvalid("the challenge is incomplete")
    if now >= expires:
        raise ProofExpired
    if leading_zero_bits(work_digest(challenge, solution)) < bits:
        raise ProofInvalid("not enough work")


def solve(challenge: str, bits: int) -> str:
    """The reference solver (tests and tools; the page's is site_src/js/pow.js)."""
    counter = 0
    while leading_zero_bits(work_digest(challenge, str(counter))) < bits:
        counter += 1
    return str(counter)


# -- credentials ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    token: str
    expires: int  # epoch seconds


@dataclass(frozen=True, slots=True)
class Identity:
    """What a checked credential says about the voter of a request."""

    mode: Mode
    person: str  # "" unless wechat: ``wx:`` + keyed hash of the OpenID


def issue_credential(
    box: TokenBox,
    *,
    campaign: str,
    mode: Mode,
    voter: str,
    person: str,
    now: float,
    lifetime_s: int,
) -> Credential:
    expires = int(now) + lifetime_s
    claim = {"c": campaign, "m": mode, "k": voter, "p": person, "x": expires}
    token = box.seal("credential", claim)
    return Credential(token, expires)


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MalformedRequest("Authorization must be 'Bearer <credential>'")
    return token.strip()


def check_credential(
    box: TokenBox, token: str, *, campaign: str, mode: Mode, voter: str, now: float
) -> Identity:
    """The identity a credential vouches for, if it is ours, for this key, campaign and mode."""
    try:
        claim = box.open("credential", token)
    except ValueError as exc:
        raise CredentialInvalid("not issued by this server") from exc
    if claim.get("c") != campaign or claim.get("m") != mode or claim.get("k") != voter:
        raise CredentialInvalid("issued for another campaign, mode or key")
    expires, person = claim.get("x"), claim.get("p")
    if not isinstance(expires, int) or not isinstance(person, str):
        raise CredentialInvalid("incomplete")
    if mode == "wechat" and not person.startswith(PERSON_PREFIX):
        raise CredentialInvalid("a wechat credential names a person")
    if now >= expires:
        raise CredentialExpired
    return Identity(mode, person)
