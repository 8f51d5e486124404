"""VRM_MetricForME: a host or VM ↔ its latest metric values (DSP1053 Base Metrics 1.0.1
§7.4; CIM_MetricForME). An element without recorded data has none."""

from __future__ import annotations

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.metrics import base_metric_value as value
from vrmgmt.classes.metrics import elements

CLASS = "VRM_MetricForME"


class MetricForME(Association):
    class_name = CLASS
    ends = (End("Antecedent", "CIM_ComputerSystem"), End("Dependent", value))

    def far(self, ctx, near, path):
        ns = ctx.namespace
        if near.role == "Antecedent":
            who = elements.maybe_measured(self.env, path)
            return [] if who is None else value.paths_of(self.env, who, ns)
        got = value.maybe_parse(path)
        if got is None or not value.exists(self.env, path):
            return []
        return [elements.Measured(got[1], "").path(ns)]

    def pairs(self, ctx):
        ns = ctx.namespace
        for who in elements.all_measured(self.env):
            a = who.path(ns)
            for p in value.paths_of(self.env, who, ns):
                yield a, p

    def far_instances(self, ctx, near, path, property_list):
        if near.role == "Antecedent":
            who = elements.maybe_measured(self.env, path)
            return [] if who is None else value.values_of(self.env, who, ctx.namespace)
        return super().far_instances(ctx, near, path, property_list)


provider = MetricForME
