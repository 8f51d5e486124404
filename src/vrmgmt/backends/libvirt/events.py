"""libvirt domain lifecycle events for LibvirtManager.watch() (libvirt API
virConnectDomainEventRegisterAny, VIR_DOMAIN_EVENT_ID_LIFECYCLE; DESIGN.md "Backends and
inventory", "Events").

Job: turn libvirt's pushed lifecycle events into hypervisor-neutral VmEvents. The
default event loop (connection._ensure_event_loop, one thread per process) dispatches
them; the callback is registered on the backend's own connection and registered again
on every new connection (reconnects call ``_opened``). The test driver emits its events
through the same loop as soon as the change is made; libvirtd's QEMU driver sends them
for changes made by anyone (virsh included).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import libvirt

from vrmgmt.model import PowerState, VmEvent, VmEventKind

log = logging.getLogger(__name__)


def kind_of(event: int, detail: int) -> VmEventKind:
    """VIR_DOMAIN_EVENT_DEFINED/ADDED is a new VM, UNDEFINED a removed one; every other
    lifecycle event (started, suspended, resumed, stopped, shutdown, crashed, pmsuspended,
    a changed definition) changes an existing VM."""
    added = libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED
    if event == libvirt.VIR_DOMAIN_EVENT_DEFINED and detail == added:
        return VmEventKind.DEFINED
    if event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
        return VmEventKind.UNDEFINED
    return VmEventKind.CHANGED


def state_of(event: int, detail: int) -> PowerState | None:
    """The state a lifecycle event announces (None when it announces none). A new
    definition is shut off (libvirt starts a defined domain with a STARTED event after
    it; a running transient domain made persistent reports the same, a known
    inaccuracy of the creation indication in that one case)."""
    if event == libvirt.VIR_DOMAIN_EVENT_DEFINED:
        return PowerState.OFF if detail == libvirt.VIR_DOMAIN_EVENT_DEFINED_ADDED else None
    if event in (libvirt.VIR_DOMAIN_EVENT_STARTED, libvirt.VIR_DOMAIN_EVENT_RESUMED):
        return PowerState.RUNNING
    if event in (libvirt.VIR_DOMAIN_EVENT_SUSPENDED, libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED):
        return PowerState.PAUSED
    if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
        if detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED:
            return PowerState.SUSPENDED
        if detail == libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED:
            return PowerState.CRASHED
        return PowerState.OFF
    if event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
        return PowerState.CRASHED
    return None


class LifecycleEvents:
    """Mixin of LibvirtManager (which provides backend_id, _lock, _conn, _call)."""

    backend_id: str

    def _init_events(self) -> None:
        self._watchers: list[Callable[[VmEvent], None]] = []
        self._events_lock = threading.Lock()
        self._event_conn: libvirt.virConnect | None = None

    def watch(self, callback: Callable[[VmEvent], None]) -> bool:
        from vrmgmt.backends.libvirt.connection import _ensure_event_loop

        _ensure_event_loop()  # before any event can be dispatched (test driver too)
        with self._events_lock:
            self._watchers.append(callback)
        self._call(self._register_events)  # opens the connection if need be
        return True

    def _register_events(self, conn: libvirt.virConnect) -> None:
        """Register the lifecycle callback on conn once (called on every (re)open)."""
        with self._events_lock:
            if not self._watchers or self._event_conn is conn:
                return
            try:
                conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._lifecycle, None
                )
            except libvirt.libvirtError as exc:
                log.warning(
                    "backend %s: no lifecycle events: %s",
                    self.backend_id,
                    exc.get_error_message() or exc,
                )
                return
            self._event_conn = conn
            log.info("backend %s: lifecycle events registered", self.backend_id)

    def _lifecycle(self, _conn, dom, event: int, detail: int, _opaque) -> None:
        try:
            ev = VmEvent(
                self.backend_id,
                dom.UUIDString(),
                kind_of(event, detail),
                state_of(event, detail),
                dom.name(),
            )
        except libvirt.libvirtError:
            return
        for cb in list(self._watchers):
            with contextlib.suppress(Exception):
                cb(ev)
