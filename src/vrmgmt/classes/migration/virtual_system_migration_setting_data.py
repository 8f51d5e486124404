"""VRM_VirtualSystemMigrationSettingData: each host's default migration settings (DSP1081
§7.4, CIM_VirtualSystemMigrationSettingData; docs/migration.md): what
MigrateVirtualSystemToHost does without a MigrationSettingData, and a template a client
copies into that parameter (embedded, with its own MigrationType and Priority).

One per host, InstanceID ``<backend id>:VirtualSystemMigrationSettingData``:
MigrationType 2 (Live; a VM that is off moves offline), Priority 0 (none).
"""

from __future__ import annotations

from pywbem import CIMInstance, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.classes.host_service import HostPart
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig

CLASS = "VRM_VirtualSystemMigrationSettingData"
SUFFIX = "VirtualSystemMigrationSettingData"


def setting_instance(backend_id: str, namespace: str) -> CIMInstance:
    P = fastinst.prop
    props = [
        P("InstanceID", PART.instance_id(backend_id), "string"),
        P("ElementName", f"Default migration settings of {backend_id}", "string"),
        P("MigrationType", Uint16(vsmig.LIVE), "uint16"),
        P("Priority", Uint16(0), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


PART = HostPart(
    CLASS, SUFFIX, lambda env, backend_id, namespace: setting_instance(backend_id, namespace)
)
path = PART.path
parse = PART.parse
instances = PART.instances
paths = PART.paths
