"""VRM_HostedResourcePool: a host aggregates its resource pools (DSP1041 §7.1, DSP1044/
1045/1047/1050 §7.1: the primordial pools are hosted by the host system;
CIM_HostedResourcePool)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.pools import pooling
from vrmgmt.classes.pools import resource_pool as pool_cls
from vrmgmt.classes.system import host_system as host
from vrmgmt.errors import VrmError

CLASS = "VRM_HostedResourcePool"


class HostedResourcePool(Association):
    class_name = CLASS
    ends = (End("GroupComponent", host), End("PartComponent", pool_cls))

    def pairs(self, ctx):
        ns = ctx.namespace
        for hp in pooling.all_host_pools(self.env, ctx):
            for pool in hp.pools:
                yield host.path(hp.backend_id, ns), pool_cls.path(pool.ref, ns)

    def far(self, ctx, near, path):
        env, ns = self.env, ctx.namespace
        try:
            if near.role == "GroupComponent":
                bid = host.parse(path)
                if not env.inventory.has_backend(bid):
                    return []
                hp = pooling.host_pools(env, bid, ctx)
                return [pool_cls.path(p.ref, ns) for p in hp.pools]
            ref = pool_cls.parse(path)
            if any(True for _ in pooling.pools_for(env, [ref], ctx)):
                return [host.path(ref.backend_id, ns)]
            return []
        except (CIMError, VrmError):  # malformed, unknown or unreachable
            return []


provider = HostedResourcePool
