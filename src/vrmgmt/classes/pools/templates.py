"""The template resource allocation settings of each pool (DSP1043 §7.3-7.4 "settings
that define capabilities"): for each VRM_AllocationCapabilities, one setting per role
(Default, Minimum, Maximum, Increment: vrmgmt.classes.pools.pooling.ROLES and bounds)
of the pool's resource type, as an instance of the VM settings class of that type
(processor, memory, storage, Ethernet port allocation setting data), InstanceID
``<pool InstanceID>/template/<role>``; networks have a Default only (one NIC per setting).

They are what DefineSystem accepts from that pool: VirtualQuantity vCPUs up to the
host's processors, MiB of memory up to the host's memory, bytes of a disk (Capacity)
up to the storage pool's free space. The settings classes answer GetInstance of them
through ``instances`` (vrmgmt.classes.virtualization.settings.rasd_instances calls it);
they are not part of the VM settings' enumerations. Nothing here names a CIM class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools.pooling import HostPools, Pool, PoolRef
from vrmgmt.classes.virtualization import (
    ethernet_port_allocation_setting_data,
    memory_allocation_setting_data,
    processor_allocation_setting_data,
    storage_allocation_setting_data,
)

_MARK = "/template/"
ROLE_NAMES = tuple(r[0] for r in pooling.ROLES)
#: the settings class module of each pool kind
MODULE = {
    "proc": processor_allocation_setting_data,
    "mem": memory_allocation_setting_data,
    "disk": storage_allocation_setting_data,
    "net": ethernet_port_allocation_setting_data,
}


@dataclass(frozen=True, slots=True)
class TemplateId:
    pool: PoolRef
    role: str

    def text(self) -> str:
        return f"{self.pool.text()}{_MARK}{self.role}"


def roles(kind: str) -> tuple[str, ...]:
    return ("Default",) if kind == "net" else ROLE_NAMES


def value_role(role: str) -> tuple[int, int]:
    """(ValueRole, ValueRange) of CIM_SettingsDefineCapabilities for a role."""
    return next((vr, rng) for name, vr, rng in pooling.ROLES if name == role)


def path(tid: TemplateId, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(MODULE[tid.pool.kind].CLASS, {"InstanceID": tid.text()}, namespace)


def is_template(p: CIMInstanceName) -> bool:
    iid = cim_paths.keys_of(p).get("instanceid")
    return isinstance(iid, str) and pooling.is_pool_id(iid) and _MARK in iid


def parse(p: CIMInstanceName) -> TemplateId:
    """The template a settings path names (CIM_ERR_NOT_FOUND when none: wrong class for
    the pool's kind, unknown role)."""
    iid = str(cim_paths.keys_of(p).get("instanceid", ""))
    head, mark, role = iid.rpartition(_MARK)
    try:
        ref = pooling.parse_id(head) if mark else None
    except CIMError:
        ref = None
    if ref is None or role not in roles(ref.kind):
        raise not_found(f"no template settings with InstanceID {iid!r}")
    if p.classname.lower() != MODULE[ref.kind].CLASS.lower():
        raise not_found(f"template settings {iid!r} are not of class {p.classname}")
    return TemplateId(ref, role)


def ids_of(pool: Pool) -> list[TemplateId]:
    return [TemplateId(pool.ref, r) for r in roles(pool.ref.kind)]


def build(hp: HostPools, pool: Pool, role: str, namespace: str) -> CIMInstance | None:
    """The template instance of one role of a pool (None: the pool gives no bounds)."""
    limits = pooling.bounds(hp, pool)
    if limits is None:
        return None
    P = fastinst.prop
    kind = pool.ref.kind
    tid = TemplateId(pool.ref, role)
    q = Uint64(limits[role])
    units = pooling.UNITS[kind]
    what = {"proc": "processors", "mem": "memory", "disk": "disk", "net": "network port"}[kind]
    props = [
        P("InstanceID", tid.text(), "string"),
        P("ElementName", f"{role} {what} from {pool.element_name()}", "string"),
        P("ResourceType", Uint16(pooling.RESOURCE_TYPE[kind]), "uint16"),
        P("PoolID", pool.ref.text(), "string"),
        P("AllocationUnits", units, "string"),
        P("VirtualQuantity", q, "uint64"),
        P("VirtualQuantityUnits", units, "string"),
    ]
    if kind == "disk":
        props.append(P("Capacity", q, "uint64"))
    if kind == "net":
        props.append(P("Connection", [pool.ref.name], "string", True))
    return fastinst.instance(MODULE[kind].CLASS, props, path(tid, namespace))


def instances(
    env: ProviderEnv, namespace: str, paths: Iterable[CIMInstanceName]
) -> Iterator[CIMInstance]:
    """The template instances the paths name that exist (a single unknown one:
    CIM_ERR_NOT_FOUND)."""
    tids = [parse(p) for p in paths]
    found = 0
    pools = {pool.ref: (hp, pool) for hp, pool in pooling.pools_for(env, [t.pool for t in tids])}
    for t in dict.fromkeys(tids):
        if t.pool in pools:
            inst = build(*pools[t.pool], t.role, namespace)
            if inst is not None:
                found += 1
                yield inst
    if len(tids) == 1 and not found:
        raise not_found(f"no template settings with InstanceID {tids[0].text()!r}")
