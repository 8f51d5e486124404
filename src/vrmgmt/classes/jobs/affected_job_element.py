"""VRM_AffectedJobElement: a job and each element it acts on (DSP1103 §7.5)."""

from vrmgmt.cim import paths
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.jobs import concrete_job as job

CLASS = "VRM_AffectedJobElement"


class AffectedJobElement(Association):
    class_name = CLASS
    ends = (End("AffectingElement", job), End("AffectedElement", "CIM_ManagedElement"))

    def far(self, ctx, near, path):
        if near.role == "AffectingElement":
            found = job.by_path(self.env, path)
            return [job.element(a) for a in found.affected] if found else []
        me = paths.identity(path)
        return [
            job.path(j.id, ctx.namespace)
            for j in job.jobs(self.env)
            if any(paths.identity(job.element(a)) == me for a in j.affected)
        ]


provider = AffectedJobElement
