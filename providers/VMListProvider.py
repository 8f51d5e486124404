"""VMListProvider: VRM_ComputerSystem, every VM of every configured backend, with
RequestStateChange (DSP1057 Virtual System Profile). Thin: the class is in
vrmgmt.classes.system.computer_system."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.system import computer_system


def get_providers(env):
    return serve(env, computer_system)
