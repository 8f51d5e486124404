"""Long-running work as jobs: a durable, host-neutral store behind CIM_ConcreteJob.

Anything that can take longer than about a second (a vSphere task, a QEMU shutdown)
runs as a job: the extrinsic method returns 4096 ("Method Parameters Checked - Job
Started") and a reference to a CIM_ConcreteJob that the client polls (DSP1103 Job
Control; CIM_ConcreteJob of CIM Schema 2.49 in mof/dmtf/job.mof). This module is the
library under that class: plain Python values only, no CIM or pywbem types; the CIM side
(the job class module, CIM_AffectedJobElement, CIM_OwningJobElement) turns `Job`
snapshots into instances. docs/jobs.md says what a client sees.

API
    store = JobStore(state_dir, workers=4, default_time_before_removal=300.0,
                     max_jobs=1000, clock=time.time)
    job = store.submit(fn, name=..., description=..., owner=..., affected=[...],
                       owning=None, delete_on_completion=True, time_before_removal=None)
    store.get(id) -> Job          NotFound if unknown, expired, or its file was corrupt
    store.list() -> list[Job]     oldest first
    store.kill(id) / store.terminate(id) -> Job
    store.delete(id)              finished jobs only (InvalidStateTransition otherwise)
    store.set_lifetime(id, delete_on_completion=..., time_before_removal=...) -> Job
    store.wait(id, timeout) -> Job    TimeoutError if still unfinished after timeout
    store.close(timeout=10.0)

`fn(progress)` runs in the store's bounded pool of daemon threads, not in the request
thread, so a job outlives the client connection that started it. It may call
`progress.update(percent, status)` and must check `progress.cancelled` (or call
`progress.raise_if_cancelled()`) to honour kill/terminate: cancellation is cooperative.
Outcomes:
  - fn returns a value -> COMPLETED, PercentComplete 100, ErrorCode 0, the value kept as
    `result` (it must be JSON-serialisable; otherwise EXCEPTION, ErrorCode INTERNAL).
    A fn that finishes its work after a kill request still completes: the work was done.
  - fn raises JobCancelled -> KILLED (after kill) or TERMINATED (after terminate);
    without a kill/terminate request it is a failure like any other exception.
  - fn raises anything else -> EXCEPTION with `ErrorCode` from the exception's class
    (see `ErrorCode`) and ErrorDescription = the VrmError's message, or
    "<Type>: <message>" for other exceptions. Never a traceback.
A job that has not started yet is killed/terminated at once and fn is never called; a
finished job cannot be killed (InvalidStateTransition).

States (`JobState` = CIM_ConcreteJob.JobState): NEW 2 (queued) -> RUNNING 4 ->
[SHUTTING_DOWN 6 after a kill/terminate request] -> COMPLETED 7 | TERMINATED 8 |
KILLED 9 | EXCEPTION 10. STARTING 3 and SUSPENDED 5 are never used (no job can be
suspended) but are part of the enumeration for the CIM mapping.

Durability and sharing. Each job is `<state_dir>/jobs/<id>.json`, written atomically
(temp file in the same directory, fsync, os.replace, fsync of the directory) under an
exclusive flock on `<state_dir>/jobs/.lock` (a separate file, never the renamed one), the
same recipe as the groups store (DESIGN.md "Groups"). Every state change is on disk before
it is reported, so a job survives kill -9 of the process that runs it as a record.
Several processes may share one state dir (the embedded server, CMPI providers that
SFCB forks, OpenPegasus agents): readers always read the files (finished records are
cached by (inode, mtime_ns, size)); kill/terminate from another process is written to the
file and seen by the running fn through `progress.cancelled` within 0.1 s.

Restart. Each record names its runner: pid, boot id, process start time
(/proc/<pid>/stat) and a per-store token. Opening a store, and reading any unfinished
job, checks the runner: when that process is gone (or its pid was reused, or it is this
process but the store instance that ran the job was closed), the job becomes EXCEPTION,
ErrorCode INTERRUPTED, "vrmgmt restarted while the job was running; its outcome is
unknown" ("... before the job started; it did not run" for a queued one). A job running
in another live process is left alone. `close()` waits up to its timeout for running
jobs, then marks what is left the same way ("vrmgmt stopped while ...").

Lifetimes. A finished job with delete_on_completion is removed time_before_removal
seconds after it finished (CIM_ConcreteJob.TimeBeforeRemoval, default 5 minutes as in the
MOF), checked lazily by get/list/submit; without it, it stays until delete(). At most
`max_jobs` records are stored: submit beyond that raises LimitReached.

Corrupt records (unparsable or wrong shape) are moved aside as
`<id>.json.corrupt-<UTC>` with a warning and never break list().

Limits: the runner check uses Linux /proc (elsewhere only "does the pid exist"); all
processes sharing a state dir must be on one host (no NFS).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import queue
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from vrmgmt import durable, errors

log = logging.getLogger(__name__)

FORMAT = 1
CANCEL_POLL_SECONDS = 0.1
_WAIT_POLL_SECONDS = 0.05
_MAX_TEXT = 4000
_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

MSG_RESTARTED_RUNNING = "vrmgmt restarted while the job was running; its outcome is unknown"
MSG_RESTARTED_QUEUED = "vrmgmt restarted before the job started; it did not run"
MSG_STOPPED_RUNNING = "vrmgmt stopped while the job was running; its outcome is unknown"
MSG_STOPPED_QUEUED = "vrmgmt stopped before the job started; it did not run"


class JobState(IntEnum):
    """CIM_ConcreteJob.JobState."""

    NEW = 2
    STARTING = 3
    RUNNING = 4
    SUSPENDED = 5
    SHUTTING_DOWN = 6
    COMPLETED = 7
    TERMINATED = 8
    KILLED = 9
    EXCEPTION = 10

    @property
    def finished(self) -> bool:
        return self in _FINISHED


_FINISHED = frozenset(
    {JobState.COMPLETED, JobState.TERMINATED, JobState.KILLED, JobState.EXCEPTION}
)


class ErrorCode(IntEnum):
    """CIM_Job.ErrorCode (a vendor code, uint16): zero on success; None while a job runs
    and for killed/terminated jobs."""

    SUCCESS = 0
    INTERNAL = 1  # an exception that is not a vrmgmt error, or an unstorable result
    FAILED = 2  # a VrmError without a more specific code
    NOT_FOUND = 3
    INVALID_STATE_TRANSITION = 4
    NOT_SUPPORTED = 5
    BACKEND_UNAVAILABLE = 6
    BACKEND_ERROR = 7
    INTERRUPTED = 8  # vrmgmt stopped or restarted under the job
    LIMIT_REACHED = 9


_ERROR_CODES: dict[type, ErrorCode] = {
    errors.NotFound: ErrorCode.NOT_FOUND,
    errors.InvalidStateTransition: ErrorCode.INVALID_STATE_TRANSITION,
    errors.NotSupported: ErrorCode.NOT_SUPPORTED,
    errors.BackendUnavailable: ErrorCode.BACKEND_UNAVAILABLE,
    errors.BackendError: ErrorCode.BACKEND_ERROR,
    errors.LimitReached: ErrorCode.LIMIT_REACHED,
    errors.VrmError: ErrorCode.FAILED,
}


def error_of(exc: BaseException) -> tuple[ErrorCode, str]:
    """ErrorCode and ErrorDescription for an exception: a VrmError's message, else the
    exception's type and message (never a traceback)."""
    for cls in type(exc).__mro__:
        code = _ERROR_CODES.get(cls)
        if code is not None:
            text = str(exc) or type(exc).__name__
            break
    else:
        code = ErrorCode.INTERNAL
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return code, _cut(text)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


class JobCancelled(Exception):
    """Raised by a job's fn (usually via progress.raise_if_cancelled()) to end the job as
    KILLED or TERMINATED after a kill/terminate request."""


@dataclass(frozen=True)
class Job:
    """A snapshot of one job, as read from its file. Times are epoch seconds (the store's
    clock); `elapsed` is computed when the snapshot is taken."""

    id: str
    name: str
    description: str
    owner: str | None
    state: JobState
    percent_complete: int
    status: str | None
    error_code: int | None
    error_description: str | None
    result: Any
    time_submitted: float
    start_time: float | None
    end_time: float | None
    time_of_last_state_change: float
    elapsed: float | None
    delete_on_completion: bool
    time_before_removal: float
    affected: tuple[str, ...]
    owning: str | None
    pid: int

    @property
    def finished(self) -> bool:
        return self.state.finished

    @property
    def expires_at(self) -> float | None:
        """When a finished job with delete_on_completion is removed; else None."""
        if not self.finished or not self.delete_on_completion or self.end_time is None:
            return None
        return self.end_time + self.time_before_removal


class JobProgress:
    """What a job's fn gets: report progress and notice kill/terminate requests."""

    def __init__(self, store: JobStore, job_id: str, event: threading.Event):
        self.job_id = job_id
        self._store = store
        self._event = event
        self._last_check = time.monotonic()

    @property
    def cancelled(self) -> bool:
        """True once a kill or terminate was requested (from any process)."""
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now - self._last_check >= CANCEL_POLL_SECONDS:
            self._last_check = now
            rec = self._store._load_quiet(self.job_id)
            if rec is None or rec["stop_requested"] or JobState(rec["state"]).finished:
                self._event.set()
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise JobCancelled(f"job {self.job_id} was asked to stop")

    def update(self, percent: int | None = None, status: str | None = None) -> None:
        """Record PercentComplete (0..100) and/or JobStatus text; written at once."""
        if percent is not None:
            if isinstance(percent, bool) or not isinstance(percent, int):
                raise TypeError(f"percent must be an int, not {type(percent).__name__}")
            if not 0 <= percent <= 100:
                raise ValueError(f"percent must be between 0 and 100, not {percent}")
        if status is not None and not isinstance(status, str):
            raise TypeError(f"status must be a str, not {type(status).__name__}")

        def change(rec: dict) -> dict | None:
            if JobState(rec["state"]).finished:
                self._event.set()
                return None
            if rec["stop_requested"]:
                self._event.set()
            if percent is not None:
                rec["percent_complete"] = percent
            if status is not None:
                rec["status"] = _cut(status)
            return rec

        with suppress(errors.NotFound):
            self._store._mutate(self.job_id, change, sync_dir=False)

    def add_affected(self, element: str) -> None:
        """Record one more element the job acts on (e.g. the VM a DefineSystem job
        created, DSP1042 §8.1: found through CIM_AffectedJobElement); written at once."""
        if not isinstance(element, str) or not element:
            raise TypeError("element must be a non-empty str")

        def change(rec: dict) -> dict | None:
            affected = list(rec.get("affected") or [])
            if element in affected:
                return None
            rec["affected"] = [*affected, element]
            return rec

        with suppress(errors.NotFound):
            self._store._mutate(self.job_id, change, sync_dir=False)


# --- the process that runs a job -------------------------------------------------------

_LIVE_TOKENS: set[str] = set()
_STORES: weakref.WeakSet[JobStore] = weakref.WeakSet()
_identity_cache: dict[str, Any] = {}


def _read_boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc/<pid>/stat, or None
    when the process does not exist. Raises OSError when /proc is not there at all."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if not os.path.isdir("/proc/self"):
            raise
        return None
    except ProcessLookupError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces and ')'
    return fields[0], int(fields[19])


def _self_identity() -> dict[str, Any]:
    pid = os.getpid()
    if _identity_cache.get("pid") != pid:
        try:
            st = _proc_stat(pid)
        except OSError:
            st = None
        _identity_cache.update(pid=pid, boot=_read_boot_id(), start=st[1] if st else None)
    return _identity_cache


def _runner_alive(runner: dict) -> bool:
    me = _self_identity()
    pid = runner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == me["pid"] and runner.get("boot") == me["boot"] and runner.get("start") == me["start"]:
        return runner.get("store") in _LIVE_TOKENS
    if runner.get("boot") is not None and me["boot"] is not None and runner["boot"] != me["boot"]:
        return False  # recorded before a reboot
    try:
        st = _proc_stat(pid)
    except OSError:  # no /proc: all we can ask is whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if st is None or st[0] in ("Z", "X", "x"):
        return False
    return runner.get("start") is None or st[1] == runner["start"]


def _after_fork_in_child() -> None:
    # The parent's stores and their worker threads do not exist here; jobs the parent
    # queued stay the parent's (their records name the parent's pid).
    _LIVE_TOKENS.clear()
    for store in list(_STORES):
        store._reinit_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- records ---------------------------------------------------------------------------

_NUM = (int, float)
_OPT_STR = (str, type(None))
_OPT_NUM = (int, float, type(None))
_SCHEMA: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "name": (str,),
    "description": (str,),
    "owner": _OPT_STR,
    "state": (int,),
    "percent_complete": (int,),
    "status": _OPT_STR,
    "error_code": (int, type(None)),
    "error_description": _OPT_STR,
    "time_submitted": _NUM,
    "start_time": _OPT_NUM,
    "end_time": _OPT_NUM,
    "time_of_last_state_change": _NUM,
    "delete_on_completion": (bool,),
    "time_before_removal": _NUM,
    "affected": (list,),
    "owning": _OPT_STR,
    "runner": (dict,),
    "stop_requested": _OPT_STR,
}


class _Corrupt(Exception):
    pass


class _UnknownFormat(Exception):
    pass


def _parse(data: bytes, job_id: str) -> dict:
    try:
        rec = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Corrupt(f"not JSON: {exc}") from None
    if not isinstance(rec, dict):
        raise _Corrupt("not a JSON object")
    if rec.get("format") != FORMAT:
        if isinstance(rec.get("format"), int) and rec["format"] > FORMAT:
            raise _UnknownFormat(f"format {rec['format']} is newer than this vrmgmt's")
        raise _Corrupt(f"format {rec.get('format')!r} is not {FORMAT}")
    for key, types in _SCHEMA.items():
        if key not in rec:
            raise _Corrupt(f"field {key!r} is missing")
        value = rec[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise _Corrupt(f"field {key!r} has the wrong type {type(value).__name__}")
    if "result" not in rec:
        raise _Corrupt("field 'result' is missing")
    if rec["id"] != job_id:
        raise _Corrupt(f"it names job {rec['id']!r}")
    try:
        JobState(rec["state"])
    except ValueError:
        raise _Corrupt(f"JobState {rec['state']} is not known") from None
    if not all(isinstance(a, str) for a in rec["affected"]):
        raise _Corrupt("field 'affected' holds a non-string")
    return rec


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


# --- the store -------------------------------------------------------------------------


class JobStore:
    """Jobs in `<state_dir>/jobs/`, run by a pool of `workers` threads of this process.
    Safe to use from many threads and, on one state dir, from many processes."""

    def __init__(
        self,
        state_dir: Path,
        *,
        workers: int = 4,
        default_time_before_removal: float = 300.0,
        max_jobs: int = 1000,
        clock: Callable[[], float] = time.time,
    ):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1, not {max_jobs}")
        if not math.isfinite(default_time_before_removal) or default_time_before_removal < 0:
            raise ValueError("default_time_before_removal must be finite and >= 0")
        self.dir = Path(state_dir) / "jobs"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_path = self.dir / ".lock"
        self.workers = workers
        self.default_time_before_removal = float(default_time_before_removal)
        self.max_jobs = max_jobs
        self._clock = clock
        self._cache: dict[str, tuple[tuple[int, int, int], dict]] = {}
        self._init_runtime()
        _STORES.add(self)
        with self._locked():
            self._remove_temp_files()
        self._recover()

    def watch(self, callback: Callable[[Job, Job], None]) -> None:
        """callback(running, finished) after each job this process ran has finished
        (job-completion indications); it must return quickly."""
        self._watchers.append(callback)

    def _init_runtime(self) -> None:
        self._watchers: list[Callable[[Job, Job], None]] = getattr(self, "_watchers", [])
        self._token = uuid.uuid4().hex
        _LIVE_TOKENS.add(self._token)
        self._closed = False
        self._state_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._pending: dict[str, tuple[Callable[[JobProgress], object], threading.Event]] = {}
        self._running: dict[str, threading.Event] = {}

    def _reinit_after_fork(self) -> None:
        closed = self._closed
        self._init_runtime()
        self._closed = closed
        if closed:
            _LIVE_TOKENS.discard(self._token)

    # -- files --

    def _locked(self) -> AbstractContextManager[None]:
        return durable.locked(self._lock_path)

    def _path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def _fsync_dir(self) -> None:
        durable.fsync_dir(self.dir)

    def _remove_temp_files(self) -> None:
        # Writers hold the lock, and so do we: any temp file is left over from a crash.
        for entry in os.scandir(self.dir):
            if entry.name.startswith(".tmp-"):
                with suppress(FileNotFoundError):
                    os.unlink(entry.path)

    def _ids(self) -> list[str]:
        out = []
        for entry in os.scandir(self.dir):
            name = entry.name
            if name.endswith(".json") and _ID_RE.match(name[:-5]):
                out.append(name[:-5])
        return out

    def _write(self, rec: dict, *, sync_dir: bool = True) -> None:
        """Write one record atomically; the caller holds the lock. The file is always
        fsynced before the rename (a crash must never leave an empty record); the
        directory too unless `sync_dir` is False (progress updates: after a crash the
        previous record is as good)."""
        data = json.dumps(rec, separators=(",", ":"), sort_keys=True).encode()
        durable.replace(self._path(rec["id"]), data, prefix=f".tmp-{rec['id']}-", sync_dir=sync_dir)
        self._cache.pop(rec["id"], None)
        with self._cond:
            self._cond.notify_all()

    def _unlink(self, job_id: str) -> None:
        """Remove one record; the caller holds the lock."""
        with suppress(FileNotFoundError):
            os.unlink(self._path(job_id))
        self._fsync_dir()
        self._cache.pop(job_id, None)
        with self._cond:
            self._cond.notify_all()

    def _load(self, job_id: str, *, locked: bool) -> dict | None:
        """The record of a job, None if there is none. A corrupt file is moved aside (and
        NotFound raised); `locked` says whether the caller holds the lock."""
        path = self._path(job_id)
        cached = self._cache.get(job_id)
        if cached is not None:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            if cached[0] == (st.st_ino, st.st_mtime_ns, st.st_size):
                return cached[1]
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed below, after fstat
        except FileNotFoundError:
            return None
        with f:
            st = os.fstat(f.fileno())
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._cache.get(job_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            data = f.read()
        try:
            rec = _parse(data, job_id)
        except _UnknownFormat as exc:
            log.warning("job file %s skipped: %s", path, exc)
            return None
        except _Corrupt as exc:
            moved = self._quarantine(job_id, key, str(exc), locked=locked)
            raise errors.NotFound(
                f"job {job_id}: its record was unreadable ({exc})"
                + (f" and was moved aside as {moved}" if moved else "")
            ) from None
        if JobState(rec["state"]).finished:
            self._cache[job_id] = (key, rec)
        return rec

    def _load_quiet(self, job_id: str) -> dict | None:
        try:
            return self._load(job_id, locked=False)
        except errors.NotFound:
            return None

    def _quarantine(self, job_id: str, key: tuple, reason: str, *, locked: bool) -> str | None:
        if not locked:
            with self._locked():
                return self._quarantine(job_id, key, reason, locked=True)
        path = self._path(job_id)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        if (st.st_ino, st.st_mtime_ns, st.st_size) != key:
            return None  # replaced meanwhile: the next read judges the new file
        target = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
        os.replace(path, target)
        self._fsync_dir()
        self._cache.pop(job_id, None)
        log.warning("job file %s is corrupt (%s); moved aside as %s", path, reason, target.name)
        return target.name

    # -- record rules --

    def _expired(self, rec: dict, now: float) -> bool:
        return (
            JobState(rec["state"]).finished
            and rec["delete_on_completion"]
            and rec["end_time"] is not None
            and rec["end_time"] + rec["time_before_removal"] <= now
        )

    def _finish(self, rec: dict, state: JobState, now: float, **fields: Any) -> dict:
        rec = dict(rec)
        rec.update(fields)
        rec["state"] = int(state)
        rec["end_time"] = now
        rec["time_of_last_state_change"] = now
        return rec

    def _interrupted(self, rec: dict, now: float, *, stopped: bool) -> dict:
        queued = JobState(rec["state"]) == JobState.NEW
        if stopped:
            text = MSG_STOPPED_QUEUED if queued else MSG_STOPPED_RUNNING
        else:
            text = MSG_RESTARTED_QUEUED if queued else MSG_RESTARTED_RUNNING
        return self._finish(
            rec,
            JobState.EXCEPTION,
            now,
            error_code=int(ErrorCode.INTERRUPTED),
            error_description=text,
            status="interrupted",
        )

    def _settle_locked(self, rec: dict, now: float) -> dict | None:
        """Apply expiry and the dead-runner rule to a record; the caller holds the lock.
        Returns the record as it is now, None if it was removed."""
        if self._expired(rec, now):
            self._unlink(rec["id"])
            return None
        if not JobState(rec["state"]).finished and not _runner_alive(rec["runner"]):
            rec = self._interrupted(rec, now, stopped=False)
            log.warning("job %s (%s): %s", rec["id"], rec["name"], rec["error_description"])
            self._write(rec)
        return rec

    def _settle(self, rec: dict) -> dict | None:
        """`_settle_locked` without holding the lock; takes it only when needed."""
        now = self._clock()
        if not self._expired(rec, now) and (
            JobState(rec["state"]).finished or _runner_alive(rec["runner"])
        ):
            return rec
        with self._locked():
            try:
                fresh = self._load(rec["id"], locked=True)
            except errors.NotFound:
                return None
            return None if fresh is None else self._settle_locked(fresh, now)

    def _recover(self) -> None:
        for job_id in self._ids():
            rec = self._load_quiet(job_id)
            if rec is not None:
                self._settle(rec)

    def _mutate(
        self, job_id: str, change: Callable[[dict], dict | None], *, sync_dir: bool = True
    ) -> dict:
        """Read-modify-write of one record under the lock. `change` gets a copy and returns
        the new record, or None for no change. NotFound if the job does not exist."""
        with self._locked():
            rec = self._load(job_id, locked=True)
            if rec is not None:
                rec = self._settle_locked(rec, self._clock())
            if rec is None:
                raise errors.NotFound(f"no job {job_id!r}")
            new = change(dict(rec))
            if new is None:
                return rec
            self._write(new, sync_dir=sync_dir)
            return new

    def _snapshot(self, rec: dict) -> Job:
        state = JobState(rec["state"])
        start, end = rec["start_time"], rec["end_time"]
        if start is None:
            elapsed = None
        else:
            elapsed = max(0.0, (end if end is not None else self._clock()) - start)
        return Job(
            id=rec["id"],
            name=rec["name"],
            description=rec["description"],
            owner=rec["owner"],
            state=state,
            percent_complete=rec["percent_complete"],
            status=rec["status"],
            error_code=rec["error_code"],
            error_description=rec["error_description"],
            result=copy.deepcopy(rec["result"]),  # the cached record stays untouched
            time_submitted=rec["time_submitted"],
            start_time=start,
            end_time=end,
            time_of_last_state_change=rec["time_of_last_state_change"],
            elapsed=elapsed,
            delete_on_completion=rec["delete_on_completion"],
            time_before_removal=rec["time_before_removal"],
            affected=tuple(rec["affected"]),
            owning=rec["owning"],
            pid=rec["runner"].get("pid", 0),
        )

    # -- public API --

    def submit(
        self,
        fn: Callable[[JobProgress], object],
        *,
        name: str,
        description: str,
        owner: str | None,
        affected: list[str],
        owning: str | None = None,
        delete_on_completion: bool = True,
        time_before_removal: float | None = None,
    ) -> Job:
        """Store a new job (state NEW) and queue fn in the pool. LimitReached when
        max_jobs records are stored after removing expired ones."""
        if not callable(fn):
            raise TypeError("fn must be callable")
        if not isinstance(name, str) or not name:
            raise ValueError("a job needs a name")
        if not isinstance(description, str):
            raise TypeError("description must be a str")
        for label, value in (("owner", owner), ("owning", owning)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{label} must be a str or None")
        if not isinstance(affected, list | tuple) or not all(isinstance(a, str) for a in affected):
            raise TypeError("affected must be a list of strings")
        if time_before_removal is None:
            time_before_removal = self.default_time_before_removal
        if not math.isfinite(time_before_removal) or time_before_removal < 0:
            raise ValueError(
                f"time_before_removal must be finite and >= 0, not {time_before_removal}"
            )
        with self._state_lock:
            if self._closed:
                raise RuntimeError("the job store is closed")
        me = _self_identity()
        job_id = str(uuid.uuid4())
        with self._locked():
            now = self._clock()
            count = 0
            for other in self._ids():
                try:
                    rec = self._load(other, locked=True)
                except errors.NotFound:
                    continue
                if rec is not None and self._expired(rec, now):
                    self._unlink(other)
                elif rec is not None:
                    count += 1
            if count >= self.max_jobs:
                raise errors.LimitReached(
                    f"{count} jobs are stored, the limit is {self.max_jobs}: delete finished "
                    "jobs or wait for them to expire"
                )
            rec = {
                "format": FORMAT,
                "id": job_id,
                "name": name,
                "description": description,
                "owner": owner,
                "state": int(JobState.NEW),
                "percent_complete": 0,
                "status": "queued",
                "error_code": None,
                "error_description": None,
                "result": None,
                "time_submitted": now,
                "start_time": None,
                "end_time": None,
                "time_of_last_state_change": now,
                "delete_on_completion": bool(delete_on_completion),
                "time_before_removal": float(time_before_removal),
                "affected": list(affected),
                "owning": owning,
                "runner": {
                    "pid": me["pid"],
                    "boot": me["boot"],
                    "start": me["start"],
                    "store": self._token,
                },
                "stop_requested": None,
            }
            self._write(rec)
            self._pending[job_id] = (fn, threading.Event())
        self._start_workers()
        self._queue.put(job_id)
        return self._snapshot(rec)

    def get(self, job_id: str) -> Job:
        """The job now. NotFound when unknown, expired or unreadable."""
        if not isinstance(job_id, str) or not _ID_RE.match(job_id):
            raise errors.NotFound(f"no job {job_id!r}")
        rec = self._load(job_id, locked=False)
        if rec is not None:
            rec = self._settle(rec)
        if rec is None:
            raise errors.NotFound(f"no job {job_id!r}")
        return self._snapshot(rec)

    def list(self) -> list[Job]:
        """All stored jobs, oldest first. Unreadable files are moved aside, not raised."""
        jobs = []
        for job_id in self._ids():
            rec = self._load_quiet(job_id)
            if rec is not None:
                rec = self._settle(rec)
            if rec is not None:
                jobs.append(self._snapshot(rec))
        jobs.sort(key=lambda j: (j.time_submitted, j.id))
        return jobs

    def kill(self, job_id: str) -> Job:
        """Ask a job to stop at once (CIM RequestStateChange 5): a queued job is KILLED
        now; a running one goes to SHUTTING_DOWN until its fn notices. A finished job:
        InvalidStateTransition."""
        return self._stop(job_id, "kill")

    def terminate(self, job_id: str) -> Job:
        """As kill, ending in TERMINATED (CIM RequestStateChange 4)."""
        return self._stop(job_id, "terminate")

    def _stop(self, job_id: str, how: str) -> Job:
        if not isinstance(job_id, str) or not _ID_RE.match(job_id):
            raise errors.NotFound(f"no job {job_id!r}")
        final = JobState.KILLED if how == "kill" else JobState.TERMINATED
        word = "killed" if how == "kill" else "terminated"

        def change(rec: dict) -> dict:
            state = JobState(rec["state"])
            if state.finished:
                raise errors.InvalidStateTransition(
                    f"job {job_id} has already finished ({state.name.lower()})"
                )
            rec["stop_requested"] = how
            if state == JobState.NEW:
                return self._finish(rec, final, self._clock(), status=f"{word} before it started")
            if state != JobState.SHUTTING_DOWN:
                rec["state"] = int(JobState.SHUTTING_DOWN)
                rec["time_of_last_state_change"] = self._clock()
            rec["status"] = f"{how} requested"
            return rec

        rec = self._mutate(job_id, change)
        event = self._running.get(job_id)
        if event is not None:
            event.set()
        return self._snapshot(rec)

    def delete(self, job_id: str) -> None:
        """Remove a finished job. InvalidStateTransition while it runs; NotFound if unknown."""
        if not isinstance(job_id, str) or not _ID_RE.match(job_id):
            raise errors.NotFound(f"no job {job_id!r}")
        with self._locked():
            rec = self._load(job_id, locked=True)
            if rec is not None:
                rec = self._settle_locked(rec, self._clock())
            if rec is None:
                raise errors.NotFound(f"no job {job_id!r}")
            state = JobState(rec["state"])
            if not state.finished:
                raise errors.InvalidStateTransition(
                    f"job {job_id} has not finished ({state.name.lower()}); kill it first"
                )
            self._unlink(job_id)

    def set_lifetime(
        self,
        job_id: str,
        *,
        delete_on_completion: bool | None = None,
        time_before_removal: float | None = None,
    ) -> Job:
        """Change DeleteOnCompletion and/or TimeBeforeRemoval (both Write properties of
        CIM_ConcreteJob), at any state; for a finished job this moves its removal time."""
        if not isinstance(job_id, str) or not _ID_RE.match(job_id):
            raise errors.NotFound(f"no job {job_id!r}")
        if delete_on_completion is not None and not isinstance(delete_on_completion, bool):
            raise TypeError("delete_on_completion must be a bool")
        if time_before_removal is not None and (
            not math.isfinite(time_before_removal) or time_before_removal < 0
        ):
            raise ValueError(
                f"time_before_removal must be finite and >= 0, not {time_before_removal}"
            )

        def change(rec: dict) -> dict:
            if delete_on_completion is not None:
                rec["delete_on_completion"] = delete_on_completion
            if time_before_removal is not None:
                rec["time_before_removal"] = float(time_before_removal)
            return rec

        rec = self._mutate(job_id, change)
        if self._expired(rec, self._clock()):
            self._settle(rec)
            raise errors.NotFound(f"no job {job_id!r}")
        return self._snapshot(rec)

    def wait(self, job_id: str, timeout: float) -> Job:
        """Block until the job has finished and return it; TimeoutError after `timeout`
        seconds (real time, not the store's clock)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.finished:
                return job
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"job {job_id} is still {job.state.name.lower()} after {timeout:g} s"
                )
            with self._cond:
                self._cond.wait(min(remaining, _WAIT_POLL_SECONDS))

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking jobs; queued ones become EXCEPTION at once, running ones get up to
        `timeout` seconds to finish, then are asked to stop and marked EXCEPTION."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
        now = self._clock()
        for job_id in list(self._pending):
            self._mark_stopped(job_id, now, only_queued=True)
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for job_id, event in list(self._running.items()):
            event.set()
            self._mark_stopped(job_id, self._clock(), only_queued=False)
        for job_id in list(self._pending):  # submitted while close() began
            self._mark_stopped(job_id, self._clock(), only_queued=True)
        _LIVE_TOKENS.discard(self._token)
        _STORES.discard(self)

    def _mark_stopped(self, job_id: str, now: float, *, only_queued: bool) -> None:
        def change(rec: dict) -> dict | None:
            state = JobState(rec["state"])
            if state.finished or (only_queued and state != JobState.NEW):
                return None
            if rec["runner"].get("store") != self._token:
                return None
            return self._interrupted(rec, now, stopped=True)

        with suppress(errors.NotFound):
            self._mutate(job_id, change)

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the pool --

    def _start_workers(self) -> None:
        with self._state_lock:
            while len(self._threads) < self.workers:
                t = threading.Thread(
                    target=self._worker,
                    args=(self._queue,),
                    name=f"vrmgmt-job-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(t)
                t.start()

    def _worker(self, q: queue.SimpleQueue[str | None]) -> None:
        while True:
            job_id = q.get()
            if job_id is None:
                return
            try:
                self._run(job_id)
            except Exception:  # a broken state dir must not take the worker down
                log.exception("job %s: the job store failed", job_id)

    def _run(self, job_id: str) -> None:
        entry = self._pending.pop(job_id, None)
        if entry is None:
            return
        fn, event = entry
        self._running[job_id] = event  # from here on close() sees it

        def start(rec: dict) -> dict | None:
            if JobState(rec["state"]) != JobState.NEW:
                return None
            now = self._clock()
            rec["state"] = int(JobState.RUNNING)
            rec["start_time"] = now
            rec["time_of_last_state_change"] = now
            rec["status"] = "running"
            return rec

        try:
            rec = self._mutate(job_id, start)
        except errors.NotFound:  # its file was found corrupt and moved aside
            self._running.pop(job_id, None)
            return
        except BaseException:
            self._running.pop(job_id, None)
            raise
        if JobState(rec["state"]) != JobState.RUNNING or rec["runner"]["store"] != self._token:
            self._running.pop(job_id, None)
            return  # killed while queued, or marked by close()
        outcome: tuple[str, Any]
        running = self._snapshot(rec) if self._watchers else None
        try:
            outcome = ("ok", fn(JobProgress(self, job_id, event)))
        except JobCancelled as exc:
            outcome = ("cancelled", exc)
        except BaseException as exc:  # noqa: BLE001 - recorded, and re-raised if not Exception
            outcome = ("error", exc)
        finally:
            self._running.pop(job_id, None)
        self._finalize(job_id, outcome)
        if running is not None:
            self._tell_watchers(job_id, running)
        if outcome[0] == "error" and not isinstance(outcome[1], Exception):
            raise outcome[1]

    def _tell_watchers(self, job_id: str, running: Job) -> None:
        try:
            done = self.get(job_id)
        except errors.VrmError:  # deleted on completion already
            return
        for cb in list(self._watchers):
            try:
                cb(running, done)
            except Exception:  # noqa: BLE001 - a watcher must not break the job store
                log.exception("job watcher")

    def _finalize(self, job_id: str, outcome: tuple[str, Any]) -> None:
        kind, value = outcome
        fields: dict[str, Any]
        if kind == "ok":
            try:
                value = json.loads(json.dumps(value))
            except (TypeError, ValueError) as exc:
                kind, value = "error", TypeError(f"the job's result cannot be stored: {exc}")
        if kind == "ok":
            state = JobState.COMPLETED
            fields = dict(result=value, percent_complete=100, error_code=0, status="completed")
        elif kind == "cancelled":
            fields = {"error_code": None}
        else:
            code, text = error_of(value)
            state = JobState.EXCEPTION
            fields = dict(error_code=int(code), error_description=text, status="failed")

        def change(rec: dict) -> dict | None:
            current = JobState(rec["state"])
            if current.finished:
                log.info(
                    "job %s ended (%s) after it was marked %s; outcome dropped",
                    job_id,
                    kind,
                    current.name,
                )
                return None
            if kind == "cancelled" and not rec["stop_requested"]:
                code, text = error_of(value)  # nobody asked it to stop
                return self._finish(
                    rec,
                    JobState.EXCEPTION,
                    self._clock(),
                    error_code=int(code),
                    error_description=text,
                    status="failed",
                )
            if kind == "cancelled":
                how = rec["stop_requested"]
                final = JobState.TERMINATED if how == "terminate" else JobState.KILLED
                word = "terminated" if how == "terminate" else "killed"
                return self._finish(rec, final, self._clock(), status=word, **fields)
            return self._finish(rec, state, self._clock(), **fields)

        with suppress(errors.NotFound):
            self._mutate(job_id, change)
