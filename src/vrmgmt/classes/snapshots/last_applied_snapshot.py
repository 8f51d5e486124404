"""VRM_LastAppliedSnapshot: the snapshot (Antecedent) a VM (Dependent) runs on top of
(CIM_LastAppliedSnapshot): the backend's current snapshot, which is the one last applied
or, when none was applied since, the one last taken (libvirt's current snapshot,
vSphere's currentSnapshot). At most one per VM; none when the VM has no snapshots or
its current one was destroyed."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.snapshots import snapshot_setting_data as snap_cls
from vrmgmt.classes.system import computer_system as vm_cls
from vrmgmt.errors import VrmError

CLASS = "VRM_LastAppliedSnapshot"


class LastAppliedSnapshot(Association):
    class_name = CLASS
    ends = (End("Antecedent", snap_cls), End("Dependent", vm_cls))

    def pairs(self, ctx):
        ns = ctx.namespace
        for n in snap_cls.all_nodes(self.env):
            if n.snap.current:
                yield (
                    snap_cls.path(n.vm.backend_id, n.vm.uuid, n.snap.id, ns),
                    vm_cls.path(n.vm.uuid, ns),
                )

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        try:
            if near.role == "Dependent":
                uuid = vm_cls.parse(path)
                vm = snap_cls.vm_of(env, env.inventory.backend_of(uuid), uuid)
                if vm is None:
                    return []
                return [
                    snap_cls.path(vm.backend_id, vm.uuid, n.snap.id, ns)
                    for n in snap_cls.nodes_of(env, vm)
                    if n.snap.current
                ]
            node = snap_cls.find(env, snap_cls.parse(path))
        except (CIMError, VrmError):
            return []
        if node is None or not node.snap.current:
            return []
        return [vm_cls.path(node.vm.uuid, ns)]


provider = LastAppliedSnapshot
