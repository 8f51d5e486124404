"""IndicationProvider: the life-cycle indications CIM_InstCreation, CIM_InstModification
and CIM_InstDeletion (DSP1054 Indications §7) of VRM_ComputerSystem (a VM defined,
undefined, every EnabledState change), of VRM_HostSystem (its backend lost or back), of
VRM_ConcreteJob (a job finished) and of
VRM_Group / VRM_MemberOfGroup (groups and memberships changed), as an
indication provider for SFCB/OpenPegasus (docs/cmpi.md, "Indications"). Thin: the
sources are the class modules' watch(env)."""

from vrmgmt.cim.indications import lifecycle_indications
from vrmgmt.classes.groups import group
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.system import computer_system, host_system


def get_providers(env):
    return lifecycle_indications(env, computer_system, host_system, concrete_job, group)
