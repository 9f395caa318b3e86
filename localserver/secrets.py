"""The local server's two secrets, created once under ``--data`` in 0600 files.

In the cloud the same two values live in SSM Parameter Store (SecureString); here a
private file plays that role. Only the receipt key's public half ever leaves it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ballotbox.core.encoding import b64u_decode, b64u_encode

RECEIPT_KEY_FILE = "receipt_key"
HASH_KEY_FILE = "hash_key"
SECRET_BYTES = 32


class SecretsError(RuntimeError):
    """A secret file exists but does not hold a 32-byte base64url value."""


@dataclass(frozen=True, slots=True)
class Secrets:
    receipt_seed: bytes  # Ed25519 seed that signs receipts
    hash_key: bytes  # HMAC key for the network-prefix and User-Agent hashes

    @property
    def receipt_public_key_b64(self) -> str:
        """The public half, for ``campaign.json``'s ``receipt_key``."""
        from ballotbox.core.signature import Signer  # pynacl only when asked

        return Signer(self.receipt_seed).public_key_b64


def _read(path: Path) -> bytes:
    try:
        value = b64u_decode(path.read_text("ascii").strip())
    except ValueError as exc:  # also UnicodeDecodeError
        raise SecretsError(f"{path} does not hold base64url") from exc
    if len(value) != SECRET_BYTES:
        raise SecretsError(f"{path} must hold {SECRET_BYTES} bytes")
    return value


def _read_or_create(path: Path) -> bytes:
    try:
        # O_EXCL: two servers starting at once cannot both create (and disagree on) a key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    value = os.urandom(SECRET_BYTES)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(b64u_encode(value) + "\n")
        out.flush()
        os.fsync(out.fileno())
    return value


def ensure_secrets(data_dir: Path) -> Secrets:
    """Read the secrets under ``data_dir``, creating them (mode 0600) on first run."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets = Secrets(
        receipt_seed=_read_or_create(data_dir / RECEIPT_KEY_FILE),
        hash_key=_read_or_create(data_dir / HASH_KEY_FILE),
    )
    private_data_dir(data_dir)
    return secrets


#: What ``--data`` holds that nobody but the server's user may read: the keys, and the
#: ledger with its WAL and shared-memory files (votes, network and User-Agent hashes).
PRIVATE_FILES = (RECEIPT_KEY_FILE, HASH_KEY_FILE, "votes.sqlite3", "votes.sqlite3-wal",
                 "votes.sqlite3-shm")  # fmt: skip


def private_data_dir(data_dir: Path) -> None:
    """Tighten ``data_dir`` to 0700 and its private files to 0600, even if they pre-exist.

    ``mkdir(mode=...)`` does nothing to a folder that exists, and files created under
    a permissive umask (SQLite's) would be world-readable: the ledger is private.
    """
    os.chmod(data_dir, 0o700)
    for name in PRIVATE_FILES:
        path = data_dir / name
        try:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
        except FileNotFoundError:
            continue


#: The Official Account's AppSecret for ``wechat`` mode: written by the organiser (0600),
#: never created here (WeChat issues it). The AppID is public: campaign.yaml has it.
WECHAT_SECRET_FILE = "wechat_secret"  # noqa: S105 - a file name, not a secret


def read_wechat_secret(data_dir: Path) -> str | None:
    """The AppSecret from ``data_dir``, or None if the file is absent."""
    path = data_dir / WECHAT_SECRET_FILE
    try:
        text = path.read_text("ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # unreadable, or not ASCII
        raise SecretsError(f"{path} cannot be read as ASCII") from exc
    if not text:
        raise SecretsError(f"{path} is empty")
    if path.stat().st_mode & 0o077:
        raise SecretsError(f"{path} must be private: chmod 600 {path}")
    return text
