"""Instance and path builders for the core virtualization classes.

VRM_ComputerSystem (a VM; DSP1057 Virtual System §7.1, keys CreationClassName + Name,
Name = the VM's UUID), VRM_HostSystem (a hypervisor host; DSP1042 System
Virtualization §7.1, Name = the backend id from the configuration) and
VRM_HostedDependency (DSP1057 §7.4, VM -> host). Shared by every provider that needs to
name these objects, so paths are built in one place.
"""

from __future__ import annotations

import functools

from pywbem import CIMInstance, CIMInstanceName, CIMProperty, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import keys_of
from vrmgmt.model import Host, PowerAction, VirtualMachine

VM_CLASS = "VRM_ComputerSystem"
HOST_CLASS = "VRM_HostSystem"
HOSTED_DEP_CLASS = "VRM_HostedDependency"


def system_name(path: CIMInstanceName, class_name: str) -> str:
    """The Name key of a VRM_ComputerSystem / VRM_HostSystem path, after checking its
    CreationClassName (CIM_ERR_NOT_FOUND if it names another class)."""

    kb = keys_of(path)
    ccn = kb.get("creationclassname")
    if ccn is not None and str(ccn).lower() != class_name.lower():
        raise not_found(f"CreationClassName {ccn!r} is not {class_name}")
    name = kb.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_parameter(f"the {class_name} path needs a string key Name")
    return name


def vm_path(uuid: str, namespace: str) -> CIMInstanceName:
    return CIMInstanceName(
        VM_CLASS,
        keybindings={"CreationClassName": VM_CLASS, "Name": uuid},
        namespace=namespace,
    )


def host_path(backend_id: str, namespace: str) -> CIMInstanceName:
    return CIMInstanceName(
        HOST_CLASS,
        keybindings={"CreationClassName": HOST_CLASS, "Name": backend_id},
        namespace=namespace,
    )


def _u16s(values) -> list[Uint16]:
    return [Uint16(v) for v in values]


@functools.lru_cache(maxsize=4096)
def _u16(v: int) -> Uint16:
    return Uint16(v)


@functools.lru_cache(maxsize=256)
def _u16_list(values: tuple[int, ...]) -> tuple[Uint16, ...]:
    return tuple(Uint16(v) for v in values)


@functools.lru_cache(maxsize=256)
def _available(possible: frozenset[PowerAction]) -> tuple[Uint16, ...]:
    return _u16_list(tuple(vm_map.requested_states(possible)))


def vm_key(vm: VirtualMachine, namespace: str, possible: frozenset[PowerAction]) -> tuple:
    """Everything vm_instance reads: equal keys give equal instances (instance caches)."""
    return (
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
    )


def vm_instance(
    vm: VirtualMachine, namespace: str, possible: frozenset[PowerAction]
) -> CIMInstance:
    """VRM_ComputerSystem for one VM. `possible` are the actions valid right now
    (AvailableRequestedStates). Built with fastinst: every value is already typed."""
    op_status, health = vm_map.vm_operational_status(vm.state)
    P = fastinst.prop
    props = [
        P("CreationClassName", VM_CLASS, "string"),
        P("Name", vm.uuid, "string"),
        P("NameFormat", "UUID", "string"),
        P("ElementName", vm.name, "string"),
        P("Caption", f"Virtual system {vm.name}", "string"),
        P("Description", f"{vm.virtual_system_type} virtual system on {vm.backend_id}", "string"),
        P("EnabledState", _u16(vm_map.ENABLED_STATE[vm.state]), "uint16"),
        P("RequestedState", _u16(vm_map.REQUESTED_STATE_FOR[vm.state]), "uint16"),
        P(
            "EnabledDefault",
            _u16(vm_map.ES_ENABLED if vm.autostart else vm_map.ES_DISABLED),
            "uint16",
        ),
        P("OperationalStatus", list(_u16_list(tuple(op_status))), "uint16", True),
        P("HealthState", _u16(health), "uint16"),
        P("AvailableRequestedStates", list(_available(possible)), "uint16", True),
        P("VirtualSystemType", vm.virtual_system_type, "string"),
        P("NumberOfVirtualCPUs", _u16(vm.vcpus), "uint16"),
        P("MemoryKiB", Uint64(vm.memory_kib), "uint64"),
        P("BackendID", vm.backend_id, "string"),
        P("Autostart", bool(vm.autostart), "boolean"),
        P("UptimeSeconds", Uint64(vm.uptime_s) if vm.uptime_s is not None else None, "uint64"),
    ]
    path = fastinst.path(VM_CLASS, {"CreationClassName": VM_CLASS, "Name": vm.uuid}, namespace)
    return fastinst.instance(VM_CLASS, props, path)


def host_instance(host: Host, namespace: str) -> CIMInstance:
    op_status, health = vm_map.host_operational_status(host.status)
    lost = op_status == [vm_map.OS_LOST_COMMUNICATION]
    props = [
        CIMProperty("CreationClassName", HOST_CLASS),
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
        CIMProperty("OperationalStatus", _u16s(op_status), type="uint16", is_array=True),
        CIMProperty("HealthState", Uint16(health)),
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
    return CIMInstance(HOST_CLASS, properties=props, path=host_path(host.backend_id, namespace))


def hosted_dependency(vm_uuid: str, backend_id: str, namespace: str) -> CIMInstance:
    antecedent = host_path(backend_id, namespace)
    dependent = vm_path(vm_uuid, namespace)
    path = CIMInstanceName(
        HOSTED_DEP_CLASS,
        keybindings={"Antecedent": antecedent, "Dependent": dependent},
        namespace=namespace,
    )
    return CIMInstance(
        HOSTED_DEP_CLASS,
        properties=[
            CIMProperty("Antecedent", antecedent, type="reference", reference_class=HOST_CLASS),
            CIMProperty("Dependent", dependent, type="reference", reference_class=VM_CLASS),
        ],
        path=path,
    )
