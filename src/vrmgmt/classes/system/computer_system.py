"""VRM_ComputerSystem: every VM of every backend, and RequestStateChange on it.

DSP1057 Virtual System Profile §7.1-7.3 (keys CreationClassName + Name, Name = the VM's
UUID; state representation; RequestStateChange) and DSP1052 Computer System §8.1
(return codes: 0 completed, 1 not supported, 4 failed, 5 invalid parameter, 4096 job
started, 4097 invalid state transition, 4098 use of timeout parameter not supported).

A VM of a backend that cannot be reached is answered from its last known state
(CIM_ManagedSystemElement, Schema 2.49: OperationalStatus 13 "Lost Communication" = known
to exist, contacted successfully in the past, unreachable now): OperationalStatus [13],
HealthState 0 (Unknown), StatusDescriptions saying since when and why, EnabledState and
RequestedState as last known (a hypervisor manager being unreachable says nothing about
the guest), AvailableRequestedStates empty; RequestStateChange on it is CIM_ERR_FAILED
naming the backend, at once.

RequestedState is the last state requested of the VM through any path (its own
RequestStateChange, a group's RequestStateChangeOfMembers), 0 Unknown when nothing was,
kept in vrmgmt.requested_states across restarts and processes. A request the backend
cannot carry out from the VM's current state (not in Manager.possible_actions) answers
4097 before anything is done, and is not recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Iterable, Iterator

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import indications as ind
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    InvalidStateTransition,
    NotFound,
    NotSupported,
    StaleVM,
    VrmError,
)
from vrmgmt.jobs import JobCancelled
from vrmgmt.model import PowerAction, PowerState, VirtualMachine, VmEvent, VmEventKind
from vrmgmt.requested_states import RequestedStates, store_for

CLASS = "VRM_ComputerSystem"


def path(uuid: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"CreationClassName": CLASS, "Name": uuid}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The VM UUID a VRM_ComputerSystem path names (keys checked)."""
    return cim_paths.string_key(p, CLASS).lower()


def requested_states(env: ProviderEnv) -> RequestedStates:
    """The requested-state store of the host's state directory (per process without one)."""
    return store_for(env.config.state_dir if env.config is not None else None)


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether the path names a VM of a reachable backend (malformed paths: False)."""
    try:
        env.inventory.backend_of(parse(p))
    except (CIMError, VrmError):
        return False
    return True


# -- instances ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _u16(v: int) -> Uint16:
    return Uint16(v)


@functools.lru_cache(maxsize=256)
def _u16_list(values: tuple[int, ...]) -> tuple[Uint16, ...]:
    return tuple(Uint16(v) for v in values)


@functools.lru_cache(maxsize=256)
def _available(possible: frozenset[PowerAction]) -> tuple[Uint16, ...]:
    return _u16_list(tuple(vm_map.requested_states(possible)))


def vm_key(
    vm: VirtualMachine, namespace: str, possible: frozenset[PowerAction], requested: int
) -> tuple:
    """Everything vm_instance reads: equal keys give equal instances (instance cache)."""
    return (
        requested,
        vm.uuid,
        vm.name,
        vm.state,
        vm.virtual_system_type,
        vm.backend_id,
        vm.autostart,
        vm.vcpus,
        vm.memory_kib,
        vm.uptime_s,
        namespace,
        possible,
        vm.stale_since,
        vm.stale_reason,
    )


def vm_instance(
    vm: VirtualMachine,
    namespace: str,
    possible: frozenset[PowerAction],
    requested: int = vm_map.RS_UNKNOWN,
) -> CIMInstance:
    """One VM. `possible` are the actions valid right now (AvailableRequestedStates),
    `requested` its last RequestedState. Built with fastinst: every value is already typed."""
    if vm.stale_since is not None:
        op_status, health = [vm_map.OS_LOST_COMMUNICATION], vm_map.HS_UNKNOWN
        notes: list[str] | None = [stale_description(vm)]
        possible = frozenset()
    else:
        op_status, health = vm_map.vm_operational_status(vm.state)
        notes = None
    P = fastinst.prop
    props = [
        P("CreationClassName", CLASS, "string"),
        P("Name", vm.uuid, "string"),
        P("NameFormat", "UUID", "string"),
        P("ElementName", vm.name, "string"),
        P("Caption", f"Virtual system {vm.name}", "string"),
        P("Description", f"{vm.virtual_system_type} virtual system on {vm.backend_id}", "string"),
        P("EnabledState", _u16(vm_map.ENABLED_STATE[vm.state]), "uint16"),
        P("RequestedState", _u16(requested), "uint16"),
        P(
            "EnabledDefault",
            _u16(vm_map.ES_ENABLED if vm.autostart else vm_map.ES_DISABLED),
            "uint16",
        ),
        P("OperationalStatus", list(_u16_list(tuple(op_status))), "uint16", True),
        P("HealthState", _u16(health), "uint16"),
        P("StatusDescriptions", notes, "string", True),
        P("AvailableRequestedStates", list(_available(possible)), "uint16", True),
        P("VirtualSystemType", vm.virtual_system_type, "string"),
        P("NumberOfVirtualCPUs", _u16(vm.vcpus), "uint16"),
        P("MemoryKiB", Uint64(vm.memory_kib), "uint64"),
        P("BackendID", vm.backend_id, "string"),
        P("Autostart", bool(vm.autostart), "boolean"),
        P("UptimeSeconds", Uint64(vm.uptime_s) if vm.uptime_s is not None else None, "uint64"),
    ]
    return fastinst.instance(CLASS, props, path(vm.uuid, namespace))


def stale_description(vm: VirtualMachine) -> str:
    """The StatusDescriptions entry of a VM answered from its last known state."""
    since = vm.stale_since.strftime("%Y-%m-%dT%H:%M:%SZ") if vm.stale_since else "?"
    return (
        f"Lost Communication: backend {vm.backend_id!r} is unreachable ({vm.stale_reason}); "
        f"stale: last known state of {since}"
    )


def _possible(inv, vm: VirtualMachine) -> frozenset[PowerAction]:
    """AvailableRequestedStates' actions: none while the VM is known only as it was."""
    return frozenset() if vm.stale_since is not None else inv.possible_actions(vm)


class _InstanceCache:
    """Instances of the last complete enumeration, keyed by everything they show
    (vm_key): an unchanged VM costs a dict lookup instead of a rebuild, and the
    server's encoder reuses its encoding. At most LIMIT entries."""

    LIMIT = 12_000

    def __init__(self) -> None:
        self._cache: dict[tuple, CIMInstance] = {}
        self._lock = threading.Lock()

    def instances(
        self, env: ProviderEnv, namespace: str, vms: Iterable[VirtualMachine]
    ) -> Iterator[CIMInstance]:
        inv = env.inventory
        requested = requested_states(env).all()
        lookup = RequestedStates.lookup
        old = self._cache
        new: dict[tuple, CIMInstance] = {}
        possible_for: dict[tuple, frozenset] = {}  # see Manager.possible_actions
        for vm in vms:
            pkey = (vm.backend_id, vm.state, vm.guest_agent_running, vm.stale_since is None)
            possible = possible_for.get(pkey)
            if possible is None:
                possible = possible_for[pkey] = _possible(inv, vm)
            rs = lookup(requested, vm.backend_id, vm.uuid)
            key = vm_key(vm, namespace, possible, rs)
            inst = old.get(key)
            if inst is None:
                inst = vm_instance(vm, namespace, possible, rs)
            if len(new) < self.LIMIT:
                new[key] = inst
            yield inst
        with self._lock:
            self._cache = new


_cache = _InstanceCache()


def _vms(env: ProviderEnv, wanted: list[CIMInstanceName]) -> list[VirtualMachine]:
    """The VMs the paths name, one backend call per backend (one lookup for one path)."""
    inv = env.inventory
    uuids = [parse(p) for p in wanted]
    if len(uuids) == 1:
        try:
            return [inv.get_vm(uuids[0])]
        except VrmError as exc:
            raise to_cim_error(exc) from None
    by_backend: dict[str, set[str]] = {}
    for uuid in uuids:
        try:
            by_backend.setdefault(inv.backend_of(uuid), set()).add(uuid)
        except VrmError:
            continue  # unknown or unreachable: left out
    found: list[VirtualMachine] = []
    for bid, want in by_backend.items():
        try:
            found.extend(vm for vm in inv.vms_of(bid) if vm.uuid in want)
        except VrmError:
            continue
    return found


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    inv = env.inventory
    if paths is not None or bulk:
        requested = requested_states(env).all()

        def one(vm: VirtualMachine) -> CIMInstance:
            rs = RequestedStates.lookup(requested, vm.backend_id, vm.uuid)
            return vm_instance(vm, namespace, _possible(inv, vm), rs)

        # by path; or streamed in batches (bulk): VMs read lazily, the cache left alone
        yield from map(one, _vms(env, paths) if paths is not None else inv.iter_vms())
        return
    vms, _failures = inv.list_vms()
    yield from _cache.instances(env, namespace, vms)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    vms, _failures = env.inventory.list_vms()
    for vm in vms:
        yield path(vm.uuid, namespace)


# -- methods -----------------------------------------------------------------------------
# -- life-cycle indications (DSP1054 §7; DSP1057 §7.2 EnabledState) ------------------------
#: Properties whose change alone is no news (the uptime grows every second)
_NOT_NEWS = frozenset({"uptimeseconds"})


#: A VM read for one event serves the next events of that VM within this many seconds
#: when they announce their state (a burst of changes costs one backend read, not one
#: per change)
REREAD_AFTER = 0.5


def lifecycle_indication(
    env: ProviderEnv,
    namespace: str,
    event: VmEvent,
    known: dict[str, CIMInstance],
    reads: dict[str, tuple[float, VirtualMachine]] | None = None,
) -> CIMInstance | None:
    """The CIM_InstCreation / CIM_InstModification / CIM_InstDeletion for a pushed VM
    event, with the VM as it is now (read once; `reads` keeps recent reads) and as
    `known` last saw it (updated here). None when nothing a client sees changed."""
    p = path(event.uuid, namespace)
    prev = known.get(event.uuid)
    cur = None
    if event.kind is not VmEventKind.UNDEFINED:
        now = time.monotonic()
        recent = reads.get(event.uuid) if reads is not None else None
        vm = None
        if recent is not None and event.state is not None and now - recent[0] < REREAD_AFTER:
            vm = recent[1]
        else:
            try:
                vm = env.inventory.get_vm(event.uuid, event.backend_id)
            except VrmError:
                vm = None
            if reads is not None:
                if len(reads) > 1000:
                    reads.clear()
                if vm is not None:
                    reads[event.uuid] = (now, vm)
        if vm is not None:
            if event.state is not None and vm.state is not event.state:
                vm = dataclasses.replace(vm, state=event.state)  # as the event announced
            rs = RequestedStates.lookup(requested_states(env).all(), vm.backend_id, vm.uuid)
            cur = vm_instance(vm, namespace, _possible(env.inventory, vm), rs)
    if cur is None and event.kind is not VmEventKind.UNDEFINED:
        # gone again before we looked (its UNDEFINED event follows): what the event said
        cur = (prev or _bare(event, p)).copy()
        if event.state is not None:
            cur["EnabledState"] = _u16(vm_map.ENABLED_STATE[event.state])
    if cur is None:
        known.pop(event.uuid, None)
        if reads is not None:
            reads.pop(event.uuid, None)
        return ind.inst_deletion(prev or _bare(event, p))
    known[event.uuid] = cur
    if prev is None:
        return ind.inst_creation(cur)  # new to us, defined or started as transient
    changed = [n for n in cur if cur.get(n) != prev.get(n)]
    if not [n for n in changed if n.lower() not in _NOT_NEWS]:
        return None
    return ind.inst_modification(cur, prev, changed)


def _bare(event: VmEvent, p: CIMInstanceName) -> CIMInstance:
    """A VM that could not be read: its keys and what the event told."""
    inst = CIMInstance(CLASS, properties=dict(p.keybindings), path=p)
    if event.name:
        inst["ElementName"] = event.name
    inst["BackendID"] = event.backend_id
    return inst


def known_instances(env: ProviderEnv, namespace: str) -> dict[str, CIMInstance]:
    """uuid -> instance of every VM now (what lifecycle_indication compares with)."""
    return {parse(i.path): i for i in instances(env, namespace, bulk=True)}


def watch(env: ProviderEnv) -> None:
    """Start this class's indication source (the host's enable_indications): every VM
    event a backend pushes becomes a life-cycle indication in env.namespace."""
    ns = env.namespace
    pump = ind.EventPump(env, "vm-lifecycle")
    known: dict[str, CIMInstance] = {}
    reads: dict[str, tuple[float, VirtualMachine]] = {}

    def seed():
        known.update(known_instances(env, ns))
        return ()

    def on_event(event: VmEvent) -> None:
        def produce():
            i = lifecycle_indication(env, ns, event, known, reads)
            return [(ns, i)] if i is not None else []

        pump.submit(produce)

    def on_host(backend_id: str, reachable: bool) -> None:
        if reachable:
            pump.submit(lambda: resync(env, ns, backend_id, known, reads))

    pump.submit(seed)  # before any event: the pump runs them in order
    env.inventory.watch_vms(on_event)
    env.inventory.watch_hosts(on_host)


def resync(
    env: ProviderEnv,
    namespace: str,
    backend_id: str,
    known: dict[str, CIMInstance],
    reads: dict[str, tuple[float, VirtualMachine]],
) -> list[tuple[str, CIMInstance]]:
    """When a backend is reachable again: the indications of what changed while it was
    not (the events pushed meanwhile were lost with the connection): VMs gone, new, or
    in another EnabledState than `known` last saw, from one listing (and one read per
    changed VM). Events the backend
    sends itself for the same changes (vSphere's new collector) find nothing new then.
    A backend none of whose VMs were known (down since the start) is only taken note of."""
    try:
        vms = env.inventory.vms_of(backend_id)
    except VrmError:
        return []
    if any(vm.stale for vm in vms):
        return []  # down again meanwhile
    mine = {u for u, i in known.items() if i.get("BackendID") == backend_id}
    if not mine:
        for vm in vms:
            rs = RequestedStates.lookup(requested_states(env).all(), vm.backend_id, vm.uuid)
            known[vm.uuid] = vm_instance(vm, namespace, _possible(env.inventory, vm), rs)
        return []
    events = []
    listed = {vm.uuid: vm for vm in vms}
    for uuid in sorted(mine - set(listed)):
        name = known[uuid].get("ElementName") or ""
        events.append(VmEvent(backend_id, uuid, VmEventKind.UNDEFINED, None, name))
    for vm in vms:
        prev = known.get(vm.uuid)
        if prev is None:
            events.append(VmEvent(backend_id, vm.uuid, VmEventKind.DEFINED, vm.state, vm.name))
        elif prev.get("EnabledState") != vm_map.ENABLED_STATE[vm.state]:
            events.append(VmEvent(backend_id, vm.uuid, VmEventKind.CHANGED, vm.state, vm.name))
    out = []  # (each changed VM is read once, as for a pushed event)
    for event in events:
        i = lifecycle_indication(env, namespace, event, known, reads)
        if i is not None:
            out.append((namespace, i))
    return out


METHODS = MethodTable()


@METHODS.method("RequestStateChange", role="operator")
def request_state_change(call: MethodCall, requested_state=None, timeout_period=None):
    uuid = parse(call.instance_path)
    out = {"Job": None}
    if requested_state is None:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            "RequestStateChange needs the RequestedState parameter",
        )
    if timeout_period is not None and _nonzero_interval(timeout_period):
        return Uint32(vm_map.RC_TIMEOUT_NOT_SUPPORTED), out
    inv = call.env.inventory
    try:
        vm = inv.get_vm(uuid)
    except VrmError as exc:
        raise to_cim_error(exc) from None

    def audit(outcome: str) -> None:
        call.env.audit(
            user=call.ctx.user,
            action=f"RequestStateChange({requested_state})",
            target=f"{CLASS}.Name={vm.uuid} ({vm.name} on {vm.backend_id})",
            outcome=outcome,
        )

    try:  # its backend is down: refuse at once, never wait on the hung backend
        inv.check_fresh(vm, f"RequestStateChange({requested_state})")
    except StaleVM as exc:
        audit(f"refused: {exc}")
        raise CIMError(pywbem.CIM_ERR_FAILED, str(exc)) from None

    try:
        action = vm_map.action_for_request(int(requested_state), vm.state)
    except KeyError:
        audit("rejected: invalid RequestedState")
        return Uint32(vm_map.RC_INVALID_PARAMETER), out
    store = requested_states(call.env)

    def record() -> None:
        store.record(vm.backend_id, vm.uuid, int(requested_state))

    if action is None:
        record()
        audit("no change needed")
        return Uint32(vm_map.RC_COMPLETED), out
    if action not in inv.supported_actions(vm.backend_id):
        audit("not supported by backend")
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    if action not in inv.possible_actions(vm):
        audit(f"invalid transition: cannot {action.value} a VM that is {vm.state.value}")
        return Uint32(vm_map.RC_INVALID_STATE_TRANSITION), out
    if call.env.jobs is not None and inv.is_slow(vm.backend_id, action):
        result = _as_job(call, vm, action, requested_state, audit)
        record()  # the request is accepted: the job carries it out
        return result
    try:
        inv.perform(uuid, action, vm.backend_id)
        record()
    except InvalidStateTransition as exc:
        audit(f"invalid transition: {exc}")
        return Uint32(vm_map.RC_INVALID_STATE_TRANSITION), out
    except NotSupported as exc:
        audit(f"not supported: {exc}")
        return Uint32(vm_map.RC_NOT_SUPPORTED), out
    except NotFound as exc:
        raise not_found(str(exc)) from None
    except (BackendUnavailable, VrmError) as exc:
        audit(f"failed: {exc}")
        raise CIMError(pywbem.CIM_ERR_FAILED, f"RequestStateChange failed: {exc}") from None
    audit(f"completed ({action.value})")
    return Uint32(vm_map.RC_COMPLETED), out


#: How long a job waits for a slow power action (a vSphere task, a guest's shutdown)
JOB_ACTION_TIMEOUT = 300.0


def change_state(
    inv,
    vm: VirtualMachine,
    requested_state: int,
    *,
    timeout: float = JOB_ACTION_TIMEOUT,
    progress=None,
    requested: RequestedStates | None = None,
) -> tuple[int, str]:
    """RequestStateChange of one VM, synchronously and to its end (the action done and,
    for a guest shutdown or start, the VM settled), for callers that are a job already
    (a group's RequestStateChangeOfMembers). (DSP1052 return code, what happened). The
    same rules as RequestStateChange: 4097 from a state the backend cannot leave that way;
    an accepted request is recorded in `requested` (the VM's RequestedState)."""
    try:
        inv.check_fresh(vm, f"RequestStateChange({requested_state})")
    except StaleVM as exc:
        return vm_map.RC_FAILED, f"failed: {exc}"
    try:
        action = vm_map.action_for_request(int(requested_state), vm.state)
    except KeyError:
        return vm_map.RC_INVALID_PARAMETER, f"RequestedState {requested_state} is not valid"

    def record() -> None:
        if requested is not None:
            requested.record(vm.backend_id, vm.uuid, int(requested_state))

    if action is None:
        record()
        return vm_map.RC_COMPLETED, f"no change needed (already {vm.state.value})"
    if action not in inv.supported_actions(vm.backend_id):
        return vm_map.RC_NOT_SUPPORTED, f"{action.value} is not supported by {vm.backend_id}"
    if action not in inv.possible_actions(vm):
        return (
            vm_map.RC_INVALID_STATE_TRANSITION,
            f"invalid transition: cannot {action.value} a VM that is {vm.state.value}",
        )
    deadline = time.monotonic() + timeout
    try:
        inv.perform(vm.uuid, action, vm.backend_id, timeout=timeout)
        record()
        target = _SETTLES_IN.get(action)
        if target is not None:
            _wait_for_state(inv, vm, target, deadline, progress, timeout)
    except InvalidStateTransition as exc:
        return vm_map.RC_INVALID_STATE_TRANSITION, f"invalid transition: {exc}"
    except NotSupported as exc:
        return vm_map.RC_NOT_SUPPORTED, f"not supported: {exc}"
    except VrmError as exc:
        return vm_map.RC_FAILED, f"failed: {exc}"
    return vm_map.RC_COMPLETED, f"done ({action.value})"


def _as_job(call: MethodCall, vm: VirtualMachine, action: PowerAction, requested, audit):
    """RequestStateChange as a job (4096 + Job): the action can take longer than about
    a second on this backend (DSP1057 §8.2.1, DSP1103)."""
    inv = call.env.inventory

    def run(progress):
        progress.update(0, f"{action.value} of {vm.name} requested")
        deadline = time.monotonic() + JOB_ACTION_TIMEOUT
        try:
            inv.perform(vm.uuid, action, vm.backend_id, timeout=JOB_ACTION_TIMEOUT)
            target = _SETTLES_IN.get(action)
            if target is not None:  # a guest shutdown returns once the guest was asked
                progress.update(50, f"waiting for {vm.name} to be {target.value}")
                _wait_for_state(inv, vm, target, deadline, progress)
        except VrmError as exc:
            audit(f"job failed: {exc}")
            raise
        audit(f"job completed ({action.value})")
        return {"ReturnValue": vm_map.RC_COMPLETED}

    result = concrete_job.start(
        call,
        run,
        name=f"RequestStateChange({int(requested)})",
        description=f"{action.value} of VM {vm.name} ({vm.uuid}) on {vm.backend_id}",
        affected=[path(vm.uuid, call.ctx.namespace)],
    )
    audit(f"job started ({action.value}): {result[1]['Job']['InstanceID']}")
    return result


#: The state a VM is in once an action has taken effect (REBOOT and RESET end where they
#: began, so there is nothing to wait for)
_SETTLES_IN = {
    PowerAction.SHUTDOWN: PowerState.OFF,
    PowerAction.POWER_OFF: PowerState.OFF,
    PowerAction.SAVE: PowerState.SUSPENDED,
    PowerAction.START: PowerState.RUNNING,
    PowerAction.RESUME: PowerState.RUNNING,
    PowerAction.PAUSE: PowerState.PAUSED,
}
_POLL_SECONDS = 0.5


def _wait_for_state(
    inv,
    vm: VirtualMachine,
    target: PowerState,
    deadline: float,
    progress,
    timeout: float = JOB_ACTION_TIMEOUT,
):
    while True:
        state = inv.get_vm(vm.uuid, vm.backend_id).state
        if state is target:
            return
        if progress is not None and progress.cancelled:
            raise JobCancelled()
        if time.monotonic() >= deadline:
            raise BackendError(
                f"VM {vm.name} is still {state.value} {timeout:g} s after the "
                f"request (the guest did not react)",
            )
        time.sleep(_POLL_SECONDS)


def _nonzero_interval(value) -> bool:
    if isinstance(value, pywbem.CIMDateTime):
        return value.timedelta.total_seconds() != 0 if value.is_interval else True
    return bool(value)
