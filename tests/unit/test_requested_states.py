"""vrmgmt.requested_states: the last RequestedState per (backend, VM), durable and shared by
processes (SFCB forks providers): concurrent writers in separate processes lose nothing,
another process's store sees a change, a damaged file reads as empty and is replaced."""

from __future__ import annotations

import json
import multiprocessing

from vrmgmt.requested_states import FILE, RequestedStates


def _writer(state_dir: str, who: int, n: int) -> None:
    store = RequestedStates(state_dir)
    for i in range(n):
        store.record("kvm", f"{who:04d}-{i:04d}", 2 + (i % 10))


def test_writers_in_several_processes_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 40)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    data = json.loads((tmp_path / FILE).read_text())["vms"]
    assert len(data) == 120
    store = RequestedStates(tmp_path)
    assert store.get("kvm", "0002-0013") == 2 + 3
    assert store.get("other", "0002-0013") == 0  # keyed by backend too
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{FILE}.tmp-")]


def test_a_change_by_another_process_is_seen_and_forget_removes(tmp_path):
    mine = RequestedStates(tmp_path)
    assert mine.get("test", "AB") == 0
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_writer, args=(str(tmp_path), 7, 1))
    p.start()
    p.join(60)
    assert mine.get("test", "x") == 0 and mine.get("kvm", "0007-0000") == 2
    mine.record("test", "AB", 10)  # UUIDs compare lower-case
    assert RequestedStates(tmp_path).get("test", "ab") == 10
    mine.forget("test", "ab")
    assert RequestedStates(tmp_path).get("test", "ab") == 0


def test_a_damaged_file_reads_as_empty_and_is_replaced(tmp_path):
    (tmp_path / FILE).write_text("{not json")
    store = RequestedStates(tmp_path)
    assert store.get("kvm", "u") == 0
    store.record("kvm", "u", 9)
    assert json.loads((tmp_path / FILE).read_text())["vms"] == {"kvm u": 9}
