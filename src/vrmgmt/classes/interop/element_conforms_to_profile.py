"""VRM_ElementConformsToProfile: each registered profile (ConformantStandard) and its
central instances (ManagedElement), DSP1033 §7.5 central class methodology.

Served in the interop namespace (profile -> elements, as pywbem's WBEMServer asks) and
in the implementation namespace (element -> its profiles); the references cross
namespaces (profiles in root/interop, VMs and hosts in root/virt), and an object is
only recognised in the namespace it lives in.
"""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.interop import registered_profile as rp

CLASS = "VRM_ElementConformsToProfile"


class ElementConformsToProfile(Association):
    class_name = CLASS
    ends = (End("ConformantStandard", rp), End("ManagedElement", "CIM_ManagedElement"))

    def far(self, ctx, near, path):
        env = self.env
        if near.role == "ConformantStandard":
            spec = rp.parse(env, path, path.namespace or ctx.namespace)
            if spec is None:
                return []
            return list(spec.central.paths(env, rp.central_namespace(env, spec)))
        ns = path.namespace or ctx.namespace
        return [rp.path(env, s) for s in rp.advertised(env) if rp.is_central(env, s, path, ns)]

    def far_instances(self, ctx, near, path, property_list):
        """Central instances built directly (one backend call for all VMs)."""
        env = self.env
        if near.role == "ConformantStandard":
            spec = rp.parse(env, path, path.namespace or ctx.namespace)
            if spec is None:
                return []
            return spec.central.instances(env, rp.central_namespace(env, spec))
        return [rp.instance(env, rp.parse(env, p)) for p in self.far(ctx, near, path)]


provider = ElementConformsToProfile
