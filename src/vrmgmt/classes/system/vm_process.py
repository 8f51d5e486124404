"""VRM_VMProcess: a virtual machine depends on the QEMU / LXC process that runs it
(CIM_Dependency, CIM Schema 2.49; Antecedent the process, Dependent the VM), for running
VMs of local libvirt hosts, from libvirt's pid files (/run/libvirt/qemu/<name>.pid,
/run/libvirt/lxc/<name>.pid). So Associators from a VM reach its process."""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.system import computer_system as vm
from vrmgmt.classes.system import unix_process as proc
from vrmgmt.errors import VrmError

CLASS = "VRM_VMProcess"


class VMProcess(Association):
    class_name = CLASS
    ends = (End("Antecedent", proc), End("Dependent", vm))

    def _pids(self, bid: str) -> dict[str, int]:
        try:
            return self.env.inventory.vm_process_ids(bid)
        except VrmError:
            return {}

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        if near.role == "Dependent":
            try:
                uuid = vm.parse(path)
                bid = inv.backend_of(uuid)
            except VrmError:
                return []
            pid = self._pids(bid).get(uuid)
            return [] if pid is None else [proc.path(bid, pid, ns)]
        bid, pid = proc.parse(path)
        if not inv.has_backend(bid):
            return []
        return [vm.path(u, ns) for u, p in self._pids(bid).items() if p == pid]

    def pairs(self, ctx):
        inv, ns = self.env.inventory, ctx.namespace
        for bid in inv.backend_ids():
            for uuid, pid in self._pids(bid).items():
                yield proc.path(bid, pid, ns), vm.path(uuid, ns)


provider = VMProcess
