"""VRM_HostSystem: one per configured backend, the hypervisor host (DSP1042 System
Virtualization §7.1: the host computer system; keys CreationClassName + Name, Name =
the backend id from the configuration), and host power: RequestStateChange 4 (shut down)
/ 10 (reboot), DSP1052 §8.1.2, see host_power.py; CIM_InstModification when its
backend's communication is lost or back (DSP1054 Indications §7; watch())."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, CIMProperty, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import indications as ind
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import host_power
from vrmgmt.errors import VrmError
from vrmgmt.model import Host, HostStatus, PowerState

CLASS = "VRM_HostSystem"


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"CreationClassName": CLASS, "Name": backend_id}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The backend id a VRM_HostSystem path names (keys checked)."""
    return cim_paths.string_key(p, CLASS)


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether the path names a configured host (malformed paths: False)."""
    try:
        return env.inventory.has_backend(parse(p))
    except CIMError:  # bad keys: no such host
        return False


#: the summary properties: counts of the host's VMs by state (None: unknown)
_COUNTED = {
    PowerState.RUNNING: "VirtualSystemsRunning",
    PowerState.PAUSED: "VirtualSystemsPaused",
    PowerState.SUSPENDED: "VirtualSystemsSuspended",
    PowerState.OFF: "VirtualSystemsOff",
}


def vm_counts(vms) -> dict[str, int]:
    """NumberOfVirtualSystems and the counts by state of a host's VMs."""
    counts = dict.fromkeys([*_COUNTED.values(), "VirtualSystemsOther"], 0)
    n = 0
    for vm in vms:
        n += 1
        counts[_COUNTED.get(vm.state, "VirtualSystemsOther")] += 1
    return {"NumberOfVirtualSystems": n, **counts}


#: CIM_ManagedSystemElement.CommunicationStatus: 2 Communication OK, 3 Lost Communication
COMM_OK, COMM_LOST = 2, 3

_COUNT_NAMES = ["NumberOfVirtualSystems", *_COUNTED.values(), "VirtualSystemsOther"]


def host_instance(
    host: Host,
    namespace: str,
    env: ProviderEnv | None = None,
    counts: dict[str, int] | None = None,
) -> CIMInstance:
    op_status, health = vm_map.host_operational_status(host.status)
    lost = op_status == [vm_map.OS_LOST_COMMUNICATION]
    props = [
        CIMProperty("CreationClassName", CLASS),
        CIMProperty("Name", host.backend_id),
        CIMProperty("NameFormat", "Other"),
        CIMProperty("OtherIdentifyingInfo", [host.hostname], type="string", is_array=True),
        CIMProperty("ElementName", host.hostname),
        CIMProperty("Caption", f"{host.hypervisor_type or 'hypervisor'} host {host.hostname}"),
        CIMProperty("Description", f"Hypervisor host of backend {host.backend_id}"),
        CIMProperty(
            "StatusDescriptions",
            [f"backend {host.backend_id!r} unreachable: {host.status_detail}"] if lost else None,
            type="string",
            is_array=True,
        ),
        CIMProperty("EnabledState", Uint16(vm_map.ES_UNKNOWN if lost else vm_map.ES_ENABLED)),
        CIMProperty("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE)),
        CIMProperty(
            "OperationalStatus", [Uint16(v) for v in op_status], type="uint16", is_array=True
        ),
        CIMProperty("HealthState", Uint16(health)),
        CIMProperty("CommunicationStatus", Uint16(COMM_LOST if lost else COMM_OK), type="uint16"),
        CIMProperty("HypervisorType", host.hypervisor_type or None, type="string"),
        CIMProperty("HypervisorVersion", host.hypervisor_version or None, type="string"),
        CIMProperty("VirtualSystemType", host.virtual_system_type or None, type="string"),
        CIMProperty("HostName", host.hostname),
        CIMProperty("CPUModel", host.cpu_model or None, type="string"),
        CIMProperty(
            "NumberOfProcessors", Uint16(host.cpu_count) if host.cpu_count else None, type="uint16"
        ),
        CIMProperty("ProcessorMHz", Uint32(host.cpu_mhz) if host.cpu_mhz else None, type="uint32"),
        CIMProperty(
            "MemoryTotalKiB",
            Uint64(host.memory_total_kib) if host.memory_total_kib else None,
            type="uint64",
        ),
        CIMProperty(
            "MemoryFreeKiB",
            Uint64(host.memory_free_kib) if host.memory_free_kib is not None else None,
            type="uint64",
        ),
        CIMProperty("URI", host.uri or None, type="string"),
        CIMProperty("BackendID", host.backend_id),
        CIMProperty("BackendType", host.backend_type or None, type="string"),
    ]
    if env is not None:
        states = [] if lost else host_power.available_states(env, host.backend_id)
        try:
            control = host_power.power_control(env, host.backend_id).description
        except Exception:  # noqa: BLE001 - an unreachable backend: unknown
            control = None
        props += [
            CIMProperty(
                "AvailableRequestedStates",
                [Uint16(v) for v in states],
                type="uint16",
                is_array=True,
            ),
            CIMProperty("PowerControl", control, type="string"),
        ]
        props += [
            CIMProperty(name, Uint32(counts[name]) if counts is not None else None, type="uint32")
            for name in _COUNT_NAMES
        ]
    return CIMInstance(CLASS, properties=props, path=path(host.backend_id, namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    inv = env.inventory
    if paths is None:
        hosts = inv.hosts()
        vms, failures = inv.list_vms()
        by_backend: dict[str, list] = {h.backend_id: [] for h in hosts}
        for vm in vms:
            by_backend.setdefault(vm.backend_id, []).append(vm)
        for host in hosts:
            bid = host.backend_id
            counts = None if bid in failures else vm_counts(by_backend.get(bid, ()))
            yield host_instance(host, namespace, env, counts)
        return
    wanted = [parse(p) for p in paths]
    if len(wanted) == 1 and not inv.has_backend(wanted[0]):
        raise not_found(
            f"no host {wanted[0]!r} (configured backends: {', '.join(inv.backend_ids())})"
        )
    for bid in dict.fromkeys(wanted):
        if inv.has_backend(bid):
            h = inv.host(bid)
            counts: dict[str, int] | None = None  # unreachable: unknown
            if h.status is not HostStatus.LOST_COMMUNICATION:
                with contextlib.suppress(VrmError):
                    vms = inv.vms_of(bid)
                    if not any(vm.stale for vm in vms):  # (failed since the host answered)
                        counts = vm_counts(vms)
            yield host_instance(h, namespace, env, counts)


# -- indications (DSP1054 §7): communication with a backend lost / back ---------------------
#: a change of these is news (the rest, free memory or VM counts, changes all the time)
_STATUS = ("OperationalStatus", "CommunicationStatus", "EnabledState")


def reachability_indication(
    env: ProviderEnv, namespace: str, backend_id: str, known: dict[str, CIMInstance]
) -> CIMInstance | None:
    """CIM_InstModification of the host when its OperationalStatus, CommunicationStatus
    or EnabledState differ from what `known` last saw (updated here); None otherwise."""
    try:
        cur = next(instances(env, namespace, [path(backend_id, namespace)]))
    except (StopIteration, CIMError, VrmError):
        return None
    prev = known.get(backend_id)
    known[backend_id] = cur
    if prev is None or all(cur.get(n) == prev.get(n) for n in _STATUS):
        return None
    return ind.inst_modification(cur, prev)


def watch(env: ProviderEnv) -> None:
    """Start this class's indication source (the host's enable_indications): the
    inventory's down/up transitions of a backend (Inventory.watch_hosts) become
    CIM_InstModification of its VRM_HostSystem in env.namespace."""
    ns = env.namespace
    pump = ind.EventPump(env, "host-indications")
    known: dict[str, CIMInstance] = {}

    def seed():
        for inst in instances(env, ns):
            known[inst["Name"]] = inst
        return ()

    def on_change(backend_id: str, _reachable: bool) -> None:
        def produce():
            i = reachability_indication(env, ns, backend_id, known)
            return [(ns, i)] if i is not None else []

        pump.submit(produce)

    pump.submit(seed)  # before any change: the pump runs them in order
    env.inventory.watch_hosts(on_change)


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


@METHODS.method("RequestStateChange", role="admin")
def request_state_change(call: MethodCall, requested_state=None, timeout_period=None):
    """4 shuts the host down, 10 reboots it (host_power.py says where and when)."""
    bid = parse(call.instance_path)
    if not call.env.inventory.has_backend(bid):
        raise not_found(f"no host {bid!r}")
    if requested_state is None:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            "RequestStateChange needs the RequestedState parameter",
        )
    return host_power.request(
        call,
        bid,
        int(requested_state),
        target=f"{CLASS}.Name={bid}",
        action_name=f"RequestStateChange({int(requested_state)})",
    )
