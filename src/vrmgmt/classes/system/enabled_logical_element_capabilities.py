"""VRM_EnabledLogicalElementCapabilities of each host and of each VM, linked to it by
VRM_ElementCapabilities.

A host's (InstanceID ``vrmgmt:host-capabilities:<backend id>``): which state changes
VRM_HostSystem.RequestStateChange accepts right now (DSP1052 Computer System §7.3 and
§8.1.2: RequestedStatesSupported lists exactly the RequestedState values the element
supports; empty while host power is disabled or impossible). A host's ElementName cannot
be changed through vrmgmt.

A VM's (InstanceID ``vrmgmt:vm-capabilities:<VM UUID>``; DSP1057 Virtual System §7.2.1
and §10: the capabilities of the virtual system): RequestedStatesSupported = the
RequestedState values its backend implements at all (Manager.supported_actions(): no 9
Quiesce on vSphere), of which the VM's AvailableRequestedStates are those possible in
its current state; ElementNameEditSupported = whether the backend can rename a VM
(Feature.MODIFY: ModifySystemSettings with a new VSSD ElementName, DSP1057 §7.2.4).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.system import host_power
from vrmgmt.errors import VrmError
from vrmgmt.model import VirtualMachine

CLASS = "VRM_EnabledLogicalElementCapabilities"
PREFIX = "vrmgmt:host-capabilities:"
VM_PREFIX = "vrmgmt:vm-capabilities:"
#: StateAwareness 3 = RequestStateChange (the element changes state on request only)
STATE_AWARENESS_RSC = 3


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    """The path of a host's capabilities."""
    return fastinst.path(CLASS, {"InstanceID": PREFIX + backend_id}, namespace)


def vm_path(uuid: str, namespace: str | None) -> CIMInstanceName:
    """The path of a VM's capabilities."""
    return fastinst.path(CLASS, {"InstanceID": VM_PREFIX + uuid}, namespace)


def _iid(p: CIMInstanceName) -> str:
    if p.classname.lower() != CLASS.lower():
        raise not_found(f"{p.classname} is not {CLASS}")
    iid = cim_paths.keys_of(p).get("instanceid")
    return iid if isinstance(iid, str) else ""


def parse(p: CIMInstanceName) -> str:
    """The backend id of a host's capabilities path (CIM_ERR_NOT_FOUND otherwise)."""
    iid = _iid(p)
    if not iid.startswith(PREFIX) or len(iid) == len(PREFIX):
        raise not_found(f"no host {CLASS} {iid!r}")
    return iid[len(PREFIX) :]


def parse_vm(p: CIMInstanceName) -> str:
    """The VM UUID of a VM's capabilities path (CIM_ERR_NOT_FOUND otherwise)."""
    iid = _iid(p)
    if not iid.startswith(VM_PREFIX) or len(iid) == len(VM_PREFIX):
        raise not_found(f"no VM {CLASS} {iid!r}")
    return iid[len(VM_PREFIX) :].lower()


def instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    states = host_power.available_states(env, backend_id)
    try:
        why = host_power.power_control(env, backend_id).description
    except VrmError as exc:  # the backend cannot be asked right now
        why = f"host power unknown: {exc}"
    P = fastinst.prop
    props = [
        P("InstanceID", PREFIX + backend_id, "string"),
        P("ElementName", f"state changes of host {backend_id}", "string"),
        P("Description", why, "string"),
        P("RequestedStatesSupported", [Uint16(s) for s in states], "uint16", True),
        P("StateAwareness", [Uint16(STATE_AWARENESS_RSC)], "uint16", True),
        P("ElementNameEditSupported", False, "boolean"),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


def _backend_caps(env: ProviderEnv, backend_id: str) -> tuple[list[Uint16], bool] | None:
    """(RequestedStatesSupported, ElementNameEditSupported) of a backend's VMs; None
    when the backend cannot be asked."""
    inv = env.inventory
    try:
        states = vm_map.requested_states(inv.supported_actions(backend_id))
        rename = Feature.MODIFY in inv.features(backend_id)
    except VrmError:
        return None
    return [Uint16(s) for s in states], rename


def vm_instance(vm: VirtualMachine, namespace: str, caps: tuple[list[Uint16], bool]) -> CIMInstance:
    states, rename = caps
    P = fastinst.prop
    props = [
        P("InstanceID", VM_PREFIX + vm.uuid, "string"),
        P("ElementName", f"state changes of VM {vm.name}", "string"),
        P("RequestedStatesSupported", list(states), "uint16", True),
        P("StateAwareness", [Uint16(STATE_AWARENESS_RSC)], "uint16", True),
        P("ElementNameEditSupported", rename, "boolean"),
    ]
    return fastinst.instance(CLASS, props, vm_path(vm.uuid, namespace))


def _vm_instances(env: ProviderEnv, namespace: str, vms) -> Iterator[CIMInstance]:
    per_backend: dict[str, tuple | None] = {}
    for vm in vms:
        if vm.backend_id not in per_backend:
            per_backend[vm.backend_id] = _backend_caps(env, vm.backend_id)
        caps = per_backend[vm.backend_id]
        if caps is not None:
            yield vm_instance(vm, namespace, caps)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)
    vms, _failures = env.inventory.list_vms()
    for vm in vms:
        yield vm_path(vm.uuid, namespace)


def _vms(env: ProviderEnv, uuids: list[str]) -> list[VirtualMachine]:
    """The VMs the UUIDs name: one lookup for one, else one listing per backend."""
    inv = env.inventory
    if len(uuids) == 1:
        try:
            return [inv.get_vm(uuids[0])]
        except VrmError:
            return []
    want = set(uuids)
    vms, _failures = inv.list_vms()
    return [vm for vm in vms if vm.uuid in want]


def instances(env, namespace, paths=None, *, bulk=False) -> Iterator[CIMInstance]:
    inv = env.inventory
    if paths is None:
        for bid in inv.backend_ids():
            yield instance(env, bid, namespace)
        vms, _failures = inv.list_vms()
        yield from _vm_instances(env, namespace, vms)
        return
    hosts, uuids = [], []
    for p in paths:
        iid = _iid(p)
        (uuids if iid.startswith(VM_PREFIX) else hosts).append(p)
    host_ids = [parse(p) for p in hosts]
    for bid in host_ids:
        if inv.has_backend(bid):
            yield instance(env, bid, namespace)
        elif len(paths) == 1:
            raise not_found(f"no host {bid!r}, so no {CLASS} for it")
    wanted = [parse_vm(p) for p in uuids]
    if wanted:
        vms = _vms(env, wanted)
        if len(paths) == 1 and not vms:
            raise not_found(f"no VM {wanted[0]!r}, so no {CLASS} for it")
        yield from _vm_instances(env, namespace, vms)
