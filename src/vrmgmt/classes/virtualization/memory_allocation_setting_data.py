"""VRM_MemoryAllocationSettingData: the memory of each VM (DSP1045 Memory Resource
Virtualization §7, DSP1041 §7.2; CIM_ResourceAllocationSettingData with ResourceType 4
"Memory", AllocationUnits "byte*2^20").

One per VM, InstanceID ``<backend id>:<VM UUID>/mem``; VirtualQuantity = the current
memory in MiB, Limit = the maximum memory in MiB (libvirt <memory>; on vSphere the
same as the current memory).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.virtualization import settings
from vrmgmt.model import VirtualMachine

CLASS = "VRM_MemoryAllocationSettingData"
RESOURCE_TYPE = 4
KIND = "mem"
UNITS = "byte*2^20"


def path(backend_id: str, uuid: str, namespace: str | None) -> CIMInstanceName:
    sid = settings.SettingId(backend_id, uuid, KIND)
    return fastinst.path(CLASS, {"InstanceID": sid.text()}, namespace)


def parse(p: CIMInstanceName) -> settings.SettingId:
    return settings.parse_path(p, CLASS, (KIND,))


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    p = path(vm.backend_id, vm.uuid, namespace)
    limit = (vm.max_memory_kib or vm.memory_kib) // 1024
    props = [
        P("InstanceID", p.keybindings["InstanceID"], "string"),
        P("ElementName", "Memory", "string"),
        P("ResourceType", Uint16(RESOURCE_TYPE), "uint16"),
        P("AllocationUnits", UNITS, "string"),
        P("VirtualQuantity", Uint64(vm.memory_kib // 1024), "uint64"),
        P("VirtualQuantityUnits", UNITS, "string"),
        P("Limit", Uint64(limit), "uint64"),
    ]
    return [fastinst.instance(CLASS, props, p)]


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
) -> Iterator[CIMInstance]:
    return settings.rasd_instances(env, namespace, paths, parse, build, devices=False, ctx=ctx)
