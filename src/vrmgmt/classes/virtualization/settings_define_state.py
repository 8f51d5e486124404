"""VRM_SettingsDefineState: a VM and the system settings that describe its current
state (DSP1057 §7.2.3), and each virtual device of a VM and the resource allocation
settings that define it (DSP1041 §7.4, DSP1044/1045/1047/1050 §7: processor devices ->
the processor RASD, memory -> memory RASD, logical disk -> storage RASD, network port
-> Ethernet port RASD); CIM_SettingsDefineState.

One association class for both pairs: its ends are the DMTF-wide CIM_LogicalElement
(ManagedElement) and CIM_SettingData (SettingData), and far() answers by the class of
the object at hand (a VM, a device, a VSSD or a RASD)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import device_classes, settings
from vrmgmt.classes.virtualization import virtual_system_setting_data as vssd
from vrmgmt.errors import VrmError

CLASS = "VRM_SettingsDefineState"


def vm_and_settings(env, near_role: str, path, ns: str, vm_role: str):
    """The far path for a VM (role ``vm_role``) <-> its VSSD association; [] when the
    object does not exist. Shared with VRM_ElementSettingData."""
    inv = env.inventory
    try:
        if near_role == vm_role:
            uuid = vm_cls.parse(path)
            return [vssd.path(inv.backend_of(uuid), uuid, ns)]
        sid = vssd.parse(path)
        if inv.has_backend(sid.backend_id) and inv.backend_of(sid.uuid) == sid.backend_id:
            return [vm_cls.path(sid.uuid, ns)]
        return []
    except (CIMError, VrmError):
        return []


def _device_to_rasd(env, path, ns: str):
    module = device_classes.module_of(path)
    if module is None:
        return []
    sid = module.parse(path)
    vm = next(settings.vms_for(env, [sid]), None)
    if vm is None or sid not in module.sids(vm):
        return []
    return [device_classes.rasd_path(module, sid, ns)]


def _rasd_to_devices(env, path, ns: str):
    module = device_classes.module_for_rasd(path)
    if module is None:
        return []
    rid = module.RASD.parse(path)
    vm = next(settings.vms_for(env, [rid]), None)
    if vm is None:
        return []
    return [module.path(s, ns) for s in module.sids(vm) if module.rasd_of(s) == rid]


class SettingsDefineState(Association):
    class_name = CLASS
    ends = (End("ManagedElement", "CIM_LogicalElement"), End("SettingData", "CIM_SettingData"))

    def pairs(self, ctx):
        """Every VM <-> VSSD and device <-> RASD pair, from one listing (with devices)
        per backend."""
        ns = ctx.namespace
        for vm in settings.all_vms(self.env, devices=True):
            yield vm_cls.path(vm.uuid, ns), vssd.path(vm.backend_id, vm.uuid, ns)
            for module in device_classes.MODULES:
                for sid in module.sids(vm):
                    yield module.path(sid, ns), device_classes.rasd_path(module, sid, ns)

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        cls = path.classname.lower()
        if near.role == "ManagedElement" and cls == vm_cls.CLASS.lower():
            return vm_and_settings(env, near.role, path, ns, "ManagedElement")
        if near.role == "SettingData" and cls == vssd.CLASS.lower():
            return vm_and_settings(env, near.role, path, ns, "ManagedElement")
        try:
            if near.role == "ManagedElement":
                return _device_to_rasd(env, path, ns)
            return _rasd_to_devices(env, path, ns)
        except (CIMError, VrmError):  # malformed, foreign or unreachable: nothing there
            return []


provider = SettingsDefineState
