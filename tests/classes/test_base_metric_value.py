"""VRM_BaseMetricDefinition, VRM_BaseMetricValue and their associations VRM_MetricDefForME,
VRM_MetricInstance and VRM_MetricForME through every host (DSP1053 Base Metrics 1.0.1 §7)
over synthetic RRD history: a value per (element, metric) with data, Volatile, its
MetricValue what `rrdtool lastupdate` shows; elements without data have none."""

from __future__ import annotations

import cmpi_testkit as kit
import pytest
import pywbem
import rrdtool

from support.classcases import error_code
from support.classhosts import KINDS
from support.metricscase import ALPHA, BETA, GAMMA, NS, host, make_tree, open_metrics_host
from support.metricscase import vm as vm_path

VM_METRICS = {
    "CPUUtilization",
    "HostCPUShare",
    "MemoryAllocation",
    "NetworkReceiveRate",
    "NetworkTransmitRate",
    "NetworkReceivePacketRate",
    "NetworkTransmitPacketRate",
    "DiskReadRate",
    "DiskWriteRate",
    "DiskReadOperationRate",
    "DiskWriteOperationRate",
}
HOST_METRICS = {
    "CPUUtilization",
    "MemoryUsed",
    "NetworkReceiveRate",
    "NetworkTransmitRate",
    "DiskReadRate",
    "DiskWriteRate",
    "LoadAverage",
    "Users",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics-rrd")
    make_tree(root)
    return root


@pytest.fixture(scope="module", params=KINDS)
def mhost(request, tree, tmp_path_factory):
    with open_metrics_host(
        request.param, tmp_path_factory.mktemp(f"bmv-{request.param}"), tree
    ) as h:
        yield h


def defn(mid):
    return pywbem.CIMInstanceName("VRM_BaseMetricDefinition", {"Id": mid}, NS)


def test_definitions(mhost):
    defs = {str(i["Id"]): i for i in mhost.enum("VRM_BaseMetricDefinition")}
    assert set(defs) == {f"vm:{n}" for n in VM_METRICS} | {f"host:{n}" for n in HOST_METRICS}
    mem = mhost.get(defn("vm:MemoryAllocation"))
    assert mem["Name"] == "MemoryAllocation" and mem["Units"] == "Bytes"
    assert mem["DataType"] == 5 and mem["ChangeType"] == 4
    assert error_code(lambda: mhost.get(defn("vm:Nope"))) == pywbem.CIM_ERR_NOT_FOUND


def test_values_are_latest_and_volatile(mhost, tree):
    vals = {str(i["InstanceID"]): i for i in mhost.enum("VRM_BaseMetricValue")}
    b = kit.BACKEND
    assert {k for k in vals if k.endswith(f"@{b}/{ALPHA}")} == {
        f"vm:{n}@{b}/{ALPHA}" for n in VM_METRICS
    }
    assert {k for k in vals if k.endswith(f"@{b}")} == {f"host:{n}@{b}" for n in HOST_METRICS}
    assert not [k for k in vals if BETA in k or GAMMA in k]  # no data: no values
    mem = vals[f"vm:MemoryAllocation@{b}/{ALPHA}"]
    lu = rrdtool.lastupdate(str(tree / b / f"virt-{ALPHA}" / "memory-total.rrd"))
    assert float(mem["MetricValue"]) == lu["ds"]["value"]
    assert mem["Volatile"] is True and mem["MeasuredElementName"] == "alpha"
    assert mem["MetricDefinitionId"] == "vm:MemoryAllocation"
    assert mem["TimeStamp"].datetime.timestamp() == pytest.approx(lu["date"].timestamp())
    assert mem["Duration"].timedelta.total_seconds() == 10
    got = mhost.get(mem.path)
    assert got["MetricValue"] == mem["MetricValue"]
    missing = pywbem.CIMInstanceName(
        "VRM_BaseMetricValue", {"InstanceID": f"vm:MemoryAllocation@{b}/{BETA}"}, NS
    )
    assert error_code(lambda: mhost.get(missing)) == pywbem.CIM_ERR_NOT_FOUND


def test_metric_def_for_me(mhost):
    far = mhost.assoc_names(vm_path(ALPHA), assoc="VRM_MetricDefForME")
    assert {str(p["Id"]) for p in far} == {f"vm:{n}" for n in VM_METRICS}
    # a VM that is off keeps its definitions
    assert len(mhost.assoc_names(vm_path(GAMMA), assoc="VRM_MetricDefForME")) == len(VM_METRICS)
    far = mhost.assoc_names(host(), assoc="VRM_MetricDefForME")
    assert {str(p["Id"]) for p in far} == {f"host:{n}" for n in HOST_METRICS}
    back = mhost.assoc_names(defn("host:Users"), assoc="VRM_MetricDefForME")
    assert [p.classname for p in back] == ["VRM_HostSystem"]


def test_metric_for_me(mhost):
    vals = mhost.assocs(vm_path(ALPHA), assoc="VRM_MetricForME")
    assert {str(v["MetricDefinitionId"]) for v in vals} == {f"vm:{n}" for n in VM_METRICS}
    assert mhost.assoc_names(vm_path(BETA), assoc="VRM_MetricForME") == []
    (v,) = [v for v in vals if v["MetricDefinitionId"] == "vm:CPUUtilization"]
    (el,) = mhost.assoc_names(v.path, assoc="VRM_MetricForME")
    assert str(el["Name"]).lower() == ALPHA


def test_metric_instance(mhost):
    vals = mhost.assoc_names(defn("vm:MemoryAllocation"), assoc="VRM_MetricInstance")
    assert [str(v["InstanceID"]) for v in vals] == [f"vm:MemoryAllocation@{kit.BACKEND}/{ALPHA}"]
    (d,) = mhost.assoc_names(vals[0], assoc="VRM_MetricInstance")
    assert d["Id"] == "vm:MemoryAllocation"
    refs = mhost.refs(defn("host:Users"), result_class="VRM_MetricInstance")
    assert len(refs) == 1
