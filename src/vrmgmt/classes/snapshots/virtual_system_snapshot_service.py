"""VRM_VirtualSystemSnapshotService: one per host whose backend has snapshots; creates,
applies and destroys snapshots of its VMs (Virtual System Snapshot Service profile,
CIM_VirtualSystemSnapshotService; docs/snapshots.md).

- CreateSnapshot(AffectedSystem, SnapshotSettings, SnapshotType) -> ResultingSnapshot (a
  snapshot). SnapshotType 2 (full: disks, configuration and, of a running
  VM, its memory) or 3 (disks and configuration only); omitted: 2. SnapshotSettings is an
  optional embedded CIM_SettingData: its ElementName names the snapshot (default
  ``snapshot-<UTC time>``), its Description is kept as the snapshot's notes.
- ApplySnapshot(Snapshot): the VM returns to the snapshot (VirtualMachine state as taken).
- DestroySnapshot(AffectedSnapshot): deletes that snapshot; its children move up to its
  parent.

Where the backend's snapshots are slow (QEMU writes memory and disks, vSphere tasks) each
method returns 4096 and a VRM_ConcreteJob: the new snapshot is then its affected element
(VRM_AffectedJobElement) and in the job's ResultingSnapshot. Bad input answers a CIM error
with a description: a reference that is no VM / snapshot of this host
CIM_ERR_INVALID_PARAMETER (CIM_ERR_NOT_FOUND when it names nothing that exists), a
SnapshotType outside 2/3 CIM_ERR_INVALID_PARAMETER, a type the backend cannot take of the
VM as it is (QEMU: a running VM only with its memory) CIM_ERR_NOT_SUPPORTED naming why.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pywbem
from pywbem import CIMError, CIMInstanceName, Uint32

from vrmgmt.backends.base import Feature
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.classes.host_service import (
    HostService,
    audit,
    failed,
    job_result,
    start_job,
    vm_on_host,
)
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.virtualization import embedded
from vrmgmt.errors import VrmError
from vrmgmt.model import SnapshotKind

CLASS = "VRM_VirtualSystemSnapshotService"
NAME = "VirtualSystemSnapshotService"

#: CreateSnapshot SnapshotType values
FULL = 2
DISK = 3
KIND_OF_TYPE = {FULL: SnapshotKind.FULL, DISK: SnapshotKind.DISK}
TYPE_OF_KIND = {v: k for k, v in KIND_OF_TYPE.items()}
_TYPE_NAME = {FULL: "2 (full snapshot)", DISK: "3 (disk snapshot)"}


SERVICE = HostService(CLASS, NAME, "Virtual system snapshot service", feature=Feature.SNAPSHOTS)
path = SERVICE.path
parse = SERVICE.parse
#: whether the host has snapshots (and so this service)
has_snapshots = SERVICE.on
exists = SERVICE.exists
service_instance = SERVICE.service_instance
instances = SERVICE.instances
paths = SERVICE.paths


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


def _run(
    call: MethodCall,
    bid: str,
    target: str,
    work: Callable[[], dict],
    description: str,
    affected: list[CIMInstanceName],
    empty: dict,
) -> tuple:
    """Run ``work`` (the backend change; returns the output parameters) now, or as a job
    where the backend's snapshots are slow. Backend failures: a CIM error naming them."""
    inv = call.env.inventory
    if call.env.jobs is not None and inv.snapshots_are_slow(bid):
        # the new snapshot in the outputs: found via AffectedJobElement
        rv, outs = start_job(
            call, target, description, affected, lambda progress: job_result(progress, work())
        )
        return rv, {**empty, **outs}
    try:
        outs = work()
    except VrmError as exc:
        audit(call, target, f"failed: {exc}")
        raise failed(call, exc) from None
    audit(call, target, "completed")
    return Uint32(vm_map.RC_COMPLETED), {**empty, **outs}


def _snapshot(call: MethodCall, bid: str, value, where: str) -> snap_cls.Node:
    """The snapshot a reference names, which must be of a VM of the service's host."""
    if not isinstance(value, CIMInstanceName):
        raise embedded.bad(where, f"{call.method} needs a reference to a {snap_cls.CLASS}")
    try:
        sid = snap_cls.parse(value)
    except CIMError:
        raise embedded.bad(where, f"{value} is not a snapshot of vrmgmt") from None
    if sid.backend_id != bid:
        raise embedded.bad(where, f"snapshot {sid.text()!r} is of host {sid.backend_id}, not {bid}")
    node = snap_cls.find(call.env, sid)
    if node is None:
        vm = snap_cls.vm_of(call.env, bid, sid.uuid)
        what = f"VM {vm.name} has no snapshot {sid.snapshot_id!r}" if vm else f"no VM {sid.uuid}"
        raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"{where}: {what} on host {bid}")
    try:
        call.env.inventory.check_fresh(node.vm, call.method)
    except VrmError as exc:
        raise failed(call, exc) from None
    return node


def _settings(call: MethodCall, value) -> tuple[str, str]:
    """(name, description) from the optional SnapshotSettings."""
    name = f"snapshot-{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}"
    if value is None:
        return name, ""
    inst = embedded.to_instance(value, "SnapshotSettings", call.ctx)
    given = embedded._value(inst, "ElementName")
    if given is not None:
        if not isinstance(given, str) or not given.strip():
            raise embedded.bad(
                "SnapshotSettings.ElementName", f"must be a non-empty name, got {given!r}"
            )
        if "/" in given:
            raise embedded.bad("SnapshotSettings.ElementName", f"{given!r} must not contain '/'")
        name = given
    description = embedded._value(inst, "Description")
    if description is not None and not isinstance(description, str):
        raise embedded.bad("SnapshotSettings.Description", "must be a string")
    return name, description or ""


@METHODS.method("CreateSnapshot", role="operator")
def create_snapshot(
    call: MethodCall, affected_system=None, snapshot_settings=None, snapshot_type=None
):
    bid = parse(call.instance_path)
    empty = {"ResultingSnapshot": None, "Job": None}
    if not has_snapshots(call.env, bid):
        return Uint32(vm_map.RC_NOT_SUPPORTED), empty
    stype = FULL if snapshot_type is None else int(snapshot_type)
    if stype not in KIND_OF_TYPE:
        raise embedded.bad("SnapshotType", f"{stype} is not 2 (full snapshot) or 3 (disk snapshot)")
    vm = vm_on_host(call, bid, affected_system, "AffectedSystem")
    kinds = call.env.inventory.snapshot_kinds(vm)
    if KIND_OF_TYPE[stype] not in kinds:
        can = ", ".join(_TYPE_NAME[TYPE_OF_KIND[k]] for k in SnapshotKind if k in kinds)
        audit(call, f"{bid}: VM {vm.name}", f"not supported: SnapshotType {stype}")
        raise CIMError(
            pywbem.CIM_ERR_NOT_SUPPORTED,
            f"SnapshotType {_TYPE_NAME[stype]}: host {bid} cannot take it of VM {vm.name} "
            f"while it is {vm.state.value} (it can take: {can or 'none'})",
        )
    name, description = _settings(call, snapshot_settings)
    ns = call.ctx.namespace
    target = f"{bid}: VM {vm.name} ({vm.uuid}) snapshot {name}"

    def work() -> dict:
        sid = call.env.inventory.create_snapshot(vm.uuid, name, description, memory=stype == FULL)
        return {"ResultingSnapshot": snap_cls.path(bid, vm.uuid, sid, ns)}

    return _run(
        call,
        bid,
        target,
        work,
        f"snapshot VM {vm.name} as {name}",
        [vm_cls.path(vm.uuid, ns)],
        empty,
    )


@METHODS.method("ApplySnapshot", role="operator")
def apply_snapshot(call: MethodCall, snapshot=None):
    bid = parse(call.instance_path)
    empty = {"Job": None}
    if not has_snapshots(call.env, bid):
        return Uint32(vm_map.RC_NOT_SUPPORTED), empty
    node = _snapshot(call, bid, snapshot, "Snapshot")
    vm, ns = node.vm, call.ctx.namespace
    target = f"{bid}: VM {vm.name} ({vm.uuid}) snapshot {node.snap.name}"

    def work() -> dict:
        call.env.inventory.revert_snapshot(vm.uuid, node.snap.id)
        return {}

    return _run(
        call,
        bid,
        target,
        work,
        f"apply snapshot {node.snap.name} to VM {vm.name}",
        [vm_cls.path(vm.uuid, ns)],
        empty,
    )


@METHODS.method("DestroySnapshot", role="operator")
def destroy_snapshot(call: MethodCall, affected_snapshot=None):
    bid = parse(call.instance_path)
    empty = {"Job": None}
    if not has_snapshots(call.env, bid):
        return Uint32(vm_map.RC_NOT_SUPPORTED), empty
    node = _snapshot(call, bid, affected_snapshot, "AffectedSnapshot")
    vm, ns = node.vm, call.ctx.namespace
    target = f"{bid}: VM {vm.name} ({vm.uuid}) snapshot {node.snap.name}"

    def work() -> dict:
        call.env.inventory.delete_snapshot(vm.uuid, node.snap.id)
        return {}

    return _run(
        call,
        bid,
        target,
        work,
        f"destroy snapshot {node.snap.name} of VM {vm.name}",
        [snap_cls.path(bid, vm.uuid, node.snap.id, ns)],
        empty,
    )
