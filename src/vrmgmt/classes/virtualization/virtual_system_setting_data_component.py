"""VRM_VirtualSystemSettingDataComponent: a VM's system settings aggregate its resource
allocation settings (DSP1057 §7.2.2, DSP1041 §7.3; CIM_VirtualSystemSettingDataComponent).
"""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.virtualization import rasds, settings
from vrmgmt.classes.virtualization import virtual_system_setting_data as vssd

CLASS = "VRM_VirtualSystemSettingDataComponent"


class VirtualSystemSettingDataComponent(Association):
    class_name = CLASS
    ends = (End("GroupComponent", vssd), End("PartComponent", "CIM_ResourceAllocationSettingData"))

    def far(self, ctx, near, path):
        ns = ctx.namespace
        try:
            if near.role == "GroupComponent":
                sid = vssd.parse(path)
                vm = next(settings.vms_for(self.env, [sid]), None)
                return rasds.paths_of(vm, ns) if vm is not None else []
            module = rasds.module_of(path)
            if module is None:
                return []
            sid = module.parse(path)
            vm = next(settings.vms_for(self.env, [sid]), None)
            if vm is None or not any(
                module.parse(p) == sid for p in (i.path for i in module.build(vm, ns))
            ):
                return []
            return [vssd.path(sid.backend_id, sid.uuid, ns)]
        except CIMError:  # a malformed or foreign path: nothing at the far end
            return []


provider = VirtualSystemSettingDataComponent
