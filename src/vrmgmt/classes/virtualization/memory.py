"""VRM_Memory: the memory of each VM (DSP1045 Memory Resource Virtualization §7: a
VM's memory is a CIM_Memory of the VM, defined by its memory RASD; DSP1057 §7.3;
CIM_Memory).

One per VM, DeviceID = the memory RASD's InstanceID ``<backend id>:<VM UUID>/mem``.
BlockSize 1024 and NumberOfBlocks = ConsumableBlocks = the current memory in KiB (so
NumberOfBlocks x BlockSize is the RASD's VirtualQuantity in bytes; the maximum memory
is the RASD's Limit); Volatile TRUE.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.virtualization import devices
from vrmgmt.classes.virtualization import memory_allocation_setting_data as rasd
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.model import VirtualMachine

CLASS = "VRM_Memory"
KIND = rasd.KIND
RASD = rasd
BLOCK_SIZE = 1024


def path(sid: SettingId, namespace: str | None) -> CIMInstanceName:
    return devices.path(CLASS, sid, namespace)


def parse(p: CIMInstanceName) -> SettingId:
    return devices.parse(p, CLASS, KIND)


def sids(vm: VirtualMachine) -> list[SettingId]:
    return [SettingId(vm.backend_id, vm.uuid, KIND)]


def rasd_of(sid: SettingId) -> SettingId:
    return sid


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    (sid,) = sids(vm)
    blocks = Uint64(vm.memory_kib * 1024 // BLOCK_SIZE)
    props = devices.common(CLASS, vm, sid, "Memory")
    props += [
        P("BlockSize", Uint64(BLOCK_SIZE), "uint64"),
        P("NumberOfBlocks", blocks, "uint64"),
        P("ConsumableBlocks", blocks, "uint64"),
        P("Volatile", True, "boolean"),
    ]
    return [devices.instance(CLASS, sid, namespace, props)]


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    return devices.device_instances(
        env, namespace, paths, parse, build, sids, devices=False, bulk=bulk
    )
