"""VRM_VirtualSystemSnapshotCapabilities: which snapshots each VM allows as it is now
(CIM_VirtualSystemSnapshotCapabilities; docs/snapshots.md).

One per VM of a backend with snapshots, InstanceID ``<backend id>:<VM UUID>/snapshots``;
SnapshotTypesEnabled lists the CreateSnapshot SnapshotType values its backend takes of it
in its current state (QEMU: a running or paused VM 2 only, a VM that is off 2 and 3;
vSphere and the test driver: 2 and 3). GuestOSNotificationEnabled is false: no backend
quiesces the guest.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.classes.snapshots import virtual_system_snapshot_service as vsss
from vrmgmt.errors import VrmError
from vrmgmt.model import SnapshotKind, VirtualMachine

CLASS = "VRM_VirtualSystemSnapshotCapabilities"
SUFFIX = "/snapshots"


def path(backend_id: str, uuid: str, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": f"{backend_id}:{uuid}{SUFFIX}"}, namespace)


def parse(p: CIMInstanceName) -> tuple[str, str]:
    """(backend id, VM UUID) of a capabilities path (CIM_ERR_NOT_FOUND for others)."""
    iid = str(cim_paths.keys_of(p).get("instanceid") or "")
    head = iid[: -len(SUFFIX)] if iid.endswith(SUFFIX) else ""
    backend_id, sep, uuid = head.rpartition(":")
    try:
        uuid = str(uuidlib.UUID(uuid))
    except ValueError:
        sep = ""
    if p.classname.lower() != CLASS.lower() or not sep or not backend_id:
        raise not_found(f"no {CLASS} with InstanceID {iid!r}")
    return backend_id, uuid


def capabilities_instance(env: ProviderEnv, vm: VirtualMachine, namespace: str) -> CIMInstance:
    kinds = env.inventory.snapshot_kinds(vm)
    types = [Uint16(vsss.TYPE_OF_KIND[k]) for k in SnapshotKind if k in kinds]
    P = fastinst.prop
    props = [
        P("InstanceID", f"{vm.backend_id}:{vm.uuid}{SUFFIX}", "string"),
        P("ElementName", f"Snapshot capabilities of virtual system {vm.name}", "string"),
        P("SnapshotTypesEnabled", types, "uint16", True),
        P("GuestOSNotificationEnabled", False, "boolean"),
    ]
    return fastinst.instance(CLASS, props, path(vm.backend_id, vm.uuid, namespace))


def _vms(env: ProviderEnv) -> Iterator[VirtualMachine]:
    inv = env.inventory
    for bid in inv.backend_ids():
        if Feature.SNAPSHOTS not in inv.features(bid):
            continue
        try:
            yield from inv.vms_of(bid)
        except VrmError:
            continue


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        for vm in _vms(env):
            yield capabilities_instance(env, vm, namespace)
        return
    wanted = list(dict.fromkeys(parse(p) for p in paths))
    found = 0
    for bid, uuid in wanted:
        vm = snap_cls.vm_of(env, bid, uuid) if vsss.has_snapshots(env, bid) else None
        if vm is not None:
            found += 1
            yield capabilities_instance(env, vm, namespace)
    if len(wanted) == 1 and not found:
        raise not_found(f"no {CLASS} for VM {wanted[0][1]} on host {wanted[0][0]!r}")


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for vm in _vms(env):
        yield path(vm.backend_id, vm.uuid, namespace)
