"""VRM_LogicalDisk: the disks and CD/DVD (and floppy) drives of each VM (DSP1047
Storage Resource Virtualization §7: a VM's virtual disk is a CIM_LogicalDisk of the
VM, defined by its storage RASD; DSP1057 §7.3; CIM_LogicalDisk).

One per disk, DeviceID = the storage RASD's InstanceID ``<backend id>:<VM UUID>/disk/
<device>``. CD/DVD and floppy drives are the same class, as they are one RASD class
(VRM_StorageAllocationSettingData, ResourceType 16 / 14 against 17 for a disk): each
device maps to exactly one RASD of one class, and what is in the drive is a logical
disk to the guest as a disk image is. They differ in Access (1 Readable for CD/DVD and
floppy, as libvirt's <readonly/>; 3 Read/Write for a disk) and Purpose.
Name = the device (libvirt target dev "vda", vSphere label "Hard disk 1"); BlockSize 512
and NumberOfBlocks = ConsumableBlocks = the capacity / 512 (rounded up) where the
backend knows the capacity (NULL for an empty drive).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.virtualization import devices
from vrmgmt.classes.virtualization import storage_allocation_setting_data as rasd
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.model import VirtualMachine

CLASS = "VRM_LogicalDisk"
KIND = rasd.KIND
RASD = rasd
BLOCK_SIZE = 512
#: CIM_StorageExtent.Access
ACCESS_READABLE = 1
ACCESS_READ_WRITE = 3
_PURPOSE = {"disk": "virtual disk", "cdrom": "CD/DVD drive", "floppy": "floppy drive"}


def path(sid: SettingId, namespace: str | None) -> CIMInstanceName:
    return devices.path(CLASS, sid, namespace)


def parse(p: CIMInstanceName) -> SettingId:
    return devices.parse(p, CLASS, KIND)


def sids(vm: VirtualMachine) -> list[SettingId]:
    return [SettingId(vm.backend_id, vm.uuid, KIND, d.device) for d in vm.disks]


def rasd_of(sid: SettingId) -> SettingId:
    return sid


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    out = []
    for disk, sid in zip(vm.disks, sids(vm), strict=True):
        blocks = None
        if disk.capacity_bytes:
            blocks = Uint64(-(-disk.capacity_bytes // BLOCK_SIZE))
        access = ACCESS_READ_WRITE if disk.kind == "disk" else ACCESS_READABLE
        props = devices.common(CLASS, vm, sid, disk.device)
        props += [
            P("Name", disk.device, "string"),
            P("Purpose", _PURPOSE.get(disk.kind, disk.kind), "string"),
            P("Access", Uint16(access), "uint16"),
            P("BlockSize", Uint64(BLOCK_SIZE), "uint64"),
            P("NumberOfBlocks", blocks, "uint64"),
            P("ConsumableBlocks", blocks, "uint64"),
        ]
        out.append(devices.instance(CLASS, sid, namespace, props))
    return out


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    return devices.device_instances(
        env, namespace, paths, parse, build, sids, devices=True, bulk=bulk
    )
