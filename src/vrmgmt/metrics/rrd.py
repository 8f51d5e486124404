"""RRD tree reader: latest values and history of hosts and VMs from collectd's RRD files
(DESIGN.md "Metrics"; the values DSP1053 Base Metrics exposes as CIM_BaseMetricValue and
that VRM_MetricService.GetMetricHistory returns as arrays).

Layout (collectd's rrdtool writer, virt plugin with HostnameFormat hostname and
PluginInstanceFormat uuid; the vSphere collector writes the same):
``<root>/<backend id>/virt-<uuid>/virt_cpu_total.rrd``, ``memory-total.rrd``,
``if_octets-<if>.rrd``, ``if_packets-<if>.rrd``, ``disk_octets-<dev>.rrd``,
``disk_ops-<dev>.rrd`` for a VM; ``cpu/percent-idle.rrd``, ``memory/memory-used.rrd``,
``interface-<if>/…``, ``disk-<dev>/…``, ``load/load.rrd``, ``users/users.rrd`` for the host.
Keyed by backend id and VM UUID, so history survives a rename. Several roots (the
collectd-written one and read-only extra trees such as NFS mounts) are searched in order;
a root that is missing or unreadable degrades only the elements it would hold.

Units are converted to what users read (METRICS): CPU in % of the VM's virtual CPUs (or of
the host), bytes, bytes/s, operations/s, load, users. Unknown values are NaN, never dropped.
With rrdcached, files are flushed (``flushcached --daemon``) before they are read.
"""

from __future__ import annotations

import fnmatch
import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rrdtool

from vrmgmt.errors import InvalidSpec

#: named ranges -> seconds (collectd's RRA timespans: hour, day, week, month, year)
RANGES = {"hour": 3600, "day": 86400, "week": 604800, "month": 2678400, "year": 31622400}
CONSOLIDATIONS = ("AVERAGE", "MIN", "MAX")
VM, HOST = "vm", "host"
#: CIM_BaseMetricDefinition.ChangeType
GAUGE, COUNTER = 4, 3


@dataclass(frozen=True)
class Metric:
    """One metric of a host or VM: the RRD files and data sources summed into it and the
    conversion value = (sum * mul + add) [/ the VM's vCPUs] [/ the host's CPUs]."""

    name: str
    kind: str  # VM or HOST
    family: str  # cpu, memory, network, disk, users (graph families)
    units: str  # CIM_BaseMetricDefinition.Units
    punit: str  # ProgrammaticUnits (DSP0004 PUnit)
    description: str
    sources: tuple[tuple[str, str], ...]  # (file glob relative to the element dir, DS)
    mul: float = 1.0
    add: float = 0.0
    per_vcpu: bool = False
    per_host_cpu: bool = False
    change_type: int = GAUGE

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    def convert(self, x: float, vcpus: int = 1, host_cpus: int = 1) -> float:
        v = x * self.mul + self.add
        if self.per_vcpu:
            v /= max(vcpus, 1)
        if self.per_host_cpu:
            v /= max(host_cpus, 1)
        return v

    def rpn(self, var: str, vcpus: int = 1, host_cpus: int = 1) -> str:
        expr = f"{var},{self.mul!r},*,{self.add!r},+"
        if self.per_vcpu:
            expr += f",{max(vcpus, 1)},/"
        if self.per_host_cpu:
            expr += f",{max(host_cpus, 1)},/"
        return expr


def _m(name, kind, family, units, punit, desc, sources, **kw) -> Metric:
    return Metric(name, kind, family, units, punit, desc, tuple(sources), **kw)


_BPS, _OPS = ("Bytes per Second", "byte / second"), ("Operations per Second", "count / second")
METRICS: tuple[Metric, ...] = (
    _m(
        "CPUUtilization",
        VM,
        "cpu",
        "Percent",
        "percent",
        "CPU time used, in % of the VM's virtual CPUs",
        [("virt_cpu_total.rrd", "value")],
        mul=1e-7,  # ns of CPU per s -> % of one CPU
        per_vcpu=True,
    ),
    _m(
        "HostCPUShare",
        VM,
        "cpu",
        "Percent",
        "percent",
        "CPU time used by the VM, in % of all the host's CPUs",
        [("virt_cpu_total.rrd", "value")],
        mul=1e-7,
        per_host_cpu=True,
    ),
    _m(
        "MemoryAllocation",
        VM,
        "memory",
        "Bytes",
        "byte",
        "Memory allocated to the VM",
        [("memory-total.rrd", "value")],
    ),
    _m(
        "NetworkReceiveRate",
        VM,
        "network",
        *_BPS,
        "Bytes received per second, all interfaces",
        [("if_octets-*.rrd", "rx")],
    ),
    _m(
        "NetworkTransmitRate",
        VM,
        "network",
        *_BPS,
        "Bytes sent per second, all interfaces",
        [("if_octets-*.rrd", "tx")],
    ),
    _m(
        "NetworkReceivePacketRate",
        VM,
        "network",
        "Packets per Second",
        "count / second",
        "Packets received per second, all interfaces",
        [("if_packets-*.rrd", "rx")],
    ),
    _m(
        "NetworkTransmitPacketRate",
        VM,
        "network",
        "Packets per Second",
        "count / second",
        "Packets sent per second, all interfaces",
        [("if_packets-*.rrd", "tx")],
    ),
    _m(
        "DiskReadRate",
        VM,
        "disk",
        *_BPS,
        "Bytes read per second, all disks",
        [("disk_octets-*.rrd", "read")],
    ),
    _m(
        "DiskWriteRate",
        VM,
        "disk",
        *_BPS,
        "Bytes written per second, all disks",
        [("disk_octets-*.rrd", "write")],
    ),
    _m(
        "DiskReadOperationRate",
        VM,
        "disk",
        *_OPS,
        "Read operations per second, all disks",
        [("disk_ops-*.rrd", "read")],
    ),
    _m(
        "DiskWriteOperationRate",
        VM,
        "disk",
        *_OPS,
        "Write operations per second, all disks",
        [("disk_ops-*.rrd", "write")],
    ),
    _m(
        "CPUUtilization",
        HOST,
        "cpu",
        "Percent",
        "percent",
        "CPU time used, in % of all the host's CPUs",
        [("cpu/percent-idle.rrd", "value")],
        mul=-1.0,
        add=100.0,
    ),
    _m(
        "MemoryUsed",
        HOST,
        "memory",
        "Bytes",
        "byte",
        "Memory used on the host (not free, cache or buffers)",
        [("memory/memory-used.rrd", "value")],
    ),
    _m(
        "NetworkReceiveRate",
        HOST,
        "network",
        *_BPS,
        "Bytes received per second, all interfaces but loopback",
        [("interface-*/if_octets.rrd", "rx")],
    ),
    _m(
        "NetworkTransmitRate",
        HOST,
        "network",
        *_BPS,
        "Bytes sent per second, all interfaces but loopback",
        [("interface-*/if_octets.rrd", "tx")],
    ),
    _m(
        "DiskReadRate",
        HOST,
        "disk",
        *_BPS,
        "Bytes read per second, all disks",
        [("disk-*/disk_octets.rrd", "read")],
    ),
    _m(
        "DiskWriteRate",
        HOST,
        "disk",
        *_BPS,
        "Bytes written per second, all disks",
        [("disk-*/disk_octets.rrd", "write")],
    ),
    _m(
        "LoadAverage",
        HOST,
        "users",
        "Processes",
        "count",
        "One-minute load average",
        [("load/load.rrd", "shortterm")],
    ),
    _m(
        "Users",
        HOST,
        "users",
        "Users",
        "count",
        "Users logged in",
        [("users/users.rrd", "value")],
    ),
)
FAMILIES = ("cpu", "memory", "network", "disk", "users")


def metrics_of(kind: str) -> list[Metric]:
    return [m for m in METRICS if m.kind == kind]


def metric_by_id(metric_id: str) -> Metric | None:
    return next((m for m in METRICS if m.id == metric_id), None)


def metric_named(kind: str, name: str) -> Metric:
    """The metric of `kind` called `name` (case-insensitive); InvalidSpec names the known."""
    for m in metrics_of(kind):
        if m.name.lower() == name.lower():
            return m
    known = ", ".join(m.name for m in metrics_of(kind))
    raise InvalidSpec("MetricNames", f"no metric {name!r} for a {kind} (known: {known})")


@dataclass(frozen=True)
class Element:
    """A measured element: a host (uuid None) or a VM of a backend."""

    backend: str
    uuid: str | None = None

    @property
    def kind(self) -> str:
        return HOST if self.uuid is None else VM

    def rel(self) -> str:
        return self.backend if self.uuid is None else f"{self.backend}/virt-{self.uuid.lower()}"


@dataclass
class Sample:
    """The latest value of one metric of one element."""

    metric: Metric
    value: float  # NaN: unknown
    time: float  # epoch seconds of the value
    step: int  # seconds the value covers


@dataclass
class History:
    """A time series of several metrics: rows[i][j] is metric j at start + (i+1)*step
    (rrdtool's row time is the end of its interval)."""

    start: int
    step: int
    names: list[str]
    rows: list[list[float]] = field(default_factory=list)
    description: str = ""

    def flat(self) -> list[float]:
        return [v for row in self.rows for v in row]


def parse_range(
    rng: str | None, start: float | None = None, end: float | None = None
) -> tuple[int, int]:
    """(start, end) epoch seconds of a named range ending now, or of start/end."""
    now = int(time.time())
    if start is not None or end is not None:
        e = int(end) if end is not None else now
        s = int(start) if start is not None else e - RANGES["day"]
        if s >= e:
            raise InvalidSpec("StartTime", f"{s} is not before EndTime {e}")
        return s, e
    key = (rng or "day").lower()
    if key not in RANGES:
        raise InvalidSpec(
            "Range", f"unknown range {rng!r} (use {', '.join(RANGES)} or StartTime/EndTime)"
        )
    return now - RANGES[key], now


def check_cf(cf: str | None) -> str:
    c = (cf or "AVERAGE").upper()
    if c not in CONSOLIDATIONS:
        raise InvalidSpec(
            "Consolidation", f"unknown consolidation {cf!r} (use {', '.join(CONSOLIDATIONS)})"
        )
    return c


def escape(p: Path | str) -> str:
    """A file name in a DEF (`:` is the field separator: MAC addresses in names)."""
    return str(p).replace("\\", "\\\\").replace(":", "\\:")


def _nan(v) -> float:
    return math.nan if v is None else float(v)


class RrdReader:
    """Reads the RRD trees under `roots` (first root holding an element wins)."""

    def __init__(self, roots: Sequence[str | Path], daemon: str | None = None):
        self.roots = [Path(r) for r in roots]
        self.daemon = daemon or None
        self._types: dict[str, tuple[str, int]] = {}  # file -> (DS type, step)
        self._lock = threading.Lock()

    # -- locating files -------------------------------------------------------------
    def element_dir(self, el: Element) -> Path | None:
        for root in self.roots:
            d = root / el.rel()
            try:
                if d.is_dir():
                    return d
            except OSError:  # unreadable root: that element has no data here
                continue
        return None

    def files(
        self,
        el: Element,
        metric: Metric,
        d: Path | None = None,
        listing: list[str] | None = None,
    ) -> list[tuple[Path, str]]:
        d = d if d is not None else self.element_dir(el)
        if d is None:
            return []
        if listing is None:
            listing = _listing(d)
        out = []
        for pattern, ds in metric.sources:
            found = sorted(fnmatch.filter(listing, pattern))
            out += [(d / f, ds) for f in found if not f.startswith("interface-lo/")]
        return out

    def available(self, el: Element) -> list[Metric]:
        d = self.element_dir(el)
        if d is None:
            return []
        listing = _listing(d)
        return [m for m in metrics_of(el.kind) if self.files(el, m, d, listing)]

    def _flush(self, files: Iterable[Path]) -> None:
        if self.daemon:
            names = [str(f) for f in files]
            if names:
                rrdtool.flushcached("--daemon", self.daemon, *names)

    def _type(self, f: Path, ds: str) -> tuple[str, int]:
        key = f"{f}\0{ds}"
        t = self._types.get(key)
        if t is None:
            info = rrdtool.info(str(f))
            t = (str(info.get(f"ds[{ds}].type", "GAUGE")), int(info["step"]))
            with self._lock:
                self._types[key] = t
        return t

    # -- latest values -----------------------------------------------------------------
    def latest(
        self,
        el: Element,
        metrics: Sequence[Metric] | None = None,
        vcpus: int = 1,
        host_cpus: int = 1,
    ) -> list[Sample]:
        """The latest value of each metric that has files (GAUGE: what `rrdtool
        lastupdate` shows; DERIVE/COUNTER: the last known rate the RRD holds)."""
        d = self.element_dir(el)
        if d is None:
            return []
        listing = _listing(d)
        out = []
        for m in metrics if metrics is not None else metrics_of(el.kind):
            files = self.files(el, m, d, listing)
            if not files:
                continue
            self._flush(f for f, _ in files)
            total, when, step, known = 0.0, 0.0, 0, False
            for f, ds in files:
                try:
                    v, t, s = self._latest_one(f, ds)
                except rrdtool.OperationalError:
                    continue  # unreadable file: unknown
                step = max(step, s)
                when = max(when, t)
                if not math.isnan(v):
                    total, known = total + v, True
            value = m.convert(total, vcpus, host_cpus) if known else math.nan
            out.append(Sample(m, value, when, step))
        return out

    def _latest_one(self, f: Path, ds: str) -> tuple[float, float, int]:
        dstype, step = self._type(f, ds)
        if dstype == "GAUGE":
            lu = rrdtool.lastupdate(str(f))
            return _nan(lu["ds"].get(ds)), lu["date"].timestamp(), step
        (start, _end, fstep), names, rows = rrdtool.fetch(
            str(f), "AVERAGE", "-s", f"-{step * 10}", "-e", "now"
        )
        i = names.index(ds)
        for k in range(len(rows) - 1, -1, -1):
            v = rows[k][i]
            if v is not None:
                return float(v), float(start + (k + 1) * fstep), fstep
        return math.nan, float(start + len(rows) * fstep), fstep

    # -- history -------------------------------------------------------------------------
    def defs(
        self, el: Element, metrics: Sequence[Metric], cf: str, vcpus: int = 1, host_cpus: int = 1
    ) -> tuple[list[str], list[str | None], list[Path]]:
        """rrdtool DEF/CDEF arguments: per metric the name of its converted variable
        (None when it has no files) and the files read."""
        d = self.element_dir(el)
        listing = _listing(d) if d is not None else []
        args: list[str] = []
        names: list[str | None] = []
        used: list[Path] = []
        for i, m in enumerate(metrics):
            files = self.files(el, m, d, listing) if d is not None else []
            if not files:
                names.append(None)
                continue
            parts = []
            for j, (f, ds) in enumerate(files):
                args.append(f"DEF:m{i}f{j}={escape(f)}:{ds}:{cf}")
                parts.append(f"m{i}f{j}")
                used.append(f)
            expr = parts[0] + "".join(f",{p},ADDNAN" for p in parts[1:])
            args.append(f"CDEF:m{i}={m.rpn(expr, vcpus, host_cpus)}")
            names.append(f"m{i}")
        return args, names, used

    def history(
        self,
        el: Element,
        metrics: Sequence[Metric],
        start: int,
        end: int,
        cf: str = "AVERAGE",
        vcpus: int = 1,
        host_cpus: int = 1,
    ) -> History:
        """The metrics from start to end at the finest resolution the RRDs hold for that
        span; metrics without files are NaN columns."""
        cf = check_cf(cf)
        names = [m.name for m in metrics]
        args, vars_, used = self.defs(el, metrics, cf, vcpus, host_cpus)
        if not used:
            return History(
                start, 0, names, [], f"no metrics recorded for {describe(el)} (no RRD files)"
            )
        self._flush(used)
        any_var = next(v for v in vars_ if v)
        xp = []
        for v, n in zip(vars_, names, strict=True):
            if v is None:
                args.append(f"CDEF:{n}_nan={any_var},POP,UNKN")
                v = f"{n}_nan"
            xp.append(f"XPORT:{v}:{n}")
        try:
            res = rrdtool.xport(
                "-s", str(int(start)), "-e", str(int(end)), "--maxrows", "1000000", *args, *xp
            )
        except rrdtool.OperationalError as exc:
            return History(start, 0, names, [], f"RRD files of {describe(el)}: {exc}")
        meta = res["meta"]
        rows = [[_nan(v) for v in row] for row in res["data"]]
        return History(int(meta["start"]), int(meta["step"]), names, rows)


def _listing(d: Path) -> list[str]:
    """The RRD files of an element directory, relative: ``name.rrd`` and, for a host,
    ``plugin-instance/name.rrd`` (one directory read per level, no glob per metric)."""
    out = []
    try:
        with os.scandir(d) as it:
            for e in it:
                if e.name.endswith(".rrd"):
                    out.append(e.name)
                elif e.is_dir() and not e.name.startswith("virt-"):
                    try:
                        with os.scandir(e.path) as sub:
                            out += [f"{e.name}/{s.name}" for s in sub if s.name.endswith(".rrd")]
                    except OSError:
                        continue
    except OSError:
        return []
    return out


def describe(el: Element) -> str:
    return f"host {el.backend!r}" if el.uuid is None else f"VM {el.uuid} of {el.backend!r}"


_readers: dict[tuple, RrdReader] = {}


def reader_for(roots: Sequence[str | Path], daemon: str | None = None) -> RrdReader:
    """One reader per (roots, daemon), shared by the callers of one process."""
    key = (tuple(str(r) for r in roots), daemon)
    r = _readers.get(key)
    if r is None:
        r = _readers.setdefault(key, RrdReader(roots, daemon))
    return r
