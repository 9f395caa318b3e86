"""DynamoStore cases moto cannot produce, driven through botocore's Stubber.

The shared contract suite (``test_store_contract.py``) runs the rules against moto; here
the real botocore client answers with the exact error shapes DynamoDB sends for
cancellation reasons, conflicts and throttling. A fake clock drives the backoff, so no
test sleeps.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from ballotbox.core.ballot import MAX_BALLOT_BYTES
from ballotbox.core.encoding import b64u_decode, b64u_encode
from ballotbox.core.errors import DailyLimitReached, NonceReused, Unavailable
from ballotbox.core.privacy import Hasher
from ballotbox.core.receipt import receipt_text, vote_id
from ballotbox.core.signature import Signer
from ballotbox.core.store import VoteRecord
from ballotbox.stores import schema
from ballotbox.stores.dynamodb import (
    DEFAULT_DEADLINE_S,
    DynamoStore,
    caps_expiry,
    client_request_token,
)
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from sitegen.content import MAX_ID_LENGTH

LEDGER, CAPS = "ledger", "caps"


def with_receipt(vote: VoteRecord) -> VoteRecord:
    """The vote with the receipt text the service would sign (the store rebuilds it)."""
    receipt = receipt_text(
        campaign=json.loads(vote.ballot)["campaign"],
        vote_id=vote.vote_id,
        candidate=vote.candidate,
        voter=vote.voter,
        day=vote.day,
        recorded_at=vote.recorded_at,
        ballot_bytes=vote.ballot.encode(),
    )
    return replace(vote, receipt=receipt)


VOTE = with_receipt(
    VoteRecord(
        vote_id="AAAAAAAAAAAAAAAAAAAAAA",
        voter="vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvo",
        nonce="bm9uY2Vub25jZW5vbmNlbg",
        candidate="event-01",
        day="2022-01-03",
        recorded_at="2022-01-03T10:00:00.000+08:00",
        ballot='{"v":1,"campaign":"demo","candidate":"event-01"}',
        signature="c2ln",
        receipt="",
        receipt_signature="cmVj",
        net="net-hash",
        ua="ua-hash",
    )
)


class FakeTime:
    """A monotonic clock that only moves when the store sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def stubbed(fake_time: FakeTime) -> Iterator[tuple[DynamoStore, Stubber]]:
    client = boto3.client(
        "dynamodb",
        region_name="ap-southeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    store = DynamoStore(
        LEDGER,
        CAPS,
        client=client,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        rng=random.Random(7),
    )
    with Stubber(client) as stubber:
        yield store, stubber


def ledger_item(vote: VoteRecord) -> dict[str, dict[str, str]]:
    """Every field but the receipt text, which the store rebuilds on read."""
    return {name: {"S": getattr(vote, name)} for name in VoteRecord.__slots__ if name != "receipt"}


def expected_transaction(vote: VoteRecord, cap: int) -> dict[str, Any]:
    """The one request ``record`` must send: exactly two conditional writes."""
    return {
        "ClientRequestToken": client_request_token(vote),
        "TransactItems": [
            {
                "Put": {
                    "TableName": LEDGER,
                    "Item": ledger_item(vote),
                    "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": schema.LEDGER_KEY},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": CAPS,
                    "Key": {
                        schema.CAPS_PARTITION_KEY: {"S": f"{vote.voter}#{vote.day}"},
                        schema.CAPS_SORT_KEY: {"S": vote.candidate},
                    },
                    "UpdateExpression": "ADD #n :one SET #exp = :exp",
                    "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                    "ExpressionAttributeNames": {"#n": "n", "#exp": "expires_at"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":cap": {"N": str(cap)},
                        ":exp": {"N": str(caps_expiry(vote.day))},
                    },
                }
            },
        ],
    }


def add_counter_read(stubber: Stubber, used: int) -> None:
    stubber.add_response(
        "get_item",
        {"Item": {"n": {"N": str(used)}}},
        {
            "TableName": CAPS,
            "Key": ANY,
            "ConsistentRead": True,
            "ProjectionExpression": "#n",
            "ExpressionAttributeNames": {"#n": "n"},
        },
    )


def add_cancelled(stubber: Stubber, reasons: list[dict[str, Any]]) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        http_status_code=400,
        modeled_fields={"CancellationReasons": reasons},
    )


def test_recorded_sends_one_transaction_then_reads_the_counter(stubbed: Any) -> None:
    store, stubber = stubbed
    stubber.add_response("transact_write_items", {}, expected_transaction(VOTE, 5))
    add_counter_read(stubber, used=2)
    outcome = store.record(VOTE, cap=5)
    assert (outcome.status, outcome.record, outcome.votes_left_today) == ("recorded", VOTE, 3)
    stubber.assert_no_pending_responses()


def test_ledger_failed_with_the_identical_ballot_is_a_duplicate_of_the_original(
    stubbed: Any,
) -> None:
    store, stubber = stubbed
    # The replay arrives later: new server time and receipt, same signed ballot.
    original = with_receipt(replace(VOTE, recorded_at="2022-01-03T09:00:00.000+08:00"))
    assert original.receipt != VOTE.receipt
    add_cancelled(
        stubber,
        [
            {"Code": "ConditionalCheckFailed", "Item": ledger_item(original)},
            # The cap may be full too: a replay still gets its original receipt.
            {"Code": "ConditionalCheckFailed", "Item": {"n": {"N": "5"}}},
        ],
    )
    add_counter_read(stubber, used=5)
    outcome = store.record(VOTE, cap=5)
    assert outcome.status == "duplicate"
    assert outcome.record == original
    assert outcome.votes_left_today == 0
    stubber.assert_no_pending_responses()


def test_ledger_failed_with_a_different_ballot_is_a_reused_nonce(stubbed: Any) -> None:
    store, stubber = stubbed
    other = replace(
        VOTE, ballot='{"v":1,"campaign":"demo","candidate":"event-02"}', candidate="event-02"
    )
    add_cancelled(
        stubber,
        [{"Code": "ConditionalCheckFailed", "Item": ledger_item(other)}, {"Code": "None"}],
    )
    with pytest.raises(NonceReused) as raised:
        store.record(VOTE, cap=5)
    assert isinstance(raised.value.__cause__, ClientError)


def test_counter_failed_is_the_daily_limit(stubbed: Any) -> None:
    store, stubber = stubbed
    add_cancelled(
        stubber,
        [{"Code": "None"}, {"Code": "ConditionalCheckFailed", "Item": {"n": {"N": "5"}}}],
    )
    with pytest.raises(DailyLimitReached):
        store.record(VOTE, cap=5)


def test_transaction_conflict_is_retried_with_the_same_token(
    stubbed: Any, fake_time: FakeTime
) -> None:
    store, stubber = stubbed
    add_cancelled(stubber, [{"Code": "None"}, {"Code": "TransactionConflict"}])
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionConflictException",
        http_status_code=400,
    )
    # The retry must be the very same request (same ClientRequestToken).
    stubber.add_response("transact_write_items", {}, expected_transaction(VOTE, 5))
    add_counter_read(stubber, used=1)
    outcome = store.record(VOTE, cap=5)
    assert (outcome.status, outcome.votes_left_today) == ("recorded", 4)
    assert len(fake_time.sleeps) == 2
    stubber.assert_no_pending_responses()


def test_persistent_throttling_gives_up_within_the_deadline(
    stubbed: Any, fake_time: FakeTime
) -> None:
    store, stubber = stubbed
    codes = [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionInProgressException",
    ]
    for i in range(200):
        stubber.add_client_error(
            "transact_write_items",
            service_error_code=codes[i % len(codes)],
            http_status_code=400,
        )
    with pytest.raises(Unavailable) as raised:
        store.record(VOTE, cap=5)
    error = raised.value
    assert 1 <= error.retry_after <= 3
    assert isinstance(error.__cause__, ClientError)
    assert fake_time.now <= DEFAULT_DEADLINE_S
    # It did back off (several tries), and exponentially: the pauses are not all tiny.
    assert len(fake_time.sleeps) >= 4
    assert max(fake_time.sleeps) > 0.05


def test_server_errors_are_retried_then_unavailable(stubbed: Any, fake_time: FakeTime) -> None:
    store, stubber = stubbed
    for _ in range(200):
        stubber.add_client_error(
            "transact_write_items", service_error_code="InternalServerError", http_status_code=500
        )
    with pytest.raises(Unavailable):
        store.record(VOTE, cap=5)
    assert fake_time.now <= DEFAULT_DEADLINE_S


def test_a_validation_error_is_a_bug_and_is_not_retried(stubbed: Any, fake_time: FakeTime) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="ValidationException",
        service_message="One or more parameter values were invalid",
        http_status_code=400,
    )
    with pytest.raises(ClientError) as raised:
        store.record(VOTE, cap=5)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert fake_time.sleeps == []


def test_a_validation_cancellation_reason_is_a_bug_too(stubbed: Any) -> None:
    store, stubber = stubbed
    add_cancelled(stubber, [{"Code": "None"}, {"Code": "ValidationError"}])
    with pytest.raises(ClientError):
        store.record(VOTE, cap=5)


def test_a_failed_counter_read_after_the_write_still_reports_recorded(
    stubbed: Any, fake_time: FakeTime
) -> None:
    store, stubber = stubbed
    stubber.add_response("transact_write_items", {}, expected_transaction(VOTE, 5))
    for _ in range(200):
        stubber.add_client_error(
            "get_item", service_error_code="ThrottlingException", http_status_code=400
        )
    outcome = store.record(VOTE, cap=5)
    assert (outcome.status, outcome.votes_left_today) == ("recorded", 4)


def test_votes_used_is_one_query_per_page_on_the_voter_day_partition(stubbed: Any) -> None:
    store, stubber = stubbed
    params = {
        "TableName": CAPS,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "voter_day", "#c": "candidate", "#n": "n"},
        "ExpressionAttributeValues": {":pk": {"S": f"{VOTE.voter}#2022-01-03"}},
        "ProjectionExpression": "#c, #n",
        "ConsistentRead": True,
    }
    stubber.add_response(
        "query",
        {
            "Items": [{"candidate": {"S": "a"}, "n": {"N": "2"}}],
            "LastEvaluatedKey": {"voter_day": {"S": "x"}, "candidate": {"S": "a"}},
        },
        params,
    )
    stubber.add_response(
        "query",
        {"Items": [{"candidate": {"S": "b"}, "n": {"N": "5"}}]},
        params | {"ExclusiveStartKey": {"voter_day": {"S": "x"}, "candidate": {"S": "a"}}},
    )
    assert store.votes_used(VOTE.voter, "2022-01-03") == {"a": 2, "b": 5}
    stubber.assert_no_pending_responses()


def test_healthy_is_false_when_the_table_is_missing(stubbed: Any) -> None:
    store, stubber = stubbed
    stubber.add_client_error(
        "get_item", service_error_code="ResourceNotFoundException", http_status_code=400
    )
    assert store.healthy() is False


def test_the_token_differs_for_a_replay_and_fits_dynamodb(stubbed: Any) -> None:
    later = replace(VOTE, recorded_at="2022-01-03T10:05:00.000+08:00")
    assert client_request_token(VOTE) == client_request_token(replace(VOTE))
    assert client_request_token(VOTE) != client_request_token(later)
    assert 1 <= len(client_request_token(VOTE)) <= 36


def test_no_client_is_created_until_first_use() -> None:
    store = DynamoStore(LEDGER, CAPS, region="ap-southeast-1")
    assert store._client is None


def test_caps_expire_a_few_days_after_the_beijing_day() -> None:
    # 2022-01-03 00:00 +08:00 is 2022-01-02T16:00Z; plus 1 + 3 days.
    assert caps_expiry("2022-01-03") == 1641139200 + 4 * 86400


def test_the_request_deadline_stops_retries_early(stubbed: Any, fake_time: FakeTime) -> None:
    """The Lambda adapter's deadline wins over the store's own 2.5 s budget."""
    store, stubber = stubbed
    for _ in range(200):
        stubber.add_client_error(
            "transact_write_items", service_error_code="ThrottlingException", http_status_code=400
        )
    store.set_deadline(0.3)
    with pytest.raises(Unavailable):
        store.record(VOTE, cap=5)
    assert 0 < fake_time.now <= 0.3
    store.set_deadline(None)


def dynamodb_item_size(item: dict[str, dict[str, str]]) -> int:
    """DynamoDB's item size: each attribute's UTF-8 name plus its string value."""
    return sum(len(k.encode()) + len(v["S"].encode()) for k, v in item.items())


def longest_vote(ballot_text: str | None = None) -> VoteRecord:
    """A real vote with the longest ids the build accepts, every field at its maximum."""
    campaign, candidate = "c" * MAX_ID_LENGTH, "k" * MAX_ID_LENGTH
    signer = Signer(bytes(32))
    voter = signer.public_key_b64
    nonce = bytes(range(32))  # the longest nonce a ballot may carry
    if ballot_text is None:  # what the vote page sends: compact JSON
        ballot_text = json.dumps(
            {
                "v": 1,
                "campaign": campaign,
                "candidate": candidate,
                "voter": voter,
                "nonce": b64u_encode(nonce),
                "issued_at": "2022-01-03T10:00:00.000+08:00",
            },
            separators=(",", ":"),
        )
    recorded_at = "2022-01-03T10:00:00.000+08:00"
    vid = vote_id(b64u_decode(voter), nonce)
    receipt = receipt_text(
        campaign=campaign,
        vote_id=vid,
        candidate=candidate,
        voter=voter,
        day="2022-01-03",
        recorded_at=recorded_at,
        ballot_bytes=ballot_text.encode(),
    )
    hasher = Hasher(bytes(32))
    return VoteRecord(
        vote_id=vid,
        voter=voter,
        nonce=b64u_encode(nonce),
        candidate=candidate,
        day="2022-01-03",
        recorded_at=recorded_at,
        ballot=ballot_text,
        signature=signer.sign(ballot_text.encode()),
        receipt=receipt,
        receipt_signature=signer.sign(receipt.encode()),
        net=hasher.net("2001:db8::1"),
        ua=hasher.ua("Mozilla/5.0 MicroMessenger"),
        identity="wechat",  # the longest mode name, and the only one with a person
        person=hasher.person("o" * 28),
    )


def test_a_ledger_item_stays_under_one_write_unit(stubbed: Any) -> None:
    """The runbook prices a vote's ledger Put at one 1 KB unit (two, transactional)."""
    store, stubber = stubbed
    compact = longest_vote()
    # The same ballot padded with JSON whitespace up to the most the API accepts.
    padded = "{" + " " * (MAX_BALLOT_BYTES - len(compact.ballot)) + compact.ballot[1:]
    assert len(padded.encode()) == MAX_BALLOT_BYTES
    for vote in (compact, longest_vote(padded)):
        request = expected_transaction(vote, 5)
        item = request["TransactItems"][0]["Put"]["Item"]
        # A wechat vote counts against the person, not the key.
        counter_key = request["TransactItems"][1]["Update"]["Key"]
        counter_key[schema.CAPS_PARTITION_KEY] = {"S": f"{vote.cap_subject}#{vote.day}"}
        stubber.add_response("transact_write_items", {}, request)
        add_counter_read(stubber, used=1)
        # The item the store really sends (the Stubber compares it with this one).
        store.record(vote, cap=5)
        assert dynamodb_item_size(item) < 1024, dynamodb_item_size(item)
    stubber.assert_no_pending_responses()
