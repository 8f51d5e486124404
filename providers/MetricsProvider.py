"""MetricsProvider: DSP1053 Base Metrics over the RRD trees collectd (or vrmgmt's vSphere
collector) writes: VRM_BaseMetricDefinition, VRM_BaseMetricValue, VRM_MetricDefForME,
VRM_MetricInstance, VRM_MetricForME, VRM_MetricService (with GetMetricHistory and
GetMetricGraph) and VRM_HostedMetricService. Thin: the classes are in
vrmgmt.classes.metrics."""

from vrmgmt.cim.classprovider import serve
from vrmgmt.classes.metrics import (
    base_metric_definition,
    base_metric_value,
    hosted_metric_service,
    metric_def_for_me,
    metric_for_me,
    metric_instance,
    metric_service,
)


def get_providers(env):
    return serve(
        env,
        base_metric_definition,
        base_metric_value,
        metric_def_for_me,
        metric_instance,
        metric_for_me,
        metric_service,
        hosted_metric_service,
    )
