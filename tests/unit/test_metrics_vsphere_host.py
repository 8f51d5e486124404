"""The vSphere host sample (vrmgmt.backends.vsphere.perf.aggregate_hosts) and its RRDs
(vrmgmt.metrics.vsphere_perf.write_host): ESXi hosts of unequal size weigh by CPU threads,
and the real rrd reader gives back what was written in users' units."""

from __future__ import annotations

import math

import pytest

from vrmgmt.backends.vsphere.perf import aggregate_hosts
from vrmgmt.metrics.rrd import HOST, Element, RrdReader, metrics_of
from vrmgmt.metrics.vsphere_perf import STEP, write_host


def test_cpu_weighted_by_threads_rest_summed():
    per_host = {
        "host-1": {"cpu.usage.average": 10.0, "mem.consumed.average": 100.0},
        "host-2": {"cpu.usage.average": 70.0, "mem.consumed.average": 50.0},
        "host-3": {"net.received.average": 7.0},  # reported no CPU: does not weigh
    }
    out = aggregate_hosts(per_host, {"host-1": 6, "host-2": 2, "host-3": 64})
    assert out["cpu.usage.average"] == pytest.approx((10 * 6 + 70 * 2) / 8)  # 25, not 40
    assert out["mem.consumed.average"] == 150.0
    assert out["net.received.average"] == 7.0
    assert "disk.read.average" not in out
    assert aggregate_hosts({"host-1": {}}, {"host-1": 4}) == {}


def test_host_rrds_read_back_as_host_metrics(tmp_path):
    sample = {
        "cpu.usage.average": 25.0,
        "mem.consumed.average": 2048.0,  # KiB
        "net.received.average": 3.0,  # KB/s
        "net.transmitted.average": 4.0,
        "disk.read.average": 5.0,
        "disk.write.average": 6.0,
    }
    when = 1_700_000_000 // STEP * STEP
    assert write_host(tmp_path, "vc", sample, when) == 4
    got = {s.metric.name: s for s in RrdReader([tmp_path]).latest(Element("vc"))}
    assert set(got) == {m.name for m in metrics_of(HOST)} - {"LoadAverage", "Users"}
    assert got["CPUUtilization"].value == pytest.approx(25.0)
    assert got["MemoryUsed"].value == 2048 * 1024
    assert got["NetworkReceiveRate"].value == 3 * 1024
    assert got["NetworkTransmitRate"].value == 4 * 1024
    assert got["DiskReadRate"].value == 5 * 1024
    assert got["DiskWriteRate"].value == 6 * 1024
    assert all(s.time == when and s.step == STEP for s in got.values())
    # a sample without CPU leaves that file alone; unknown net halves are NaN, not 0
    assert write_host(tmp_path, "vc", {"net.received.average": 1.0}, when + STEP) == 1
    got = {s.metric.name: s for s in RrdReader([tmp_path]).latest(Element("vc"))}
    assert got["NetworkReceiveRate"].value == 1024 and math.isnan(got["NetworkTransmitRate"].value)
