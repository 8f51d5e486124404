"""VRM_HostedMetricService: each host's metric service is hosted by that host (DSP1053
Base Metrics 1.0.1 §7.6 CIM_MetricService scoping; CIM_HostedService)."""

from __future__ import annotations

from vrmgmt.cim.association import End
from vrmgmt.classes.host_service import HostedServices
from vrmgmt.classes.metrics import metric_service as svc
from vrmgmt.classes.system import host_system as host

CLASS = "VRM_HostedMetricService"


class HostedMetricService(HostedServices):
    class_name = CLASS
    ends = (End("Antecedent", host), End("Dependent", svc))
    services = (svc.SERVICE,)


provider = HostedMetricService
