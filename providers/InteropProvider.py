"""InteropProvider: the interop namespace (root/interop) that WBEM clients use for
discovery: CIM_ObjectManager, CIM_Namespace, CIM_NamespaceInManager,
VRM_RegisteredProfile, VRM_ReferencedProfile and VRM_ElementConformsToProfile
(DSP1033 Profile Registration 1.0.0); the indication service, its capabilities, filters,
listener destinations and subscriptions (DSP1054 Indications).
Thin: the classes are in vrmgmt.classes.interop."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.interop import (
    element_conforms_to_profile,
    indication_filter,
    indication_service,
    indication_service_capabilities,
    indication_subscription,
    listener_destination_cimxml,
    namespace,
    namespace_in_manager,
    object_manager,
    referenced_profile,
    registered_profile,
)


def get_providers(env):
    return serve(
        env,
        object_manager,
        namespace,
        namespace_in_manager,
        registered_profile,
        referenced_profile,
        element_conforms_to_profile,
        indication_service,
        indication_service_capabilities,
        indication_filter,
        listener_destination_cimxml,
        indication_subscription,
    )
