"""VMListProvider: VRM_ComputerSystem, every VM of every configured backend, with
RequestStateChange (DSP1057 Virtual System Profile). Thin: the logic is in
vrmgmt.cim.virtual_system."""

from vrmgmt.cim.virtual_system import VirtualSystemProvider


def get_providers(env):
    return {"VRM_ComputerSystem": VirtualSystemProvider(env)}
