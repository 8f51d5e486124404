"""vSphere VM events for VSphereManager.watch() and watch_connection() (vSphere Web
Services API, vmodl.query.PropertyCollector: CreatePropertyCollector, CreateFilter over
a ContainerView of the VirtualMachines, WaitForUpdatesEx; DESIGN.md "Indications").

Job: one thread per manager (started by the first watch) follows the VMs' name, UUID,
template flag, power and connection state and a few configuration properties on a
PropertyCollector of its own (the session's shared collector stays free for the bulk
reads; a wait on it would hold vcsim's lock on that collector) and turns what vSphere
pushes into hypervisor-neutral VmEvents: a VM entering the view is DEFINED, leaving it
UNDEFINED, a changed power state CHANGED with the new state, a changed name or
configuration CHANGED without a state (the VM is read again). Nothing is polled:
WaitForUpdatesEx returns when something changed, or empty after ``maxWaitSeconds``
(half the call timeout, below the socket timeout), and is called again at once.

Connection: a failed wait is followed by one new collector at once (a dropped idle
connection is no news); when that cannot be made (connection refused, no answer, login
refused) the watchers of watch_connection hear (False, why), and the thread retries with
a growing pause (RETRY_MIN..RETRY_MAX s) until a collector is made again: then they hear
(True, ""). A lost session (vCenter restarted, NotAuthenticated) is logged in again by
SessionMixin._call, and the collector, session-scoped, is made anew. The first update
of every new collector is the whole inventory: after a reconnect it is compared with
what was seen before, so VMs defined, destroyed or powered while the connection was
down produce their events too.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim, vmodl

from vrmgmt.backends.vsphere.session import PC, _Session, _view_spec
from vrmgmt.backends.vsphere.vms import _POWER_STATES
from vrmgmt.errors import BackendUnavailable, VrmError
from vrmgmt.model import PowerState, VmEvent, VmEventKind

log = logging.getLogger(__name__)

#: VirtualMachine properties the collector follows
WATCHED = [
    "name",
    "config.instanceUuid",
    "config.template",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.annotation",
    "runtime.powerState",
    "runtime.connectionState",
]
#: changes of these (alone) are a changed configuration: the VM is read again
_CONFIG = ("name", "config.hardware.numCPU", "config.hardware.memoryMB", "config.annotation")
#: seconds between attempts to get a collector again while the connection is lost
RETRY_MIN, RETRY_MAX = 0.5, 2.0
#: how long close() waits for the events thread after cancelling its wait
CLOSE_JOIN_S = 2.0


@dataclass(slots=True)
class _Seen:
    """One VirtualMachine as the collector last reported it."""

    props: dict[str, Any]

    @property
    def uuid(self) -> str | None:
        """The VM's identity (config.instanceUuid, lower case); None for a template or a
        VM without configuration, which are not VMs to vrmgmt (as in list_vms)."""
        uuid = self.props.get("config.instanceUuid")
        if not uuid or self.props.get("config.template"):
            return None
        return str(uuid).lower()

    @property
    def name(self) -> str:
        return str(self.props.get("name") or "")

    @property
    def state(self) -> PowerState:
        if str(self.props.get("runtime.connectionState", "connected")) != "connected":
            return PowerState.UNKNOWN
        return _POWER_STATES.get(str(self.props.get("runtime.powerState")), PowerState.UNKNOWN)

    def config(self) -> tuple:
        return tuple(self.props.get(p) for p in _CONFIG)


class _Collector:
    """The thread's PropertyCollector on one session."""

    def __init__(self, session: _Session, pc: Any):
        self.session = session
        self.pc = pc


class EventsMixin:
    """Mixin of VSphereManager (which provides backend_id, timeout, _call, close)."""

    backend_id: str
    timeout: float

    def _init_events(self) -> None:
        self._watchers: list[Callable[[VmEvent], None]] = []
        self._connection_watchers: list[Callable[[bool, str], None]] = []
        self._events_lock = threading.Lock()
        self._events_thread: threading.Thread | None = None
        self._events_stop = threading.Event()
        #: the collector whose WaitForUpdatesEx is running (close() cancels that wait)
        self._events_col: _Collector | None = None

    # -- the Manager interface -------------------------------------------------------
    def watch(self, callback: Callable[[VmEvent], None]) -> bool:
        with self._events_lock:
            self._watchers.append(callback)
            self._start_events_locked()
        return True

    def watch_connection(self, callback: Callable[[bool, str], None]) -> bool:
        with self._events_lock:
            self._connection_watchers.append(callback)
            self._start_events_locked()
        return True

    def close(self) -> None:
        """Stop following: the running WaitForUpdatesEx is cancelled (a long poll left
        open holds a connection and delays a vCenter's, or vcsim's, shutdown), and the
        thread ends before the session is logged out."""
        self._events_stop.set()
        with self._events_lock:
            thread, self._events_thread = self._events_thread, None
        col = self._events_col
        if col is not None:
            with contextlib.suppress(Exception):  # the session may be gone already
                col.pc.CancelWaitForUpdates()
        if thread is not None and thread is not threading.current_thread():
            thread.join(CLOSE_JOIN_S)
        super().close()  # type: ignore[misc]

    def _start_events_locked(self) -> None:
        if self._events_thread is not None and self._events_thread.is_alive():
            return
        self._events_stop = stop = threading.Event()
        self._events_thread = threading.Thread(
            target=self._events_run,
            args=(stop,),
            name=f"vsphere-events-{self.backend_id}",
            daemon=True,
        )
        self._events_thread.start()

    # -- the thread ----------------------------------------------------------------------
    @property
    def max_wait_seconds(self) -> int:
        """WaitForUpdatesEx's bound: below the socket timeout of the call."""
        return max(1, int(self.timeout / 2))

    def _events_run(self, stop: threading.Event) -> None:
        seen: dict[str, _Seen] | None = None  # moid -> VM; None before the first update
        lost: str | None = None  # why the connection is lost (None: it is not)
        pause = RETRY_MIN
        while not stop.is_set():
            try:
                col = self._call(self._new_collector)  # type: ignore[attr-defined]
            except BackendUnavailable as exc:
                if lost is None:
                    lost = exc.detail
                    log.warning("vsphere backend %s: VM events lost: %s", self.backend_id, lost)
                    self._connection_changed(False, lost)
                stop.wait(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            except VrmError as exc:  # the server refuses (NotSupported, a fault)
                log.warning("vsphere backend %s: no VM events: %s", self.backend_id, exc)
                stop.wait(RETRY_MAX)
                continue
            if stop.is_set():  # closed meanwhile
                self._destroy(col)
                return
            pause = RETRY_MIN
            if lost is not None:
                lost = None
                log.info("vsphere backend %s: VM events again", self.backend_id)
                self._connection_changed(True, "")
            self._events_col = col
            try:
                if not stop.is_set():  # close() may have come before the collector was known
                    seen = self._follow(col, seen, stop)
            finally:
                self._events_col = None
                self._destroy(col)

    def _new_collector(self, session: _Session) -> _Collector:
        pc = session.content.propertyCollector.CreatePropertyCollector()
        try:
            view = session.view(vim.VirtualMachine)
            pc.CreateFilter(_view_spec(view, vim.VirtualMachine, WATCHED), partialUpdates=False)
        except BaseException:
            with contextlib.suppress(Exception):
                pc.DestroyPropertyCollector()
            raise
        log.info("vsphere backend %s: following VM changes", self.backend_id)
        return _Collector(session, pc)

    def _destroy(self, col: _Collector) -> None:
        with contextlib.suppress(Exception):  # the session may be gone with it
            col.pc.DestroyPropertyCollector()

    def _follow(
        self, col: _Collector, seen: dict[str, _Seen] | None, stop: threading.Event
    ) -> dict[str, _Seen] | None:
        """Wait for updates on col until the wait fails or stop is set; returns what is
        seen then (the caller makes a new collector and passes it back)."""
        options = PC.WaitOptions(maxWaitSeconds=self.max_wait_seconds)
        version = ""
        fresh: dict[str, _Seen] | None = {}  # the initial update being collected
        while not stop.is_set():
            try:
                update = col.pc.WaitForUpdatesEx(version, options)
            except (vim.fault.NotAuthenticated, vmodl.fault.ManagedObjectNotFound) as fault:
                log.info(
                    "vsphere backend %s: update wait: session gone (%s)",
                    self.backend_id,
                    type(fault).__name__,
                )
                return seen
            except vmodl.fault.RequestCanceled:
                return seen
            except (OSError, http.client.HTTPException) as exc:
                log.info(
                    "vsphere backend %s: update wait failed: %s",
                    self.backend_id,
                    type(exc).__name__,
                )
                return seen
            except vmodl.MethodFault as fault:
                log.warning("vsphere backend %s: update wait: %s", self.backend_id, fault.msg)
                return seen
            if update is None:  # maxWaitSeconds passed without a change
                continue
            version = update.version
            if fresh is not None:
                for ou in _object_updates(update):
                    if ou.kind != "leave":
                        fresh.setdefault(ou.obj._moId, _Seen({})).props.update(_changes(ou))
                if update.truncated:
                    continue
                if seen is not None:
                    self._reconcile(seen, fresh)
                seen, fresh = fresh, None
                continue
            assert seen is not None
            for ou in _object_updates(update):
                self._apply(seen, ou)
        return seen

    # -- turning updates into events ---------------------------------------------------------
    def _apply(self, seen: dict[str, _Seen], ou: Any) -> None:
        moid = ou.obj._moId
        before = seen.get(moid)
        if ou.kind == "leave":
            seen.pop(moid, None)
            if before is not None and before.uuid:
                self._emit(
                    VmEvent(self.backend_id, before.uuid, VmEventKind.UNDEFINED, None, before.name)
                )
            return
        old_uuid = before.uuid if before is not None else None
        old_state = before.state if before is not None else None
        old_config = before.config() if before is not None else None
        now = seen.setdefault(moid, _Seen({}) if before is None else _Seen(dict(before.props)))
        now.props.update(_changes(ou))
        uuid = now.uuid
        if uuid != old_uuid:
            if old_uuid:  # became a template, or its identity changed
                self._emit(
                    VmEvent(self.backend_id, old_uuid, VmEventKind.UNDEFINED, None, now.name)
                )
            if uuid:
                self._emit(VmEvent(self.backend_id, uuid, VmEventKind.DEFINED, now.state, now.name))
            return
        if not uuid:
            return
        if now.state is not old_state:
            self._emit(VmEvent(self.backend_id, uuid, VmEventKind.CHANGED, now.state, now.name))
        elif now.config() != old_config:
            self._emit(VmEvent(self.backend_id, uuid, VmEventKind.CHANGED, None, now.name))

    def _reconcile(self, before: dict[str, _Seen], after: dict[str, _Seen]) -> None:
        """Events for what changed while no collector watched (compared by UUID: a
        restarted vCenter may number its objects anew)."""
        old = {s.uuid: s for s in before.values() if s.uuid}
        new = {s.uuid: s for s in after.values() if s.uuid}
        for uuid, s in old.items():
            if uuid not in new:
                self._emit(VmEvent(self.backend_id, uuid, VmEventKind.UNDEFINED, None, s.name))
        for uuid, s in new.items():
            was = old.get(uuid)
            if was is None:
                self._emit(VmEvent(self.backend_id, uuid, VmEventKind.DEFINED, s.state, s.name))
            elif was.state is not s.state:
                self._emit(VmEvent(self.backend_id, uuid, VmEventKind.CHANGED, s.state, s.name))
            elif was.config() != s.config():
                self._emit(VmEvent(self.backend_id, uuid, VmEventKind.CHANGED, None, s.name))

    def _emit(self, event: VmEvent) -> None:
        for cb in list(self._watchers):
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - one watcher must not stop the events
                log.exception("VM event watcher")

    def _connection_changed(self, up: bool, why: str) -> None:
        for cb in list(self._connection_watchers):
            try:
                cb(up, why)
            except Exception:  # noqa: BLE001 - as above
                log.exception("connection watcher")


def _object_updates(update: Any) -> list[Any]:
    return [ou for fs in update.filterSet or [] for ou in fs.objectSet or []]


def _changes(ou: Any) -> dict[str, Any]:
    """The properties an ObjectUpdate sets (a removed one becomes None)."""
    out: dict[str, Any] = {}
    for change in ou.changeSet or []:
        out[change.name] = None if change.op in ("remove", "indirectRemove") else change.val
    return out
