"""HostControlProvider: VRM_HostSystem (one per backend) and VRM_HostedDependency
(VM -> host), DSP1042 System Virtualization / DSP1057 §7.4. Thin: the classes are in
vrmgmt.classes.system."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.system import host_system, hosted_dependency


def get_providers(env):
    return serve(env, host_system, hosted_dependency)
