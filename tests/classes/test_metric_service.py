"""VRM_MetricService and VRM_HostedMetricService through every host (DSP1053 Base
Metrics 1.0.1 §8 ShowMetrics / GetMetricValues; vendor GetMetricHistory / GetMetricGraph)
over a year of synthetic RRD history: each range answers at its RRA's step with the
expected values, graphs are PNGs of the asked size, elements without data answer empty
with a description, bad parameters CIM_ERR_INVALID_PARAMETER."""

from __future__ import annotations

import base64
import io
import math

import pytest
import pywbem
from PIL import Image

from support import rrdsynth
from support.classcases import error_code
from support.classhosts import KINDS
from support.metricscase import ALPHA, BETA, GAMMA, NS, VCPUS, host, make_tree, open_metrics_host
from support.metricscase import vm as vm_path

SERVICE = "VRM_MetricService"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics-rrd")
    return root, make_tree(root)


@pytest.fixture(scope="module", params=KINDS)
def mhost(request, tree, tmp_path_factory):
    with open_metrics_host(
        request.param, tmp_path_factory.mktemp(f"met-{request.param}"), tree[0]
    ) as h:
        yield h


def service(h):
    (p,) = h.enum_names(SERVICE)
    return p


def test_one_service_per_host_hosted_by_it(mhost):
    p = service(mhost)
    assert p.keybindings["SystemName"] == host().keybindings["Name"]
    assert p.keybindings["Name"] == "MetricService"
    (far,) = mhost.assoc_names(host(), assoc="VRM_HostedMetricService")
    assert far.classname == SERVICE and far.keybindings["SystemName"] == p["SystemName"]
    back = mhost.assoc_names(p, assoc="VRM_HostedMetricService", role="Dependent")
    assert [b.classname for b in back] == ["VRM_HostSystem"]


@pytest.mark.parametrize(
    "rng, rra", [("hour", 0), ("day", 1), ("week", 2), ("month", 3), ("year", 4)]
)
def test_history_per_range(mhost, tree, rng, rra):
    _root, end = tree
    names = ["CPUUtilization", "MemoryAllocation"]
    rc, out = mhost.invoke_typed(
        service(mhost),
        "GetMetricHistory",
        ManagedElement=vm_path(ALPHA),
        MetricNames=names,
        Range=rng,
    )
    assert rc == 0
    step = int(out["StepSeconds"])
    assert step == rrdsynth.rras()[rra][0] * rrdsynth.STEP
    assert list(out["Names"]) == names
    values = list(out["Values"])
    rows = len(values) // 2
    assert len(values) == 2 * rows and abs(rows - rrdsynth.TIMESPANS[rra] / step) <= 2
    start = int(out["StartTime"].datetime.timestamp())
    checked = 0
    for i in range(rows):
        t = start + (i + 1) * step
        cpu, mem = values[2 * i], values[2 * i + 1]
        if t > end:
            assert math.isnan(cpu) and math.isnan(mem)  # NaN, never dropped
            continue
        assert cpu == pytest.approx(rrdsynth.value(rra, "AVERAGE", 0, t, 1e6) * 1e-7 / VCPUS)
        assert mem == pytest.approx(rrdsynth.value(rra, "AVERAGE", 0, t, 1e6))
        checked += 1
    assert checked >= (end - start) // step - 1  # every row up to the history's end


def test_history_max_and_host_metrics(mhost):
    rc, out = mhost.invoke_typed(
        service(mhost),
        "GetMetricHistory",
        ManagedElement=host(),
        MetricNames=["Users", "CPUUtilization"],
        Range="week",
        Consolidation="MAX",
    )
    assert rc == 0 and int(out["StepSeconds"]) == 500
    start, values = int(out["StartTime"].datetime.timestamp()), list(out["Values"])
    assert values[0] == pytest.approx(rrdsynth.value(2, "MAX", 0, start + 500, 0.001))
    assert values[1] == pytest.approx(100 - rrdsynth.value(2, "MAX", 0, start + 500, 0.01))


@pytest.mark.parametrize("uuid", [BETA, GAMMA])
def test_element_without_data_answers_empty(mhost, uuid):
    rc, out = mhost.invoke_typed(
        service(mhost), "GetMetricHistory", ManagedElement=vm_path(uuid), Range="day"
    )
    assert rc == 0 and list(out.get("Values") or []) == []
    assert "no RRD files" in out["Description"]
    rc, out = mhost.invoke_typed(
        service(mhost), "GetMetricGraph", ManagedElement=vm_path(uuid), Family="cpu"
    )
    assert rc == 0 and out["Image"] == "" and "no cpu metrics recorded" in out["Description"]


def _png(b64):
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def test_graphs(mhost):
    seen = set()
    for rng in ("hour", "day", "year"):
        rc, out = mhost.invoke_typed(
            service(mhost),
            "GetMetricGraph",
            ManagedElement=vm_path(ALPHA),
            Family="network",
            Range=rng,
            Width=pywbem.Uint32(480),
            Height=pywbem.Uint32(200),
        )
        assert rc == 0
        img = _png(out["Image"])
        assert img.format == "PNG" and img.size == (480, 200)
        seen.add(img.tobytes())
    assert len(seen) == 3
    rc, out = mhost.invoke_typed(
        service(mhost), "GetMetricGraph", ManagedElement=host(), Family="users"
    )
    assert rc == 0 and _png(out["Image"]).size == (800, 300)


@pytest.mark.parametrize(
    "params, words",
    [
        ({"ManagedElement": vm_path(ALPHA), "Range": "fortnight"}, "unknown range 'fortnight'"),
        ({"ManagedElement": vm_path(ALPHA), "MetricNames": ["Bogus"]}, "no metric 'Bogus'"),
        ({"ManagedElement": vm_path(ALPHA), "Consolidation": "LAST"}, "unknown consolidation"),
        ({"ManagedElement": vm_path("00000000-0000-0000-0000-0000000000ff")}, None),
    ],
)
def test_history_bad_parameters(mhost, params, words):
    def call():
        mhost.invoke_typed(service(mhost), "GetMetricHistory", **params)

    code = error_code(call)
    if words is None:
        assert code == pywbem.CIM_ERR_NOT_FOUND
        return
    assert code == pywbem.CIM_ERR_INVALID_PARAMETER
    with pytest.raises(pywbem.CIMError, match=words):
        call()


def test_graph_bad_family_and_size(mhost):
    for params in ({"Family": "gpu"}, {"Family": "cpu", "Width": pywbem.Uint32(5)}):
        code = error_code(
            lambda p=params: mhost.invoke_typed(
                service(mhost), "GetMetricGraph", ManagedElement=vm_path(ALPHA), **p
            )
        )
        assert code == pywbem.CIM_ERR_INVALID_PARAMETER


def test_show_metrics(mhost):
    rc, out = mhost.invoke_typed(service(mhost), "ShowMetrics", Subject=vm_path(ALPHA))
    assert rc == 0
    names = list(out["MetricNames"])
    assert "CPUUtilization" in names and "MemoryAllocation" in names and "Users" not in names
    defs = list(out["DefinitionList"])
    assert [d.keybindings["Id"] for d in defs] == [f"vm:{n}" for n in names]
    assert all(str(e.keybindings["Name"]).lower() == ALPHA for e in out["ManagedElements"])
    assert set(out["MetricCollectionEnabled"]) == {2}


def test_get_metric_values(mhost):
    d = pywbem.CIMInstanceName("VRM_BaseMetricDefinition", {"Id": "vm:MemoryAllocation"}, NS)
    rc, out = mhost.invoke_typed(service(mhost), "GetMetricValues", Definition=d)
    assert rc == 0
    vals = list(out["Values"])
    assert [v.keybindings["InstanceID"] for v in vals] == [
        f"vm:MemoryAllocation@{host()['Name']}/{ALPHA}"
    ]
