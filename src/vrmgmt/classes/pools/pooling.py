"""What the pool classes share (DSP1041 §7.1-7.3, DSP1043 §7, DSP1044/1045/1047/1050
§7): the pools of a host, their identity, which pool each virtual device and each
resource allocation setting of a VM is allocated from, and the bounds of what can be
allocated from a pool (the allocation capabilities, and what DefineSystem accepts).

Each host has one primordial pool per resource type, as libvirt-cim shows them:

- ``proc`` (ResourceType 3, AllocationUnits "count"): Capacity = the host's logical
  processors, Reserved = the vCPUs of its running VMs;
- ``mem`` (4, "byte*2^20"): Capacity = the host's memory in MiB, Reserved = the memory
  of its running VMs;
- ``disk`` (17, "byte"), one per libvirt storage pool / vSphere datastore: Capacity =
  its size, Reserved = Capacity - its free space (so Capacity - Reserved is the space
  left, as ``virsh pool-info`` / the datastore summary say);
- ``net`` (10, "count"), one per libvirt network / vSphere port group: no Capacity (no
  bound on the NICs it takes), Reserved = the NICs of the host's VMs connected to it.

InstanceID (and PoolID) ``<backend id>:pool/<kind>`` for processors and memory,
``<backend id>:pool/<kind>/<name>`` for storage pools and networks. A disk belongs to
the storage pool whose directory holds its image (libvirt: the pool's target path) or
whose datastore its path names (vSphere ``[datastore] dir/x.vmdk``); a NIC to the
network it is connected to. Nothing here names a CIM class: each module owns its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.errors import VrmError
from vrmgmt.model import Disk, Nic, PowerState, VirtualMachine

KINDS = ("proc", "mem", "disk", "net")
#: CIM_ResourcePool.ResourceType of each kind
RESOURCE_TYPE = {"proc": 3, "mem": 4, "disk": 17, "net": 10}
KIND_OF_TYPE = {3: "proc", 4: "mem", 17: "disk", 10: "net", 33: "net"}
#: AllocationUnits (DSP0004 programmatic units) of Capacity and Reserved
UNITS = {"proc": "count", "mem": "byte*2^20", "disk": "byte", "net": "count"}
WHAT = {"proc": "processors", "mem": "memory", "disk": "storage pool", "net": "network"}
_MARK = ":pool/"
_RUNNING = (PowerState.RUNNING, PowerState.PAUSED)


@dataclass(frozen=True, slots=True)
class PoolRef:
    """A pool's identity: its host (backend id), kind and (storage, network) name."""

    backend_id: str
    kind: str
    name: str = ""

    def text(self) -> str:
        base = f"{self.backend_id}{_MARK}{self.kind}"
        return f"{base}/{self.name}" if self.name else base

    def describe(self) -> str:
        """The pool in words, for error descriptions."""
        if self.name:
            return f"{WHAT[self.kind]} {self.name!r} of host {self.backend_id} ({self.text()})"
        return f"the {WHAT[self.kind]} pool of host {self.backend_id} ({self.text()})"


def parse_id(text: object, suffix: str = "") -> PoolRef:
    """The PoolRef of an InstanceID / PoolID (``suffix``: what follows the pool's id,
    e.g. "/capabilities"); CIM_ERR_NOT_FOUND when it names no pool."""
    if not isinstance(text, str):
        raise invalid_parameter(f"InstanceID must be a string, got {text!r}")
    body = text
    if suffix:
        if not text.endswith(suffix):
            raise not_found(f"no pool with InstanceID {text!r}")
        body = text[: -len(suffix)]
    backend_id, mark, rest = body.partition(_MARK)
    kind, _, name = rest.partition("/")
    if not mark or not backend_id or kind not in KINDS or bool(name) != (kind in ("disk", "net")):
        raise not_found(f"no pool with InstanceID {text!r}")
    return PoolRef(backend_id, kind, name)


def is_pool_id(text: object) -> bool:
    return isinstance(text, str) and _MARK in text


@dataclass(frozen=True, slots=True)
class Pool:
    """One pool as the classes show it (units: UNITS[kind])."""

    ref: PoolRef
    capacity: int | None
    reserved: int | None
    active: bool = True
    path: str | None = None  # storage: directory or datastore URL
    detail: str = ""  # storage pool type / bridge / port group kind

    @property
    def free(self) -> int | None:
        if self.capacity is None or self.reserved is None:
            return None
        return max(0, self.capacity - self.reserved)

    def element_name(self) -> str:
        if self.ref.name:
            return f"{WHAT[self.ref.kind].capitalize()} {self.ref.name} of {self.ref.backend_id}"
        return f"{WHAT[self.ref.kind].capitalize()} of {self.ref.backend_id}"


@dataclass(slots=True)
class HostPools:
    """The pools of one host and the VMs (with devices) they were counted from."""

    backend_id: str
    pools: list[Pool]
    vms: list[VirtualMachine]
    cpu_count: int
    memory_mib: int

    def by_ref(self, ref: PoolRef) -> Pool | None:
        return next((p for p in self.pools if p.ref == ref), None)

    def of_kind(self, kind: str) -> list[Pool]:
        return [p for p in self.pools if p.ref.kind == kind]

    def disk_pool(self, disk: Disk) -> Pool | None:
        return disk_pool(self.of_kind("disk"), disk.source)

    def nic_pool(self, nic: Nic) -> Pool | None:
        return next((p for p in self.of_kind("net") if p.ref.name == nic.network), None)

    def allocations(self, vm: VirtualMachine) -> Iterator[tuple[Pool, str, str]]:
        """(pool, kind, device key) of each device of the VM that a pool of this host
        gives: its processors, its memory, each disk (not CD/DVD) in a storage pool,
        each NIC on a network. Device keys as the settings InstanceIDs have them."""
        for kind in ("proc", "mem"):
            pool = next(iter(self.of_kind(kind)), None)
            if pool is not None:
                yield pool, kind, ""
        for d in vm.disks:
            if d.kind == "disk":
                pool = self.disk_pool(d)
                if pool is not None:
                    yield pool, "disk", d.device
        for n in vm.nics:
            pool = self.nic_pool(n) if n.mac else None
            if pool is not None:
                yield pool, "nic", n.mac.lower()


def disk_pool(pools: list[Pool], source: str | None) -> Pool | None:
    """The storage pool an image path or datastore path is in (None: in none)."""
    if not source:
        return None
    if source.startswith("["):
        name = source[1:].partition("]")[0]
        return next((p for p in pools if p.ref.name == name), None)
    if not source.startswith("/"):
        return None
    best = None
    folder = os.path.normpath(source)
    for p in pools:
        root = os.path.normpath(p.path) if p.path and p.path.startswith("/") else None
        inside = root is not None and folder.startswith(root.rstrip("/") + "/")
        if inside and (best is None or len(root or "") > len(best.path or "")):
            best = p
    return best


def host_pools(
    env: ProviderEnv,
    backend_id: str,
    ctx: ProviderContext | None = None,
    *,
    with_vms: bool = True,
) -> HostPools:
    """The pools of one host, read once per operation (ctx.memo): the host's facts, its
    storage pools and networks (Inventory.pools), its VMs with devices. Without
    ``with_vms`` the VMs are not read (what DefineSystem checks needs no listing): no
    VMs, and no Reserved for processors, memory and networks. VrmError when the backend
    cannot be read."""
    memo = ctx.memo if ctx is not None else None
    key = ("vrmgmt.pools", backend_id, with_vms)
    if memo is not None and key in memo:
        return memo[key]
    inv = env.inventory
    host = inv.host(backend_id)
    vms = inv.vms_with_devices_of(backend_id) if with_vms else []
    running = [v for v in vms if v.state in _RUNNING]
    cpu_count = int(host.cpu_count or 0)
    memory_mib = int(host.memory_total_kib or 0) // 1024
    pools = [
        Pool(PoolRef(backend_id, "proc"), cpu_count, _sum(with_vms, (v.vcpus for v in running))),
        Pool(
            PoolRef(backend_id, "mem"),
            memory_mib,
            _sum(with_vms, (v.memory_kib // 1024 for v in running)),
        ),
    ]
    infos = inv.pools(backend_id)
    for info in infos:
        if info.kind != "disk":
            continue
        reserved = None
        if info.capacity_bytes is not None and info.available_bytes is not None:
            reserved = max(0, info.capacity_bytes - info.available_bytes)
        pools.append(
            Pool(
                PoolRef(backend_id, "disk", info.name),
                info.capacity_bytes,
                reserved,
                info.active,
                info.path,
                info.detail,
            )
        )
    nics: dict[str, int] = {}
    for vm in vms:
        for n in vm.nics:
            if n.network:
                nics[n.network] = nics.get(n.network, 0) + 1
    for info in infos:
        if info.kind == "net":
            ref = PoolRef(backend_id, "net", info.name)
            used = nics.get(info.name, 0) if with_vms else None
            pools.append(Pool(ref, None, used, info.active, None, info.detail))
    found = HostPools(backend_id, pools, vms, cpu_count, memory_mib)
    if memo is not None:
        memo[key] = found
    return found


def _sum(known: bool, values) -> int | None:
    return sum(values) if known else None


def all_host_pools(env: ProviderEnv, ctx: ProviderContext | None = None) -> Iterator[HostPools]:
    """The pools of every reachable host (an unreachable one shows none)."""
    for bid in env.inventory.backend_ids():
        try:
            yield host_pools(env, bid, ctx)
        except VrmError:
            continue


def pools_for(
    env: ProviderEnv, refs: list[PoolRef], ctx: ProviderContext | None = None
) -> Iterator[tuple[HostPools, Pool]]:
    """The pools the refs name that exist, each host read once; unknown ones left out."""
    for bid in dict.fromkeys(r.backend_id for r in refs):
        if not env.inventory.has_backend(bid):
            continue
        try:
            hp = host_pools(env, bid, ctx)
        except VrmError:
            continue
        for r in dict.fromkeys(x for x in refs if x.backend_id == bid):
            pool = hp.by_ref(r)
            if pool is not None:
                yield hp, pool


# -- what can be allocated from a pool (DSP1043 §7: the settings that define the
# allocation capabilities; the same bounds DefineSystem checks) -------------------------
#: template roles: (name, CIM_SettingsDefineCapabilities ValueRole, ValueRange)
ROLES = (("Default", 0, 0), ("Minimum", 3, 1), ("Maximum", 3, 2), ("Increment", 3, 3))
#: default size of a new disk (bytes), when the pool has room
DEFAULT_DISK_BYTES = 8 << 30


def bounds(hp: HostPools, pool: Pool) -> dict[str, int] | None:
    """{role: quantity} of one allocation from the pool (vCPUs, MiB of memory, bytes of
    disk, NICs); None when the pool gives no bounds (inactive)."""
    kind = pool.ref.kind
    if kind == "proc":
        top = max(1, hp.cpu_count)
        return {"Default": 1, "Minimum": 1, "Maximum": top, "Increment": 1}
    if kind == "mem":
        top = max(1, hp.memory_mib)
        return {"Default": min(1024, top), "Minimum": 1, "Maximum": top, "Increment": 1}
    if kind == "disk":
        if pool.free is None:
            return None
        top = pool.free
        default = min(DEFAULT_DISK_BYTES, top)
        return {"Default": default, "Minimum": 1, "Maximum": top, "Increment": 1}
    return {"Default": 1, "Minimum": 1, "Maximum": 1, "Increment": 1}
