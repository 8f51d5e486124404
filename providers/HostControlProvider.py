"""HostControlProvider: VRM_HostSystem (one per backend, host power),
VRM_HostedDependency (VM -> host), the hosts' operating systems (VRM_OperatingSystem,
VRM_RunningOS), the processes of local hosts (VRM_UnixProcess, VRM_OSProcess) and each
VM's QEMU/LXC process (VRM_VMProcess): DSP1042 System Virtualization, DSP1057 §7.4,
DSP1052, CIM Schema 2.49 System model. Thin: the classes are in vrmgmt.classes.system."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.system import (
    enabled_logical_element_capabilities,
    host_system,
    hosted_dependency,
    operating_system,
    os_process,
    running_os,
    unix_process,
    vm_process,
)


def get_providers(env):
    return serve(
        env,
        host_system,
        hosted_dependency,
        operating_system,
        running_os,
        unix_process,
        os_process,
        vm_process,
        enabled_logical_element_capabilities,
    )
