"""VRM_ElementSettingData: a VM and its system settings, which are both its default
and its current settings (DSP1057 §7.2.3: IsDefault 1 "Is Default", IsCurrent 1
"Is Current"; CIM_ElementSettingData)."""

from __future__ import annotations

from pywbem import Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import virtual_system_setting_data as vssd
from vrmgmt.classes.virtualization.settings_define_state import vm_and_settings

CLASS = "VRM_ElementSettingData"
IS_DEFAULT = 1
IS_CURRENT = 1


class ElementSettingData(Association):
    class_name = CLASS
    ends = (End("ManagedElement", vm_cls), End("SettingData", vssd))

    def far(self, ctx, near, path):
        return vm_and_settings(self.env, near.role, path, ctx.namespace, "ManagedElement")

    def instance(self, ctx, near, a, b):
        inst = super().instance(ctx, near, a, b)
        extra = [
            fastinst.prop("IsDefault", Uint16(IS_DEFAULT), "uint16"),
            fastinst.prop("IsCurrent", Uint16(IS_CURRENT), "uint16"),
        ]
        props = [inst.properties[n] for n in inst.properties] + extra
        return fastinst.instance(CLASS, props, inst.path)


provider = ElementSettingData
