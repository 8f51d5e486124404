"""VRM_RunningOS: the operating system each host runs (CIM_RunningOS, CIM Schema 2.49;
DSP1052 Computer System §7.9): one per backend."""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import host_system as host
from vrmgmt.classes.system import operating_system as osys

CLASS = "VRM_RunningOS"


class RunningOS(Association):
    class_name = CLASS
    ends = (End("Antecedent", osys), End("Dependent", host))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        bid = (osys if near.role == "Antecedent" else host).parse(path)
        if not inv.has_backend(bid):
            return []
        return [host.path(bid, ns) if near.role == "Antecedent" else osys.path(bid, ns)]


provider = RunningOS
