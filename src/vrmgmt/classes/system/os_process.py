"""VRM_OSProcess: the processes running in each local host's operating system
(CIM_OSProcess, CIM Schema 2.49 System::Processing). Remote hosts have none."""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import operating_system as osys
from vrmgmt.classes.system import unix_process as proc
from vrmgmt.errors import VrmError

CLASS = "VRM_OSProcess"


class OSProcess(Association):
    class_name = CLASS
    ends = (End("GroupComponent", osys), End("PartComponent", proc))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        if near.role == "GroupComponent":
            bid = osys.parse(path)
            if not inv.has_backend(bid):
                return []
            return [proc.path(bid, p.pid, ns) for p in inv.processes(bid)]
        bid, pid = proc.parse(path)
        try:
            if inv.has_backend(bid):
                inv.process(bid, pid)
                return [osys.path(bid, ns)]
        except VrmError:  # no such process
            pass
        return []

    def far_instances(self, ctx, near, path, property_list):
        """From the OS: all its processes from one listing (not one lookup per PID)."""
        if near.role != "GroupComponent":
            return super().far_instances(ctx, near, path, property_list)
        bid = osys.parse(path)
        if not self.env.inventory.has_backend(bid):
            return []
        return proc.instances(self.env, ctx.namespace, None, only=bid)


provider = OSProcess
