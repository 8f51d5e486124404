"""VRM_OwningJobElement: a job and the element whose method started it (DSP1103 §7.6)."""

from vrmgmt.cim import paths
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.jobs import concrete_job as job

CLASS = "VRM_OwningJobElement"


class OwningJobElement(Association):
    class_name = CLASS
    ends = (End("OwnedElement", job), End("OwningElement", "CIM_ManagedElement"))

    def far(self, ctx, near, path):
        if near.role == "OwnedElement":
            found = job.by_path(self.env, path)
            return [job.element(found.owning)] if found and found.owning else []
        me = paths.identity(path)
        return [
            job.path(j.id, ctx.namespace)
            for j in job.jobs(self.env)
            if j.owning and paths.identity(job.element(j.owning)) == me
        ]


provider = OwningJobElement
