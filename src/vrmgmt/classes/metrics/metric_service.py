"""VRM_MetricService: one per host, the metrics of the host and its VMs (DSP1053 Base
Metrics 1.0.1 §7.6, §8; CIM_MetricService).

- ShowMetrics(Subject, Definition) -> ManagedElements[], DefinitionList[],
  MetricNames[], MetricCollectionEnabled[] (indexed): what is defined for the Subject,
  or which elements have the Definition, on this host (2 = Enable: vrmgmt collects every
  metric it defines).
- GetMetricValues(Definition, Range, Count) -> Values[]: the latest value of the
  definition for each element of this host with data; Range 2/3 = the Count smallest /
  largest first.
- GetMetricHistory(ManagedElement, MetricNames[], Range | StartTime/EndTime,
  Consolidation) -> StartTime, StepSeconds, Names[], Values[] (vendor extension):
  arrays from the RRD files, row-major, NaN for unknown.
- GetMetricGraph(ManagedElement, Family, Range | StartTime/EndTime, Width, Height,
  Consolidation) -> Image (base64 PNG) (vendor extension).

An element without data answers 0 with empty outputs and a Description saying why, never
an error; bad parameters answer CIM_ERR_INVALID_PARAMETER naming the parameter. The
ControlMetrics* / ControlSampleTimes / ShowMetricsByClass methods are not implemented
(collection is configured in [metrics], docs/metrics.md).
"""

from __future__ import annotations

import base64
import datetime as dt

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstanceName, CIMParameter, Uint16

from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.classes.host_service import HostService
from vrmgmt.classes.metrics import base_metric_definition as definition_cls
from vrmgmt.classes.metrics import base_metric_value as value
from vrmgmt.classes.metrics import elements
from vrmgmt.errors import VrmError
from vrmgmt.metrics import graphs
from vrmgmt.metrics.rrd import metric_named, metrics_of, parse_range

CLASS = "VRM_MetricService"
NAME = "MetricService"
#: ShowMetrics MetricCollectionEnabled 2 = Enable; GetMetricValues Range 2/3
ENABLED = 2
RANGE_MINIMUM, RANGE_MAXIMUM = 2, 3
METHODS = MethodTable()


#: answers from vrmgmt's RRD files: always enabled, whether or not the host is reachable
SERVICE = HostService(CLASS, NAME, "Metric service", health=False)
path = SERVICE.path
parse = SERVICE.parse
service_instance = SERVICE.service_instance
instances = SERVICE.instances
paths = SERVICE.paths


# -- methods -----------------------------------------------------------------------------
def _on_host(call: MethodCall, bid: str, ref, param: str) -> elements.Measured:
    if not isinstance(ref, CIMInstanceName):
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{param} must be a reference")
    who = elements.measured(call.env, ref, param)
    if who.element.backend != bid:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            f"{param}: {who.name} is on host {who.element.backend!r}, not on {bid!r} "
            f"(ask that host's {CLASS})",
        )
    return who


def _definition(ref, param: str = "Definition"):
    if not isinstance(ref, CIMInstanceName):
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, f"{param} must be a reference")
    if ref.classname.lower() != definition_cls.CLASS.lower():
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER,
            f"{param} must be a {definition_cls.CLASS} reference",
        )
    try:
        return definition_cls.parse(ref)
    except CIMError as exc:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER, f"{param}: {exc.status_description}"
        ) from None


def _epoch(v, param: str) -> float | None:
    if v is None:
        return None
    if not isinstance(v, CIMDateTime) or v.is_interval:
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER, f"{param} must be a point in time, not {v}"
        )
    return v.datetime.timestamp()


def _span(rng, start_time, end_time) -> tuple[int, int]:
    try:
        return parse_range(rng, _epoch(start_time, "StartTime"), _epoch(end_time, "EndTime"))
    except VrmError as exc:
        raise to_cim_error(exc) from None


def _out(name: str, cim_type: str, v, is_array: bool = False, ref: str | None = None):
    return CIMParameter(name, cim_type, value=v, is_array=is_array, reference_class=ref)


@METHODS.method("ShowMetrics", role="reader")
def show_metrics(call: MethodCall, subject=None, definition=None):
    bid = SERVICE.backend_of(call)
    ns = call.ctx.namespace
    want = _definition(definition) if definition is not None else None
    if subject is not None:
        who = [_on_host(call, bid, subject, "Subject")]
    else:
        who = list(elements.all_measured(call.env, bid))
    pairs = [
        (w, m) for w in who for m in metrics_of(w.element.kind) if want is None or m.id == want.id
    ]
    enabled = [Uint16(ENABLED)] * len(pairs)
    return vm_map.RC_COMPLETED, {
        "ManagedElements": _out(
            "ManagedElements",
            "reference",
            [w.path(ns) for w, _ in pairs],
            True,
            "CIM_ManagedElement",
        ),
        "DefinitionList": _out(
            "DefinitionList",
            "reference",
            [definition_cls.path(m, ns) for _, m in pairs],
            True,
            "CIM_BaseMetricDefinition",
        ),
        "MetricNames": _out("MetricNames", "string", [m.name for _, m in pairs], True),
        "MetricCollectionEnabled": _out("MetricCollectionEnabled", "uint16", enabled, True),
    }


@METHODS.method("GetMetricValues", role="reader")
def get_metric_values(call: MethodCall, definition=None, range=None, count=None):
    bid = SERVICE.backend_of(call)
    ns = call.ctx.namespace
    if definition is None:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "Definition is required")
    m = _definition(definition)
    rng = range
    if rng is not None and int(rng) not in (RANGE_MINIMUM, RANGE_MAXIMUM):
        raise CIMError(
            pywbem.CIM_ERR_INVALID_PARAMETER, f"Range must be 2 (Minimum) or 3 (Maximum), not {rng}"
        )
    found = [
        inst
        for w in elements.all_measured(call.env, bid)
        if w.element.kind == m.kind
        for inst in value.values_of(call.env, w, ns, [m])
    ]
    if rng is not None:
        found.sort(key=lambda i: float(i["MetricValue"]), reverse=int(rng) == RANGE_MAXIMUM)
    if count:
        found = found[: int(count)]
    paths_ = [i.path for i in found]
    return vm_map.RC_COMPLETED, {
        "Values": _out("Values", "reference", paths_, True, "CIM_BaseMetricValue")
    }


@METHODS.method("GetMetricHistory", role="reader")
def get_metric_history(
    call: MethodCall,
    managed_element=None,
    metric_names=None,
    range=None,
    start_time=None,
    end_time=None,
    consolidation=None,
):
    bid = SERVICE.backend_of(call)
    if managed_element is None:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "ManagedElement is required")
    who = _on_host(call, bid, managed_element, "ManagedElement")
    start, end = _span(range, start_time, end_time)
    try:
        kind = who.element.kind
        ms = [metric_named(kind, n) for n in metric_names] if metric_names else metrics_of(kind)
        h = elements.reader(call.env).history(
            who.element, ms, start, end, consolidation or "AVERAGE", who.vcpus, who.host_cpus
        )
    except VrmError as exc:
        raise to_cim_error(exc) from None
    first = dt.datetime.fromtimestamp(h.start, dt.UTC)
    return vm_map.RC_COMPLETED, {
        "StartTime": _out("StartTime", "datetime", CIMDateTime(first)),
        "StepSeconds": _out("StepSeconds", "uint32", pywbem.Uint32(h.step)),
        "Names": _out("Names", "string", list(h.names), True),
        "Values": _out("Values", "real64", [pywbem.Real64(v) for v in h.flat()], True),
        "Description": _out(
            "Description", "string", h.description or f"{len(h.rows)} rows of {len(h.names)}"
        ),
    }


@METHODS.method("GetMetricGraph", role="reader")
def get_metric_graph(
    call: MethodCall,
    managed_element=None,
    family=None,
    range=None,
    start_time=None,
    end_time=None,
    width=None,
    height=None,
    consolidation=None,
):
    bid = SERVICE.backend_of(call)
    if managed_element is None:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "ManagedElement is required")
    if not family:
        raise CIMError(pywbem.CIM_ERR_INVALID_PARAMETER, "Family is required")
    who = _on_host(call, bid, managed_element, "ManagedElement")
    start, end = _span(range, start_time, end_time)
    try:
        png = graphs.graph(
            elements.reader(call.env),
            who.element,
            family,
            start,
            end,
            int(width or 800),
            int(height or 300),
            consolidation or "AVERAGE",
            who.vcpus,
            who.host_cpus,
        )
        image, why = base64.b64encode(png).decode("ascii"), f"PNG, {len(png)} bytes"
    except graphs.NoData as exc:
        image, why = "", str(exc)
    except VrmError as exc:
        raise to_cim_error(exc) from None
    return vm_map.RC_COMPLETED, {
        "Image": _out("Image", "string", image),
        "Description": _out("Description", "string", why),
    }
