"""VRM_BaseMetricDefinition: one per metric vrmgmt keeps for hosts or VMs (DSP1053 Base
Metrics 1.0.1 §7.1; CIM_BaseMetricDefinition), from vrmgmt.metrics.rrd.METRICS: Id
``vm:CPUUtilization``, ``host:Users``, …; Name is the name GetMetricHistory takes; values
are real64 in Units. The central class of the Base Metrics profile as vrmgmt registers
it (VRM_RegisteredProfile)."""

from __future__ import annotations

from collections.abc import Iterator

from pywbem import CIMInstance, CIMInstanceName, Uint16

from vrmgmt.cim import fastinst
from vrmgmt.cim import paths as cim_paths
from vrmgmt.cim.errors import not_found
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.metrics.rrd import METRICS, Metric, metric_by_id

CLASS = "VRM_BaseMetricDefinition"
#: CIM_BaseMetricDefinition.DataType 5 = real64; Calculable 2 summable, 3 non-summable
DATATYPE_REAL64 = 5
SUMMABLE, NON_SUMMABLE = 2, 3
#: TimeScope 3 = Interval; GatheringType 3 = Periodic
TIMESCOPE_INTERVAL, GATHERING_PERIODIC = 3, 3


def path(metric: Metric, namespace: str | None) -> CIMInstanceName:
    return fastinst.path(CLASS, {"Id": metric.id}, namespace)


def parse(p: CIMInstanceName) -> Metric:
    """The metric a path names (CIM_ERR_NOT_FOUND for an unknown Id)."""
    mid = cim_paths.string_key(p, CLASS, "Id")
    m = metric_by_id(mid)
    if m is None:
        raise not_found(f"no {CLASS} with Id {mid!r}")
    return m


def maybe_parse(p: CIMInstanceName) -> Metric | None:
    try:
        return parse(p)
    except Exception:  # noqa: BLE001 - any bad path: no such definition
        return None


def exists(env: ProviderEnv, p: CIMInstanceName) -> bool:
    return maybe_parse(p) is not None


def instance(m: Metric, namespace: str) -> CIMInstance:
    P = fastinst.prop
    props = [
        P("Id", m.id, "string"),
        P("Name", m.name, "string"),
        P("ElementName", f"{m.name} ({m.kind})", "string"),
        P("Description", m.description, "string"),
        P("DataType", Uint16(DATATYPE_REAL64), "uint16"),
        P("Calculable", Uint16(NON_SUMMABLE if m.units == "Percent" else SUMMABLE), "uint16"),
        P("Units", m.units, "string"),
        P("ProgrammaticUnits", m.punit, "string"),
        P("IsContinuous", True, "boolean"),
        P("ChangeType", Uint16(m.change_type), "uint16"),
        P("TimeScope", Uint16(TIMESCOPE_INTERVAL), "uint16"),
        P("GatheringType", Uint16(GATHERING_PERIODIC), "uint16"),
    ]
    return fastinst.instance(CLASS, props, path(m, namespace))


def paths(env: ProviderEnv, namespace: str) -> Iterator[CIMInstanceName]:
    for m in METRICS:
        yield path(m, namespace)


def instances(
    env: ProviderEnv,
    namespace: str,
    paths: list[CIMInstanceName] | None = None,
    *,
    bulk: bool = False,
) -> Iterator[CIMInstance]:
    if paths is None:
        wanted = list(METRICS)
    elif len(paths) == 1:
        wanted = [parse(paths[0])]
    else:
        wanted = [m for m in map(maybe_parse, paths) if m is not None]
    for m in wanted:
        yield instance(m, namespace)
