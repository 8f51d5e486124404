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

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.migration import virtual_system_migration_service as vsmig

CLASS = "VRM_VirtualSystemMigrationCapabilities"
SUFFIX = "VirtualSystemMigrationCapabilities"

MIGRATE_METHODS = (2, 3)  # MigrateVirtualSystemToHost / ToSystem
CHECK_METHODS = (4, 5)  # CheckVirtualSystemIsMigratableToHost / ToSystem
DOMAIN_NAME = 2


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": f"{backend_id}:{SUFFIX}"}, namespace)


def parse(p: CIMInstanceName) -> str:
    """The backend id a capabilities path names (CIM_ERR_NOT_FOUND for others)."""
    iid = cim_paths.keys_of(p).get("instanceid")
    backend_id, sep, suffix = str(iid or "").rpartition(":")
    if p.classname.lower() != CLASS.lower() or not sep or suffix != SUFFIX:
        raise not_found(f"no {CLASS} with InstanceID {iid!r}")
    return backend_id


def capabilities_instance(env: ProviderEnv, backend_id: str, namespace: str) -> CIMInstance:
    can = vsmig.can_migrate(env, backend_id)
    P = fastinst.prop
    props = [
        P("InstanceID", f"{backend_id}:{SUFFIX}", "string"),
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
            yield capabilities_instance(env, bid, namespace)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)
