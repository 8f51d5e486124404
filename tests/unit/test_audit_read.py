"""Reading the audit log back (vrmgmt.audit.newest_first / read_at / count), which
VRM_LogEntry serves: every record newest first with its line's byte offset, across
block boundaries and lines longer than a block, torn or foreign lines left out; and the
first records of a large log cost a few blocks of reading, not the file (measured as the
process's read bytes in /proc/self/io)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from vrmgmt import audit
from vrmgmt.audit import AuditLog


def write(path: Path, n: int, seed: int = 3) -> list[tuple[int, dict]]:
    rng = random.Random(seed)
    out = []
    with open(path, "w") as f:
        for i in range(n):
            rec = {"i": i, "action": "x" * rng.randint(0, 300)}
            out.append((f.tell(), rec))
            f.write(json.dumps(rec) + "\n")
    return out


@pytest.mark.parametrize("block", [64, 1000, 64 * 1024])
def test_every_record_newest_first_with_its_offset(tmp_path, monkeypatch, block):
    monkeypatch.setattr(audit, "_BLOCK", block)  # lines longer than a block too
    f = tmp_path / "audit.log"
    recs = write(f, 2000)
    assert list(audit.newest_first(f)) == recs[::-1]
    assert list(audit.newest_first(f, before=recs[10][0])) == recs[:10][::-1]
    assert audit.count(f) == 2000
    for offset, rec in recs[::97]:
        assert audit.read_at(f, offset) == rec
    assert audit.read_at(f, recs[5][0] + 1) is None  # not the start of a line
    assert audit.read_at(f, 10**9) is None


def test_torn_and_foreign_lines_are_left_out(tmp_path):
    f = tmp_path / "audit.log"
    w = AuditLog(f)
    w(user="a", action="One", target="t", outcome="completed")
    with open(f, "a") as fh:
        fh.write("not json\n[1, 2]\n")
    w(user="a", action="Two", target="t", outcome="completed")
    with open(f, "a") as fh:
        fh.write('{"user": "a", "act')  # a record being written
    assert [r["action"] for _o, r in audit.newest_first(f)] == ["Two", "One"]
    assert list(audit.newest_first(tmp_path / "missing.log")) == []
    assert audit.count(tmp_path / "missing.log") == 0


def _read_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_the_newest_records_of_a_large_log_read_only_its_end(tmp_path):
    f = tmp_path / "audit.log"
    recs = write(f, 100_000)  # ~17 MB
    size = f.stat().st_size
    before = _read_bytes()
    it = audit.newest_first(f)
    first = [next(it) for _ in range(50)]
    it.close()
    spent = _read_bytes() - before
    assert first == recs[-50:][::-1]
    assert spent < 4 * audit._BLOCK < size / 50, (spent, size)
