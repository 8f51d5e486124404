"""VRM_Processor: the virtual processors of each VM (DSP1044 Processor Resource
Virtualization §7: a VM's virtual processors are CIM_Processor instances of the VM,
defined by its processor RASD; DSP1057 §7.3; CIM_Processor).

One per vCPU, DeviceID ``<backend id>:<VM UUID>/proc/<n>`` (n = 0 ... vCPUs - 1), all
defined by VRM_ProcessorAllocationSettingData ``<backend id>:<VM UUID>/proc``. Each vCPU
is one core to the guest (NumberOfEnabledCores 1); Role "Central Processor". Neither
backend reports clock speed, family or load per vCPU through vrmgmt: those stay NULL.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.virtualization import devices
from vrmgmt.classes.virtualization import processor_allocation_setting_data as rasd
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.model import VirtualMachine

CLASS = "VRM_Processor"
KIND = rasd.KIND
#: the RASD class module that defines these devices
RASD = rasd


def path(sid: SettingId, namespace: str | None) -> CIMInstanceName:
    return devices.path(CLASS, sid, namespace)


def parse(p: CIMInstanceName) -> SettingId:
    return devices.parse(p, CLASS, KIND)


def sids(vm: VirtualMachine) -> list[SettingId]:
    return [SettingId(vm.backend_id, vm.uuid, KIND, str(n)) for n in range(vm.vcpus)]


def rasd_of(sid: SettingId) -> SettingId:
    """The SettingId of the RASD that defines the device."""
    return SettingId(sid.backend_id, sid.uuid, KIND)


def build(vm: VirtualMachine, namespace: str) -> list[CIMInstance]:
    P = fastinst.prop
    out = []
    for sid in sids(vm):
        props = devices.common(CLASS, vm, sid, f"Virtual processor {sid.key}")
        props += [
            P("Role", "Central Processor", "string"),
            P("NumberOfEnabledCores", Uint16(1), "uint16"),
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
        env, namespace, paths, parse, build, sids, devices=False, bulk=bulk
    )
