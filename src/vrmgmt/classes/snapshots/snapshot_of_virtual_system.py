"""VRM_SnapshotOfVirtualSystem: a VM (Antecedent) and each snapshot taken of it
(Dependent) (CIM_SnapshotOfVirtualSystem; docs/snapshots.md)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.errors import VrmError

CLASS = "VRM_SnapshotOfVirtualSystem"


class SnapshotOfVirtualSystem(Association):
    class_name = CLASS
    ends = (End("Antecedent", vm_cls), End("Dependent", snap_cls))

    def pairs(self, ctx):
        ns = ctx.namespace
        for n in snap_cls.all_nodes(self.env):
            yield (
                vm_cls.path(n.vm.uuid, ns),
                snap_cls.path(n.vm.backend_id, n.vm.uuid, n.snap.id, ns),
            )

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        try:
            if near.role == "Antecedent":
                uuid = vm_cls.parse(path)
                vm = snap_cls.vm_of(env, env.inventory.backend_of(uuid), uuid)
                if vm is None:
                    return []
                return [
                    snap_cls.path(vm.backend_id, vm.uuid, n.snap.id, ns)
                    for n in snap_cls.nodes_of(env, vm)
                ]
            node = snap_cls.find(env, snap_cls.parse(path))
        except (CIMError, VrmError):  # malformed, unknown or unreachable
            return []
        return [] if node is None else [vm_cls.path(node.vm.uuid, ns)]


provider = SnapshotOfVirtualSystem
