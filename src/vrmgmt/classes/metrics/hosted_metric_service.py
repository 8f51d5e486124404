"""VRM_HostedMetricService: each host's metric service is hosted by that host (DSP1053
Base Metrics 1.0.1 §7.6 CIM_MetricService scoping; CIM_HostedService)."""

from __future__ import annotations

from pywbem import CIMError

from vrmgmt.cim.association import Association, End
from vrmgmt.classes.metrics import metric_service as svc
from vrmgmt.classes.system import host_system as host

CLASS = "VRM_HostedMetricService"


class HostedMetricService(Association):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", svc))

    def far(self, ctx, near, path):
        inv, ns = self.env.inventory, ctx.namespace
        try:
            bid = host.parse(path) if near.role == "Antecedent" else svc.parse(path)
        except CIMError:
            return []
        if not inv.has_backend(bid):
            return []
        return [svc.path(bid, ns) if near.role == "Antecedent" else host.path(bid, ns)]


provider = HostedMetricService
