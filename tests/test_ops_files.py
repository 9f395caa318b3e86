"""opstools/files.py: the one way the ops tools write a file (all or nothing, on disk)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from opstools.files import PRIVATE, atomic_writer, write_atomic


def test_a_write_replaces_the_file_with_the_requested_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "results.json"
    write_atomic(target, "数据\n")
    assert target.read_text("utf-8") == "数据\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    write_atomic(target, b"private", PRIVATE)
    assert target.read_bytes() == b"private"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "votes.jsonl"
    target.write_bytes(b"old\n")

    def interrupted() -> None:
        with atomic_writer(target) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("the store went away")

    with pytest.raises(RuntimeError):
        interrupted()
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["votes.jsonl"]
