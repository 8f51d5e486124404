"""VRM_MetricInstance: a metric definition ↔ its latest values, one per element with data
(DSP1053 Base Metrics 1.0.1 §7.5; CIM_MetricInstance)."""

from __future__ import annotations

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.metrics import base_metric_definition as definition
from vrmgmt.classes.metrics import base_metric_value as value
from vrmgmt.classes.metrics import elements
from vrmgmt.metrics.rrd import HOST

CLASS = "VRM_MetricInstance"


class MetricInstance(Association):
    class_name = CLASS
    ends = (End("Antecedent", definition), End("Dependent", value))

    def _values(self, ns, m):
        found = elements.hosts(self.env) if m.kind == HOST else elements.vms(self.env)
        for who in found:
            yield from value.values_of(self.env, who, ns, [m])

    def far(self, ctx, near, path):
        ns = ctx.namespace
        if near.role == "Antecedent":
            m = definition.maybe_parse(path)
            return [] if m is None else [i.path for i in self._values(ns, m)]
        got = value.maybe_parse(path)
        if got is None or not value.exists(self.env, path):
            return []
        return [definition.path(got[0], ns)]

    def far_instances(self, ctx, near, path, property_list):
        if near.role == "Antecedent":
            m = definition.maybe_parse(path)
            return [] if m is None else list(self._values(ctx.namespace, m))
        return super().far_instances(ctx, near, path, property_list)


provider = MetricInstance
