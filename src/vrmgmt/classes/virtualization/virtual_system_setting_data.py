"""VRM_VirtualSystemSettingData: the settings of each VM as a whole (DSP1057 Virtual
System Profile §7.2 "Virtual system configuration"; CIM_VirtualSystemSettingData).

One per VM, InstanceID ``<backend id>:<VM UUID>`` (vrmgmt.classes.virtualization.
settings). ElementName is the VM's name, VirtualSystemIdentifier its UUID,
AutomaticStartupAction its autostart flag (2 None / 4 Always startup),
AutomaticRecoveryAction libvirt's <on_crash> (2 None / 3 Restart; unknown elsewhere),
Notes its description (libvirt <description>, vSphere annotation), CreationTime where the
backend knows it (vSphere config.createDate).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMDateTime, CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.virtualization import settings
from vrmgmt.model import VirtualMachine

CLASS = "VRM_VirtualSystemSettingData"

#: AutomaticStartupAction values (CIM_VirtualSystemSettingData)
STARTUP_NONE = 2
STARTUP_ALWAYS = 4
#: AutomaticRecoveryAction values
RECOVERY_NONE = 2
RECOVERY_RESTART = 3
_RECOVERY = {
    "destroy": RECOVERY_NONE,
    "preserve": RECOVERY_NONE,
    "coredump-destroy": RECOVERY_NONE,
    "restart": RECOVERY_RESTART,
    "rename-restart": RECOVERY_RESTART,
    "coredump-restart": RECOVERY_RESTART,
}


def path(backend_id: str, uuid: str, namespace: str | None) -> CIMInstanceName:
    sid = settings.SettingId(backend_id, uuid)
    return fastinst.path(CLASS, {"InstanceID": sid.text()}, namespace)


def parse(p: CIMInstanceName) -> settings.SettingId:
    """(backend id, VM UUID) of a VRM_VirtualSystemSettingData path."""
    return settings.parse_path(p, CLASS, ("",))


def vssd_instance(vm: VirtualMachine, namespace: str) -> CIMInstance:
    P = fastinst.prop
    recovery = _RECOVERY.get(vm.on_crash or "")
    props = [
        P("InstanceID", settings.vm_id(vm).text(), "string"),
        P("ElementName", vm.name, "string"),
        P("Caption", f"Settings of virtual system {vm.name}", "string"),
        P("VirtualSystemIdentifier", vm.uuid, "string"),
        P("VirtualSystemType", vm.virtual_system_type, "string"),
        P(
            "AutomaticStartupAction",
            Uint16(STARTUP_ALWAYS if vm.autostart else STARTUP_NONE),
            "uint16",
        ),
        P(
            "AutomaticRecoveryAction",
            Uint16(recovery) if recovery is not None else None,
            "uint16",
        ),
        P("Notes", [vm.description] if vm.description else None, "string", True),
        P("CreationTime", CIMDateTime(vm.created) if vm.created else None, "datetime"),
    ]
    return fastinst.instance(CLASS, props, path(vm.backend_id, vm.uuid, namespace))


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        for vm in settings.all_vms(env, devices=True):
            yield vssd_instance(vm, namespace)
        return
    ids = [parse(p) for p in paths]
    found = set()
    for vm in settings.vms_for(env, ids):
        found.add(settings.vm_id(vm))
        yield vssd_instance(vm, namespace)
    settings.single_missing(ids, found)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for vm in settings.all_vms(env, devices=False):
        yield path(vm.backend_id, vm.uuid, namespace)
