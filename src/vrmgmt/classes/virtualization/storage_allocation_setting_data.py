"""VRM_StorageAllocationSettingData: the disks and CD/DVD drives of each VM (DSP1047
Storage Resource Virtualization §7, DSP1041 §7.2; CIM_StorageAllocationSettingData with
ResourceType 17 "Disk Drive", 16 "DVD drive" or 14 "Floppy Drive").

One per disk, InstanceID ``<backend id>:<VM UUID>/disk/<device>`` (libvirt target dev,
e.g. "vda"; vSphere device label, e.g. "Hard disk 1"). HostResource = the backing
(image file or block device on libvirt, datastore path on vSphere), AddressOnParent =
the device, ResourceSubType = the bus; Capacity and VirtualQuantity = the size in bytes
where the backend knows it.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.virtualization import settings
from vrmgmt.model import VirtualMachine

CLASS = "VRM_StorageAllocationSettingData"
KIND = "disk"
RT_DISK = 17
RT_DVD = 16
RT_FLOPPY = 14
RESOURCE_TYPES = {"disk": RT_DISK, "cdrom": RT_DVD, "floppy": RT_FLOPPY}


def path(backend_id: str, uuid: str, device: str, namespace: str | None) -> CIMInstanceName:
    sid = settings.SettingId(backend_id, uuid, KIND, device)
    return fastinst.path(CLASS, {"InstanceID": sid.text()}, namespace)


def parse(p: CIMInstanceName) -> settings.SettingId:
    return settings.parse_path(p, CLASS, (KIND,))


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    out = []
    for disk in vm.disks:
        p = path(vm.backend_id, vm.uuid, disk.device, namespace)
        size = Uint64(disk.capacity_bytes) if disk.capacity_bytes else None
        props = [
            P("InstanceID", p.keybindings["InstanceID"], "string"),
            P("ElementName", disk.device, "string"),
            P("ResourceType", Uint16(RESOURCE_TYPES.get(disk.kind, RT_DISK)), "uint16"),
            P("ResourceSubType", disk.bus, "string"),
            P("HostResource", [disk.source] if disk.source else None, "string", True),
            P("AddressOnParent", disk.device, "string"),
            P("AllocationUnits", "byte", "string"),
            P("VirtualQuantity", size, "uint64"),
            P("VirtualQuantityUnits", "byte", "string"),
            P("Capacity", size, "uint64"),
        ]
        out.append(fastinst.instance(CLASS, props, p))
    return out


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
) -> Iterator[CIMInstance]:
    return settings.rasd_instances(env, namespace, paths, parse, build, devices=True, ctx=ctx)
