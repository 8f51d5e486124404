"""VRM_AllocationCapabilities: what can be allocated from each resource pool (DSP1043
Allocation Capabilities 1.0 §7.1-7.2; CIM_AllocationCapabilities), one per
VRM_ResourcePool, InstanceID ``<pool InstanceID>/capabilities``, linked to its pool by
VRM_ElementCapabilities and to the template settings giving the default, minimum,
maximum and increment of one allocation by VRM_SettingsDefineCapabilities.

ResourceType as the pool's; RequestTypesSupported 3 "General" for processors and
memory (any of the host's), 4 "Both" for storage and networks (a named image / network,
or the pool's default); SharingMode 3 "Shared" (VMs share the host's resources).
The central class of Allocation Capabilities 1.0.0.
"""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMError, CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import invalid_parameter, not_found
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools.pooling import Pool, PoolRef

CLASS = "VRM_AllocationCapabilities"
SUFFIX = "/capabilities"
REQUEST_GENERAL = 3
REQUEST_BOTH = 4
SHARING_SHARED = 3


def path(ref: PoolRef, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": ref.text() + SUFFIX}, namespace)


def parse(p: CIMInstanceName) -> PoolRef:
    """The pool whose capabilities a path names (CIM_ERR_NOT_FOUND for others)."""
    if p.classname.lower() != CLASS.lower():
        raise not_found(f"{p.classname} is not {CLASS}")
    iid = cim_paths.keys_of(p).get("instanceid")
    if iid is None:
        raise invalid_parameter(f"a {CLASS} path needs the key InstanceID")
    try:
        return pooling.parse_id(iid, SUFFIX)
    except CIMError:
        raise not_found(f"no allocation capabilities with InstanceID {iid!r}") from None


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    try:
        ref = parse(p)
    except CIMError:
        return False
    return any(True for _ in pooling.pools_for(env, [ref]))


def build(pool: Pool, namespace: str) -> CIMInstance:
    P = fastinst.prop
    kind = pool.ref.kind
    request = REQUEST_GENERAL if kind in ("proc", "mem") else REQUEST_BOTH
    props = [
        P("InstanceID", pool.ref.text() + SUFFIX, "string"),
        P("ElementName", f"Allocation capabilities of {pool.element_name()}", "string"),
        P("ResourceType", Uint16(pooling.RESOURCE_TYPE[kind]), "uint16"),
        P("RequestTypesSupported", Uint16(request), "uint16"),
        P("SharingMode", Uint16(SHARING_SHARED), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(pool.ref, namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for hp in pooling.all_host_pools(env):
        for pool in hp.pools:
            yield path(pool.ref, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
    ctx: ProviderContext | None = None,
) -> Iterator[CIMInstance]:
    if paths is None:
        for hp in pooling.all_host_pools(env, ctx):
            for pool in hp.pools:
                yield build(pool, namespace)
        return
    refs = [parse(p) for p in paths]
    found = {pool.ref: pool for _hp, pool in pooling.pools_for(env, refs, ctx)}
    if len(refs) == 1 and refs[0] not in found:
        raise not_found(f"no allocation capabilities for pool {refs[0].text()!r}")
    for r in dict.fromkeys(refs):
        if r in found:
            yield build(found[r], namespace)
