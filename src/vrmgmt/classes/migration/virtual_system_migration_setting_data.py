"""VRM_VirtualSystemMigrationSettingData: each host's default migration settings (DSP1081
§7.4, CIM_VirtualSystemMigrationSettingData; docs/migration.md): what
MigrateVirtualSystemToHost does without a MigrationSettingData, and a template a client
copies into that parameter (embedded, with its own MigrationType and Priority).

One per host, InstanceID ``<backend id>:VirtualSystemMigrationSettingData``:
MigrationType 2 (Live; a VM that is off moves offline), Priority 0 (none).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig

CLASS = "VRM_VirtualSystemMigrationSettingData"
SUFFIX = "VirtualSystemMigrationSettingData"


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": f"{backend_id}:{SUFFIX}"}, namespace)


def parse(p: CIMInstanceName) -> str:
    iid = cim_paths.keys_of(p).get("instanceid")
    backend_id, sep, suffix = str(iid or "").rpartition(":")
    if p.classname.lower() != CLASS.lower() or not sep or suffix != SUFFIX:
        raise not_found(f"no {CLASS} with InstanceID {iid!r}")
    return backend_id


def setting_instance(backend_id: str, namespace: str) -> CIMInstance:
    P = fastinst.prop
    props = [
        P("InstanceID", f"{backend_id}:{SUFFIX}", "string"),
        P("ElementName", f"Default migration settings of {backend_id}", "string"),
        P("MigrationType", Uint16(vsmig.LIVE), "uint16"),
        P("Priority", Uint16(0), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    inv = env.inventory
    wanted = inv.backend_ids() if paths is None else [parse(p) for p in paths]
    if paths is not None and len(wanted) == 1 and not inv.has_backend(wanted[0]):
        raise not_found(f"no {CLASS} for host {wanted[0]!r}")
    for bid in dict.fromkeys(wanted):
        if inv.has_backend(bid):
            yield setting_instance(bid, namespace)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)
