"""VRM_HostedAccessPoint: a running VM (Antecedent) and each of its displays
(VRM_KVMRedirectionSAP, Dependent; weak: the SAP's keys name the VM) (DSP1076;
CIM_HostedAccessPoint)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.console import kvm_redirection_sap as sap
from vrmgmt.classes.system import computer_system as vm_cls

CLASS = "VRM_HostedAccessPoint"


class HostedAccessPoint(Association):
    class_name = CLASS
    ends = (End("Antecedent", vm_cls), End("Dependent", sap))

    def pairs(self, ctx):
        ns = ctx.namespace
        for vm in sap._running(self.env):
            for name, _c in sap.consoles_of(self.env, vm):
                yield vm_cls.path(vm.uuid, ns), sap.path(vm.uuid, name, ns)

    def far(self, ctx, near, path):
        ns = ctx.namespace
        try:
            if near.role == "Antecedent":
                uuid = vm_cls.parse(path)
                _vm, consoles = sap.of_vm(self.env, uuid)
                return [sap.path(uuid, name, ns) for name, _c in consoles]
            uuid, name = sap.parse(path)
        except CIMError:
            return []
        _vm, consoles = sap.of_vm(self.env, uuid)
        return [vm_cls.path(uuid, ns)] if any(n == name for n, _c in consoles) else []


provider = HostedAccessPoint
