"""The two vote tables on moto, in-process, created from ``ballotbox.stores.schema``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from ballotbox.stores import schema
from moto import mock_aws

REGION = "ap-southeast-1"


@contextmanager
def mocked_tables(
    ledger: str = "votes-ledger", caps: str = "votes-caps"
) -> Iterator[tuple[Any, str, str]]:
    """Yield ``(client, ledger_table, caps_table)`` inside a fresh ``mock_aws``."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        # Never reach a real account, whatever the developer's shell exports.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(name, "testing")
        env.delenv("AWS_PROFILE", raising=False)
        client = boto3.client("dynamodb", region_name=REGION)
        for request in schema.create_table_requests(ledger, caps):
            client.create_table(**request)
        yield client, ledger, caps
