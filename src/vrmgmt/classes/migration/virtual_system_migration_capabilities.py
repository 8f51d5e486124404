"""VRM_VirtualSystemMigrationCapabilities: what each host's migration service can do
(DSP1081 §7.3, CIM_VirtualSystemMigrationCapabilities; docs/migration.md), reached from
the service through VRM_ElementCapabilities.

One per host, InstanceID ``<backend id>:VirtualSystemMigrationCapabilities``.
AsynchronousMethodsSupported: 2 MigrateVirtualSystemToHost and 3 ...ToSystem where the
backend can migrate (they always return a job), nothing where it cannot (libvirt's test
driver); SynchronousMethodsSupported: 4 and 5, the two checks, everywhere (they answer
at once). DestinationHostFormatsSupported: 2, a name (a host's Name, the backend id, or
an ESXi host name of a vCenter).
"""

from __future__ import annotations

from pywbem import CIMInstance, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.host_service import HostPart
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig

CLASS = "VRM_VirtualSystemMigrationCapabilities"
SUFFIX = "VirtualSystemMigrationCapabilities"

MIGRATE_METHODS = (2, 3)  # MigrateVirtualSystemToHost / ToSystem
CHECK_METHODS = (4, 5)  # CheckVirtualSystemIsMigratableToHost / ToSystem
DOMAIN_NAME = 2


def capabilities_instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    can = vsmig.can_migrate(env, backend_id)
    P = fastinst.prop
    props = [
        P("InstanceID", PART.instance_id(backend_id), "string"),
        P("ElementName", f"Virtual system migration capabilities of {backend_id}", "string"),
        P("SynchronousMethodsSupported", [Uint16(m) for m in CHECK_METHODS], "uint16", True),
        P(
            "AsynchronousMethodsSupported",
            [Uint16(m) for m in MIGRATE_METHODS] if can else [],
            "uint16",
            True,
        ),
        P("DestinationHostFormatsSupported", [Uint16(DOMAIN_NAME)], "uint16", True),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


PART = HostPart(CLASS, SUFFIX, capabilities_instance)
path = PART.path
parse = PART.parse
instances = PART.instances
paths = PART.paths
