"""VRM_ParentChildSettingData: the snapshot tree, a snapshot (Antecedent) and each
snapshot taken on top of it (Dependent) (CIM_Dependency, as Hyper-V's
Msvm_ParentChildSettingData; CIM Schema 2.49 has no class for it). A root snapshot has
no parent; the tree is the backend's (libvirt's <parent>, vSphere's childSnapshotList)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.errors import VrmError

CLASS = "VRM_ParentChildSettingData"


class ParentChildSettingData(Association):
    class_name = CLASS
    ends = (End("Antecedent", snap_cls), End("Dependent", snap_cls))

    def pairs(self, ctx):
        ns = ctx.namespace
        for n in snap_cls.all_nodes(self.env):
            if n.parent is not None:
                bid, uuid = n.vm.backend_id, n.vm.uuid
                yield (
                    snap_cls.path(bid, uuid, n.parent, ns),
                    snap_cls.path(bid, uuid, n.snap.id, ns),
                )

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        try:
            sid = snap_cls.parse(path)
        except CIMError:
            return []
        vm = snap_cls.vm_of(env, sid.backend_id, sid.uuid)
        if vm is None:
            return []
        try:
            nodes = snap_cls.nodes_of(env, vm)
        except VrmError:
            return []
        if not any(n.snap.id == sid.snapshot_id for n in nodes):
            return []
        if near.role == "Antecedent":  # the children
            ids = [n.snap.id for n in nodes if n.parent == sid.snapshot_id]
        else:  # the parent
            ids = [n.parent for n in nodes if n.snap.id == sid.snapshot_id and n.parent]
        return [snap_cls.path(vm.backend_id, vm.uuid, i, ns) for i in ids]


provider = ParentChildSettingData
