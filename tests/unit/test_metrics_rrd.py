"""vrmgmt.metrics.rrd and graphs over a year of synthetic history (tests/support/rrdsynth:
collectd's RRA layout, `rrdtool restore`d from generated dump XML): each range answers at
its RRA's step with the expected rows and values, converted to users' units; graphs are
PNGs of the requested size that differ between ranges; missing data is empty, not an error."""

from __future__ import annotations

import io
import math
import time

import pytest
from PIL import Image

from support import rrdsynth
from vrmgmt.errors import InvalidSpec
from vrmgmt.metrics import graphs
from vrmgmt.metrics.rrd import RANGES, Element, RrdReader, metric_named, parse_range

UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
END = int(time.time()) // 10 * 10


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("rrd")
    rrdsynth.vm_tree(root, "kvm1", UUID, END)
    rrdsynth.make(root / "kvm1" / "cpu" / "percent-idle.rrd", {"value": "GAUGE"}, END, 0.01)
    return root


#: range -> index of the collectd RRA that answers it (finest one covering the span)
RRA_OF = {"hour": 0, "day": 1, "week": 2, "month": 3, "year": 4}


@pytest.mark.parametrize("rng", list(RANGES))
@pytest.mark.parametrize("cf", ["AVERAGE", "MAX"])
def test_history_rows_step_values(tree, rng, cf):
    reader = RrdReader([tree])
    vm = Element("kvm1", UUID)
    names = ["CPUUtilization", "MemoryAllocation", "NetworkTransmitRate", "DiskReadRate"]
    ms = [metric_named("vm", n) for n in names]
    h = reader.history(vm, ms, END - RANGES[rng], END, cf, vcpus=2)
    rra = RRA_OF[rng]
    pdp, _ = rrdsynth.rras()[rra]
    assert h.step == pdp * rrdsynth.STEP
    assert h.names == names
    span = RANGES[rng]
    assert abs(len(h.rows) - span / h.step) <= 2, (len(h.rows), span / h.step)
    assert h.start <= END - span and h.start + len(h.rows) * h.step >= END
    known = 0
    for i, row in enumerate(h.rows):
        t = h.start + (i + 1) * h.step  # a row's time is the end of its interval
        if t > END:
            assert all(math.isnan(v) for v in row)  # not yet consolidated: NaN, kept
            continue
        known += 1
        cpu = rrdsynth.value(rra, cf, 0, t, 1e6) * 1e-7 / 2  # ns/s -> % of 2 vCPUs
        mem = rrdsynth.value(rra, cf, 0, t, 1e6)
        tx = rrdsynth.value(rra, cf, 1, t)  # second DS of if_octets
        rd = rrdsynth.value(rra, cf, 0, t)
        assert row == pytest.approx([cpu, mem, tx, rd], rel=1e-9), (i, t)
    assert known >= len(h.rows) - 2


def test_host_cpu_is_100_minus_idle(tree):
    reader = RrdReader([tree])
    h = reader.history(Element("kvm1"), [metric_named("host", "CPUUtilization")], END - 3600, END)
    t = h.start + h.step
    assert h.rows[0][0] == pytest.approx(100 - rrdsynth.value(0, "AVERAGE", 0, t, 0.01))


def test_missing_metrics_are_nan_columns_and_missing_elements_empty(tree):
    reader = RrdReader([tree / "does-not-exist", tree])
    h = reader.history(
        Element("kvm1"),
        [metric_named("host", "Users"), metric_named("host", "CPUUtilization")],
        END - 3600,
        END,
    )
    assert h.rows and all(math.isnan(r[0]) for r in h.rows)
    assert not math.isnan(h.rows[0][1])
    empty = reader.history(Element("kvm1", "00000000-0000-0000-0000-000000000000"), [], 0, END)
    assert empty.rows == [] and "no RRD files" in empty.description
    assert reader.latest(Element("nohost")) == []


def test_latest_gauge_is_lastupdate_derive_is_last_rate(tree):
    import rrdtool

    reader = RrdReader([tree])
    vm = Element("kvm1", UUID)
    got = {s.metric.name: s for s in reader.latest(vm, vcpus=1)}
    mem = tree / "kvm1" / f"virt-{UUID}" / "memory-total.rrd"
    lu = rrdtool.lastupdate(str(mem))
    assert lu["ds"]["value"] == rrdsynth.value(0, "AVERAGE", 0, END, 1e6)
    assert got["MemoryAllocation"].value == lu["ds"]["value"]
    assert got["MemoryAllocation"].time == pytest.approx(lu["date"].timestamp())
    assert got["CPUUtilization"].step == 10
    assert set(got) == {
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


def test_bad_range_and_consolidation_name_the_problem():
    with pytest.raises(InvalidSpec, match="unknown range 'fortnight'"):
        parse_range("fortnight")
    with pytest.raises(InvalidSpec, match="StartTime: .* is not before EndTime"):
        parse_range(None, 100, 50)
    with pytest.raises(InvalidSpec, match="no metric 'Bogus' for a vm"):
        metric_named("vm", "Bogus")


def _png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()  # decodes every pixel
    assert img.format == "PNG"
    return img


def test_graphs_have_size_and_differ_between_ranges(tree):
    reader = RrdReader([tree])
    vm = Element("kvm1", UUID)
    seen = {}
    for rng, span in RANGES.items():
        png = graphs.graph(reader, vm, "network", END - span, END, 640, 240, "AVERAGE")
        img = _png(png)
        assert img.size == (640, 240)
        seen[rng] = img.tobytes()
    assert len(set(seen.values())) == len(RANGES)
    for fam in ("cpu", "memory", "disk"):
        assert _png(graphs.graph(reader, vm, fam, END - 86400, END, 400, 200)).size == (400, 200)
    mx = graphs.graph(reader, vm, "cpu", END - 86400, END, 400, 200, "MAX")
    avg = graphs.graph(reader, vm, "cpu", END - 86400, END, 400, 200, "AVERAGE")
    assert _png(mx).tobytes() != _png(avg).tobytes()


def test_graph_errors(tree):
    reader = RrdReader([tree])
    vm = Element("kvm1", UUID)
    with pytest.raises(InvalidSpec, match="unknown metric family 'gpu'"):
        graphs.graph(reader, vm, "gpu", END - 3600, END)
    with pytest.raises(InvalidSpec, match="graph size 10x10"):
        graphs.graph(reader, vm, "cpu", END - 3600, END, 10, 10)
    with pytest.raises(graphs.NoData, match="no users metrics recorded for VM"):
        graphs.graph(reader, vm, "users", END - 3600, END)
