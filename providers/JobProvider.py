"""JobProvider: VRM_ConcreteJob, VRM_AffectedJobElement and VRM_OwningJobElement
(DSP1103 Job Control): the jobs that long-running methods return. Thin: the classes
are in vrmgmt.classes.jobs."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.jobs import affected_job_element, concrete_job, owning_job_element


def get_providers(env):
    return serve(env, concrete_job, affected_job_element, owning_job_element)
