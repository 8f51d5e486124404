"""VRM_ReferencedProfile: an autonomous profile (Dependent) references a component
profile (Antecedent) (DSP1033 §7.4, CIM_ReferencedProfile)."""

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.interop import registered_profile as rp

CLASS = "VRM_ReferencedProfile"


class ReferencedProfile(Association):
    class_name = CLASS
    ends = (End("Antecedent", rp), End("Dependent", rp))

    def far(self, ctx, near, path):
        env = self.env
        spec = rp.parse(env, path)
        if spec is None:
            return []
        if near.role == "Dependent":  # the components this profile references
            found = (rp.by_name(env, name) for name in spec.references)
            return [rp.path(env, c) for c in found if c is not None]
        users = [s for s in rp.advertised(env) if spec.name in s.references]
        return [rp.path(env, s) for s in users]


provider = ReferencedProfile
