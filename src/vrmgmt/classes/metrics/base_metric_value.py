"""VRM_BaseMetricValue: the latest value of each (element, metric) that has recorded data
(DSP1053 Base Metrics 1.0.1 §7.2; CIM_BaseMetricValue with Volatile = true: the instance
is updated in place as new samples arrive). History is never one instance per sample: it
is VRM_MetricService.GetMetricHistory's arrays.

InstanceID ``<definition Id>@<backend id>`` for a host, ``…@<backend id>/<VM UUID>`` for
a VM. MetricValue is the converted value as text (what `rrdtool lastupdate` shows for
gauges, the latest rate for counters); TimeStamp when it was sampled, Duration the RRD
step. An element without data (a stopped VM, collectd not running yet) has no values."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator

from pywbem import CIMDateTime, CIMInstance, CIMInstanceName

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.metrics import elements
from vrmgmt.metrics.rrd import Element, Metric, Sample, metric_by_id

CLASS = "VRM_BaseMetricValue"


def instance_id(metric: Metric, el: Element) -> str:
    return f"{metric.id}@{el.rel().replace('/virt-', '/')}"


def path(metric: Metric, el: Element, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"InstanceID": instance_id(metric, el)}, namespace)


def parse(p: CIMInstanceName) -> tuple[Metric, Element]:
    """(metric, element) of a value path (CIM_ERR_NOT_FOUND for a malformed InstanceID)."""
    iid = cim_paths.string_key(p, CLASS, "InstanceID")
    mid, _, where = iid.partition("@")
    m = metric_by_id(mid)
    backend, _, uuid = where.partition("/")
    if m is None or not backend or (m.kind == "vm") != bool(uuid):
        raise not_found(f"no {CLASS} with InstanceID {iid!r}")
    return m, Element(backend, uuid.lower() or None)


def maybe_parse(p: CIMInstanceName) -> tuple[Metric, Element] | None:
    try:
        return parse(p)
    except Exception:  # noqa: BLE001 - any bad path: no such value
        return None


def format_value(v: float) -> str:
    """MetricValue text: integers without a fraction, else Python's shortest repr."""
    if math.isfinite(v) and v == int(v) and abs(v) < 2**63:
        return str(int(v))
    return repr(v)


def value_instance(s: Sample, who: elements.Measured, namespace: str) -> CIMInstance:
    P = fastinst.prop
    m = s.metric
    when = dt.datetime.fromtimestamp(s.time, dt.UTC)
    text = format_value(s.value)
    props = [
        P("InstanceID", instance_id(m, who.element), "string"),
        P("MetricDefinitionId", m.id, "string"),
        P("MeasuredElementName", who.name, "string"),
        P("TimeStamp", CIMDateTime(when), "datetime"),
        P("Duration", CIMDateTime(dt.timedelta(seconds=s.step)), "datetime"),
        P("MetricValue", text, "string"),
        P("Volatile", True, "boolean"),
        P("ElementName", f"{m.name} of {who.name}", "string"),
        P("Description", f"{m.name} of {who.name}: {text} {m.units}", "string"),
    ]
    return fastinst.instance(CLASS, props, path(m, who.element, namespace))


def values_of(
    env: ProviderEnv,
    who: elements.Measured,
    namespace: str,
    metrics: Iterable[Metric] | None = None,
) -> list[CIMInstance]:
    """The known latest values of one element (none without data)."""
    samples = elements.reader(env).latest(
        who.element, list(metrics) if metrics is not None else None, who.vcpus, who.host_cpus
    )
    return [value_instance(s, who, namespace) for s in samples if not math.isnan(s.value)]


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    """Whether the path names a value that has data now."""
    return bool(list(instances(env, "", [p, p])))


def paths_of(env: ProviderEnv, who: elements.Measured, namespace: str) -> list[CIMInstanceName]:
    return [i.path for i in values_of(env, who, namespace)]


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        for who in elements.all_measured(env):
            yield from values_of(env, who, namespace)
        return
    wanted: dict[Element, list[Metric]] = {}
    for p in paths:
        got = parse(p) if len(paths) == 1 else maybe_parse(p)
        if got is not None:
            wanted.setdefault(got[1], []).append(got[0])
    for el, metrics in wanted.items():
        who = elements.maybe_measured(env, elements.Measured(el, "").path(namespace))
        if who is None:
            if len(paths) == 1:
                raise not_found(f"no {CLASS} {paths[0].keybindings.get('InstanceID')!r}")
            continue
        found = values_of(env, who, namespace, metrics)
        if not found and len(paths) == 1:
            raise not_found(f"no {CLASS} {instance_id(metrics[0], el)!r}: no data recorded for it")
        yield from found
