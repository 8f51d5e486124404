"""VRM_ServiceAffectsElement: each host's virtual system management service manages
the VMs of that host (DSP1042 §7 / §10: CIM_ServiceAffectsElement from the
CIM_VirtualSystemManagementService to each virtual system it manages, ElementEffects
{5 "Manages"}; CIM_ServiceAffectsElement)."""

from __future__ import annotations

from pywbem import CIMError, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import virtual_system_management_service as vsms
from vrmgmt.errors import VrmError

CLASS = "VRM_ServiceAffectsElement"
#: CIM_ServiceAffectsElement.ElementEffects 5 = Manages
EFFECT_MANAGES = 5


class ServiceAffectsElement(Association):
    class_name = CLASS
    ends = (End("AffectedElement", vm_cls), End("AffectingElement", vsms))

    def pairs(self, ctx):
        """One listing per backend: its service and each of its VMs."""
        inv, ns = self.env.inventory, ctx.namespace
        for bid in inv.backend_ids():
            try:
                vms = inv.vms_of(bid)
            except VrmError:
                continue  # unreachable: its VMs are left out, as VRM_ComputerSystem does
            service = vsms.path(bid, ns)
            for vm in vms:
                yield vm_cls.path(vm.uuid, ns), service

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        try:
            if near.role == "AffectingElement":
                bid = vsms.parse(path)
                if not vsms.SERVICE.on(self.env, bid):
                    return []
                return [vm_cls.path(vm.uuid, ns) for vm in inv.vms_of(bid)]
            return [vsms.path(inv.backend_of(vm_cls.parse(path)), ns)]
        except (CIMError, VrmError):  # malformed, unknown or unreachable
            return []

    def instance(self, ctx, near, a, b):
        inst = super().instance(ctx, near, a, b)
        effects = fastinst.prop("ElementEffects", [Uint16(EFFECT_MANAGES)], "uint16", True)
        props = [inst.properties[n] for n in inst.properties] + [effects]
        return fastinst.instance(CLASS, props, inst.path)


provider = ServiceAffectsElement
