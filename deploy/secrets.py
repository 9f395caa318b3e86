"""The function's two secrets in SSM Parameter Store: created once, never overwritten.

CloudFormation cannot create SecureString parameters, so deploy does, before the stack;
the stack only receives their names. Each value is base64url (no padding) of 32 random
bytes: the receipt key's Ed25519 seed and the key of the network/User-Agent hashes.
Overwriting either would break the promise the value carries (old receipts verifiable,
hashes comparable across the campaign), so an existing parameter is always kept;
rotation is a deliberate manual step (docs/runbook.md).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from deploy.errors import DeployError

SECRET_BYTES = 32


@dataclass(frozen=True)
class SecretNames:
    receipt_key: str
    hash_key: str
    origin_verify: str | None = None  # AWS China only: CloudFront's header to the API

    @classmethod
    def for_stack(cls, stack: str, *, china: bool) -> SecretNames:
        return cls(
            receipt_key=f"/{stack}/receipt-key",
            hash_key=f"/{stack}/hash-key",
            origin_verify=f"/{stack}/origin-verify" if china else None,
        )

    def all(self) -> list[str]:
        return [n for n in (self.receipt_key, self.hash_key, self.origin_verify) if n]


def new_secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()


def read(ssm: Any, name: str) -> str | None:
    """The decrypted value, or None if the parameter does not exist."""
    try:
        answer = ssm.get_parameter(Name=name, WithDecryption=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    value: str = answer["Parameter"]["Value"]
    return value


def read_with_version(ssm: Any, name: str) -> tuple[str, int] | None:
    """(decrypted value, version), or None if the parameter does not exist."""
    try:
        answer = ssm.get_parameter(Name=name, WithDecryption=True)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    return str(answer["Parameter"]["Value"]), int(answer["Parameter"]["Version"])


def ensure(ssm: Any, name: str, *, dry_run: bool = False) -> tuple[str | None, bool]:
    """Create ``name`` if absent. Returns (value, created); value is None in a dry run."""
    existing = read(ssm, name)
    if existing is not None:
        return existing, False
    if dry_run:
        return None, True
    value = new_secret()
    try:
        ssm.put_parameter(
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=False,  # a concurrent deploy may have won the race: keep its value
            Description="top-N vote secret, created by `build.py deploy`; never overwrite",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
            raise
        return read(ssm, name), False
    return value, True


def create(ssm: Any, name: str, value: str) -> None:
    """Put ``value`` under ``name``, never over an existing parameter.

    The plan built the site with ``value``; if another deploy created the parameter in
    the meantime, its value wins and this run must start again with it.
    """
    try:
        ssm.put_parameter(
            Name=name,
            Value=value,
            Type="SecureString",
            Overwrite=False,
            Description="top-N vote secret, created by `build.py deploy`; never overwrite",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
            raise
        raise DeployError(
            f"Another deploy created {name} a moment ago; run deploy again to use it."
        ) from error
