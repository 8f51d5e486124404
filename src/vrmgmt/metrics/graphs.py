"""Graphs of a host's or VM's metrics as PNG in memory (`rrdtool.graphv('-', …)`), per
metric family (cpu, memory, network, disk, users) and range (hour … year or start/end),
AVERAGE or MAX, with axes and legends (DESIGN.md "Metrics"; returned by
VRM_MetricService.GetMetricGraph, the vendor extension next to DSP1053's methods).

The binding releases the GIL, but librrd's graphing is not thread-safe: two graphs
drawn at once in one process corrupt pango/cairo's state (GLib "corrupted double-linked
list", hangs, SIGSEGV in libpangocairo killed `vrmgmt serve` when the web console asked
for a page of graphs). GRAPH_SLOTS lets one graph be drawn at a time (a graph takes
10-50 ms); tests/unit/test_metrics_graph_threads.py draws from several threads.
"""

from __future__ import annotations

import threading
import time

import rrdtool

from vrmgmt.errors import InvalidSpec
from vrmgmt.metrics.rrd import FAMILIES, Element, RrdReader, check_cf, describe, metrics_of

GRAPH_SLOTS = threading.BoundedSemaphore(1)
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
TITLES = {
    "cpu": "CPU",
    "memory": "Memory",
    "network": "Network",
    "disk": "Disk",
    "users": "Users and load",
}
MIN_SIZE, MAX_SIZE = (200, 100), (4000, 2000)


class NoData(Exception):
    """The element has no RRD files for that family (answered with a description)."""


def graph(
    reader: RrdReader,
    el: Element,
    family: str,
    start: int,
    end: int,
    width: int = 800,
    height: int = 300,
    cf: str = "AVERAGE",
    vcpus: int = 1,
    host_cpus: int = 1,
) -> bytes:
    """The PNG (exactly width x height pixels) of `family` for el from start to end."""
    fam = (family or "").lower()
    if fam not in FAMILIES:
        raise InvalidSpec("Family", f"unknown metric family {family!r} (use {', '.join(FAMILIES)})")
    cf = check_cf(cf)
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise InvalidSpec(
            "Width/Height",
            f"graph size {width}x{height} out of range "
            f"({MIN_SIZE[0]}x{MIN_SIZE[1]} to {MAX_SIZE[0]}x{MAX_SIZE[1]})",
        )
    metrics = [m for m in metrics_of(el.kind) if m.family == fam]
    args, vars_, used = reader.defs(el, metrics, cf, vcpus, host_cpus)
    if not used:
        raise NoData(f"no {fam} metrics recorded for {describe(el)}")
    reader._flush(used)
    units = metrics[0].units
    span = (
        time.strftime("%Y-%m-%d %H\\:%M", time.gmtime(start))
        + " to "
        + time.strftime("%Y-%m-%d %H\\:%M UTC", time.gmtime(end))
    )
    draw = []
    for i, (m, v) in enumerate(zip(metrics, vars_, strict=True)):
        if v is None:
            continue
        color = COLORS[i % len(COLORS)]
        draw += [
            f"LINE2:{v}{color}:{m.name:<26}",
            f"GPRINT:{v}:LAST:last %8.2lf%s",
            f"GPRINT:{v}:AVERAGE:avg %8.2lf%s",
            f"GPRINT:{v}:MAX:max %8.2lf%s\\l",
        ]
    opts = [
        "--imgformat",
        "PNG",
        "--full-size-mode",
        "--width",
        str(width),
        "--height",
        str(height),
        "--start",
        str(int(start)),
        "--end",
        str(int(end)),
        "--title",
        f"{TITLES[fam]} of {describe(el)} ({cf.lower()})",
        "--vertical-label",
        units,
        "--watermark",
        span,
        "--lower-limit",
        "0",
        "--slope-mode",
    ]
    with GRAPH_SLOTS:
        res = rrdtool.graphv("-", *opts, *args, *draw)
    return bytes(res["image"])
