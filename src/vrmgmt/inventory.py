"""The configured backends as one inventory: parallel fan-out with per-backend
timeouts, health tracking, and VM-UUID -> backend lookup.

A slow, hung or unreachable backend never blocks the others beyond its own timeout:
its VMs are left out, its host is reported with HostStatus.LOST_COMMUNICATION, and the
result names it. While a call to a backend is still hanging, further calls to it fail
fast instead of piling up threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TypeVar

from vrmgmt.backends import Feature, Manager, create_manager
from vrmgmt.config import BackendConfig
from vrmgmt.errors import BackendUnavailable, NotFound, VrmError
from vrmgmt.model import Host, HostStatus, PowerAction, VirtualMachine, VMChange, VMSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class FanOut:
    """Results of one call on every backend: values by backend id, and failures."""

    results: dict[str, object] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


class Inventory:
    def __init__(self, managers: Iterable[Manager]):
        self.managers: dict[str, Manager] = {}
        for m in managers:
            if m.backend_id in self.managers:
                raise VrmError(f"duplicate backend id {m.backend_id!r}")
            self.managers[m.backend_id] = m
        self._pool = ThreadPoolExecutor(
            max_workers=max(16, 4 * len(self.managers)), thread_name_prefix="backend"
        )
        # backend id -> {future: start time} of calls not finished yet
        self._inflight: dict[str, dict[Future, float]] = {}
        self._lock = threading.RLock()  # _done may run inside _submit
        self._vm_backend: dict[str, str] = {}  # uuid -> backend id
        self._last_host: dict[str, Host] = {}
        self._health: dict[str, str] = {}  # backend id -> last failure ("" = healthy)

    @classmethod
    def from_config(cls, backends: Iterable[BackendConfig]) -> Inventory:
        return cls(create_manager(b.id, b.type, timeout=b.timeout, **b.options) for b in backends)

    def close(self) -> None:
        for m in self.managers.values():
            try:
                m.close()
            except Exception:  # noqa: BLE001 - closing must not fail shutdown
                log.exception("closing backend %s", m.backend_id)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def manager(self, backend_id: str) -> Manager:
        try:
            return self.managers[backend_id]
        except KeyError:
            raise NotFound(f"no backend {backend_id!r}") from None

    # -- calls with timeouts -------------------------------------------------------
    def call(self, backend_id: str, fn: Callable[[Manager], T]) -> T:
        """Run fn(manager) bounded by the backend's timeout."""
        mgr = self.manager(backend_id)
        fut = self._submit(mgr, fn)
        try:
            value = fut.result(timeout=mgr.timeout)
        except FutureTimeout:
            self._mark(backend_id, f"no answer within {mgr.timeout:g} s")
            raise BackendUnavailable(backend_id, f"no answer within {mgr.timeout:g} s") from None
        except BackendUnavailable as exc:
            self._mark(backend_id, exc.detail)
            raise
        self._mark(backend_id, "")
        return value

    def fan_out(self, fn: Callable[[Manager], T]) -> FanOut:
        """Run fn on every backend in parallel; wait at most each backend's timeout."""
        futures = {}
        out = FanOut()
        for bid, mgr in self.managers.items():
            try:
                futures[bid] = self._submit(mgr, fn)
            except BackendUnavailable as exc:
                out.failures[bid] = exc.detail
        for bid, fut in futures.items():
            mgr = self.managers[bid]
            try:
                out.results[bid] = fut.result(timeout=mgr.timeout)
                self._mark(bid, "")
            except FutureTimeout:
                out.failures[bid] = f"no answer within {mgr.timeout:g} s"
            except BackendUnavailable as exc:
                out.failures[bid] = exc.detail
            except VrmError as exc:
                out.failures[bid] = str(exc)
            except Exception as exc:  # noqa: BLE001 - one backend's bug must not fail all
                log.exception("backend %s failed", bid)
                out.failures[bid] = f"{type(exc).__name__}: {exc}"
        for bid, why in out.failures.items():
            self._mark(bid, why)
        return out

    def _submit(self, mgr: Manager, fn: Callable[[Manager], T]) -> Future:
        """Start fn(mgr) in the pool. Calls to one backend run concurrently; but while
        one of them has been running longer than the backend's timeout (the backend
        hangs), new calls fail fast instead of piling up threads behind it."""
        now = time.monotonic()
        with self._lock:
            running = self._inflight.setdefault(mgr.backend_id, {})
            for fut, started in list(running.items()):
                if fut.done():
                    del running[fut]
                elif now - started > mgr.timeout:
                    raise BackendUnavailable(
                        mgr.backend_id,
                        f"a request has been unanswered for {now - started:.0f} s",
                    )
            fut = self._pool.submit(fn, mgr)
            running[fut] = now
            fut.add_done_callback(lambda f, r=running: self._done(r, f))
        return fut

    def _done(self, running: dict[Future, float], fut: Future) -> None:
        with self._lock:
            running.pop(fut, None)

    def _mark(self, backend_id: str, failure: str) -> None:
        before = self._health.get(backend_id)
        self._health[backend_id] = failure
        if failure and before != failure:
            log.warning("backend %s unavailable: %s", backend_id, failure)
        elif not failure and before:
            log.info("backend %s is back", backend_id)

    def health(self) -> dict[str, str]:
        return dict(self._health)

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

    def list_vms(self) -> tuple[list[VirtualMachine], dict[str, str]]:
        """All VMs of all reachable backends, and {backend id: why} for the others."""
        res = self.fan_out(lambda m: m.list_vms())
        vms: list[VirtualMachine] = []
        for bid in self.managers:
            for vm in res.results.get(bid, ()):  # type: ignore[union-attr]
                self._vm_backend[vm.uuid] = bid
                vms.append(vm)
        return vms, res.failures

    def iter_vms(self) -> Iterator[VirtualMachine]:
        """All VMs, streamed backend by backend: each backend's listing is bounded by
        its timeout; unreachable backends are skipped (and marked, as in list_vms)."""
        for bid in self.managers:
            try:
                it = self.call(bid, lambda m: m.iter_vms())
            except VrmError as exc:
                log.warning("backend %s left out of the enumeration: %s", bid, exc)
                continue
            yield from it

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
        if res.failures:
            raise NotFound(
                f"no VM with UUID {uuid} on reachable backends "
                f"(unreachable: {', '.join(sorted(res.failures))})"
            )
        raise NotFound(f"no VM with UUID {uuid}")

    def get_vm(self, uuid: str, backend_id: str | None = None) -> VirtualMachine:
        bid = backend_id or self.backend_of(uuid)
        try:
            return self.call(bid, lambda m: m.get_vm(uuid.lower()))
        except NotFound:
            self._vm_backend.pop(uuid.lower(), None)
            raise

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
        """The VMs of one backend, bounded by its timeout (BackendUnavailable else)."""
        vms = self.call(backend_id, _list_vms)
        for vm in vms:
            self._vm_backend[vm.uuid] = backend_id
        return vms

    # -- capabilities and VM definitions (typed, for the CIM classes and jobs) ---------
    def features(self, backend_id: str) -> frozenset[Feature]:
        """The optional capabilities of one backend (what capabilities classes advertise)."""
        return self.manager(backend_id).features()

    def is_slow(self, backend_id: str, action: PowerAction) -> bool:
        """Can this power action take longer than about a second on that backend (run it
        as a job then)?"""
        return self.manager(backend_id).is_slow(action)

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
        finally:
            self._vm_backend.pop(uuid.lower(), None)

    def call_long(
        self, backend_id: str, fn: Callable[[Manager], T], timeout: float | None = None
    ) -> T:
        """Run fn(manager) bounded by ``timeout`` (default: the backend's
        long_call_timeout) instead of the request timeout, on a thread of its own: a
        call that rightly runs for a minute (a vSphere task) must neither hold a pool
        worker nor make the pool's hang detection fail the backend's other calls."""
        mgr = self.manager(backend_id)
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
