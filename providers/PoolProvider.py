"""PoolProvider: the resource pools of each host (VRM_ResourcePool: processors, memory,
storage pools / datastores, networks / port groups), their allocation capabilities and
the template settings that define them, and what is allocated from them
(VRM_HostedResourcePool, VRM_ElementAllocatedFromPool, VRM_ResourceAllocationFromPool,
VRM_SettingsDefineCapabilities). DSP1041 Resource Allocation, DSP1043 Allocation
Capabilities, DSP1044/1045/1047/1050 Resource Virtualization.
Thin: the classes are in vrmgmt.classes.pools."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.pools import (
    allocation_capabilities,
    element_allocated_from_pool,
    hosted_resource_pool,
    resource_allocation_from_pool,
    resource_pool,
    settings_define_capabilities,
)


def get_providers(env):
    return serve(
        env,
        resource_pool,
        allocation_capabilities,
        hosted_resource_pool,
        element_allocated_from_pool,
        resource_allocation_from_pool,
        settings_define_capabilities,
    )
