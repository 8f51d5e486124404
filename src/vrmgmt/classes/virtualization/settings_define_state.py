"""VRM_SettingsDefineState: a VM and the system settings that describe its current
state (DSP1057 §7.2.3; CIM_SettingsDefineState)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm_cls
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


class SettingsDefineState(Association):
    class_name = CLASS
    ends = (End("ManagedElement", vm_cls), End("SettingData", vssd))

    def far(self, ctx, near, path):
        return vm_and_settings(self.env, near.role, path, ctx.namespace, "ManagedElement")


provider = SettingsDefineState
