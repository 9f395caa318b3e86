"""Ed25519 through pynacl: checking a voter's signature, signing the server's receipts.

pynacl is imported here and nowhere else in the core, and this module is imported
lazily by the adapters, so a cold start that only answers /api/health never pays for it.
"""

from __future__ import annotations

from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError
from nacl.signing import SigningKey, VerifyKey

from ballotbox.core.encoding import b64u_decode, b64u_encode
from ballotbox.core.errors import BadSignature

SEED_BYTES = 32


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise ``BadSignature`` unless ``signature`` is ``public_key``'s over ``message``."""
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, NaclValueError) as exc:
        # NaclValueError: a key that is not a curve point cannot have signed anything.
        raise BadSignature from exc


class Signer:
    """The server's receipt key (an Ed25519 seed kept in SSM or a 0600 file)."""

    __slots__ = ("_key", "public_key_b64")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = SigningKey(seed)
        self.public_key_b64 = b64u_encode(bytes(self._key.verify_key))

    @classmethod
    def from_b64(cls, seed_b64: str) -> Signer:
        return cls(b64u_decode(seed_b64.strip()))

    def sign(self, message: bytes) -> str:
        return b64u_encode(self._key.sign(message).signature)
