"""InteropProvider: the interop namespace (root/interop) that WBEM clients use for
discovery: CIM_ObjectManager, CIM_Namespace, CIM_NamespaceInManager,
VRM_RegisteredProfile, VRM_ReferencedProfile and VRM_ElementConformsToProfile
(DSP1033 Profile Registration 1.0.0). Thin: the logic is in vrmgmt.cim.interop."""

from vrmgmt.cim.interop import get_providers as _interop_providers


def get_providers(env):
    return _interop_providers(env)
