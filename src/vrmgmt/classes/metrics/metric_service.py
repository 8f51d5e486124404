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
from collections.abc import Iterator

import pywbem
from pywbem import CIMDateTime, CIMError, CIMInstance, CIMInstanceName, CIMParameter, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim import valuemaps as vm_map
from vrmgmt.cim.errors import not_found, to_cim_error
from vrmgmt.cim.methods import MethodCall, MethodTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.metrics import base_metric_definition as definition_cls
from vrmgmt.classes.metrics import base_metric_value as value
from vrmgmt.classes.metrics import elements
from vrmgmt.classes.system import host_system as host_cls
from vrmgmt.errors import VrmError
from vrmgmt.metrics import graphs
from vrmgmt.metrics.rrd import metric_named, metrics_of, parse_range

CLASS = "VRM_MetricService"
NAME = "MetricService"
#: ShowMetrics MetricCollectionEnabled 2 = Enable; GetMetricValues Range 2/3
ENABLED = 2
RANGE_MINIMUM, RANGE_MAXIMUM = 2, 3
METHODS = MethodTable()


def path(backend_id: str, namespace: str | None) -> CIMInstanceName:
    keys = {
        "SystemCreationClassName": host_cls.CLASS,
        "SystemName": backend_id,
        "CreationClassName": CLASS,
        "Name": NAME,
    }
    return fastinst.path(CLASS, keys, namespace)


def parse(p: CIMInstanceName) -> str:
    """The backend id of a service path (CIM_ERR_NOT_FOUND for any other path)."""
    name = cim_paths.string_key(p, CLASS, "Name")
    system = cim_paths.string_key(p, CLASS, "SystemName")
    scn = cim_paths.keys_of(p).get("systemcreationclassname")
    if name != NAME or (scn is not None and str(scn).lower() != host_cls.CLASS.lower()):
        raise not_found(f"no {CLASS} named {name!r} on {system!r}")
    return system


def service_instance(backend_id: str, namespace: str) -> CIMInstance:
    P = fastinst.prop
    props = [
        P("SystemCreationClassName", host_cls.CLASS, "string"),
        P("SystemName", backend_id, "string"),
        P("CreationClassName", CLASS, "string"),
        P("Name", NAME, "string"),
        P("ElementName", f"Metric service of {backend_id}", "string"),
        P("Caption", "Metric service", "string"),
        P("EnabledState", Uint16(vm_map.ES_ENABLED), "uint16"),
        P("RequestedState", Uint16(vm_map.RS_NOT_APPLICABLE), "uint16"),
        P("EnabledDefault", Uint16(vm_map.ES_ENABLED), "uint16"),
        P("Started", True, "boolean"),
    ]
    return fastinst.instance(CLASS, props, path(backend_id, namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for bid in env.inventory.backend_ids():
        yield path(bid, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    inv = env.inventory
    if paths is None:
        wanted = inv.backend_ids()
    else:
        wanted = list(dict.fromkeys(parse(p) for p in paths))
        if len(wanted) == 1 and not inv.has_backend(wanted[0]):
            raise not_found(f"no {CLASS} on host {wanted[0]!r}")
    for bid in wanted:
        if inv.has_backend(bid):
            yield service_instance(bid, namespace)


# -- methods -----------------------------------------------------------------------------
def _service(call: MethodCall) -> str:
    bid = parse(call.instance_path)
    if not call.env.inventory.has_backend(bid):
        raise not_found(f"no {CLASS} on host {bid!r}")
    return bid


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
    bid = _service(call)
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
    bid = _service(call)
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
    bid = _service(call)
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
    bid = _service(call)
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
