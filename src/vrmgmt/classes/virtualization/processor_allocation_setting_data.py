"""VRM_ProcessorAllocationSettingData: the virtual processors of each VM (DSP1044
Processor Resource Virtualization §7, DSP1041 Resource Allocation §7.2;
CIM_ResourceAllocationSettingData with ResourceType 3 "Processor").

One per VM, InstanceID ``<backend id>:<VM UUID>/proc``; VirtualQuantity = the number of
vCPUs. Neither backend reports a CPU reservation, limit or share weight through vrmgmt,
so Reservation, Limit and Weight stay NULL.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
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
        P("AllocationUnits", "count", "string"),
    ]
    return [fastinst.instance(CLASS, props, p)]


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    return settings.rasd_instances(env, namespace, paths, parse, build, devices=False)
