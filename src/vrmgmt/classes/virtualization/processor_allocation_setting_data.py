"""VRM_ProcessorAllocationSettingData: the virtual processors of each VM (DSP1044
Processor Resource Virtualization §7, DSP1041 Resource Allocation §7.2;
CIM_ResourceAllocationSettingData with ResourceType 3 "Processor").

One per VM, InstanceID ``<backend id>:<VM UUID>/proc``; VirtualQuantity = the number of
vCPUs (VirtualQuantityUnits "count"). Reservation, Limit and Weight (CIM Schema 2.49
CIM_ResourceAllocationSettingData: Reservation and Limit in AllocationUnits, Weight a
relative priority without unit) where the backend has them (VirtualMachine.cpu):

- libvirt <cputune>: Limit = 100 * quota / period, in "percent" of one host processor
  for each virtual processor (libvirt's quota is per vCPU; period defaults to 100000 us);
  Weight = shares; no Reservation (NULL). AllocationUnits "percent".
- vSphere config.cpuAllocation: Reservation = reservation, Limit = limit (NULL when
  -1, unlimited), MHz for the whole VM, AllocationUnits "hertz*10^6"; Weight = shares.

NULL means not set (no limit, the hypervisor's default weight). Without them
AllocationUnits is "count".
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint32, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.virtualization import settings
from vrmgmt.model import VirtualMachine

CLASS = "VRM_ProcessorAllocationSettingData"
RESOURCE_TYPE = 3
KIND = "proc"


def path(backend_id: str, uuid: str, namespace: str | None) -> CIMInstanceName:
    sid = settings.SettingId(backend_id, uuid, KIND)
    return fastinst.path(CLASS, {"InstanceID": sid.text()}, namespace)


def parse(p: CIMInstanceName) -> settings.SettingId:
    return settings.parse_path(p, CLASS, (KIND,))


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    p = path(vm.backend_id, vm.uuid, namespace)
    props = [
        P("InstanceID", p.keybindings["InstanceID"], "string"),
        P("ElementName", "Virtual processors", "string"),
        P("ResourceType", Uint16(RESOURCE_TYPE), "uint16"),
        P("VirtualQuantity", Uint64(vm.vcpus), "uint64"),
        P("VirtualQuantityUnits", "count", "string"),
    ]
    cpu = vm.cpu
    if cpu is None:
        props.append(P("AllocationUnits", "count", "string"))
    else:
        props += [
            P("AllocationUnits", _UNITS[cpu.unit], "string"),
            P("Reservation", _u64(cpu.reservation), "uint64"),
            P("Limit", _u64(cpu.limit), "uint64"),
            P("Weight", Uint32(cpu.weight) if cpu.weight is not None else None, "uint32"),
        ]
    return [fastinst.instance(CLASS, props, p)]


#: CpuAllocation.unit -> AllocationUnits (DSP0004 programmatic units)
_UNITS = {"percent": "percent", "MHz": "hertz*10^6"}


def _u64(v: int | None) -> Uint64 | None:
    return Uint64(v) if v is not None else None


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
) -> Iterator[CIMInstance]:
    return settings.rasd_instances(env, namespace, paths, parse, build, devices=False, ctx=ctx)
