"""The DynamoDB vote store: an append-only ledger plus per voter-day-candidate counters.

Every vote is ONE ``TransactWriteItems``: a Put of the vote's own ledger item (condition
``attribute_not_exists(vote_id)``) and an ``ADD`` on its voter-day-candidate counter
(condition ``n < cap``). Transactions are all-or-nothing, so a refusal, a throttle or a
crash can never leave a ledger item without its counter, or the reverse: whatever this
module raises, nothing was half-written. The rules live in those two conditions; nothing
is read first to decide a write.

The only items a vote writes are its own ledger item and its own counter, so no single
item is written by every vote (see ``bench/dynamo_hot_items.py``). Tallies come from the
ledger (``ops.py export``), never from a global counter.

The boto3 client is created on first use: importing this module does no I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from ballotbox.core.clock import BEIJING
from ballotbox.core.errors import DailyLimitReached, NonceReused, Unavailable
from ballotbox.core.store import RecordOutcome, VoteRecord
from ballotbox.stores import schema

#: Error codes (of a whole call, or of one cancellation reason) that mean "try again":
#: the service was busy or another transaction touched the same item. DynamoDB does not
#: retry ``TransactionConflict`` for us, and botocore's own retries are switched off
#: (``max_attempts=1``) so that one loop, with one deadline, owns every retry.
RETRYABLE_CODES: Final = frozenset(
    {
        "TransactionConflict",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ProvisionedThroughputExceeded",
        "ProvisionedThroughputExceededException",
        "ThrottlingError",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)

#: Total time a call may spend retrying before answering 503. The function's own
#: timeout (see ``infra/stack.yaml``) leaves room for this plus the rest of the request.
DEFAULT_DEADLINE_S: Final = 2.5
_BACKOFF_BASE_S: Final = 0.025
_BACKOFF_CAP_S: Final = 0.5
#: A cap counter lives this many days past its Beijing day, then TTL may drop it
#: (TTL deletion is lazy, up to days late; ``votes_used`` only ever asks about today).
CAPS_TTL_DAYS: Final = 3
#: Key of the item ``healthy`` asks for; never a real vote id (those are 22 characters).
_HEALTH_PROBE_KEY: Final = "health-probe"

_LEDGER_FIELDS: Final = VoteRecord.__slots__
#: What a ledger item stores: everything but the receipt text, which is canonical JSON
#: of fields the item already holds (``receipt_text``), so it is rebuilt on read. Its
#: ~300 bytes would push a vote with long ids past DynamoDB's 1 KB write unit and
#: double the vote's write cost; the receipt *signature* is stored, so nothing an
#: auditor checks is lost. Items written before this change keep their text.
_STORED_FIELDS: Final = tuple(name for name in _LEDGER_FIELDS if name != "receipt")
#: What an item written before the identity fields existed is read back with.
_IDENTITY_DEFAULTS: Final = {"identity": "device", "person": ""}


def _client_config() -> Config:
    return Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"mode": "standard", "max_attempts": 1},
    )


def caps_expiry(day: str) -> int:
    """Epoch seconds at which the counter of Beijing ``day`` may be dropped by TTL."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=BEIJING)
    return int((start + dt.timedelta(days=1 + CAPS_TTL_DAYS)).timestamp())


def client_request_token(vote: VoteRecord) -> str:
    """The idempotency token of one *attempt* to record ``vote`` (at most 36 characters).

    It is derived from the vote id plus the server's ``recorded_at`` and the ballot, so it
    is the same for our own retries of one attempt (a retry after a read timeout whose
    first try in fact succeeded then returns success instead of a false "duplicate") and
    different for a voter's later replay or a reused nonce: a token that was the bare vote
    id would make DynamoDB answer a replay within ten minutes with a silent success (we
    would then call it "recorded"), and a reused nonce with ``IdempotentParameterMismatch``.
    DynamoDB only remembers tokens for 10 minutes: the ledger's ``attribute_not_exists``
    condition, not this token, is what guarantees a vote is recorded once.
    """
    digest = hashlib.sha256(f"{vote.recorded_at}\n{vote.ballot}".encode()).hexdigest()
    return f"{vote.vote_id[:22]}-{digest[:13]}"


def _ledger_item(vote: VoteRecord) -> dict[str, dict[str, str]]:
    return {name: {"S": getattr(vote, name)} for name in _STORED_FIELDS}


def _record_from_item(item: Mapping[str, Mapping[str, str]]) -> VoteRecord:
    fields = {
        name: item[name]["S"] if name in item else _IDENTITY_DEFAULTS[name]
        for name in _STORED_FIELDS
    }
    receipt = item["receipt"]["S"] if "receipt" in item else _rebuilt_receipt(fields)
    return VoteRecord(**fields, receipt=receipt)


def _rebuilt_receipt(fields: Mapping[str, str]) -> str:
    """The receipt text the service signed, from the item's own fields (see above)."""
    import json

    from ballotbox.core.receipt import receipt_text

    ballot = fields["ballot"]
    return receipt_text(
        campaign=str(json.loads(ballot)["campaign"]),
        vote_id=fields["vote_id"],
        candidate=fields["candidate"],
        voter=fields["voter"],
        day=fields["day"],
        recorded_at=fields["recorded_at"],
        ballot_bytes=ballot.encode("utf-8"),
    )


def _caps_key(voter: str, day: str, candidate: str) -> dict[str, dict[str, str]]:
    return {
        schema.CAPS_PARTITION_KEY: {"S": schema.caps_partition(voter, day)},
        schema.CAPS_SORT_KEY: {"S": candidate},
    }


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_retryable(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return _error_code(error) in RETRYABLE_CODES or status >= 500


class DynamoStore:
    """``VoteStore`` on two DynamoDB tables (names from ``LEDGER_TABLE`` / ``CAPS_TABLE``).

    ``sleep``, ``clock`` and ``rng`` are injectable so tests can drive the backoff
    without sleeping; in production they are ``time.sleep``, ``time.monotonic`` and a
    fresh ``random.Random``.
    """

    def __init__(
        self,
        ledger_table: str,
        caps_table: str,
        *,
        client: Any = None,
        region: str | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger_table = ledger_table
        self.caps_table = caps_table
        self._client = client
        self._region = region
        self._deadline_s = deadline_s
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._deadline_at: float | None = None

    def set_deadline(self, deadline: float | None) -> None:
        """The request's own deadline (a ``clock`` instant), or None for none.

        The Lambda adapter sets it from the invocation's remaining time before each
        request, so retries stop in time to answer 503 instead of being killed.
        """
        self._deadline_at = deadline

    # -- the client -----------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The DynamoDB client, created on first use (never at import or construction)."""
        if self._client is None:
            import boto3  # deferred: importing the store must stay cheap

            self._client = boto3.client(
                "dynamodb", region_name=self._region, config=_client_config()
            )
        return self._client

    # -- retries --------------------------------------------------------------------

    def _call(self, operation: Callable[[], Any], *, what: str) -> Any:
        """Run ``operation``, retrying transient failures with full-jitter backoff.

        Gives up when the next sleep would cross the deadline and raises ``Unavailable``
        from the last error. Non-transient errors (validation, access denied, missing
        table) are bugs or misconfiguration and propagate unchanged.
        """
        started = self._clock()
        attempt = 0
        while True:
            try:
                return operation()
            except _Retry as error:
                last: Exception = error.cause
            except ClientError as error:
                if not _is_retryable(error):
                    raise
                last = error
            except (ConnectionError, HTTPClientError) as error:
                # The network or the endpoint failed; a transaction retried with the same
                # ClientRequestToken is idempotent, so retrying is safe.
                last = error
            pause = self._rng.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt))
            attempt += 1
            resume = self._clock() + pause
            late = self._deadline_at is not None and resume > self._deadline_at
            if late or resume - started > self._deadline_s:
                retry_after = 1 + self._rng.randrange(3)  # spread the clients' return
                raise Unavailable(
                    f"{what}: gave up after {attempt} attempts", retry_after=retry_after
                ) from last
            self._sleep(pause)

    # -- VoteStore ------------------------------------------------------------------

    def record(self, vote: VoteRecord, cap: int) -> RecordOutcome:
        """Record ``vote`` if its nonce is new and the voter's counter is below ``cap``."""
        request = {
            "ClientRequestToken": client_request_token(vote),
            "TransactItems": [
                {
                    "Put": {
                        "TableName": self.ledger_table,
                        "Item": _ledger_item(vote),
                        "ConditionExpression": "attribute_not_exists(#k)",
                        "ExpressionAttributeNames": {"#k": schema.LEDGER_KEY},
                        # On a replay, the cancellation reason carries the stored vote,
                        # so telling a duplicate from a reused nonce needs no extra read.
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Update": {
                        "TableName": self.caps_table,
                        # The person in wechat mode, so a second key is still one voter.
                        "Key": _caps_key(vote.cap_subject, vote.day, vote.candidate),
                        "UpdateExpression": "ADD #n :one SET #exp = :exp",
                        "ConditionExpression": "attribute_not_exists(#n) OR #n < :cap",
                        "ExpressionAttributeNames": {
                            "#n": schema.CAPS_COUNT,
                            "#exp": schema.CAPS_TTL,
                        },
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":cap": {"N": str(cap)},
                            ":exp": {"N": str(caps_expiry(vote.day))},
                        },
                    }
                },
            ],
        }

        def attempt() -> VoteRecord | None:
            try:
                self.client.transact_write_items(**request)
            except ClientError as error:
                if _error_code(error) != "TransactionCanceledException":
                    raise
                return self._cancelled(vote, error)
            return None

        original = self._call(attempt, what="record")
        if original is None:
            return RecordOutcome("recorded", vote, self._left(vote, cap))
        # A replay: answer with the original vote and its original receipt.
        return RecordOutcome("duplicate", original, self._left(original, cap))

    def _cancelled(self, vote: VoteRecord, error: ClientError) -> VoteRecord:
        """Turn a cancelled transaction into a duplicate (the original), a refusal or a retry.

        The ledger's reason is read first: a replay when the cap is also full is still a
        duplicate (the voter gets their original receipt, not a 429).
        """
        reasons = error.response.get("CancellationReasons") or []
        codes = [str(reason.get("Code", "None")) for reason in reasons]
        ledger_code, caps_code = [*codes, "None", "None"][:2]
        if ledger_code == "ConditionalCheckFailed":
            item = reasons[0].get("Item") or self._ledger_get(vote.vote_id)
            if item is None:  # pragma: no cover - the condition saw it, so it exists
                raise _Retry(error)
            original = _record_from_item(item)
            if original.ballot != vote.ballot:
                raise NonceReused(f"vote {vote.vote_id}") from error
            return original
        if caps_code == "ConditionalCheckFailed":
            raise DailyLimitReached(f"{vote.candidate} on {vote.day}") from error
        if any(code in RETRYABLE_CODES for code in codes):
            raise _Retry(error)
        # ValidationError, ItemCollectionSizeLimitExceeded...: a bug, not a busy service.
        raise error

    def _ledger_get(self, vote_id: str) -> Mapping[str, Mapping[str, str]] | None:
        response = self.client.get_item(
            TableName=self.ledger_table,
            Key={schema.LEDGER_KEY: {"S": vote_id}},
            ConsistentRead=True,
        )
        item: Mapping[str, Mapping[str, str]] | None = response.get("Item")
        return item

    def _left(self, vote: VoteRecord, cap: int) -> int:
        """Votes left today for the vote's candidate, read after the write.

        Transactions return no values, so this is one consistent read. It only informs
        the voter; the cap itself was enforced by the transaction's condition. If the read
        fails, the vote *is* recorded, so we must not answer 503: we report the most the
        voter could have left (their vote used at least one).
        """
        try:
            response = self._call(
                lambda: self.client.get_item(
                    TableName=self.caps_table,
                    Key=_caps_key(vote.cap_subject, vote.day, vote.candidate),
                    ConsistentRead=True,
                    ProjectionExpression="#n",
                    ExpressionAttributeNames={"#n": schema.CAPS_COUNT},
                ),
                what="read counter",
            )
        except Unavailable:
            return max(0, cap - 1)
        used = int(response.get("Item", {}).get(schema.CAPS_COUNT, {}).get("N", "0"))
        return max(0, cap - used)

    def votes_used(self, voter: str, day: str) -> Mapping[str, int]:
        """One Query on the voter-day partition: every candidate's counter at once."""
        used: dict[str, int] = {}
        request: dict[str, Any] = {
            "TableName": self.caps_table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {
                "#pk": schema.CAPS_PARTITION_KEY,
                "#c": schema.CAPS_SORT_KEY,
                "#n": schema.CAPS_COUNT,
            },
            "ExpressionAttributeValues": {":pk": {"S": schema.caps_partition(voter, day)}},
            "ProjectionExpression": "#c, #n",
            "ConsistentRead": True,
        }
        while True:
            page = self._call(lambda: self.client.query(**request), what="votes_used")
            for item in page.get("Items", []):
                used[item[schema.CAPS_SORT_KEY]["S"]] = int(item[schema.CAPS_COUNT]["N"])
            if "LastEvaluatedKey" not in page:
                return used
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def iter_votes(self, *, segment: int = 0, total_segments: int = 1) -> Iterator[VoteRecord]:
        """Stream the ledger page by page (constant memory).

        ``segment``/``total_segments`` split the Scan so several workers can each read a
        disjoint part in parallel. Order is DynamoDB's hash order, not time: the export
        sorts if it needs to.
        """
        request: dict[str, Any] = {"TableName": self.ledger_table}
        if total_segments > 1:
            request |= {"Segment": segment, "TotalSegments": total_segments}
        while True:
            page = self._call(lambda: self.client.scan(**request), what="scan")
            for item in page.get("Items", []):
                yield _record_from_item(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_page(
        self,
        *,
        segment: int,
        total_segments: int,
        start_key: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> tuple[list[VoteRecord], dict[str, Any] | None]:
        """One strongly consistent page of one Scan segment, and where the next starts.

        For ``ops.py export``: the key it returns is what a resumed export starts from.
        """
        request: dict[str, Any] = {
            "TableName": self.ledger_table,
            "ConsistentRead": True,
            "Segment": segment,
            "TotalSegments": total_segments,
        }
        if start_key:
            request["ExclusiveStartKey"] = dict(start_key)
        if limit is not None:
            request["Limit"] = limit
        page = self._call(lambda: self.client.scan(**request), what="scan")
        records = [_record_from_item(item) for item in page.get("Items", [])]
        last: dict[str, Any] | None = page.get("LastEvaluatedKey")
        return records, last

    def healthy(self) -> bool:
        """True if the ledger answers a (cheap, consistent) read."""
        try:
            self._call(
                lambda: self.client.get_item(
                    TableName=self.ledger_table,
                    Key={schema.LEDGER_KEY: {"S": _HEALTH_PROBE_KEY}},
                    ProjectionExpression="#k",
                    ExpressionAttributeNames={"#k": schema.LEDGER_KEY},
                ),
                what="health",
            )
        except (Unavailable, ClientError):
            # Health is a yes/no answer: a missing table or a denied read is "no" too.
            return False
        return True

    def close(self) -> None:
        """Nothing to release: botocore pools its connections per client."""


class _Retry(Exception):
    # An internal signal, caught by ``_call``: it never escapes this module.
    """A cancelled transaction whose reasons say "busy": retry it."""

    def __init__(self, cause: ClientError) -> None:
        super().__init__(str(cause))
        self.cause = cause
