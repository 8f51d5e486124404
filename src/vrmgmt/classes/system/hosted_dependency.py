"""VRM_HostedDependency: a VM depends on the host that runs it (DSP1057 §7.4)."""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm
from vrmgmt.classes.system import host_system as host
from vrmgmt.errors import VrmError

CLASS = "VRM_HostedDependency"


class HostedDependency(Association):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", vm))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        try:
            if near.role == "Antecedent":
                return [vm.path(v.uuid, ns) for v in inv.vms_of(host.parse(path))]
            return [host.path(inv.backend_of(vm.parse(path)), ns)]
        except VrmError:  # unknown or unreachable: nothing at the far end
            return []


provider = HostedDependency
