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

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pywbem
from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint32

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.jobs import concrete_job
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.classes.virtualization import embedded
from vrmgmt.errors import NotFound, VrmError
from vrmgmt.model import SnapshotKind, VirtualMachine

CLASS = "VRM_VirtualSystemSnapshotService"
NAME = "VirtualSystemSnapshotService"

#: CreateSnapshot SnapshotType values
FULL = 2
DISK = 3
KIND_OF_TYPE = {FULL: SnapshotKind.FULL, DISK: SnapshotKind.DISK}
TYPE_OF_KIND = {v: k for k, v in KIND_OF_TYPE.items()}
_TYPE_NAME = {FULL: "2 (full snapshot)", DISK: "3 (disk snapshot)"}


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    keys = {
        "SystemCreationClassName": host_cls.CLASS,
        "SystemName": backend_id,
        "CreationClassName": CLASS,
        "Name": NAME,
    }
    return fastinst.path(CLASS, keys, namespace)


def parse(p: CIMInstanceName) -> str:
    """The backend id of a service path (CIM_ERR_NOT_FOUND for any other path)."""
    name = cim_paths.string_key(p, CLASS, "Name")
    system = cim_paths.string_key(p, CLASS, "SystemName")
    scn = cim_paths.keys_of(p).get("systemcreationclassname")
    if name != NAME or (scn is not None and str(scn).lower() != host_cls.CLASS.lower()):
        raise not_found(f"no {CLASS} named {name!r} on {system!r}")
    return system


def has_snapshots(env: ProviderEnv, backend_id: str) -> bool:
    inv = env.inventory
    return inv.has_backend(backend_id) and Feature.SNAPSHOTS in inv.features(backend_id)


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether the path names the service of a host with snapshots."""
    try:
        return has_snapshots(env, parse(p))
    except CIMError:
        return False


def service_instance(backend_id: str, namespace: str, up: bool) -> CIMInstance:
    P = fastinst.prop
    props = [
        P("SystemCreationClassName", host_cls.CLASS, "string"),
        P("SystemName", backend_id, "string"),
        P("CreationClassName", CLASS, "string"),
        P("Name", NAME, "string"),
        P("ElementName", f"Virtual system snapshot service of {backend_id}", "string"),
        P("Caption", "Virtual system snapshot service", "string"),
        P("EnabledState", Uint16(vm_map.ES_ENABLED if up else vm_map.ES_UNKNOWN), "uint16"),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
        P("EnabledDefault", Uint16(vm_map.ES_ENABLED), "uint16"),
        P("Started", bool(up), "boolean"),
        P("HealthState", Uint16(5 if up else 0), "uint16"),
        P("OperationalStatus", [Uint16(2 if up else 13)], "uint16", True),
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
    if paths is None:
        wanted = inv.backend_ids()
    else:
        wanted = list(dict.fromkeys(parse(p) for p in paths))
        if len(wanted) == 1 and not has_snapshots(env, wanted[0]):
            raise not_found(f"no {CLASS} on host {wanted[0]!r}")
    for bid in wanted:
        if has_snapshots(env, bid):
            yield service_instance(bid, namespace, not inv.is_down(bid))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        if has_snapshots(env, bid):
            yield path(bid, namespace)


# -- methods -----------------------------------------------------------------------------
METHODS = MethodTable()


def _audit(call: MethodCall, target: str, outcome: str) -> None:
    call.env.audit(user=call.ctx.user, action=call.method, target=target, outcome=outcome)


def _failed(call: MethodCall, exc: VrmError) -> CIMError:
    err = to_cim_error(exc)
    return CIMError(err.status_code, f"{call.method} failed: {err.status_description}")


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

        def run(progress):
            progress.update(0, description)
            try:
                outs = work()
            except VrmError as exc:
                _audit(call, target, f"job failed: {exc}")
                raise
            result = {"ReturnValue": vm_map.RC_COMPLETED}
            for k, v in outs.items():
                if isinstance(v, CIMInstanceName):
                    q = v.copy()
                    q.host = None
                    progress.add_affected(q.to_wbem_uri())
                    result[k] = str(v)
            _audit(call, target, "job completed")
            return result

        rv, outs = concrete_job.start(
            call, run, name=call.method, description=description, affected=affected
        )
        _audit(call, target, f"job started: {outs['Job']['InstanceID']}")
        return rv, {**empty, **outs}
    try:
        outs = work()
    except VrmError as exc:
        _audit(call, target, f"failed: {exc}")
        raise _failed(call, exc) from None
    _audit(call, target, "completed")
    return Uint32(vm_map.RC_COMPLETED), {**empty, **outs}


def _vm(call: MethodCall, bid: str, value, where: str) -> VirtualMachine:
    """The VM a reference names, which must be on the service's host."""
    if not isinstance(value, CIMInstanceName):
        raise embedded.bad(where, f"{call.method} needs a reference to a {vm_cls.CLASS}")
    try:
        uuid = vm_cls.parse(value)
    except CIMError:
        raise embedded.bad(where, f"{value} is not a VM of vrmgmt") from None
    inv = call.env.inventory
    try:
        owner = inv.backend_of(uuid)
    except NotFound:
        raise CIMError(pywbem.CIM_ERR_NOT_FOUND, f"{where}: no VM {uuid}") from None
    except VrmError as exc:
        raise _failed(call, exc) from None
    if owner != bid:
        raise embedded.bad(where, f"VM {uuid} is on host {owner}, not on {bid}")
    try:
        vm = inv.get_vm(uuid, bid)
        inv.check_fresh(vm, call.method)
    except VrmError as exc:
        raise _failed(call, exc) from None
    return vm


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
        raise _failed(call, exc) from None
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
    vm = _vm(call, bid, affected_system, "AffectedSystem")
    kinds = call.env.inventory.snapshot_kinds(vm)
    if KIND_OF_TYPE[stype] not in kinds:
        can = ", ".join(_TYPE_NAME[TYPE_OF_KIND[k]] for k in SnapshotKind if k in kinds)
        _audit(call, f"{bid}: VM {vm.name}", f"not supported: SnapshotType {stype}")
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
