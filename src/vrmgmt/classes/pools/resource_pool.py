"""VRM_ResourcePool: the primordial resource pools of each host (DSP1041 Resource
Allocation 1.1 §7.1-7.2, DSP1044/1045/1047/1050 §7.1 "primordial pool";
CIM_ResourcePool): processors (ResourceType 3), memory (4), each libvirt storage pool /
vSphere datastore (17) and each libvirt network / vSphere port group (10). What the
properties hold: vrmgmt.classes.pools.pooling.

The central class of Resource Allocation 1.1.0 (all pools) and of each Resource
Virtualization profile (the pools of its resource type: ``central(kind)``).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16, Uint64

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools.pooling import Pool, PoolRef

CLASS = "VRM_ResourcePool"


def path(ref: PoolRef, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": ref.text()}, namespace)


def parse(p: CIMInstanceName) -> PoolRef:
    """The PoolRef of a pool path (CIM_ERR_NOT_FOUND for any other path)."""
    if p.classname.lower() != CLASS.lower():
        raise not_found(f"{p.classname} is not {CLASS}")
    iid = cim_paths.keys_of(p).get("instanceid")
    if iid is None:
        raise invalid_parameter(f"a {CLASS} path needs the key InstanceID")
    return pooling.parse_id(iid)


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    try:
        ref = parse(p)
    except CIMError:
        return False
    return any(True for _ in pooling.pools_for(env, [ref]))


def build(pool: Pool, namespace: str) -> CIMInstance:
    P = fastinst.prop
    kind = pool.ref.kind
    iid = pool.ref.text()
    ok = pool.active
    props = [
        P("InstanceID", iid, "string"),
        P("PoolID", iid, "string"),
        P("ElementName", pool.element_name(), "string"),
        P("Primordial", True, "boolean"),
        P("ResourceType", Uint16(pooling.RESOURCE_TYPE[kind]), "uint16"),
        P("ResourceSubType", pool.detail or None, "string"),
        P("AllocationUnits", pooling.UNITS[kind], "string"),
        P("Capacity", Uint64(pool.capacity) if pool.capacity is not None else None, "uint64"),
        P("Reserved", Uint64(pool.reserved) if pool.reserved is not None else None, "uint64"),
        P(
            "OperationalStatus",
            [Uint16(vm_map.OS_OK if ok else vm_map.OS_STOPPED)],
            "uint16",
            True,
        ),
        P("HealthState", Uint16(vm_map.HS_OK if ok else vm_map.HS_UNKNOWN), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(pool.ref, namespace))


def paths(env: ProviderEnv, namespace: str, kind: str | None = None) -> Iterator[CIMInstanceName]:
    for hp in pooling.all_host_pools(env):
        for pool in hp.pools:
            if kind is None or pool.ref.kind == kind:
                yield path(pool.ref, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
    kind: str | None = None,
) -> Iterator[CIMInstance]:
    if paths is None:
        for hp in pooling.all_host_pools(env, ctx):
            for pool in hp.pools:
                if kind is None or pool.ref.kind == kind:
                    yield build(pool, namespace)
        return
    refs = [parse(p) for p in paths]
    found = {pool.ref: pool for _hp, pool in pooling.pools_for(env, refs, ctx)}
    if len(refs) == 1 and refs[0] not in found:
        raise not_found(f"no resource pool with InstanceID {refs[0].text()!r}")
    for r in dict.fromkeys(refs):
        if r in found:
            yield build(found[r], namespace)


def central(kind: str) -> SimpleNamespace:
    """The pools of one resource type as a profile's central class (what
    VRM_RegisteredProfile's ProfileSpec.central needs: CLASS, paths, instances, exists)."""

    def _exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
        try:
            return parse(p).kind == kind and exists(env, p)
        except CIMError:
            return False

    return SimpleNamespace(
        CLASS=CLASS,
        paths=lambda env, ns: paths(env, ns, kind),
        instances=lambda env, ns, paths=None, **kw: instances(env, ns, paths, kind=kind, **kw),
        exists=_exists,
    )
