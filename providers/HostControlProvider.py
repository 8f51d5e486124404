"""HostControlProvider: VRM_HostSystem (one per backend) and VRM_HostedDependency
(VM -> host), DSP1042 System Virtualization / DSP1057 §7.4. Thin: the logic is in
vrmgmt.cim.host_system."""

from vrmgmt.cim.host_system import HostedDependencyProvider, HostSystemProvider


def get_providers(env):
    return {
        "VRM_HostSystem": HostSystemProvider(env),
        "VRM_HostedDependency": HostedDependencyProvider(env),
    }
