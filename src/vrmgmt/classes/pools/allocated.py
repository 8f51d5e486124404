"""What VRM_ElementAllocatedFromPool and VRM_ResourceAllocationFromPool share (DSP1041
§7.3-7.4): the (VM, kind, device key) allocations a pool gives, and the pool of one
VM resource named by its SettingId (vrmgmt.classes.virtualization.settings). Nothing
here names a CIM class."""

from __future__ import annotations

from collections.abc import Iterator

from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools.pooling import PoolRef
from vrmgmt.classes.virtualization.settings import SettingId
from vrmgmt.errors import VrmError
from vrmgmt.model import VirtualMachine


def pairs(
    env: ProviderEnv, ctx: ProviderContext
) -> Iterator[tuple[PoolRef, VirtualMachine, str, str]]:
    """(pool, VM, kind, device key) of every allocation of every host."""
    for hp in pooling.all_host_pools(env, ctx):
        for vm in hp.vms:
            for pool, kind, key in hp.allocations(vm):
                yield pool.ref, vm, kind, key


def of_pool(
    env: ProviderEnv, ctx: ProviderContext, ref: PoolRef
) -> Iterator[tuple[VirtualMachine, str, str]]:
    """(VM, kind, device key) of what the pool gives (nothing for an unknown pool)."""
    if not env.inventory.has_backend(ref.backend_id):
        return
    try:
        hp = pooling.host_pools(env, ref.backend_id, ctx)
    except VrmError:
        return
    if hp.by_ref(ref) is None:
        return
    for vm in hp.vms:
        for pool, kind, key in hp.allocations(vm):
            if pool.ref == ref:
                yield vm, kind, key


def pool_of(env: ProviderEnv, ctx: ProviderContext, sid: SettingId) -> PoolRef | None:
    """The pool a VM resource (processor, memory, disk, NIC; by its settings id; a
    processor device's index is ignored) is allocated from, if any."""
    if not env.inventory.has_backend(sid.backend_id):
        return None
    try:
        hp = pooling.host_pools(env, sid.backend_id, ctx)
    except VrmError:
        return None
    vm = next((v for v in hp.vms if v.uuid == sid.uuid), None)
    if vm is None:
        return None
    for pool, kind, key in hp.allocations(vm):
        if kind == sid.kind and (kind in ("proc", "mem") or key == sid.key):
            return pool.ref
    return None
