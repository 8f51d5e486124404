"""VRM_SnapshotSettingData: the snapshots of each VM (Virtual System Snapshot Service
profile; CIM_VirtualSystemSettingData, as CIM_SnapshotOfVirtualSystem and
CIM_LastAppliedSnapshot reference them). docs/snapshots.md describes the model.

InstanceID ``<backend id>:<VM UUID>/snapshot/<snapshot id>`` (the backend's id: libvirt's
snapshot name, vSphere's managed object id). ElementName is the snapshot's name, Notes
its description, CreationTime when it was taken, VirtualSystemIdentifier and
VirtualSystemType those of its VM, EnabledStateWhenApplied what applying it gives (2 the
VM runs, 9 paused, 3 off). The backends' snapshot trees are the source, read per VM
(one backend call each); an enumeration reads every VM of every backend with snapshots.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pywbem import CIMDateTime, CIMInstance, CIMInstanceName, Uint16

from vrmgmt.backends.base import Feature
from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.errors import VrmError
from vrmgmt.model import PowerState, Snapshot, VirtualMachine

CLASS = "VRM_SnapshotSettingData"
_MARK = "/snapshot/"

#: EnabledStateWhenApplied values (EnabledState of the VM after ApplySnapshot)
_APPLIED_STATE = {
    PowerState.RUNNING: 2,
    PowerState.PAUSED: 9,
    PowerState.OFF: 3,
    PowerState.SUSPENDED: 3,
}


@dataclass(frozen=True, slots=True)
class SnapId:
    """A parsed snapshot InstanceID: the VM (backend + UUID) and the snapshot's id."""

    backend_id: str
    uuid: str
    snapshot_id: str

    def text(self) -> str:
        return f"{self.backend_id}:{self.uuid}{_MARK}{self.snapshot_id}"


@dataclass(frozen=True, slots=True)
class Node:
    """One snapshot of a VM with its place in the tree."""

    vm: VirtualMachine
    snap: Snapshot
    parent: str | None  # the parent snapshot's id (None: a root)

    @property
    def id(self) -> SnapId:
        return SnapId(self.vm.backend_id, self.vm.uuid, self.snap.id)


def path(backend_id: str, uuid: str, snapshot_id: str, namespace: str | None) -> CIMInstanceName:
    iid = SnapId(backend_id, uuid, snapshot_id).text()
    return fastinst.path(CLASS, {"InstanceID": iid}, namespace)


def parse_id(text: object) -> SnapId:
    """A snapshot InstanceID (CIM_ERR_NOT_FOUND when it cannot be one)."""
    if not isinstance(text, str):
        raise invalid_parameter(f"InstanceID must be a string, got {text!r}")
    head, sep, sid = text.partition(_MARK)
    backend_id, colon, uuid = head.rpartition(":")
    try:
        uuid = str(uuidlib.UUID(uuid))
    except ValueError:
        colon = ""
    if not sep or not colon or not backend_id or not sid:
        raise not_found(f"no snapshot with InstanceID {text!r}")
    return SnapId(backend_id, uuid, sid)


def parse(p: CIMInstanceName) -> SnapId:
    """The SnapId of a VRM_SnapshotSettingData path."""
    if p.classname.lower() != CLASS.lower():
        raise not_found(f"{p.classname} is not {CLASS}")
    value = cim_paths.keys_of(p).get("instanceid")
    if value is None:
        raise invalid_parameter(f"a {CLASS} path needs the key InstanceID")
    return parse_id(value)


def flatten(vm: VirtualMachine, roots: Iterable[Snapshot]) -> list[Node]:
    """The tree as a list, parents before their children."""
    out: list[Node] = []

    def walk(nodes: Iterable[Snapshot], parent: str | None) -> None:
        for s in nodes:
            out.append(Node(vm, s, parent))
            walk(s.children, s.id)

    walk(roots, None)
    return out


def nodes_of(env: ProviderEnv, vm: VirtualMachine) -> list[Node]:
    """The VM's snapshots ([] when its backend has none or cannot answer now)."""
    inv = env.inventory
    if Feature.SNAPSHOTS not in inv.features(vm.backend_id):
        return []
    try:
        return flatten(vm, inv.list_snapshots(vm.uuid, vm.backend_id))
    except VrmError:
        return []


def vm_of(env: ProviderEnv, backend_id: str, uuid: str) -> VirtualMachine | None:
    """The VM on that backend, or None (unknown, another backend's, unreachable)."""
    inv = env.inventory
    if not inv.has_backend(backend_id):
        return None
    try:
        vm = inv.get_vm(uuid, backend_id)
    except VrmError:
        return None
    return vm if vm.backend_id == backend_id else None


def find(env: ProviderEnv, sid: SnapId) -> Node | None:
    """The snapshot a SnapId names, or None."""
    vm = vm_of(env, sid.backend_id, sid.uuid)
    if vm is None:
        return None
    return next((n for n in nodes_of(env, vm) if n.snap.id == sid.snapshot_id), None)


def instance(node: Node, namespace: str) -> CIMInstance:
    vm, snap = node.vm, node.snap
    P = fastinst.prop
    state = _APPLIED_STATE.get(snap.state, 0)
    props = [
        P("InstanceID", node.id.text(), "string"),
        P("ElementName", snap.name, "string"),
        P("Caption", f"Snapshot {snap.name} of virtual system {vm.name}", "string"),
        P("Description", snap.description or None, "string"),
        P("VirtualSystemIdentifier", vm.uuid, "string"),
        P("VirtualSystemType", vm.virtual_system_type, "string"),
        P("Notes", [snap.description] if snap.description else None, "string", True),
        P("CreationTime", CIMDateTime(snap.created), "datetime"),
        P("EnabledStateWhenApplied", Uint16(state), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(vm.backend_id, vm.uuid, snap.id, namespace))


def all_nodes(env: ProviderEnv) -> Iterator[Node]:
    """Every snapshot of every VM of every reachable backend that has snapshots."""
    inv = env.inventory
    for bid in inv.backend_ids():
        if Feature.SNAPSHOTS not in inv.features(bid):
            continue
        try:
            vms = inv.vms_of(bid)
        except VrmError:
            continue
        for vm in vms:
            if vm.stale_since is None:
                yield from nodes_of(env, vm)


def nodes_for(env: ProviderEnv, ids: Iterable[SnapId]) -> Iterator[Node]:
    """The snapshots the ids name (each VM's tree read once); unknown ones left out."""
    wanted = set(ids)
    for bid, uuid in dict.fromkeys((i.backend_id, i.uuid) for i in wanted):
        vm = vm_of(env, bid, uuid)
        if vm is None:
            continue
        for n in nodes_of(env, vm):
            if n.id in wanted:
                yield n


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        for n in all_nodes(env):
            yield instance(n, namespace)
        return
    ids = [parse(p) for p in paths]
    found = set()
    for n in nodes_for(env, ids):
        found.add(n.id)
        yield instance(n, namespace)
    if len(ids) == 1 and ids[0] not in found:
        raise not_found(f"no snapshot with InstanceID {ids[0].text()!r}")


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for n in all_nodes(env):
        yield path(n.vm.backend_id, n.vm.uuid, n.snap.id, namespace)
