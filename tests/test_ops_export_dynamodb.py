"""``ops.py export --table`` on moto: parallel, resumable, a snapshot at one instant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from ballotbox.core.clock import beijing_iso
from ballotbox.stores.dynamodb import DynamoStore

import ops
from opstools.dynamo_export import SETTLE_S, export_table
from tests.dynamodb_tables import REGION, mocked_tables
from tests.test_store_contract import vote

NOW = datetime(2022, 1, 5, 12, 0, tzinfo=UTC)


def fill(store: DynamoStore, count: int, at: datetime) -> set[str]:
    ids = set()
    for i in range(count):
        v = vote(voter=f"VOTER-{i}", candidate="e01", recorded_at=beijing_iso(at))
        store.record(v, 5)
        ids.add(v.vote_id)
    return ids


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["vote_id"] for line in path.read_text("utf-8").splitlines()]


def test_a_parallel_export_holds_every_vote_before_the_instant_once(tmp_path: Path) -> None:
    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        before = fill(store, 60, NOW - timedelta(minutes=5))
        # Stamped inside the settling window or later: not part of this snapshot.
        late = vote(voter="LATE", recorded_at=beijing_iso(NOW - timedelta(seconds=SETTLE_S / 2)))
        store.record(late, 5)
        seen: list[int] = []
        out = tmp_path / "votes.jsonl"
        result = export_table(store, out, segments=3, page_limit=7, now=NOW, progress=seen.append)
        exported = ids_in(out)
        assert sorted(exported) == sorted(before)  # each once, the late one left out
        assert (result.written, result.after_cutoff, result.resumed) == (60, 1, False)
        assert result.cutoff == NOW - timedelta(seconds=SETTLE_S)
        assert sum(seen) == 61
        assert len(seen) > 3  # paged: the progress moved more than once per segment
        assert not (tmp_path / "votes.jsonl.parts").exists()


def test_an_interrupted_export_resumes_without_duplicates(tmp_path: Path) -> None:
    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        before = fill(store, 50, NOW - timedelta(minutes=5))
        out = tmp_path / "votes.jsonl"
        pages = []

        def interrupt(segment: int) -> None:
            pages.append(segment)
            if len(pages) == 4:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            export_table(store, out, segments=2, page_limit=5, now=NOW, on_page=interrupt)
        assert not out.exists()
        state = json.loads((tmp_path / "votes.jsonl.parts" / "state.json").read_text("utf-8"))
        assert any(s["key"] for s in state["segments"])
        # A part holding a page written after its last saved length is cut back on resume.
        part = tmp_path / "votes.jsonl.parts" / "part-000.jsonl"
        with part.open("a", encoding="utf-8") as fh:
            fh.write('{"vote_id":"half-written page"}\n')
        # Votes arriving meanwhile are after the first run's instant: still left out.
        fill(store, 3, NOW + timedelta(minutes=1))
        result = export_table(store, out, segments=2, page_limit=5, now=NOW + timedelta(hours=1))
        assert result.resumed
        assert result.cutoff == NOW - timedelta(seconds=SETTLE_S)
        assert sorted(ids_in(out)) == sorted(before)
        assert result.written == 50


def test_resuming_with_other_segments_is_refused(tmp_path: Path) -> None:
    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        fill(store, 10, NOW - timedelta(minutes=5))
        out = tmp_path / "votes.jsonl"

        def interrupt(segment: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            export_table(store, out, segments=2, page_limit=2, now=NOW, on_page=interrupt)
        from opstools.export import ExportError

        with pytest.raises(ExportError, match="same --table and --segments"):
            export_table(store, out, segments=3, now=NOW)


def test_the_cli_takes_region_and_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "aws_config"
    config.write_text(f"[profile organiser]\nregion = {REGION}\n", "utf-8")
    creds = tmp_path / "aws_credentials"
    creds.write_text("[organiser]\naws_access_key_id = t\naws_secret_access_key = t\n", "utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    with mocked_tables() as (client, ledger, caps):
        store = DynamoStore(ledger, caps, client=client)
        now = datetime.now(UTC)
        wanted = fill(store, 12, now - timedelta(minutes=1))
        out = tmp_path / "votes.jsonl"
        argv = ["export", "--table", ledger, "--out", str(out), "--segments", "2"]
        assert ops.main([*argv, "--profile", "organiser"]) == 0
        assert sorted(ids_in(out)) == sorted(wanted)
        assert "exported 12 votes recorded before" in capsys.readouterr().err
        assert ops.main([*argv, "--region", REGION]) == 0
        # A table that is not there: a clear line, exit 1, nothing written.
        missing = tmp_path / "none.jsonl"
        code = ops.main(["export", "--table", "nope", "--out", str(missing), "--region", REGION])
        assert code == 1
        assert "resume" in capsys.readouterr().err
        assert not missing.exists()
        assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"]


def test_an_unknown_profile_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = ops.main(
        ["export", "--table", "t", "--out", str(tmp_path / "x"), "--profile", "no-such-profile"]
    )
    assert code == 1
    assert "no AWS profile named 'no-such-profile'" in capsys.readouterr().err
