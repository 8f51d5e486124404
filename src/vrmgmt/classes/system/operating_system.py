"""VRM_OperatingSystem: the operating system of each host, one per backend
(CIM_OperatingSystem, CIM Schema 2.49; DSP1052 Computer System §7.9 RunningOS). Keys:
CSCreationClassName/CSName of the host (VRM_HostSystem, backend id), CreationClassName,
Name = the backend id. Local hosts (qemu:///system, lxc:///, the test driver) show this
machine's /proc and os-release; remote libvirt what libvirt reports (the rest NULL);
vSphere the ESXi host's product and boot time. Reboot() / Shutdown() are host power
(host_power.py: 0 done, 1 not supported, 4096 job started)."""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMDateTime, CIMInstance, CIMInstanceName, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import host_power
from vrmgmt.classes.system import host_system as host
from vrmgmt.errors import VrmError
from vrmgmt.model import HostOS

CLASS = "VRM_OperatingSystem"


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(
        CLASS,
        {
            "CSCreationClassName": host.CLASS,
            "CSName": backend_id,
            "CreationClassName": CLASS,
            "Name": backend_id,
        },
        namespace,
    )


def parse(p: CIMInstanceName) -> str:
    """The backend id a VRM_OperatingSystem path names (keys checked)."""
    bid = cim_paths.string_key(p, CLASS)
    kb = cim_paths.keys_of(p)
    cs = kb.get("csname")
    if cs is not None and cs != bid:
        raise not_found(f"{CLASS} {bid!r} does not run on host {cs!r}")
    ccn = kb.get("cscreationclassname")
    if ccn is not None and str(ccn).lower() != host.CLASS.lower():
        raise not_found(f"CSCreationClassName {ccn!r} is not {host.CLASS}")
    return bid


def os_instance(env: ProviderEnv, bid: str, os_: HostOS | None, why: str, ns: str) -> CIMInstance:
    P = fastinst.prop
    u32 = lambda v: Uint32(v) if v is not None else None  # noqa: E731
    u64 = lambda v: Uint64(v) if v is not None else None  # noqa: E731
    lost = os_ is None
    states = [] if lost else host_power.available_states(env, bid)
    note = why if lost else os_.process_note
    props = [
        P("CSCreationClassName", host.CLASS, "string"),
        P("CSName", bid, "string"),
        P("CreationClassName", CLASS, "string"),
        P("Name", bid, "string"),
        P("ElementName", os_.name if os_ else None, "string"),
        P("Caption", f"Operating system of host {bid}", "string"),
        P("Description", note or f"Operating system of host {bid}", "string"),
        P("OSType", Uint16(os_.os_type) if os_ else Uint16(0), "uint16"),
        P("OtherTypeDescription", os_.other_type if os_ else None, "string"),
        P("Version", os_.version if os_ else None, "string"),
        P(
            "LastBootUpTime",
            CIMDateTime(os_.last_boot) if os_ and os_.last_boot else None,
            "datetime",
        ),
        P("NumberOfProcesses", u32(os_.processes) if os_ else None, "uint32"),
        P("NumberOfUsers", u32(os_.users) if os_ else None, "uint32"),
        P("TotalVisibleMemorySize", u64(os_.total_memory_kib) if os_ else None, "uint64"),
        P("FreePhysicalMemory", u64(os_.free_memory_kib) if os_ else None, "uint64"),
        P(
            "EnabledState",
            Uint16(vm_map.ES_UNKNOWN if lost else vm_map.ES_ENABLED),
            "uint16",
        ),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
        P("AvailableRequestedStates", [Uint16(v) for v in states], "uint16", True),
    ]
    return fastinst.instance(CLASS, props, path(bid, ns))


def _one(env: ProviderEnv, bid: str, ns: str) -> CIMInstance:
    try:
        os_ = env.inventory.operating_system(bid)
        why = ""
    except VrmError as exc:
        os_, why = None, f"operating system of host {bid} unknown: {exc}"
    return os_instance(env, bid, os_, why, ns)


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
        for bid in inv.backend_ids():
            yield _one(env, bid, namespace)
        return
    wanted = [parse(p) for p in paths]
    if len(wanted) == 1 and not inv.has_backend(wanted[0]):
        raise not_found(f"no host {wanted[0]!r}, so no operating system of it")
    for bid in dict.fromkeys(wanted):
        if inv.has_backend(bid):
            yield _one(env, bid, namespace)


# -- methods: Reboot() and Shutdown() are host power -------------------------------------
METHODS = MethodTable()


def _power(call: MethodCall, requested: int, name: str):
    bid = parse(call.instance_path)
    if not call.env.inventory.has_backend(bid):
        raise not_found(f"no host {bid!r}")
    rv, out = host_power.request(
        call, bid, requested, target=f"{CLASS}.Name={bid}", action_name=f"{name}()"
    )
    return rv, {}  # no Job parameter: a job started is found via VRM_OwningJobElement


@METHODS.method("Reboot", role="admin")
def reboot(call: MethodCall):
    return _power(call, vm_map.RS_REBOOT, "Reboot")


@METHODS.method("Shutdown", role="admin")
def shutdown(call: MethodCall):
    return _power(call, vm_map.RS_SHUT_DOWN, "Shutdown")
