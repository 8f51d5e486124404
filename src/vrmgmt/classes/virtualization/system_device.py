"""VRM_SystemDevice: a VM aggregates its virtual devices (DSP1057 §7.3, DSP1044/1045/
1047/1050 §7; CIM_SystemDevice): VRM_Processor, VRM_Memory, VRM_LogicalDisk and
VRM_NetworkPort instances of the VM."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import device_classes, settings
from vrmgmt.errors import VrmError

CLASS = "VRM_SystemDevice"


class SystemDevice(Association):
    class_name = CLASS
    ends = (End("GroupComponent", vm_cls), End("PartComponent", "CIM_LogicalDevice"))

    def pairs(self, ctx):
        """One listing (with devices) per backend for every VM and its devices."""
        ns = ctx.namespace
        for vm in settings.all_vms(self.env, devices=True):
            here = vm_cls.path(vm.uuid, ns)
            for p in device_classes.paths_of(vm, ns):
                yield here, p

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        try:
            if near.role == "GroupComponent":
                uuid = vm_cls.parse(path)
                vm = settings.detailed_vm(env, env.inventory.backend_of(uuid), uuid)
                return device_classes.paths_of(vm, ns) if vm is not None else []
            module = device_classes.module_of(path)
            if module is None:
                return []
            sid = module.parse(path)
            vm = next(settings.vms_for(env, [sid]), None)
            if vm is None or sid not in module.sids(vm):
                return []
            return [vm_cls.path(vm.uuid, ns)]
        except (CIMError, VrmError):  # malformed, foreign or unreachable: nothing there
            return []


provider = SystemDevice
