"""VRM_MetricDefForME: a host or VM ↔ each metric defined for its kind (DSP1053 Base
Metrics 1.0.1 §7.3; CIM_MetricDefForME, MetricCollectionEnabled 2 = Enabled). A stopped
VM keeps its definitions: it simply has no values."""

from __future__ import annotations

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.metrics import base_metric_definition as definition
from vrmgmt.classes.metrics import elements
from vrmgmt.metrics.rrd import HOST, metrics_of

CLASS = "VRM_MetricDefForME"
#: the Antecedent end: a VRM_HostSystem or VRM_ComputerSystem
MEASURED = "CIM_ComputerSystem"


class MetricDefForME(Association):
    class_name = CLASS
    ends = (End("Antecedent", MEASURED), End("Dependent", definition))

    def far(self, ctx, near, path):
        ns = ctx.namespace
        if near.role == "Antecedent":
            who = elements.maybe_measured(self.env, path)
            if who is None:
                return []
            return [definition.path(m, ns) for m in metrics_of(who.element.kind)]
        m = definition.maybe_parse(path)
        if m is None:
            return []
        found = elements.hosts(self.env) if m.kind == HOST else elements.vms(self.env)
        return [w.path(ns) for w in found]

    def pairs(self, ctx):
        ns = ctx.namespace
        for who in elements.all_measured(self.env):
            a = who.path(ns)
            for m in metrics_of(who.element.kind):
                yield a, definition.path(m, ns)


provider = MetricDefForME
