"""The DynamoDB key schema, defined once.

``infra/`` declares the same tables; ``tests/test_infra_policy.py`` checks that the
template and this module agree, so the function can never write to a key the stack
does not have.
"""

from __future__ import annotations

from typing import Final

#: The append-only ledger: one item per vote, keyed by its vote id.
LEDGER_KEY: Final = "vote_id"
#: Per voter-day cap counters: partition ``voter#day``, sort key the candidate id.
CAPS_PARTITION_KEY: Final = "voter_day"
CAPS_SORT_KEY: Final = "candidate"
CAPS_COUNT: Final = "n"
#: Epoch seconds after which DynamoDB's TTL may drop a cap counter (never the ledger).
CAPS_TTL: Final = "expires_at"

LEDGER_KEY_SCHEMA: Final = [{"AttributeName": LEDGER_KEY, "KeyType": "HASH"}]
LEDGER_ATTRIBUTES: Final = [{"AttributeName": LEDGER_KEY, "AttributeType": "S"}]
CAPS_KEY_SCHEMA: Final = [
    {"AttributeName": CAPS_PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": CAPS_SORT_KEY, "KeyType": "RANGE"},
]
CAPS_ATTRIBUTES: Final = [
    {"AttributeName": CAPS_PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": CAPS_SORT_KEY, "AttributeType": "S"},
]


def caps_partition(voter: str, day: str) -> str:
    return f"{voter}#{day}"


def create_table_requests(ledger_table: str, caps_table: str) -> list[dict[str, object]]:
    """``CreateTable`` arguments for both tables, for tests and local tooling.

    The production tables come from ``infra/stack.yaml`` (with PITR, deletion
    protection and TTL on the caps only); these carry just the keys, from the same
    constants.
    """
    return [
        {
            "TableName": ledger_table,
            "KeySchema": LEDGER_KEY_SCHEMA,
            "AttributeDefinitions": LEDGER_ATTRIBUTES,
            "BillingMode": "PAY_PER_REQUEST",
        },
        {
            "TableName": caps_table,
            "KeySchema": CAPS_KEY_SCHEMA,
            "AttributeDefinitions": CAPS_ATTRIBUTES,
            "BillingMode": "PAY_PER_REQUEST",
        },
    ]
