"""VRM_ResourceAllocationFromPool: each resource allocation setting of a VM is allocated
from a pool of its host (DSP1041 §7.4, DSP1044/1045/1047/1050 §7.2;
CIM_ResourceAllocationFromPool): the processor and memory settings from the processor
and memory pools, a disk's storage setting from the storage pool holding its image, a
NIC's Ethernet port setting from its network."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.pools import allocated
from vrmgmt.classes.pools import resource_pool as pool_cls
from vrmgmt.classes.virtualization import rasds

CLASS = "VRM_ResourceAllocationFromPool"
_MODULES = {m.KIND: m for m in rasds.MODULES}


def _rasd(backend_id: str, uuid: str, kind: str, key: str, ns: str):
    module = _MODULES[kind]
    return module.path(backend_id, uuid, key, ns) if key else module.path(backend_id, uuid, ns)


class ResourceAllocationFromPool(Association):
    class_name = CLASS
    ends = (End("Antecedent", pool_cls), End("Dependent", "CIM_ResourceAllocationSettingData"))

    def pairs(self, ctx):
        ns = ctx.namespace
        for ref, vm, kind, key in allocated.pairs(self.env, ctx):
            yield pool_cls.path(ref, ns), _rasd(vm.backend_id, vm.uuid, kind, key, ns)

    def far(self, ctx, near, path):
        ns = ctx.namespace
        try:
            if near.role == "Antecedent":
                ref = pool_cls.parse(path)
                return [
                    _rasd(vm.backend_id, vm.uuid, kind, key, ns)
                    for vm, kind, key in allocated.of_pool(self.env, ctx, ref)
                ]
            module = rasds.module_of(path)
            if module is None:
                return []
            ref = allocated.pool_of(self.env, ctx, module.parse(path))
            return [pool_cls.path(ref, ns)] if ref is not None else []
        except CIMError:  # malformed, foreign or a template setting: no pool
            return []


provider = ResourceAllocationFromPool
