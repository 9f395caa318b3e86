"""``ops.py export`` then ``verify``: a clean ledger passes, every kind of tampering is named."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ballotbox.core.ballot import parse_request
from ballotbox.core.campaign import Campaign
from ballotbox.core.service import cast_vote
from ballotbox.core.store import VoteRecord
from ballotbox.stores.sqlite import SqliteStore

import ops
from opstools.export import export_line
from tests import votekit
from tests.votekit import INSIDE, MemoryStore, Voter

ROOT = Path(__file__).resolve().parent.parent


def record_votes(store: object, campaign: Campaign, voters: list[Voter], now: datetime) -> None:
    for i, voter in enumerate(voters):
        cast_vote(
            parse_request(voter.vote_body(votekit.CANDIDATES[i % 3])),
            campaign=campaign,
            signer=votekit.signer(),
            store=store,  # type: ignore[arg-type]
            now=now + timedelta(seconds=i),
            net="net",
            ua="ua",
        )


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, Path]:
    """A real ledger of 30 votes exported through ``ops.py export --data``."""
    data = tmp_path / "data"
    data.mkdir()
    store = SqliteStore(data / "votes.sqlite3")
    voters = [Voter() for _ in range(6)]
    record_votes(store, votekit.campaign(), voters * 5, INSIDE)
    store.close()
    out = tmp_path / "out" / "votes.jsonl"
    assert ops.main(["export", "--data", str(data), "--out", str(out)]) == 0
    campaign = votekit.write_campaign(tmp_path / "dist")
    return out, campaign


def verify(path: Path, campaign: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = ops.main(["verify", str(path), "--campaign", str(campaign)])
    return code, capsys.readouterr().out


def lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def write(path: Path, rows: list[dict[str, str]], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + extra)
    return path


def test_export_has_the_contract_fields(exported: tuple[Path, Path]) -> None:
    rows = lines(exported[0])
    assert len(rows) == 30
    design = {
        "vote_id",
        "voter",
        "candidate",
        "day",
        "recorded_at",
        "ballot",
        "signature",
        "net",
        "ua",
    }
    assert design | {"receipt", "receipt_signature"} <= set(rows[0])
    assert rows[0]["recorded_at"] == "2021-12-30T20:15:03.123+08:00"


def test_clean_export_verifies(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify(*exported, capsys) == (0, "")


def test_the_real_cli(exported: tuple[Path, Path], tmp_path: Path) -> None:
    out, campaign = exported
    again = tmp_path / "again.jsonl"
    data = tmp_path / "data"
    run = [sys.executable, "ops.py"]
    done = subprocess.run([*run, "export", "--data", str(data), "--out", str(again)], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert again.read_text() == out.read_text()
    done = subprocess.run([*run, "verify", str(again), "--campaign", str(campaign)], cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified 30 votes: 0 offending" in done.stderr


def test_export_refuses_a_missing_ledger(tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    assert ops.main(["export", "--data", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert not out.exists()
    assert not (tmp_path / "none").exists()


def test_tampered_signature_is_named(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, campaign = exported
    rows = lines(out)
    sig = rows[7]["signature"]
    rows[7]["signature"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    code, report = verify(write(out, rows), campaign, capsys)
    assert code == 1
    assert report.splitlines() == [f"{rows[7]['vote_id']}: voter signature does not verify"]


def test_changed_candidate_is_named(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, campaign = exported
    rows = lines(out)
    rows[3]["candidate"] = "e02" if rows[3]["candidate"] != "e02" else "e01"
    code, report = verify(write(out, rows), campaign, capsys)
    assert code == 1
    assert report.startswith(f"{rows[3]['vote_id']}: ballot candidate differs")
    assert "receipt does not match" in report


def test_replay_is_named(exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out, campaign = exported
    rows = lines(out)
    code, report = verify(write(out, [*rows, rows[4]]), campaign, capsys)
    assert code == 1
    assert report.splitlines() == [f"{rows[4]['vote_id']}: replay: vote_id already on line 5"]


def _forged(campaign: Campaign, now: datetime, voters: list[Voter]) -> list[VoteRecord]:
    """Votes correctly signed by voters and server, but decided under other rules."""
    store = MemoryStore()
    record_votes(store, campaign, voters, now)
    return list(store.iter_votes())


def test_broken_cap_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generous = Campaign.from_dict(votekit.campaign_dict(cap=9))
    voter = Voter()
    # Same voter, one candidate (every third vote is e01): six votes for e01 in one day.
    votes = _forged(generous, INSIDE, [voter] * 18)
    path = tmp_path / "x.jsonl"
    path.write_text("".join(export_line(v) + "\n" for v in votes))
    code, report = verify(path, votekit.write_campaign(tmp_path / "dist"), capsys)
    assert code == 1
    over = [v for v in votes if v.candidate == "e01"][5]
    assert report.splitlines() == [
        f"{over.vote_id}: over the daily cap: vote 6 of 5 for e01 on 2021-12-30"
    ] + [
        f"{v.vote_id}: over the daily cap: vote 6 of 5 for {v.candidate} on 2021-12-30"
        for v in votes[16:]
    ]


def test_out_of_window_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    late = dict(votekit.campaign_dict(), closes="2022-02-01T00:00:00+08:00")
    votes = _forged(Campaign.from_dict(late), datetime.fromisoformat("2022-01-10T00:00:00+08:00"),
                    [Voter()])  # fmt: skip
    path = tmp_path / "x.jsonl"
    path.write_text(export_line(votes[0]) + "\n")
    code, report = verify(path, votekit.write_campaign(tmp_path / "dist"), capsys)
    assert code == 1
    assert report == f"{votes[0].vote_id}: recorded outside the voting window\n"


def test_foreign_receipt_key_is_named(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, _ = exported
    other = votekit.write_campaign(tmp_path / "other", receipt_key=Voter().public)
    code, report = verify(out, other, capsys)
    assert code == 1
    assert len(report.splitlines()) == 30
    assert all("receipt signature does not verify" in line for line in report.splitlines())


def test_malformed_lines_are_offenders_not_crashes(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out, campaign = exported
    rows = lines(out)
    del rows[2]["ballot"]
    rows[5]["day"] = 7  # type: ignore[assignment]
    write(out, rows, extra='garbage\n[1, 2]\n{"vote_id": "x", "ballot": "{", "voter": "", '
          '"candidate": "", "day": "", "recorded_at": "", "signature": "", "net": "", "ua": "", '
          '"receipt": "", "receipt_signature": ""}\n')  # fmt: skip
    with out.open("ab") as fh:
        fh.write(b"\xff\xfe not utf-8\n")
    code, report = verify(out, campaign, capsys)
    assert code == 1
    assert report.splitlines() == [
        f"{rows[2]['vote_id']}: missing or non-string fields ballot (line 3)",
        f"{rows[5]['vote_id']}: missing or non-string fields day (line 6)",
        "line 31: not JSON",
        "line 32: not a JSON object",
        "x: ballot is malformed (line 33)",
        "line 34: not JSON",
    ]


def test_export_from_dynamodb_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ballotbox.stores.dynamodb import DynamoStore

    from tests.dynamodb_tables import REGION, mocked_tables

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        record_votes(store, votekit.campaign(), [Voter() for _ in range(4)], INSIDE)
        out = tmp_path / "cloud.jsonl"
        assert ops.main(["export", "--table", ledger, "--out", str(out)]) == 0
    assert len(lines(out)) == 4
    assert verify(out, votekit.write_campaign(tmp_path / "dist"), capsys) == (0, "")
