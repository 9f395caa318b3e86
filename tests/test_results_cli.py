"""The results commands end to end: tally, invalidate, prove and audit on real files."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ballotbox.core.ballot import parse_request
from ballotbox.core.service import cast_vote
from ballotbox.stores.sqlite import DEFAULT_FILENAME, SqliteStore

import ops
from tests import resultskit as rk
from tests.votekit import INSIDE, Voter, campaign, hasher, signer


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Any]:
    """A signed ledger, the campaign files, an experts file and a flags file."""
    paths = rk.write_inputs(tmp_path)
    lines = rk.ledger({"e01": 8, "e02": 5, "h01": 3}, voters=2)
    paths["ledger"] = rk.write_jsonl(tmp_path / "ledger.jsonl", lines)
    paths["experts"] = tmp_path / "experts.csv"
    paths["experts"].write_text(
        rk.experts_csv({"e01": [40, 50], "e02": [90, 95], "h01": [60, 60]}), "utf-8"
    )
    flags = {
        "votes": [
            {"vote_id": lines[0]["vote_id"], "level": "remove", "reasons": ["burst", "batch"]},
            {"vote_id": lines[1]["vote_id"], "level": "review", "reasons": ["burst"]},
        ],
        "voters": [],
        "windows": [],
    }
    paths["flags"] = tmp_path / "flags.json"
    paths["flags"].write_text(json.dumps(flags), "utf-8")
    paths["out"] = tmp_path / "public" / "results.json"
    return {"paths": paths, "lines": lines, "tmp": tmp_path}


def tally(p: dict[str, Path], *extra: str) -> int:
    return ops.main(
        [
            "tally",
            str(p["ledger"]),
            "--experts",
            str(p["experts"]),
            "--campaign",
            str(p["campaign"]),
            "--out",
            str(p["out"]),
            *extra,
        ]
    )


def results_of(p: dict[str, Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(p["out"].read_text("utf-8"))
    return data


def by_id(results: dict[str, Any]) -> dict[str, Any]:
    return {c["id"]: c for lst in results["lists"] for c in lst["candidates"]}


def test_tally_then_audit_reproduces_everything(world: dict[str, Any]) -> None:
    p = world["paths"]
    assert tally(p, "--flags", str(p["flags"])) == 0
    results = results_of(p)
    rows = by_id(results)
    # Only the remove-level flag counts; the review flag is ignored.
    assert rows["e01"] == {
        "id": "e01",
        "rank": 2,
        "selected": False,
        "raw_votes": 8,
        "removed_votes": 1,
        "valid_votes": 7,
        "public_score": 100.0,
        "expert_score": 45.0,
        "final_score": 72.5,
    }
    assert rows["e02"]["rank"] == 1
    assert rows["e02"]["selected"]
    assert results["merkle"]["leaves"] == 16
    public = (p["out"].parent / "audit" / "ledger.jsonl").read_text("utf-8")
    assert '"net"' not in public
    assert '"ua"' not in public
    assert ops.main(["audit", str(p["out"].parent / "audit")]) == 0


@pytest.mark.parametrize("target", ["vote", "number", "removal"])
def test_audit_catches_tampering(world: dict[str, Any], target: str) -> None:
    p = world["paths"]
    assert tally(p, "--flags", str(p["flags"])) == 0
    folder = p["out"].parent / "audit"
    if target == "vote":  # move one vote to another candidate, fix up the file's hash
        ledger = folder / "ledger.jsonl"
        rows = ledger.read_text("utf-8").splitlines()
        vote = json.loads(rows[3])
        vote["candidate"] = "e02" if vote["candidate"] != "e02" else "e01"
        rows[3] = json.dumps(vote, ensure_ascii=False, separators=(",", ":"))
        ledger.write_text("\n".join(rows) + "\n", "utf-8")
        results = results_of(p)
        results["sha256"]["ledger.jsonl"] = hashlib.sha256(ledger.read_bytes()).hexdigest()
        (folder / "results.json").write_text(json.dumps(results), "utf-8")
    elif target == "number":
        results = results_of(p)
        results["lists"][0]["candidates"][0]["valid_votes"] += 1
        (folder / "results.json").write_text(json.dumps(results), "utf-8")
    else:  # quietly drop the published removal
        (folder / "removals.json").write_text('{"votes": [], "voters": []}', "utf-8")
    assert ops.main(["audit", str(folder)]) == 1


def test_every_receipt_proves_and_a_forged_one_fails(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    p = world["paths"]
    assert tally(p) == 0
    folder = str(p["out"].parent / "audit")
    root = results_of(p)["merkle"]["root"]
    for line in world["lines"]:
        kept = {k: line[k] for k in ("vote_id", "receipt", "receipt_signature")}
        assert ops.main(["prove", json.dumps(kept), "--export", folder]) == 0
        assert json.loads(capsys.readouterr().out)["root"] == root
    line = world["lines"][0]
    forged = line["receipt"].replace('"candidate":"e01"', '"candidate":"e02"')
    unsigned = json.dumps({"vote_id": line["vote_id"], "receipt": forged})
    assert ops.main(["prove", unsigned, "--export", folder]) == 1
    signed = json.dumps({"receipt": forged, "receipt_signature": line["receipt_signature"]})
    assert ops.main(["prove", signed, "--export", folder]) == 1
    assert "does not verify" in capsys.readouterr().err
    receipt_file = world["tmp"] / "receipt.json"
    receipt_file.write_text(line["receipt"], "utf-8")  # the bare receipt also works
    assert ops.main(["prove", str(receipt_file), "--export", folder]) == 0


def test_invalidations_are_chained_and_reproduce_the_tally(world: dict[str, Any]) -> None:
    p = world["paths"]
    log = world["tmp"] / "invalidations.jsonl"
    args = ["invalidate", "--flags", str(p["flags"]), "--by", "Organiser", "--log", str(log)]
    assert ops.main([*args, "--reason", "two kinds of evidence agree"]) == 0
    assert ops.main([*args, "--reason", "confirmed again"]) == 0
    records = [json.loads(x) for x in log.read_text("utf-8").splitlines()]
    assert [r["seq"] for r in records] == [1, 2]
    assert records[1]["prev"] == records[0]["hash"]
    assert records[0]["votes"] == [
        {"vote_id": world["lines"][0]["vote_id"], "reasons": ["burst", "batch"]}
    ]
    assert tally(p, "--invalidations", str(log)) == 0
    assert by_id(results_of(p))["e01"]["removed_votes"] == 1
    assert (p["out"].parent / "audit" / "invalidations.jsonl").read_bytes() == log.read_bytes()
    assert ops.main(["audit", str(p["out"].parent / "audit")]) == 0
    # Rewriting history breaks the chain: the tally refuses and writes nothing new.
    before = p["out"].read_bytes()
    log.write_text(log.read_text("utf-8").replace("Organiser", "Somebody"), "utf-8")
    assert tally(p, "--invalidations", str(log)) == 1
    assert p["out"].read_bytes() == before
    assert ops.main([*args, "--reason", "more"]) == 1


def test_invalidate_needs_remove_level_entries(world: dict[str, Any]) -> None:
    world["paths"]
    only_review = world["tmp"] / "review.json"
    only_review.write_text(
        json.dumps({"votes": [{"vote_id": "x", "level": "review", "reasons": []}]}), "utf-8"
    )
    log = world["tmp"] / "log.jsonl"
    argv = ["invalidate", "--flags", str(only_review), "--by", "O", "--reason", "r"]
    assert ops.main([*argv, "--log", str(log)]) == 1
    assert not log.exists()


def test_bad_experts_file_stops_the_tally(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    p = world["paths"]
    p["experts"].write_text("candidate,expert,score\ne01,x,50\nnope,x,50\n", "utf-8")
    assert tally(p) == 1
    err = capsys.readouterr().err
    assert "line 3" in err
    assert "unknown candidate 'nope'" in err
    assert "第 3 行" in err
    assert not p["out"].exists()


def test_a_campaign_json_without_lists_and_method_stops_the_tally(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The tally reads the lists and the method from campaign.json alone, so an older
    campaign.json (built before they were added) is refused, never guessed at."""
    p = world["paths"]
    old = json.loads(p["campaign"].read_text("utf-8"))
    del old["lists"], old["results"]
    p["campaign"].write_text(json.dumps(old), "utf-8")
    assert tally(p) == 1
    err = capsys.readouterr().err
    assert "no 'lists' and 'results'" in err
    assert "重新生成网站" in err
    assert not p["out"].exists()


def test_inputs_inside_the_export_folder_are_refused(world: dict[str, Any]) -> None:
    p = world["paths"]
    inside = p["out"].parent / "audit" / "ledger.jsonl"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(p["ledger"].read_bytes())
    assert tally({**p, "ledger": inside}) == 1
    assert inside.read_bytes() == p["ledger"].read_bytes()
    assert not p["out"].exists()


def test_public_only_tally_without_experts(world: dict[str, Any]) -> None:
    p = world["paths"]
    argv = [
        "tally",
        str(p["ledger"]),
        "--campaign",
        str(p["campaign"]),
        "--out",
        str(p["out"]),
    ]
    assert ops.main(argv) == 0
    results = results_of(p)
    assert results["method"]["weights"] == {"public": 1.0, "expert": 0.0}
    assert by_id(results)["e01"]["expert_score"] is None
    assert "experts" not in results["files"]
    assert ops.main(["audit", str(p["out"].parent / "audit")]) == 0


def test_from_the_real_store_to_an_audited_result(world: dict[str, Any]) -> None:
    """Votes cast through the vote service into SQLite, exported, tallied and audited."""
    p = world["paths"]
    data = world["tmp"] / "data"
    data.mkdir()
    store = SqliteStore(data / DEFAULT_FILENAME)
    receipts = []
    try:
        for i, (voter, candidate) in enumerate([(Voter(), "e01"), (Voter(), "h01")] * 3):
            outcome = cast_vote(
                parse_request(voter.vote_body(candidate)),
                campaign=campaign(),
                signer=signer(),
                store=store,
                now=INSIDE + timedelta(minutes=i),
                net=hasher().net("10.0.0.1"),
                ua=hasher().ua("test"),
            )
            receipts.append(outcome.record)
    finally:
        store.close()
    export = world["tmp"] / "votes.jsonl"
    assert ops.main(["export", "--data", str(data), "--out", str(export)]) == 0
    assert ops.main(["verify", str(export), "--campaign", str(p["campaign"])]) == 0
    assert tally({**p, "ledger": export}) == 0
    assert by_id(results_of(p))["e01"]["valid_votes"] == 3
    folder = str(p["out"].parent / "audit")
    assert ops.main(["audit", folder]) == 0
    for record in receipts:
        kept = {"receipt": record.receipt, "receipt_signature": record.receipt_signature}
        assert ops.main(["prove", json.dumps(kept), "--export", folder]) == 0
