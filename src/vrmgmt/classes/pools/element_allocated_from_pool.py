"""VRM_ElementAllocatedFromPool: each virtual device of a VM is allocated from a pool of
its host (DSP1041 §7.3, DSP1044/1045/1047/1050 §7.2; CIM_ElementAllocatedFromPool):
VRM_Processor and VRM_Memory from the processor and memory pools, a VRM_LogicalDisk
from the storage pool holding its image (not CD/DVD drives), a VRM_NetworkPort from the
network it is connected to."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.pools import allocated, pooling
from vrmgmt.classes.pools import resource_pool as pool_cls
from vrmgmt.classes.virtualization import device_classes
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.errors import VrmError
from vrmgmt.model import VirtualMachine

CLASS = "VRM_ElementAllocatedFromPool"
_MODULES = {m.KIND: m for m in device_classes.MODULES}


def _devices(vm: VirtualMachine, kind: str, key: str, ns: str):
    module = _MODULES[kind]
    if kind == "proc":
        return [module.path(s, ns) for s in module.sids(vm)]
    return [module.path(SettingId(vm.backend_id, vm.uuid, kind, key), ns)]


class ElementAllocatedFromPool(Association):
    class_name = CLASS
    ends = (End("Antecedent", pool_cls), End("Dependent", "CIM_LogicalElement"))

    def pairs(self, ctx):
        ns = ctx.namespace
        for ref, vm, kind, key in allocated.pairs(self.env, ctx):
            here = pool_cls.path(ref, ns)
            for p in _devices(vm, kind, key, ns):
                yield here, p

    def far(self, ctx, near, path):
        ns = ctx.namespace
        try:
            if near.role == "Antecedent":
                ref = pool_cls.parse(path)
                out = []
                for vm, kind, key in allocated.of_pool(self.env, ctx, ref):
                    out += _devices(vm, kind, key, ns)
                return out
            module = device_classes.module_of(path)
            if module is None:
                return []
            sid = module.parse(path)
            if not self._exists(ctx, module, sid):
                return []
            ref = allocated.pool_of(self.env, ctx, sid)
            return [pool_cls.path(ref, ns)] if ref is not None else []
        except CIMError:  # malformed or foreign: nothing there
            return []

    def _exists(self, ctx, module, sid: SettingId) -> bool:
        """A processor device's index must be one of its VM's vCPUs."""
        if sid.kind != "proc" or not self.env.inventory.has_backend(sid.backend_id):
            return sid.kind != "proc"
        try:
            hp = pooling.host_pools(self.env, sid.backend_id, ctx)
        except VrmError:  # unreachable: nothing there
            return False
        vm = next((v for v in hp.vms if v.uuid == sid.uuid), None)
        return vm is not None and sid in module.sids(vm)


provider = ElementAllocatedFromPool
