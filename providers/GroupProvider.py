"""GroupProvider: VRM_Group, VRM_MemberOfGroup and VRM_GroupManagementService, the
administrator-defined groups of hosts and VMs over the XML store vrmgmt.groups (issue 12,
CIM Schema 2.49 collections). Thin: the classes are in vrmgmt.classes.groups."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.groups import group, group_management_service, member_of_group


def get_providers(env):
    return serve(env, group, member_of_group, group_management_service)
