"""VRM_VirtualSystemManagementCapabilities: what each host's virtual system management
service supports (DSP1042 §7.4 / §10.x; CIM_VirtualSystemManagementCapabilities).

One per host, InstanceID ``<backend id>:VirtualSystemManagementCapabilities``. Methods
are advertised only when the backend has the Feature behind them (define_vm,
undefine_vm, modify_vm), as synchronous on backends that answer at once and as
asynchronous (a job) where definitions are slow (vSphere tasks).
"""

from __future__ import annotations

from pywbem import CIMInstance, Uint16

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.host_service import HostPart
from vrmgmt.errors import VrmError

CLASS = "VRM_VirtualSystemManagementCapabilities"
SUFFIX = "VirtualSystemManagementCapabilities"

#: SynchronousMethodsSupported / AsynchronousMethodsSupported values
DEFINE_SYSTEM = 2
DESTROY_SYSTEM = 3
MODIFY_RESOURCE_SETTINGS = 5
MODIFY_SYSTEM_SETTINGS = 6
REMOVE_RESOURCES = 7
ADD_RESOURCES = 10
_BY_FEATURE = {
    Feature.DEFINE: (DEFINE_SYSTEM,),
    Feature.UNDEFINE: (DESTROY_SYSTEM,),
    Feature.MODIFY: (
        MODIFY_RESOURCE_SETTINGS,
        MODIFY_SYSTEM_SETTINGS,
        REMOVE_RESOURCES,
        ADD_RESOURCES,
    ),
}


def methods_supported(env: ProviderEnv, backend_id: str) -> list[int]:
    features = env.inventory.features(backend_id)
    return sorted(v for f, vals in _BY_FEATURE.items() if f in features for v in vals)


def capabilities_instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    inv = env.inventory
    methods = [Uint16(v) for v in methods_supported(env, backend_id)]
    slow = inv.definitions_are_slow(backend_id)
    try:
        types = [inv.host(backend_id).virtual_system_type]
    except VrmError:
        types = None
    types = [t for t in types or [] if t] or None
    P = fastinst.prop
    props = [
        P("InstanceID", PART.instance_id(backend_id), "string"),
        P("ElementName", f"Virtual system management capabilities of {backend_id}", "string"),
        P("VirtualSystemTypesSupported", types, "string", True),
        P("SynchronousMethodsSupported", [] if slow else methods, "uint16", True),
        P("AsynchronousMethodsSupported", methods if slow else [], "uint16", True),
        P("ElementNameEditSupported", False, "boolean"),
        P("RequestedStatesSupported", [], "uint16", True),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


PART = HostPart(CLASS, SUFFIX, capabilities_instance)
path = PART.path
parse = PART.parse
instances = PART.instances
paths = PART.paths
