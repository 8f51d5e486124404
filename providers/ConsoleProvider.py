"""ConsoleProvider: the displays of each running VM (VRM_KVMRedirectionSAP) and
VRM_HostedAccessPoint from the VM to them: DSP1076 KVM Redirection 1.0.0
(docs/console.md). Thin: the classes are in vrmgmt.classes.console."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.console import hosted_access_point, kvm_redirection_sap


def get_providers(env):
    return serve(env, kvm_redirection_sap, hosted_access_point)
