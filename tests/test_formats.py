"""ballotbox.core.formats: the files that travel, written and read with the same rules."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from ballotbox.core.formats import (
    EXPORT_FIELDS,
    FormatError,
    Results,
    check_export_line,
    export_json,
    public_line,
)

from tests import resultskit as rk
from tests.votekit import Voter

ROW = {
    "id": "e01", "rank": 1, "selected": True, "raw_votes": 3, "removed_votes": 1,
    "valid_votes": 2, "public_score": 100.0, "expert_score": None, "final_score": 100.0,
}  # fmt: skip
RESULTS: dict[str, Any] = {
    "format": "topn-results/1",
    "campaign": "test-vote",
    "window": {"opens": "2021-12-29T00:00:00+08:00", "closes": "2022-01-10T00:00:00+08:00"},
    "method": {
        "weights": {"public": 1.0, "expert": 0.0},
        "normalisation": "max",
        "tie_break": ["order"],
        "experts": False,
    },
    "ledger": {
        "lines": 3,
        "counted": 3,
        "removed": 1,
        "rejected": [],
        "removal_entries": {"votes": 1, "voters": 0},
    },
    "lists": [{"kind": "event", "select": 1, "candidates": [ROW]}],
    "merkle": {"root": "ab" * 32, "leaves": 3},
    "tallied_at": "2022-01-11T10:00:00.000+08:00",
    "files": {"ledger": "ledger.jsonl", "campaign": "campaign.json"},
    "proofs": {"dir": "proofs", "prefix": 1},
    "sha256": {"ledger.jsonl": "00" * 32, "campaign.json": "11" * 32},
}


def test_results_round_trip_byte_for_byte() -> None:
    assert Results.from_json(json.loads(json.dumps(RESULTS))).to_json() == RESULTS


def _broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(RESULTS)
    row = data["lists"][0]["candidates"][0]
    if change == "format":
        data["format"] = "topn-results/2"
    elif change == "arithmetic":
        row["valid_votes"] = 3
    elif change == "rank":
        row["rank"] = 2
    elif change == "score":
        row["final_score"] = "100"
    elif change == "files":
        data["files"] = ["ledger.jsonl"]
    elif change == "name":
        data["files"]["ledger"] = "../ledger.jsonl"
    elif change == "root":
        data["merkle"]["root"] = "xyz"
    elif change == "tallied_at":
        data["tallied_at"] = "yesterday"
    return data


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ("format", "format topn-results/1"),
        ("arithmetic", "valid_votes must be raw_votes − removed_votes"),
        ("rank", "ranks must be 1..1"),
        ("score", "'final_score' must be a number"),
        ("files", "'files' must be an object"),
        ("name", "must be a plain name"),
        ("root", "64 hex digits"),
        ("tallied_at", "incomplete"),
    ],
)
def test_a_broken_results_file_is_refused_with_the_reason(change: str, words: str) -> None:
    with pytest.raises(FormatError, match=words):
        Results.from_json(_broken(change))


def test_export_line_has_the_contract_fields_and_reads_back() -> None:
    line = rk.export_line(Voter(), "e01")
    assert tuple(line)[: len(EXPORT_FIELDS)] == EXPORT_FIELDS
    assert check_export_line(line) is line
    assert set(line) - set(public_line(line)) == {"net", "ua"}
    with pytest.raises(FormatError, match="missing or non-string fields signature"):
        check_export_line({**line, "signature": 7})
    with pytest.raises(FormatError, match="not a JSON object"):
        check_export_line([line])


def test_export_json_adds_identity_fields_only_outside_device_mode() -> None:
    from ballotbox.core.store import VoteRecord

    fields = {name: f"x-{name}" for name in EXPORT_FIELDS}
    assert list(export_json(VoteRecord(**fields))) == list(EXPORT_FIELDS)
    wechat = export_json(VoteRecord(**fields, identity="wechat", person="wx:abc"))
    assert (wechat["identity"], wechat["person"]) == ("wechat", "wx:abc")
