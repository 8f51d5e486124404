"""VRM_VirtualSystemSnapshotServiceCapabilities: what each host's snapshot service
supports (CIM_VirtualSystemSnapshotServiceCapabilities; docs/snapshots.md).

One per host with snapshots, InstanceID ``<backend id>:VirtualSystemSnapshotServiceCapabilities``.
SnapshotTypesSupported 2 (full) and 3 (disk): every backend with snapshots takes both of
some VM state (QEMU takes disk snapshots of VMs that are off only; the per-VM
VRM_VirtualSystemSnapshotCapabilities say what works now). The three methods are
synchronous where the backend answers at once (libvirt's test driver), asynchronous (a
job) where snapshots are slow (QEMU, vSphere).
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss

CLASS = "VRM_VirtualSystemSnapshotServiceCapabilities"
SUFFIX = "VirtualSystemSnapshotServiceCapabilities"

#: SynchronousMethodsSupported / AynchronousMethodsSupported values
SNAPSHOT_METHODS = (2, 3, 4)  # CreateSnapshot, DestroySnapshot, ApplySnapshot


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
    slow = env.inventory.snapshots_are_slow(backend_id)
    methods = [Uint16(m) for m in SNAPSHOT_METHODS]
    P = fastinst.prop
    props = [
        P("InstanceID", f"{backend_id}:{SUFFIX}", "string"),
        P("ElementName", f"Virtual system snapshot capabilities of {backend_id}", "string"),
        P("SynchronousMethodsSupported", [] if slow else methods, "uint16", True),
        P("AynchronousMethodsSupported", methods if slow else [], "uint16", True),
        P(
            "SnapshotTypesSupported",
            [Uint16(vsss.FULL), Uint16(vsss.DISK)],
            "uint16",
            True,
        ),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    wanted = env.inventory.backend_ids() if paths is None else [parse(p) for p in paths]
    if paths is not None and len(wanted) == 1 and not vsss.has_snapshots(env, wanted[0]):
        raise not_found(f"no {CLASS} for host {wanted[0]!r}")
    for bid in dict.fromkeys(wanted):
        if vsss.has_snapshots(env, bid):
            yield capabilities_instance(env, bid, namespace)


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        if vsss.has_snapshots(env, bid):
            yield path(bid, namespace)
