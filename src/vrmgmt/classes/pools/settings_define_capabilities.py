"""VRM_SettingsDefineCapabilities: a pool's allocation capabilities and the template
settings that define them (DSP1043 §7.3-7.4; CIM_SettingsDefineCapabilities):
ValueRole 0 "Default" / ValueRange 0 "Point" for the default allocation, ValueRole 3
"Supported" with ValueRange 1 "Minimums", 2 "Maximums", 3 "Increments" for the bounds
(PropertyPolicy 0 "Independent"). The templates: vrmgmt.classes.pools.templates."""

from __future__ import annotations

from pywbem import CIMError, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.pools import allocation_capabilities as caps
from vrmgmt.classes.pools import pooling, templates
from vrmgmt.errors import VrmError

CLASS = "VRM_SettingsDefineCapabilities"
POLICY_INDEPENDENT = 0


class SettingsDefineCapabilities(Association):
    class_name = CLASS
    ends = (
        End("GroupComponent", caps),
        End("PartComponent", "CIM_ResourceAllocationSettingData"),
    )

    def pairs(self, ctx):
        ns = ctx.namespace
        for hp in pooling.all_host_pools(self.env, ctx):
            for pool in hp.pools:
                if pooling.bounds(hp, pool) is None:
                    continue
                for tid in templates.ids_of(pool):
                    yield caps.path(pool.ref, ns), templates.path(tid, ns)

    def far(self, ctx, near, path):
        ns = ctx.namespace
        try:
            if near.role == "GroupComponent":
                ref = caps.parse(path)
                found = list(pooling.pools_for(self.env, [ref], ctx))
                if not found or pooling.bounds(*found[0]) is None:
                    return []
                return [templates.path(t, ns) for t in templates.ids_of(found[0][1])]
            if not templates.is_template(path):
                return []
            tid = templates.parse(path)
            found = list(pooling.pools_for(self.env, [tid.pool], ctx))
            if not found or pooling.bounds(*found[0]) is None:
                return []
            return [caps.path(tid.pool, ns)]
        except (CIMError, VrmError):  # malformed, unknown or unreachable
            return []

    def instance(self, ctx, near, a, b):
        """The link, with what the template says (ValueRole, ValueRange)."""
        inst = super().instance(ctx, near, a, b)
        template = b if near.role == "GroupComponent" else a
        role, value_range = templates.value_role(templates.parse(template).role)
        P = fastinst.prop
        for prop in (
            P("PropertyPolicy", Uint16(POLICY_INDEPENDENT), "uint16"),
            P("ValueRole", Uint16(role), "uint16"),
            P("ValueRange", Uint16(value_range), "uint16"),
        ):
            inst.properties[prop.name] = prop
        return inst


provider = SettingsDefineCapabilities
