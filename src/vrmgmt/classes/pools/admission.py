"""What DefineSystem may take from a host's pools (DSP1041 §8 "allocation from a pool",
DSP1043 §7.4: the maximums the pool's template settings advertise): a VM's vCPUs at
most the host's logical processors, its memory at most the host's memory (its maximum
memory, Limit, may be more: libvirt allows that ceiling), and the disks it claims from
a storage pool (Capacity, by the pool its image is in or its PoolID names) at most that
pool's free space, all disks of one call together.
A setting's PoolID must name a pool of that host and resource type.

A refusal is CIM_ERR_INVALID_PARAMETER (4) naming the RASD, the property and the pool,
raised before anything is defined (vrmgmt.classes.virtualization.
virtual_system_management_service calls ``check_define`` in DefineSystem and
``check_add`` in AddResourceSettings). A host that cannot be read
now is not checked here (the backend answers for itself).
"""

from __future__ import annotations

from collections.abc import Sequence

from pywbem import CIMError

from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools.pooling import HostPools, Pool
from vrmgmt.errors import VrmError

_KIND_OF_RESOURCE = {"proc": "proc", "mem": "mem", "disk": "disk", "nic": "net"}


def _bad(where: str, reason: str) -> CIMError:
    from vrmgmt.classes.virtualization import embedded  # its error shape

    return embedded.bad(where, reason)


def _named_pool(hp: HostPools, r, kind: str) -> Pool | None:
    """The pool the RASD's PoolID names (None: no PoolID); refused when it names no
    pool of this host and kind."""
    value = r.inst.properties.get("PoolID")
    pool_id = value.value if value is not None else None
    if pool_id in (None, ""):
        return None
    where = f"{r.where}.PoolID"
    try:
        ref = pooling.parse_id(str(pool_id))
    except CIMError:
        raise _bad(where, f"{pool_id!r} names no resource pool of host {hp.backend_id}") from None
    pool = hp.by_ref(ref)
    if pool is None or ref.backend_id != hp.backend_id:
        raise _bad(where, f"{pool_id!r} names no resource pool of host {hp.backend_id}")
    if ref.kind != kind:
        raise _bad(where, f"{ref.describe()} is not a {pooling.WHAT[kind]} pool")
    return pool


def check_define(
    env: ProviderEnv,
    backend_id: str,
    res: Sequence,
    spec,
    ctx: ProviderContext | None = None,
) -> None:
    """Refuse (CIM_ERR_INVALID_PARAMETER naming the pool) a definition that exceeds a
    pool of the host. ``res``: the embedded.Resource list; ``spec``: the VMSpec."""
    try:
        hp = pooling.host_pools(env, backend_id, ctx, with_vms=False)
    except VrmError:
        return
    for r in res:
        kind = _KIND_OF_RESOURCE.get(r.kind)
        if kind is not None:
            _named_pool(hp, r, kind)
    procs = [r for r in res if r.kind == "proc"]
    mems = [r for r in res if r.kind == "mem"]
    proc_pool = next(iter(hp.of_kind("proc")), None)
    if proc_pool is not None and proc_pool.capacity and spec.vcpus > proc_pool.capacity:
        where = f"{procs[0].where}.VirtualQuantity" if procs else "ReferenceConfiguration"
        raise _bad(
            where,
            f"{spec.vcpus} virtual processors exceed {proc_pool.ref.describe()}: "
            f"it has {proc_pool.capacity}",
        )
    mem_pool = next(iter(hp.of_kind("mem")), None)
    if mem_pool is not None and mem_pool.capacity and spec.memory_mib > mem_pool.capacity:
        # (the maximum memory, Limit, may be more: a balloon's ceiling, as libvirt allows)
        where = f"{mems[0].where}.VirtualQuantity" if mems else "ReferenceConfiguration"
        raise _bad(
            where,
            f"{spec.memory_mib} MiB of memory exceed {mem_pool.ref.describe()}: it has "
            f"{mem_pool.capacity} MiB",
        )
    _check_disks(hp, res)


def check_add(
    env: ProviderEnv, backend_id: str, res: Sequence, ctx: ProviderContext | None = None
) -> None:
    """AddResourceSettings: the PoolIDs, and the new disks within their storage pools'
    free space (as for DefineSystem)."""
    try:
        hp = pooling.host_pools(env, backend_id, ctx, with_vms=False)
    except VrmError:
        return
    for r in res:
        kind = _KIND_OF_RESOURCE.get(r.kind)
        if kind is not None:
            _named_pool(hp, r, kind)
    _check_disks(hp, res)


def _check_disks(hp: HostPools, res: Sequence) -> None:
    claimed: dict[pooling.PoolRef, int] = {}
    for r in res:
        disk = r.disk
        if disk is None or disk.kind != "disk" or not disk.capacity_bytes:
            continue
        pool = _named_pool(hp, r, "disk") or pooling.disk_pool(hp.of_kind("disk"), disk.source)
        if pool is None or pool.free is None:
            continue
        claimed[pool.ref] = claimed.get(pool.ref, 0) + disk.capacity_bytes
        if claimed[pool.ref] > pool.free:
            others = claimed[pool.ref] - disk.capacity_bytes
            also = f" (with {others} bytes of other disks of this call)" if others else ""
            raise _bad(
                f"{r.where}.Capacity",
                f"{disk.capacity_bytes} bytes{also} exceed the free space of "
                f"{pool.ref.describe()}: {pool.free} bytes free",
            )
