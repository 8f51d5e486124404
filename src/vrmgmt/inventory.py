"""The configured backends as one inventory: per-backend bounded call pools and
timeouts, down-marking with background reconnect, parallel fan-out, and VM-UUID ->
backend lookup.

Each backend has its own small pool of call threads (a hung backend can exhaust only
its own) and its own timeout. A call that times out marks the backend down: from then
on calls to it fail at once (BackendUnavailable, no waiting) and its host is answered
from its last known state with HostStatus.LOST_COMMUNICATION, while a background probe
(Manager.host() in a thread of its own, every PROBE_INTERVAL seconds) reconnects it and
clears the mark. A loss a backend notices by itself (Manager.watch_connection: libvirt's
close callback, vSphere's update wait) starts that probe at once and tells the host
watchers (watch_hosts), without a client's call. Enumerations ask all live backends in
parallel and wait for the slowest of them at most, never for the sum of their timeouts.

The VMs of an unreachable backend are not left out either: the inventory keeps each
backend's last good VM listing (and each VM's last detailed read, with disks and NICs)
with the time it was read, and while the backend cannot be reached (marked down, busy,
timed out, failing) listings and look-ups answer from it, every VM marked stale
(VirtualMachine.stale_since / stale_reason). Changes are never attempted on a stale VM
(StaleVM, at once). A good answer replaces the remembered state and clears the mark.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from vrmgmt import localhost
from vrmgmt.backends import Feature, HostPowerAction, Locality, Manager, create_manager
from vrmgmt.config import BackendConfig
from vrmgmt.errors import BackendUnavailable, InvalidSpec, NotFound, StaleVM, VrmError
from vrmgmt.model import (
    Console,
    Host,
    HostOS,
    HostProcess,
    HostStatus,
    PoolInfo,
    PowerAction,
    Snapshot,
    SnapshotKind,
    VirtualMachine,
    VMChange,
    VmEvent,
    VMSpec,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: call threads per backend (calls beyond this wait in the backend's queue)
WORKERS_PER_BACKEND = 8
#: calls queued or running per backend at most; more fail at once ("busy")
MAX_PENDING_PER_BACKEND = 256
#: seconds between reconnect probes of a backend that is down
PROBE_INTERVAL = 2.0
#: VMs remembered per backend at most (their last known state); a backend listing more
#: is not remembered (streamed listings, e.g. pulls of 100,000 VMs, stay lazy)
KNOWN_LIMIT = 12_000


@dataclass
class FanOut:
    """Results of one call on every backend: values by backend id, and failures."""

    results: dict[str, object] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class _Known:
    """One backend's last known VMs: uuid -> (VM as last listed, when), and
    uuid -> (VM as last read with its devices, when)."""

    __slots__ = ("listed", "detailed", "complete")

    def __init__(self) -> None:
        self.complete = False  # a whole listing was read once (it may have been empty)
        self.listed: dict[str, tuple[VirtualMachine, datetime]] = {}
        self.detailed: dict[str, tuple[VirtualMachine, datetime]] = {}


class _Backend:
    """One backend's pool, health and last known state."""

    def __init__(self, mgr: Manager):
        self.mgr = mgr
        self.pool = self._new_pool()
        self.pending = 0  # calls queued or running in pool
        self.down = ""  # why the backend is down; "" = up
        self.last_failure = ""  # the last failure reported (health())
        self.probing = False
        self.lock = threading.Lock()

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            max_workers=WORKERS_PER_BACKEND, thread_name_prefix=f"backend-{self.mgr.backend_id}"
        )

    def renew_pool(self) -> None:
        """A fresh pool after a hang: calls stuck in the old one cannot delay new ones
        (the old threads end when their calls do)."""
        old, self.pool = self.pool, self._new_pool()
        with self.lock:
            self.pending = 0
        old.shutdown(wait=False, cancel_futures=True)


class Inventory:
    def __init__(self, managers: Iterable[Manager]):
        self.managers: dict[str, Manager] = {}
        for m in managers:
            if m.backend_id in self.managers:
                raise VrmError(f"duplicate backend id {m.backend_id!r}")
            self.managers[m.backend_id] = m
        self._backends = {bid: _Backend(m) for bid, m in self.managers.items()}
        self._lock = threading.RLock()
        self._vm_backend: dict[str, str] = {}  # uuid -> backend id
        self._last_host: dict[str, Host] = {}
        self._known: dict[str, _Known] = {bid: _Known() for bid in self.managers}
        self._too_many_logged: set[str] = set()
        self._closed = threading.Event()
        self.probe_interval = PROBE_INTERVAL
        #: callback(backend_id, reachable) on every down/up transition (host indications)
        self._host_watchers: list[Callable[[str, bool], None]] = []
        self._connections_watched = False

    @classmethod
    def from_config(cls, backends: Iterable[BackendConfig]) -> Inventory:
        return cls(create_manager(b.id, b.type, timeout=b.timeout, **b.options) for b in backends)

    def close(self) -> None:
        self._closed.set()
        for m in self.managers.values():
            try:
                m.close()
            except Exception:  # noqa: BLE001 - closing must not fail shutdown
                log.exception("closing backend %s", m.backend_id)
        for b in self._backends.values():
            b.pool.shutdown(wait=False, cancel_futures=True)

    def manager(self, backend_id: str) -> Manager:
        try:
            return self.managers[backend_id]
        except KeyError:
            raise NotFound(f"no backend {backend_id!r}") from None

    # -- calls with timeouts -------------------------------------------------------
    def call(self, backend_id: str, fn: Callable[[Manager], T]) -> T:
        """Run fn(manager) in the backend's pool, bounded by its timeout; at once
        BackendUnavailable if the backend is marked down."""
        self.manager(backend_id)
        b = self._backends[backend_id]
        fut = self._submit(b, fn)
        return self._result(b, fut, time.monotonic() + b.mgr.timeout)

    def _result(self, b: _Backend, fut: Future, deadline: float):
        bid = b.mgr.backend_id
        try:
            value = fut.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            why = f"no answer within {b.mgr.timeout:g} s"
            self._set_down(b, why)
            raise BackendUnavailable(bid, why) from None
        except BackendUnavailable as exc:
            self._set_down(b, exc.detail)
            raise
        self._mark(bid, "")
        return value

    def fan_out(self, fn: Callable[[Manager], T]) -> FanOut:
        """Run fn on every live backend in parallel; wait for each at most its timeout
        from the common start (so for the slowest one at most, not for the sum)."""
        futures: dict[str, tuple[_Backend, Future, float]] = {}
        out = FanOut()
        start = time.monotonic()
        for bid, b in self._backends.items():
            try:
                futures[bid] = (b, self._submit(b, fn), start + b.mgr.timeout)
            except BackendUnavailable as exc:
                out.failures[bid] = exc.detail
        for bid, (b, fut, deadline) in futures.items():
            try:
                out.results[bid] = self._result(b, fut, deadline)
            except BackendUnavailable as exc:
                out.failures[bid] = exc.detail
            except VrmError as exc:
                out.failures[bid] = str(exc)
                self._mark(bid, str(exc))
            except Exception as exc:  # noqa: BLE001 - one backend's bug must not fail all
                log.exception("backend %s failed", bid)
                out.failures[bid] = f"{type(exc).__name__}: {exc}"
                self._mark(bid, out.failures[bid])
        return out

    def _submit(self, b: _Backend, fn: Callable[[Manager], T]) -> Future:
        bid = b.mgr.backend_id
        if b.down:
            raise BackendUnavailable(bid, f"{b.down} (marked down; reconnecting)")
        with b.lock:
            if b.pending >= MAX_PENDING_PER_BACKEND:
                raise BackendUnavailable(bid, f"busy: {b.pending} calls in progress")
            b.pending += 1
        try:
            fut = b.pool.submit(fn, b.mgr)
        except RuntimeError:  # the pool was renewed or shut down meanwhile
            with b.lock:
                b.pending -= 1
            raise BackendUnavailable(bid, "shutting down") from None
        pool = b.pool
        fut.add_done_callback(lambda _f, p=pool: self._done(b, p))
        return fut

    @staticmethod
    def _done(b: _Backend, pool: ThreadPoolExecutor) -> None:
        if pool is b.pool:
            with b.lock:
                b.pending = max(0, b.pending - 1)

    # -- health: down-marking and background reconnect -----------------------------
    def _set_down(self, b: _Backend, why: str) -> None:
        with self._lock:  # marked before the watchers hear: their reads fail at once
            if b.down:
                b.down = why if why else b.down
                probe = False
            else:
                b.down = why
                probe = not b.probing and not self._closed.is_set()
                if probe:
                    b.probing = True
        self._mark(b.mgr.backend_id, why)
        if probe:
            self._start_probe(b)

    def _start_probe(self, b: _Backend) -> None:
        threading.Thread(
            target=self._probe_loop,
            args=(b,),
            name=f"probe-{b.mgr.backend_id}",
            daemon=True,
        ).start()

    def _probe_loop(self, b: _Backend) -> None:
        """Until the backend answers Manager.host() within its timeout again (or, when it
        was not marked down, until a call succeeded meanwhile). Each probe runs in a
        thread of its own; a probe that hangs is waited for, never stacked."""
        bid = b.mgr.backend_id
        try:
            while not self._closed.wait(self.probe_interval):
                if not b.down and not b.last_failure:
                    return  # a call succeeded meanwhile (a pushed loss that healed)
                fut: Future = Future()

                def probe(f=fut) -> None:
                    try:
                        f.set_result(b.mgr.host())
                    except BaseException as exc:  # noqa: BLE001 - reported below
                        f.set_exception(exc)

                t = threading.Thread(target=probe, name=f"probe-call-{bid}", daemon=True)
                t.start()
                try:
                    host = fut.result(timeout=b.mgr.timeout)
                except FutureTimeout:
                    self._mark(bid, f"no answer within {b.mgr.timeout:g} s")
                    while t.is_alive() and not self._closed.wait(self.probe_interval):
                        pass
                    continue
                except Exception as exc:  # noqa: BLE001 - still down
                    detail = exc.detail if isinstance(exc, BackendUnavailable) else str(exc)
                    self._mark(bid, detail)
                    continue
                host.backend_type = b.mgr.kind
                self._last_host[bid] = host
                if b.down:
                    b.renew_pool()  # calls stuck in the old pool delay no new one
                    with self._lock:
                        b.down = ""
                self._mark(bid, "")
                return
        finally:
            with self._lock:
                b.probing = False

    def _mark(self, backend_id: str, failure: str) -> None:
        b = self._backends[backend_id]
        before = b.last_failure
        b.last_failure = failure
        if failure and before != failure:
            log.warning("backend %s unavailable: %s", backend_id, failure)
        elif not failure and before:
            log.info("backend %s is back", backend_id)
        if bool(failure) != bool(before):
            for cb in list(self._host_watchers):
                try:
                    cb(backend_id, not failure)
                except Exception:  # noqa: BLE001 - a watcher must not break health
                    log.exception("host watcher")

    # -- pushed events -------------------------------------------------------------
    def watch_hosts(self, callback: Callable[[str, bool], None]) -> None:
        """callback(backend_id, reachable) whenever a backend is marked down or is back:
        a call failed or timed out, the backend noticed by itself that its connection is
        lost (Manager.watch_connection: libvirt's close callback, vSphere's update wait),
        or the reconnect probe or a call succeeded again."""
        self._host_watchers.append(callback)
        self._watch_connections()

    def _watch_connections(self) -> None:
        """Have every backend report a connection it loses (or gets back) by itself, so
        the host watchers hear at once, and the reconnect probe brings it back (and
        registers its VM events again) without waiting for a client's call."""
        with self._lock:
            if self._connections_watched:
                return
            self._connections_watched = True
        for b in self._backends.values():
            try:
                b.mgr.watch_connection(lambda up, why, b=b: self._pushed_health(b, up, why))
            except Exception:  # noqa: BLE001 - one backend's bug must not stop the rest
                log.exception("backend %s: watching its connection", b.mgr.backend_id)

    def _pushed_health(self, b: _Backend, up: bool, why: str) -> None:
        """A loss the backend noticed itself: the watchers hear at once and the reconnect
        probe starts, but calls are still tried (not marked down): the backend may be
        back already (a daemon restarted), and a call that fails marks it down as ever."""
        if self._closed.is_set():
            return
        if not up:
            self._mark(b.mgr.backend_id, why or "connection lost")
            with self._lock:
                probe = not b.probing and not self._closed.is_set()
                if probe:
                    b.probing = True
            if probe:
                self._start_probe(b)
            return
        if b.down:
            b.renew_pool()  # as the probe does: calls stuck meanwhile delay no new one
            with self._lock:
                b.down = ""
        self._mark(b.mgr.backend_id, "")

    def watch_vms(self, callback: Callable[[VmEvent], None]) -> list[str]:
        """Ask every backend to push VM events to callback (Manager.watch), each from a
        thread of its own that retries while the backend is unreachable, so a dead backend
        delays nobody. Returns the backend ids (their watch may still be pending)."""
        self._watch_connections()  # a lost connection is noticed, and events re-registered
        for bid, b in self._backends.items():
            threading.Thread(
                target=self._watch_loop, args=(b, callback), name=f"watch-{bid}", daemon=True
            ).start()
        return list(self._backends)

    def _watch_loop(self, b: _Backend, callback: Callable[[VmEvent], None]) -> None:
        bid = b.mgr.backend_id
        while not self._closed.is_set():
            try:
                if not b.mgr.watch(callback):
                    log.info("backend %s pushes no VM events", bid)
                return
            except VrmError as exc:
                log.info("backend %s: VM events not registered yet: %s", bid, exc)
            except Exception:  # noqa: BLE001 - keep trying, say why
                log.exception("backend %s: registering VM events", bid)
            if self._closed.wait(max(self.probe_interval, 1.0)):
                return

    def health(self) -> dict[str, str]:
        """backend id -> why it is unavailable ("" = healthy)."""
        return {bid: b.down or b.last_failure for bid, b in self._backends.items()}

    def is_down(self, backend_id: str) -> bool:
        return bool(self._backends[backend_id].down)

    # -- domain queries ----------------------------------------------------------
    def hosts(self) -> list[Host]:
        """One Host per backend; unreachable ones with status LOST_COMMUNICATION."""
        res = self.fan_out(lambda m: m.host())
        hosts = []
        for bid, mgr in self.managers.items():
            if bid in res.results:
                host = res.results[bid]
                host.backend_type = mgr.kind
                self._last_host[bid] = host
            else:
                host = self._lost_host(mgr, res.failures.get(bid, "unknown failure"))
            hosts.append(host)
        return hosts

    def host(self, backend_id: str) -> Host:
        mgr = self.manager(backend_id)
        try:
            host = self.call(backend_id, lambda m: m.host())
        except BackendUnavailable as exc:
            return self._lost_host(mgr, exc.detail)
        host.backend_type = mgr.kind
        self._last_host[backend_id] = host
        return host

    def _lost_host(self, mgr: Manager, why: str) -> Host:
        last = self._last_host.get(mgr.backend_id)
        return Host(
            backend_id=mgr.backend_id,
            hostname=last.hostname if last else mgr.backend_id,
            hypervisor_type=last.hypervisor_type if last else "",
            hypervisor_version=last.hypervisor_version if last else "",
            virtual_system_type=last.virtual_system_type if last else "",
            cpu_model=last.cpu_model if last else "",
            cpu_count=last.cpu_count if last else 0,
            memory_total_kib=last.memory_total_kib if last else 0,
            uri=last.uri if last else "",
            backend_type=mgr.kind,
            status=HostStatus.LOST_COMMUNICATION,
            status_detail=why,
        )

    # -- last known VMs ---------------------------------------------------------------
    def _remember_listing(
        self, backend_id: str, vms: list[VirtualMachine], detailed: bool = False
    ) -> None:
        """A complete, good listing of one backend: it replaces what was known."""
        now = datetime.now(UTC)
        known = self._known[backend_id]
        if len(vms) > KNOWN_LIMIT:
            self._too_many(backend_id, len(vms))
            for vm in vms:
                self._vm_backend[vm.uuid] = backend_id
            return
        listed = {vm.uuid: (vm, now) for vm in vms}
        if detailed:
            kept = dict(listed)
        else:  # keep detailed reads of VMs that still exist
            kept = {u: d for u, d in known.detailed.items() if u in listed}
        with self._lock:
            known.listed, known.detailed, known.complete = listed, kept, True
            for vm in vms:
                self._vm_backend[vm.uuid] = backend_id

    def _too_many(self, backend_id: str, n: int) -> None:
        known = self._known[backend_id]
        with self._lock:
            known.listed, known.detailed, known.complete = {}, {}, False
            first = backend_id not in self._too_many_logged
            self._too_many_logged.add(backend_id)
        if first:
            log.info(
                "backend %s lists %d VMs or more, over %d: their last known state is not "
                "kept (answered only while it is reachable)",
                backend_id,
                n,
                KNOWN_LIMIT,
            )

    def _remember_vm(self, backend_id: str, vm: VirtualMachine) -> None:
        """One VM read with its devices (get_vm)."""
        now = datetime.now(UTC)
        known = self._known[backend_id]
        with self._lock:
            if len(known.listed) >= KNOWN_LIMIT and vm.uuid not in known.listed:
                return
            known.listed[vm.uuid] = (vm, now)
            known.detailed[vm.uuid] = (vm, now)

    def _forget_vm(self, uuid: str) -> None:
        with self._lock:
            self._vm_backend.pop(uuid, None)
            for known in self._known.values():
                known.listed.pop(uuid, None)
                known.detailed.pop(uuid, None)

    @staticmethod
    def _stale(vm: VirtualMachine, since: datetime, why: str) -> VirtualMachine:
        return dataclasses.replace(vm, stale_since=since, stale_reason=why)

    def _stale_listing(
        self, backend_id: str, why: str, detailed: bool = False
    ) -> list[VirtualMachine] | None:
        """The backend's VMs as last known, marked stale; None if none were ever read."""
        known = self._known[backend_id]
        with self._lock:
            if not known.complete and not known.listed:
                return None
            listed = dict(known.listed)
            details = dict(known.detailed) if detailed else {}
        out = []
        for uuid, (vm, when) in listed.items():
            vm, when = details.get(uuid, (vm, when))
            out.append(self._stale(vm, when, why))
        return out

    def _stale_vm(self, backend_id: str, uuid: str, why: str) -> VirtualMachine | None:
        known = self._known[backend_id]
        with self._lock:
            got = known.detailed.get(uuid) or known.listed.get(uuid)
        return None if got is None else self._stale(got[0], got[1], why)

    def _why(self, backend_id: str, failure: str) -> str:
        b = self._backends[backend_id]
        if b.down:
            return f"{b.down}; marked down, reconnecting"
        return failure or b.last_failure or "unreachable"

    def list_vms(self) -> tuple[list[VirtualMachine], dict[str, str]]:
        """All VMs of all backends, and {backend id: why} for the unreachable ones,
        whose VMs are those last known, marked stale."""
        res = self.fan_out(lambda m: m.list_vms())
        vms: list[VirtualMachine] = []
        for bid in self.managers:
            if bid in res.results:
                got: list[VirtualMachine] = res.results[bid]  # type: ignore[assignment]
                self._remember_listing(bid, got)
                vms.extend(got)
            else:
                vms.extend(self._stale_listing(bid, self._why(bid, res.failures[bid])) or ())
        return vms, res.failures

    def iter_vms(self) -> Iterator[VirtualMachine]:
        """All VMs, streamed backend by backend. The listings of all backends start in
        parallel (each bounded by its timeout, so the wait is that of the slowest);
        unreachable backends give their last known VMs, marked stale (as in list_vms)."""
        start = time.monotonic()
        started: list[tuple[str, _Backend, Future | None, str]] = []
        for bid, b in self._backends.items():
            try:
                started.append((bid, b, self._submit(b, lambda m: m.iter_vms()), ""))
            except BackendUnavailable as exc:
                started.append((bid, b, None, exc.detail))
        for bid, b, fut, why in started:
            if fut is not None:
                try:
                    it = self._result(b, fut, start + b.mgr.timeout)
                except BackendUnavailable as exc:
                    why = exc.detail
                except VrmError as exc:
                    why = str(exc)
                    self._mark(bid, why)
                else:
                    seen: list[VirtualMachine] | None = []
                    n = 0
                    for vm in it:
                        n += 1
                        if seen is not None:
                            seen.append(vm)
                            if n > KNOWN_LIMIT:  # stay lazy: remember nothing
                                seen = None
                        yield vm
                    if seen is None:
                        self._too_many(bid, n)
                    else:
                        self._remember_listing(bid, seen)  # only once complete
                    continue
            stale = self._stale_listing(bid, self._why(bid, why))
            if stale is None:
                log.warning("backend %s left out of the enumeration: %s", bid, why)
            else:
                yield from stale

    def backend_of(self, uuid: str) -> str:
        """Which backend holds the VM (cached; a miss asks every backend)."""
        uuid = uuid.lower()
        bid = self._vm_backend.get(uuid)
        if bid is not None:
            return bid

        def probe(m: Manager) -> bool:
            try:
                m.get_vm(uuid)
                return True
            except NotFound:
                return False

        res = self.fan_out(probe)
        for bid, found in res.results.items():
            if found:
                self._vm_backend[uuid] = bid
                return bid
        for bid in res.failures:  # last known on a backend that cannot answer now
            if self._stale_vm(bid, uuid, "") is not None:
                return bid
        if res.failures:
            raise NotFound(
                f"no VM with UUID {uuid} on reachable backends "
                f"(unreachable: {', '.join(sorted(res.failures))})"
            )
        raise NotFound(f"no VM with UUID {uuid}")

    def get_vm(self, uuid: str, backend_id: str | None = None) -> VirtualMachine:
        """The VM with its devices; from a backend that cannot answer now, the VM as last
        known, marked stale (BackendUnavailable if it was never read)."""
        uuid = uuid.lower()
        cached = backend_id is None and uuid in self._vm_backend
        bid = backend_id or self.backend_of(uuid)
        try:
            vm = self.call(bid, lambda m: m.get_vm(uuid))
        except NotFound:
            self._forget_vm(uuid)
            if cached:  # moved away (a migration, maybe by another process): look again
                return self.get_vm(uuid)
            raise
        except BackendUnavailable as exc:
            stale = self._stale_vm(bid, uuid, self._why(bid, exc.detail))
            if stale is None:
                raise
            return stale
        self._remember_vm(bid, vm)
        return vm

    def check_fresh(self, vm: VirtualMachine, what: str) -> None:
        """StaleVM at once (never waiting on the backend) when vm is only its last known
        state: a change is not attempted on a backend that cannot be reached."""
        if vm.stale_since is not None:
            raise StaleVM(vm, what)

    def perform(
        self,
        uuid: str,
        action: PowerAction,
        backend_id: str | None = None,
        timeout: float | None = None,
    ) -> None:
        """Carry out a power action, bounded by the backend's timeout or, when given,
        by ``timeout`` (a job may wait longer than a request, e.g. for a vSphere task)."""
        bid = backend_id or self.backend_of(uuid)
        if timeout is None:
            self.call(bid, lambda m: m.perform(uuid.lower(), action))
        else:
            self.call_long(bid, lambda m: m.perform(uuid.lower(), action), timeout)

    # -- typed queries for the CIM classes (no manager objects, no lambdas there) -----
    def backend_ids(self) -> list[str]:
        """The configured backend ids, in configuration order."""
        return list(self.managers)

    def has_backend(self, backend_id: str) -> bool:
        return backend_id in self.managers

    def possible_actions(self, vm: VirtualMachine) -> frozenset[PowerAction]:
        """The power actions valid for the VM right now (AvailableRequestedStates)."""
        return self.manager(vm.backend_id).possible_actions(vm)

    def supported_actions(self, backend_id: str) -> frozenset[PowerAction]:
        """The power actions the backend implements at all."""
        return self.manager(backend_id).supported_actions()

    def vms_of(self, backend_id: str) -> list[VirtualMachine]:
        """The VMs of one backend, bounded by its timeout; when it cannot answer, those
        last known, marked stale (BackendUnavailable if it was never listed)."""
        try:
            vms = self.call(backend_id, _list_vms)
        except NotFound:
            raise
        except VrmError as exc:
            stale = self._stale_listing(backend_id, self._why(backend_id, _detail(exc)))
            if stale is None:
                raise
            return stale
        self._remember_listing(backend_id, vms)
        return vms

    def vms_with_devices_of(self, backend_id: str) -> list[VirtualMachine]:
        """The VMs of one backend with their disks, NICs, description and crash action
        (as get_vm gives them), in one backend call bounded by its timeout; when it
        cannot answer, those last known (marked stale), as vms_of."""
        try:
            vms = self.call(backend_id, lambda m: m.list_vms_with_devices())
        except NotFound:
            raise
        except VrmError as exc:
            why = self._why(backend_id, _detail(exc))
            stale = self._stale_listing(backend_id, why, detailed=True)
            if stale is None:
                raise
            return stale
        self._remember_listing(backend_id, vms, detailed=True)
        return vms

    def pools(self, backend_id: str) -> list[PoolInfo]:
        """The storage pools (datastores) and networks (port groups) of one backend, in
        one call bounded by its timeout (Manager.list_pools); [] for a backend without
        Feature.POOLS. Errors (backend down) propagate: callers show no such pools."""
        if Feature.POOLS not in self.features(backend_id):
            return []
        return self.call(backend_id, lambda m: m.list_pools())

    def bulk_stats(self, backend_id: str) -> dict[str, dict[str, float]]:
        """The latest statistics of every VM of one backend in one backend call
        (Manager.bulk_stats; the vSphere metrics collector writes them as RRDs)."""
        return self.call(backend_id, lambda m: m.bulk_stats())

    def perf_sample(self, backend_id: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """(bulk_stats of every VM, the host's own sample) of one backend in one backend
        call (Manager.perf_sample; what the vSphere metrics collector writes)."""
        return self.call(backend_id, lambda m: m.perf_sample())

    def kind_of(self, backend_id: str) -> str:
        """The backend's type ("libvirt", "vsphere")."""
        return self.manager(backend_id).kind

    # -- capabilities and VM definitions (typed, for the CIM classes and jobs) ---------
    def features(self, backend_id: str) -> frozenset[Feature]:
        """The optional capabilities of one backend (what capabilities classes advertise)."""
        return self.manager(backend_id).features()

    def disk_support(self, backend_id: str) -> tuple[bool, frozenset[str]]:
        """(new disks from a capacity, the disk kinds a definition adds) of the backend
        (Manager.disk_support)."""
        return self.manager(backend_id).disk_support()

    def cpu_allocation(self, backend_id: str) -> tuple[str, frozenset[str]] | None:
        """The unit and fields of the processor allocation (reservation, limit, weight)
        the backend has (Manager.cpu_allocation); None when it has none."""
        return self.manager(backend_id).cpu_allocation()

    def is_slow(self, backend_id: str, action: PowerAction) -> bool:
        """Can this power action take longer than about a second on that backend (run it
        as a job then)?"""
        return self.manager(backend_id).is_slow(action)

    def definitions_are_slow(self, backend_id: str) -> bool:
        """Can define_vm / modify_vm / undefine_vm take longer than about a second on that
        backend (run DefineSystem and friends as jobs then)?"""
        return self.manager(backend_id).definitions_are_slow()

    def long_call_timeout(self, backend_id: str) -> float:
        """How long a job waits for slow work on that backend (define, modify, undefine,
        a slow power action) when it names no timeout itself."""
        return self.manager(backend_id).long_call_timeout

    def define_vm(
        self, backend_id: str, spec: VMSpec, timeout: float | None = None
    ) -> VirtualMachine:
        """Create a VM on the backend; the new VM. Bounded by ``timeout`` (default: the
        backend's long_call_timeout)."""
        vm = self.call_long(backend_id, lambda m: m.define_vm(spec), timeout)
        self._vm_backend[vm.uuid] = backend_id
        return vm

    def modify_vm(
        self, uuid: str, change: VMChange, timeout: float | None = None
    ) -> VirtualMachine:
        """Apply a VMChange to the VM; the VM afterwards. Bounded like define_vm."""
        bid = self.backend_of(uuid)
        try:
            return self.call_long(bid, lambda m: m.modify_vm(uuid.lower(), change), timeout)
        except NotFound:
            self._vm_backend.pop(uuid.lower(), None)
            raise

    def undefine_vm(self, uuid: str, timeout: float | None = None) -> None:
        """Remove the VM (see each backend's undefine_vm). Bounded like define_vm."""
        bid = self.backend_of(uuid)
        try:
            self.call_long(bid, lambda m: m.undefine_vm(uuid.lower()), timeout)
        except NotFound:
            self._forget_vm(uuid.lower())
            raise
        self._forget_vm(uuid.lower())  # (not when unreachable: it may well still exist)

    # -- snapshots (typed, for the snapshot classes and their jobs) ---------------------
    def snapshot_kinds(self, vm: VirtualMachine) -> frozenset[SnapshotKind]:
        """The kinds of snapshot the VM's backend can take of it as it is now."""
        if Feature.SNAPSHOTS not in self.features(vm.backend_id):
            return frozenset()
        return self.manager(vm.backend_id).snapshot_kinds(vm)

    def snapshots_are_slow(self, backend_id: str) -> bool:
        """Can creating, applying or destroying a snapshot take longer than about a
        second on that backend (run them as jobs then)?"""
        return self.manager(backend_id).snapshots_are_slow()

    def list_snapshots(self, uuid: str, backend_id: str | None = None) -> list[Snapshot]:
        """The VM's snapshot tree (roots with their children), bounded by the backend's
        timeout; [] for a backend without snapshots."""
        bid = backend_id or self.backend_of(uuid)
        if Feature.SNAPSHOTS not in self.features(bid):
            return []
        return self.call(bid, lambda m: m.list_snapshots(uuid.lower()))

    def create_snapshot(
        self,
        uuid: str,
        name: str,
        description: str = "",
        memory: bool = False,
        timeout: float | None = None,
    ) -> str:
        """Take a snapshot of the VM (with its memory when ``memory`` and it runs); the
        new snapshot's id. Bounded like define_vm."""
        bid = self.backend_of(uuid)
        return self.call_long(
            bid, lambda m: m.create_snapshot(uuid.lower(), name, description, memory), timeout
        )

    def revert_snapshot(self, uuid: str, snapshot_id: str, timeout: float | None = None) -> None:
        """Bring the VM back to the snapshot. Bounded like define_vm."""
        bid = self.backend_of(uuid)
        self.call_long(bid, lambda m: m.revert_snapshot(uuid.lower(), snapshot_id), timeout)

    def delete_snapshot(self, uuid: str, snapshot_id: str, timeout: float | None = None) -> None:
        """Delete one snapshot (its children move up to its parent). Bounded like
        define_vm."""
        bid = self.backend_of(uuid)
        self.call_long(bid, lambda m: m.delete_snapshot(uuid.lower(), snapshot_id), timeout)

    # -- migration (typed, for VRM_VirtualSystemMigrationService) ------------------------
    def kind(self, backend_id: str) -> str:
        """The backend's kind: "libvirt" or "vsphere" (known without connecting)."""
        return self.manager(backend_id).kind

    def describe(self, backend_id: str) -> str:
        """How a backend names itself in messages: its id and what it is (URI or URL)."""
        mgr = self.manager(backend_id)
        where = getattr(mgr, "uri", None) or getattr(mgr, "url", None) or mgr.kind
        return f"{backend_id} ({mgr.kind} {where})"

    def migration_hosts(self, backend_id: str) -> list[str]:
        """Hosts inside the backend a VM can move to (vSphere: its vCenter's ESXi
        hosts); [] without migration or where the backend is one host."""
        if Feature.MIGRATION not in self.features(backend_id):
            return []
        return self.call(backend_id, lambda m: m.migration_hosts())

    def vm_host(self, uuid: str, backend_id: str | None = None) -> str | None:
        """Which of the backend's migration_hosts() runs the VM (None: one-host backend)."""
        bid = backend_id or self.backend_of(uuid)
        return self.call(bid, lambda m: m.vm_host(uuid.lower()))

    def migrate_vm(
        self,
        uuid: str,
        target_backend: str | None,
        target_host: str | None = None,
        live: bool = True,
        progress: Callable[[int], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Move the VM to another backend of the same kind (``target_backend``) or to a
        host inside its own (``target_host``); bounded by the longer of both backends'
        long-call timeouts. The VM's cached location is dropped afterwards."""
        bid = self.backend_of(uuid)
        if target_backend is not None:
            dest = self.manager(target_backend)
            bound = timeout or max(self.long_call_timeout(bid), dest.long_call_timeout)
            target: Manager | str = dest
        elif target_host is not None:
            target, bound = target_host, timeout or self.long_call_timeout(bid)
        else:
            raise InvalidSpec("migrate_vm needs a target backend or host")
        try:
            self.call_long(bid, lambda m: m.migrate_vm(uuid.lower(), target, live, progress), bound)
        finally:
            self._forget_vm(uuid.lower())

    # -- console access (typed, for VRM_KVMRedirectionSAP) -------------------------------
    def consoles(self, uuid: str, backend_id: str | None = None) -> list[Console]:
        """How to reach the running VM's display (Manager.consoles), bounded by the
        backend's timeout; NotSupported where the backend cannot tell."""
        bid = backend_id or self.backend_of(uuid)
        return self.call(bid, lambda m: m.consoles(uuid.lower()))

    # -- the host itself: operating system, processes, power (typed, for the classes) ---
    def locality(self, backend_id: str) -> Locality:
        """Where the backend's host is (LOCAL / IN_PROCESS hosts are this machine)."""
        return self.manager(backend_id).locality()

    def runs_here(self, backend_id: str) -> bool:
        """Whether the backend's host is the machine vrmgmt runs on (its OS and
        processes are read from here)."""
        return self.locality(backend_id) is not Locality.REMOTE

    def operating_system(self, backend_id: str) -> HostOS:
        """The host's operating system: this machine's for local hosts, what the
        backend reports for remote ones (bounded by the backend's timeout)."""
        if self.runs_here(backend_id):
            return localhost.operating_system()
        return self.call(backend_id, lambda m: m.operating_system())

    def processes(self, backend_id: str) -> list[HostProcess]:
        """The host's processes: this machine's for local hosts, none for remote ones
        (HostOS.process_note says why)."""
        if self.runs_here(backend_id):
            return localhost.processes()
        return []

    def process(self, backend_id: str, pid: int) -> HostProcess:
        """One process of a local host; NotFound for remote hosts and unknown PIDs."""
        if not self.runs_here(backend_id):
            raise NotFound(f"backend {backend_id!r} is a remote host: its processes are not shown")
        return localhost.process(pid)

    def vm_process_ids(self, backend_id: str) -> dict[str, int]:
        """VM UUID -> PID of its QEMU / LXC process (local hosts; the test driver's
        VMs run in vrmgmt's own process; {} for remote hosts)."""
        if self.locality(backend_id) is Locality.REMOTE:
            return {}
        return self.call(backend_id, lambda m: m.vm_process_ids())

    def host_power(
        self,
        backend_id: str,
        action: HostPowerAction,
        force: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Reboot / shut down the host through the backend (Feature.HOST_POWER; slow:
        bounded like define_vm)."""
        self.call_long(backend_id, lambda m: m.host_power(action, force), timeout)

    def call_long(
        self, backend_id: str, fn: Callable[[Manager], T], timeout: float | None = None
    ) -> T:
        """Run fn(manager) bounded by ``timeout`` (default: the backend's
        long_call_timeout) instead of the request timeout, on a thread of its own: a
        call that rightly runs for a minute (a vSphere task) must neither hold a pool
        worker nor make the pool's hang detection fail the backend's other calls."""
        mgr = self.manager(backend_id)
        down = self._backends[backend_id].down
        if down:  # no waiting on a backend known to be down
            raise BackendUnavailable(backend_id, f"{down} (marked down; reconnecting)")
        bound = mgr.long_call_timeout if timeout is None else timeout
        fut: Future = Future()

        def run() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn(mgr))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                fut.set_exception(exc)

        threading.Thread(target=run, name=f"backend-{backend_id}-long", daemon=True).start()
        try:
            value = fut.result(timeout=bound)
        except FutureTimeout:
            self._mark(backend_id, f"no answer within {bound:g} s")
            raise BackendUnavailable(backend_id, f"no answer within {bound:g} s") from None
        except BackendUnavailable as exc:
            self._mark(backend_id, exc.detail)
            raise
        self._mark(backend_id, "")
        return value


def _list_vms(m: Manager) -> list[VirtualMachine]:
    return m.list_vms()


def _detail(exc: VrmError) -> str:
    return exc.detail if isinstance(exc, BackendUnavailable) else str(exc)
