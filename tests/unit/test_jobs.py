"""vrmgmt.jobs: the job store behind CIM_ConcreteJob, on real files in tmp_path with real
worker threads and real subprocesses (kill -9, two writers on one state dir)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from vrmgmt import errors
from vrmgmt.jobs import (
    MSG_RESTARTED_QUEUED,
    MSG_RESTARTED_RUNNING,
    MSG_STOPPED_QUEUED,
    MSG_STOPPED_RUNNING,
    ErrorCode,
    JobCancelled,
    JobState,
    JobStore,
)

SUBMIT = {"description": "test job", "owner": "alice", "affected": ["vm:1"]}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores():
    """Open stores, closed at the end of the test (blocked jobs are released first)."""
    opened: list[JobStore] = []
    releases: list[threading.Event] = []

    def open_store(state_dir: Path, **kw) -> JobStore:
        store = JobStore(state_dir, **kw)
        opened.append(store)
        return store

    open_store.release_at_end = releases.append
    yield open_store
    for event in releases:
        event.set()
    for store in opened:
        store.close(timeout=5)


def blocker(started: threading.Event, release: threading.Event):
    def fn(progress):
        started.set()
        if not release.wait(10):
            raise AssertionError("test never released the job")
        return "released"

    return fn


def until(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


def job_files(state_dir: Path) -> list[str]:
    return sorted(p.name for p in (state_dir / "jobs").iterdir() if p.name != ".lock")


# --- outcomes ---------------------------------------------------------------------------


def test_success_reports_progress_then_result_and_is_visible_to_other_stores(tmp_path, stores):
    store = stores(tmp_path)
    at_half, go_on = threading.Event(), threading.Event()
    stores.release_at_end(go_on)

    def copy_disk(progress):
        progress.update(40, "copying disk 1 of 2")
        at_half.set()
        go_on.wait(10)
        return {"uuid": "4b1e", "disks": [1, 2]}

    before = time.time()
    job = store.submit(copy_disk, name="DefineSystem", owning="host:h1", **SUBMIT)
    assert job.state == JobState.NEW
    assert job.start_time is None and job.elapsed is None
    assert at_half.wait(5)

    running = store.get(job.id)
    assert running.state == JobState.RUNNING
    assert (running.percent_complete, running.status) == (40, "copying disk 1 of 2")
    assert running.error_code is None and running.end_time is None
    # another store on the same dir (another CIMOM process) reads the same record
    other = stores(tmp_path)
    assert other.get(job.id).state == JobState.RUNNING
    assert other.get(job.id).percent_complete == 40

    go_on.set()
    done = store.wait(job.id, 5)
    assert done.state == JobState.COMPLETED
    assert done.percent_complete == 100
    assert done.error_code == 0 and done.error_description is None
    assert done.result == {"uuid": "4b1e", "disks": [1, 2]}
    assert (done.name, done.description, done.owner) == ("DefineSystem", "test job", "alice")
    assert done.affected == ("vm:1",) and done.owning == "host:h1"
    assert done.pid == os.getpid()
    assert before <= done.time_submitted <= done.start_time <= done.end_time <= time.time()
    assert done.time_of_last_state_change == done.end_time
    assert done.elapsed == pytest.approx(done.end_time - done.start_time)
    assert done.expires_at == pytest.approx(done.end_time + 300.0)
    assert other.get(job.id) == done
    done.result["disks"].append(3)  # a snapshot is the caller's to change
    assert store.get(job.id).result == {"uuid": "4b1e", "disks": [1, 2]}
    assert [j.id for j in store.list()] == [job.id]
    on_disk = json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text())
    assert on_disk["state"] == 7 and on_disk["result"] == {"uuid": "4b1e", "disks": [1, 2]}


def test_failures_give_error_code_and_description_never_a_traceback(tmp_path, stores):
    store = stores(tmp_path)

    def backend_fails(progress):
        progress.update(10)
        raise errors.BackendError("CreateVM_Task failed: not enough disk space on ds1")

    def bug(progress):
        return {}["missing"]

    def unstorable(progress):
        return object()

    j1 = store.wait(store.submit(backend_fails, name="a", **SUBMIT).id, 5)
    assert j1.state == JobState.EXCEPTION
    assert j1.error_code == ErrorCode.BACKEND_ERROR
    assert j1.error_description == "CreateVM_Task failed: not enough disk space on ds1"
    assert j1.percent_complete == 10 and j1.result is None and j1.end_time is not None

    j2 = store.wait(store.submit(bug, name="b", **SUBMIT).id, 5)
    assert j2.state == JobState.EXCEPTION
    assert j2.error_code == ErrorCode.INTERNAL
    assert j2.error_description == "KeyError: 'missing'"

    j3 = store.wait(store.submit(unstorable, name="c", **SUBMIT).id, 5)
    assert j3.state == JobState.EXCEPTION and j3.error_code == ErrorCode.INTERNAL
    assert "result cannot be stored" in j3.error_description
    for job in (j1, j2, j3):
        assert "Traceback" not in job.error_description


def test_unknown_and_hostile_ids_are_not_found(tmp_path, stores):
    store = stores(tmp_path)
    (tmp_path / "secret.json").write_text("{}")
    for bad in (str(uuid.uuid4()), "../secret", "../../etc/passwd", "", "x" * 5000):
        with pytest.raises(errors.NotFound, match="no job"):
            store.get(bad)
        with pytest.raises(errors.NotFound):
            store.kill(bad)
        with pytest.raises(errors.NotFound):
            store.delete(bad)


# --- kill / terminate -------------------------------------------------------------------


def test_kill_and_terminate_a_running_cooperative_job(tmp_path, stores):
    store = stores(tmp_path)
    loops = {"killed": 0}

    def cooperative(progress):
        while True:
            progress.raise_if_cancelled()
            loops[progress.job_id] = loops.get(progress.job_id, 0) + 1
            time.sleep(0.005)

    for stop, final in ((store.kill, JobState.KILLED), (store.terminate, JobState.TERMINATED)):
        job = store.submit(cooperative, name="loop", **SUBMIT)
        until(lambda job=job: loops.get(job.id, 0) > 2)
        asked = stop(job.id)
        assert asked.state == JobState.SHUTTING_DOWN
        done = store.wait(job.id, 5)
        assert done.state == final
        assert done.error_code is None and done.end_time is not None
        with pytest.raises(errors.InvalidStateTransition, match="already finished"):
            store.kill(job.id)


def test_work_finished_despite_a_kill_request_is_reported_completed(tmp_path, stores):
    store = stores(tmp_path)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    job = store.submit(blocker(started, release), name="not cooperative", **SUBMIT)
    assert started.wait(5)
    assert store.kill(job.id).state == JobState.SHUTTING_DOWN
    release.set()
    done = store.wait(job.id, 5)
    assert done.state == JobState.COMPLETED and done.result == "released"


def test_kill_of_a_queued_job_ends_it_at_once_and_it_never_runs(tmp_path, stores):
    store = stores(tmp_path, workers=1)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    first = store.submit(blocker(started, release), name="first", **SUBMIT)
    assert started.wait(5)
    ran = threading.Event()
    queued = store.submit(lambda progress: ran.set(), name="queued", **SUBMIT)
    assert store.get(queued.id).state == JobState.NEW

    killed = store.kill(queued.id)
    assert killed.state == JobState.KILLED
    assert killed.start_time is None and killed.end_time is not None
    release.set()
    assert store.wait(first.id, 5).state == JobState.COMPLETED
    time.sleep(0.1)  # the worker has taken the queued entry by now
    assert not ran.is_set()
    assert store.get(queued.id).state == JobState.KILLED


def test_delete_only_finished_jobs(tmp_path, stores):
    store = stores(tmp_path)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    job = store.submit(blocker(started, release), name="x", **SUBMIT)
    assert started.wait(5)
    with pytest.raises(errors.InvalidStateTransition, match="has not finished"):
        store.delete(job.id)
    release.set()
    store.wait(job.id, 5)
    store.delete(job.id)
    with pytest.raises(errors.NotFound):
        store.get(job.id)
    assert job_files(tmp_path) == []


def test_wait_times_out_on_an_unfinished_job(tmp_path, stores):
    store = stores(tmp_path)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    job = store.submit(blocker(started, release), name="slow", **SUBMIT)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=f"job {job.id} is still (new|running) after 0.2 s"):
        store.wait(job.id, 0.2)
    assert 0.2 <= time.monotonic() - t0 < 1.0
    release.set()
    assert store.wait(job.id, 5).state == JobState.COMPLETED


# --- lifetimes and bounds ----------------------------------------------------------------


def test_finished_jobs_expire_after_time_before_removal(tmp_path, stores):
    clock = FakeClock()
    store = stores(tmp_path, clock=clock)
    default = store.wait(store.submit(lambda p: 1, name="default", **SUBMIT).id, 5)
    short = store.wait(
        store.submit(lambda p: 2, name="short", time_before_removal=10, **SUBMIT).id, 5
    )
    kept = store.wait(
        store.submit(lambda p: 3, name="kept", delete_on_completion=False, **SUBMIT).id, 5
    )
    assert default.time_before_removal == 300.0 and default.expires_at == clock.now + 300
    assert kept.expires_at is None

    clock.now += 9.5
    assert {j.name for j in store.list()} == {"default", "short", "kept"}
    clock.now += 0.5
    with pytest.raises(errors.NotFound):
        store.get(short.id)
    assert {j.name for j in store.list()} == {"default", "kept"}
    clock.now += 289.5
    assert store.get(default.id).result == 1  # removal is due at 300 s, not before
    clock.now += 0.5
    assert [j.name for j in store.list()] == ["kept"]
    clock.now += 10**7
    assert store.get(kept.id).result == 3
    assert job_files(tmp_path) == [f"{kept.id}.json"]

    # DeleteOnCompletion and TimeBeforeRemoval are writable, also after the end
    changed = store.set_lifetime(kept.id, delete_on_completion=True, time_before_removal=10**8)
    assert changed.delete_on_completion and changed.expires_at == kept.end_time + 10**8
    assert store.get(kept.id).time_before_removal == 10**8
    with pytest.raises(errors.NotFound):
        store.set_lifetime(kept.id, time_before_removal=5)  # that moment has passed
    assert job_files(tmp_path) == []


def test_job_count_is_bounded(tmp_path, stores):
    clock = FakeClock()
    store = stores(tmp_path, max_jobs=3, clock=clock)
    ids = [
        store.wait(
            store.submit(lambda p: 0, name=f"j{i}", delete_on_completion=(i == 0), **SUBMIT).id,
            5,
        ).id
        for i in range(3)
    ]
    with pytest.raises(errors.LimitReached, match="3 jobs are stored, the limit is 3"):
        store.submit(lambda p: 0, name="one too many", **SUBMIT)
    assert len(job_files(tmp_path)) == 3
    store.delete(ids[1])
    store.wait(store.submit(lambda p: 0, name="fits", **SUBMIT).id, 5)
    with pytest.raises(errors.LimitReached):
        store.submit(lambda p: 0, name="one too many", **SUBMIT)
    clock.now += 301  # j0 and "fits" expire
    store.submit(lambda p: 0, name="fits after expiry", **SUBMIT)
    assert sorted(j.name for j in store.list()) == ["fits after expiry", "j2"]


# --- corrupt records ----------------------------------------------------------------------


def test_corrupt_files_are_moved_aside_and_never_break_list(tmp_path, stores, caplog):
    store = stores(tmp_path)
    good = store.wait(store.submit(lambda p: "ok", name="good", **SUBMIT).id, 5)
    garbage, wrong_shape, empty = (str(uuid.uuid4()) for _ in range(3))
    jobs_dir = tmp_path / "jobs"
    (jobs_dir / f"{garbage}.json").write_bytes(b'{"format": 1, "id": \xff')
    (jobs_dir / f"{wrong_shape}.json").write_text(json.dumps({"format": 1, "id": wrong_shape}))
    (jobs_dir / f"{empty}.json").write_bytes(b"")

    with caplog.at_level(logging.WARNING, logger="vrmgmt.jobs"):
        assert [j.id for j in store.list()] == [good.id]
    for bad in (garbage, wrong_shape, empty):
        assert not (jobs_dir / f"{bad}.json").exists()
        assert len(list(jobs_dir.glob(f"{bad}.json.corrupt-*"))) == 1
        assert any(bad in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
        with pytest.raises(errors.NotFound):
            store.get(bad)
    assert "field 'name' is missing" in caplog.text

    # found when a store opens the directory, and get() says what happened
    another = str(uuid.uuid4())
    (jobs_dir / f"{another}.json").write_text("[1, 2")
    stores(tmp_path)
    assert len(list(jobs_dir.glob(f"{another}.json.corrupt-*"))) == 1
    late = str(uuid.uuid4())
    (jobs_dir / f"{late}.json").write_text("null")
    with pytest.raises(errors.NotFound, match="unreadable .* moved aside as"):
        store.get(late)
    assert [j.id for j in store.list()] == [good.id]


# --- restart, close, several processes ------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from vrmgmt.errors import LimitReached
    from vrmgmt.jobs import JobState, JobStore

    state_dir, mode = Path(sys.argv[1]), sys.argv[2]
    store = JobStore(state_dir, workers=1)
    common = dict(description="child job", owner="bob", affected=["vm:9"])

    def hang(progress):
        threading.Event().wait()

    def cooperative(progress):
        progress.update(5, "waiting to be killed")
        while True:
            progress.raise_if_cancelled()
            time.sleep(0.01)

    if mode == "hang":
        running = store.submit(hang, name="hang", **common)
        queued = store.submit(hang, name="queued", **common)
        while store.get(running.id).state != JobState.RUNNING:
            time.sleep(0.01)
        print(running.id, queued.id, flush=True)
        threading.Event().wait()
    elif mode == "cooperative":
        job = store.submit(cooperative, name="coop", **common)
        while store.get(job.id).percent_complete != 5:
            time.sleep(0.01)
        print(job.id, flush=True)
        print(store.wait(job.id, 20).state.name, flush=True)
        store.close()
    elif mode == "many":
        tag, count, limit = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        store = JobStore(state_dir, max_jobs=limit)
        go = state_dir / "go"
        while not go.exists():
            time.sleep(0.001)
        ids, refused = [], 0
        for i in range(count):
            try:
                job = store.submit(
                    lambda p, i=i: [tag, i], name=f"n{i}", delete_on_completion=False, **common
                )
            except LimitReached:
                refused += 1
            else:
                ids.append(job.id)
        for job_id in ids:
            assert store.wait(job_id, 20).state == JobState.COMPLETED
        store.close()
        print("ok", len(ids), refused, flush=True)
    """
)


def child(state_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state_dir), *args],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_jobs_of_a_killed_process_become_exceptions_when_a_store_opens(tmp_path, stores):
    proc = child(tmp_path, "hang")
    try:
        running_id, queued_id = proc.stdout.readline().split()
        # the process is alive: a store opened now leaves its jobs alone
        watcher = stores(tmp_path)
        job = watcher.get(running_id)
        assert job.state == JobState.RUNNING and job.pid == proc.pid
        assert watcher.get(queued_id).state == JobState.NEW
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        proc.stdout.close()

    reopened = stores(tmp_path)
    raw = json.loads((tmp_path / "jobs" / f"{running_id}.json").read_text())
    assert raw["state"] == int(JobState.EXCEPTION)  # written at open, not only when read
    job = reopened.get(running_id)
    assert job.state == JobState.EXCEPTION
    assert job.error_code == ErrorCode.INTERRUPTED
    assert job.error_description == MSG_RESTARTED_RUNNING
    assert job.end_time is not None and job.name == "hang" and job.owner == "bob"
    queued = reopened.get(queued_id)
    assert queued.state == JobState.EXCEPTION
    assert queued.error_description == MSG_RESTARTED_QUEUED
    # the store that was open all along sees the same when it reads again
    assert watcher.get(running_id) == job


def test_kill_from_another_process_reaches_the_running_job(tmp_path, stores):
    proc = child(tmp_path, "cooperative")
    try:
        job_id = proc.stdout.readline().strip()
        store = stores(tmp_path)
        assert store.kill(job_id).state == JobState.SHUTTING_DOWN
        assert proc.stdout.readline().strip() == "KILLED"
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
    job = store.get(job_id)
    assert job.state == JobState.KILLED and job.pid == proc.pid


def test_two_processes_submitting_at_once_lose_and_tear_nothing(tmp_path, stores):
    per_child, limit = 15, 20
    procs = [child(tmp_path, "many", tag, str(per_child), str(limit)) for tag in ("a", "b")]
    try:
        (tmp_path / "go").touch()
        reports = [proc.stdout.readline().split() for proc in procs]
        for proc in procs:
            assert proc.wait(20) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
            proc.stdout.close()
    assert all(r[0] == "ok" for r in reports)
    accepted = {tag: int(r[1]) for tag, r in zip("ab", reports, strict=True)}
    # the bound holds across processes: exactly `limit` stored, the rest refused
    assert sum(accepted.values()) == limit
    assert sum(int(r[2]) for r in reports) == 2 * per_child - limit
    jobs = stores(tmp_path).list()
    assert sorted(tuple(j.result) for j in jobs) == sorted(
        (tag, i) for tag in "ab" for i in range(accepted[tag])
    )
    assert {j.pid for j in jobs} == {
        p.pid for p, tag in zip(procs, "ab", strict=True) if accepted[tag]
    }
    assert all(j.state == JobState.COMPLETED for j in jobs)
    names = job_files(tmp_path)
    assert len(names) == limit and all(n.endswith(".json") for n in names)
    for name in names:
        json.loads((tmp_path / "jobs" / name).read_text())


def test_a_second_store_in_the_same_process_leaves_running_jobs_alone(tmp_path, stores):
    first = stores(tmp_path)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    job = first.submit(blocker(started, release), name="x", **SUBMIT)
    assert started.wait(5)
    second = stores(tmp_path)
    assert second.get(job.id).state == JobState.RUNNING
    release.set()
    assert second.wait(job.id, 5).state == JobState.COMPLETED


def test_close_marks_what_it_cannot_finish(tmp_path, stores):
    store = JobStore(tmp_path, workers=1)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    finished = threading.Event()

    def stubborn(progress):
        started.set()
        release.wait(10)
        finished.set()
        return "late"

    running = store.submit(stubborn, name="stubborn", **SUBMIT)
    assert started.wait(5)
    queued = store.submit(lambda p: "never", name="queued", **SUBMIT)
    t0 = time.monotonic()
    store.close(timeout=0.2)
    assert time.monotonic() - t0 < 2
    with pytest.raises(RuntimeError, match="closed"):
        store.submit(lambda p: 0, name="after close", **SUBMIT)

    reader = stores(tmp_path)
    r, q = reader.get(running.id), reader.get(queued.id)
    assert (r.state, r.error_code, r.error_description) == (
        JobState.EXCEPTION,
        ErrorCode.INTERRUPTED,
        MSG_STOPPED_RUNNING,
    )
    assert (q.state, q.error_description) == (JobState.EXCEPTION, MSG_STOPPED_QUEUED)
    release.set()
    assert finished.wait(5)
    time.sleep(0.1)  # the late outcome is dropped, not written over the record
    assert reader.get(running.id) == r


def test_cancellation_is_cooperative_only_through_the_progress_object(tmp_path, stores):
    store = stores(tmp_path)

    def stops_itself(progress):
        raise JobCancelled("gave up")

    # JobCancelled without a kill/terminate request is a failure, not a kill
    job = store.wait(store.submit(stops_itself, name="x", **SUBMIT).id, 5)
    assert job.state == JobState.EXCEPTION
    assert job.error_description == "JobCancelled: gave up"

    def bad_progress(progress):
        progress.update(150)

    job = store.wait(store.submit(bad_progress, name="y", **SUBMIT).id, 5)
    assert job.state == JobState.EXCEPTION
    assert job.error_description == "ValueError: percent must be between 0 and 100, not 150"


def test_a_forked_child_runs_its_own_jobs_and_leaves_the_parents_alone(tmp_path, stores):
    """SFCB forks provider processes: a store inherited across fork() keeps working."""
    store = stores(tmp_path)
    started, release = threading.Event(), threading.Event()
    stores.release_at_end(release)
    parents = store.submit(blocker(started, release), name="parent's", **SUBMIT)
    assert started.wait(5)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        code = 1
        try:
            job = store.submit(lambda p: "from the child", name="child's", **SUBMIT)
            done = store.wait(job.id, 5)
            ok = done.state == JobState.COMPLETED and done.pid == os.getpid()
            ok = ok and store.get(parents.id).state == JobState.RUNNING
            os.write(write_end, f"{job.id} {ok}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as f:
        report = f.read().split()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    child_job, ok = report
    assert ok == "True"
    # the child is gone: its finished job stays, the parent's running job is untouched
    assert store.get(child_job).result == "from the child"
    assert store.get(parents.id).state == JobState.RUNNING
    release.set()
    assert store.wait(parents.id, 5).state == JobState.COMPLETED


def test_leftovers_of_an_interrupted_write_and_newer_formats(tmp_path, stores, caplog):
    jobs_dir = tmp_path / "jobs"
    jobs_dir.mkdir()
    leftover = jobs_dir / f".tmp-{uuid.uuid4()}-abc123"
    leftover.write_text('{"format": 1, "id": "half wri')
    newer_id = str(uuid.uuid4())
    (jobs_dir / f"{newer_id}.json").write_text(json.dumps({"format": 2, "id": newer_id}))
    with caplog.at_level(logging.WARNING, logger="vrmgmt.jobs"):
        store = stores(tmp_path)
        assert store.list() == []
    assert not leftover.exists()  # removed under the lock when the store opened
    # a record from a newer vrmgmt is left as it is, not moved aside as corrupt
    assert (jobs_dir / f"{newer_id}.json").exists()
    assert "newer than this vrmgmt's" in caplog.text
    with pytest.raises(errors.NotFound):
        store.get(newer_id)
    with pytest.raises(ValueError, match="time_before_removal must be finite"):
        store.submit(lambda p: 0, name="x", time_before_removal=float("nan"), **SUBMIT)
