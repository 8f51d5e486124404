"""CIM_NamespaceInManager: the object manager (Antecedent) hosts each namespace
(Dependent) (DSP1033 §7.3)."""

from vrmgmt.cim import paths
from vrmgmt.cim.association import Association, End
from vrmgmt.classes.interop import namespace, object_manager

CLASS = "CIM_NamespaceInManager"


class NamespaceInManager(Association):
    class_name = CLASS
    ends = (End("Antecedent", object_manager), End("Dependent", namespace))

    def far(self, ctx, near, path):
        env = self.env
        if near.role == "Antecedent":
            return (
                list(namespace.paths(env, ctx.namespace))
                if object_manager.exists(env, path)
                else []
            )
        known = {paths.identity(p) for p in namespace.paths(env, ctx.namespace)}
        return [object_manager.path(env)] if paths.identity(path) in known else []


provider = NamespaceInManager
