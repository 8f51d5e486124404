"""vSphere metrics collector: every realtime interval (20 s) one QueryPerf call per vSphere
backend for all its running VMs and its connected ESXi hosts (Manager.perf_sample, through
the inventory), written as RRDs in collectd's layout under ``<root>/<backend id>/`` so
that one reader (vrmgmt.metrics.rrd) serves both hypervisor families (DESIGN.md "Metrics";
DSP1053 Base Metrics values of the VMs and of the VRM_HostSystem).

Files (GAUGE data sources, collectd's RRA layout at a 20 s step; values already rates).
Per VM, in ``virt-<uuid>/``: ``virt_cpu_total.rrd`` (ns of CPU per s = cpu.usage.average %
x vCPUs x 10^7, which the reader turns back into % of the VM's vCPUs), ``memory-total.rrd``
(mem.consumed, bytes), ``if_octets-vsphere.rrd`` (net.received / net.transmitted, bytes/s),
``disk_octets-vsphere.rrd`` (disk.read / disk.write, bytes/s).
For the host (the backend's ESXi hosts as one, see PerfMixin.perf_sample: CPU % weighted
by CPU threads, the rest summed), as collectd's cpu (ValuesPercentage, not by CPU),
memory, interface and disk plugins name them: ``cpu/percent-idle.rrd`` (100 -
cpu.usage.average), ``memory/memory-used.rrd`` (mem.consumed, bytes),
``interface-vsphere/if_octets.rrd`` (rx/tx, bytes/s), ``disk-vsphere/disk_octets.rrd``
(read/write, bytes/s). The host's load and users are not collected (vSphere has neither).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import rrdtool

from vrmgmt.errors import VrmError

log = logging.getLogger("vrmgmt.metrics.vsphere")
STEP = 20  # vSphere's realtime interval
ROWS = 1200
TIMESPANS = (3600, 86400, 604800, 2678400, 31622400)
KIB = 1024.0


def rras(step: int = STEP, rows: int = ROWS) -> list[str]:
    """collectd's RRAs (utils_rrdcreate.c) for a step: hour … year x AVERAGE/MIN/MAX."""
    out, cdp_len = [], 0
    layout = []
    for span in TIMESPANS:
        if span // step < rows:
            span = step * rows
        cdp_len = 1 if cdp_len == 0 else int(math.floor(span / (rows * step)))
        layout.append((cdp_len, int(math.ceil(span / (cdp_len * step)))))
    for cf in ("AVERAGE", "MIN", "MAX"):
        out += [f"RRA:{cf}:0.1:{pdp}:{n}" for pdp, n in layout]
    return out


def files_for(stats: dict[str, float], vcpus: int) -> dict[str, dict[str, float]]:
    """{file name: {DS: value}} of one VM's sample (only what the sample has)."""
    out: dict[str, dict[str, float]] = {}
    if "cpu.usage.average" in stats:
        out["virt_cpu_total.rrd"] = {"value": stats["cpu.usage.average"] * max(vcpus, 1) * 1e7}
    if "mem.consumed.average" in stats:
        out["memory-total.rrd"] = {"value": stats["mem.consumed.average"] * KIB}
    if "net.received.average" in stats or "net.transmitted.average" in stats:
        out["if_octets-vsphere.rrd"] = {
            "rx": stats.get("net.received.average", math.nan) * KIB,
            "tx": stats.get("net.transmitted.average", math.nan) * KIB,
        }
    if "disk.read.average" in stats or "disk.write.average" in stats:
        out["disk_octets-vsphere.rrd"] = {
            "read": stats.get("disk.read.average", math.nan) * KIB,
            "write": stats.get("disk.write.average", math.nan) * KIB,
        }
    return out


def host_files_for(stats: dict[str, float]) -> dict[str, dict[str, float]]:
    """{file relative to the host directory: {DS: value}} of the host sample."""
    out: dict[str, dict[str, float]] = {}
    if "cpu.usage.average" in stats:
        out["cpu/percent-idle.rrd"] = {"value": 100.0 - stats["cpu.usage.average"]}
    if "mem.consumed.average" in stats:
        out["memory/memory-used.rrd"] = {"value": stats["mem.consumed.average"] * KIB}
    vm_like = files_for(stats, 1)
    if "if_octets-vsphere.rrd" in vm_like:
        out["interface-vsphere/if_octets.rrd"] = vm_like["if_octets-vsphere.rrd"]
    if "disk_octets-vsphere.rrd" in vm_like:
        out["disk-vsphere/disk_octets.rrd"] = vm_like["disk_octets-vsphere.rrd"]
    return out


def _value(v: float) -> str:
    return "U" if math.isnan(v) else repr(float(v))


def write(
    root: Path,
    backend_id: str,
    stats: dict[str, dict[str, float]],
    vcpus: dict[str, int],
    when: int,
) -> int:
    """Write one sample per VM at `when` (epoch s); returns the number of files updated."""
    n = 0
    for uuid, sample in stats.items():
        d = root / backend_id / f"virt-{uuid.lower()}"
        n += _update(d, files_for(sample, vcpus.get(uuid, 1)), when)
    return n


def write_host(root: Path, backend_id: str, stats: dict[str, float], when: int) -> int:
    """Write the host sample at `when` under ``<root>/<backend id>/``; files updated."""
    return _update(root / backend_id, host_files_for(stats), when)


def _update(d: Path, files: dict[str, dict[str, float]], when: int) -> int:
    n = 0
    for name, values in files.items():
        f = d / name
        if not f.is_file():
            f.parent.mkdir(parents=True, exist_ok=True)
            ds = [f"DS:{k}:GAUGE:{2 * STEP}:0:U" for k in values]
            rrdtool.create(str(f), "-s", str(STEP), "-b", str(when - STEP), *ds, *rras())
        try:
            rrdtool.update(
                str(f),
                "-t",
                ":".join(values),
                f"{when}:" + ":".join(map(_value, values.values())),
            )
            n += 1
        except rrdtool.OperationalError as exc:  # e.g. a sample older than the last
            log.debug("%s: %s", f, exc)
    return n


class VSphereCollector:
    """Collects every vSphere backend of the inventory into the first RRD root."""

    def __init__(self, inventory, root: Path, interval: float = STEP):
        self.inventory = inventory
        self.root = Path(root)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the last sample written per backend ({uuid: {counter: value}})
        self.last: dict[str, dict[str, dict[str, float]]] = {}
        #: the last host sample written per backend ({counter: value})
        self.last_host: dict[str, dict[str, float]] = {}

    def backends(self) -> list[str]:
        return [b for b in self.inventory.backend_ids() if self.inventory.kind_of(b) == "vsphere"]

    def collect_once(self, when: int | None = None) -> int:
        """One QueryPerf per vSphere backend, written at `when` (default: now)."""
        t = int(time.time()) if when is None else int(when)
        n = 0
        for bid in self.backends():
            try:
                stats, host = self.inventory.perf_sample(bid)
                vcpus = {v.uuid: v.vcpus or 1 for v in self.inventory.vms_of(bid)}
            except VrmError as exc:
                log.info("vSphere metrics of %s not collected: %s", bid, exc)
                continue
            n += write(self.root, bid, stats, vcpus, t)
            n += write_host(self.root, bid, host, t)
            self.last[bid] = stats
            self.last_host[bid] = host
        return n

    def start(self) -> bool:
        if not self.backends():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="vsphere-perf", daemon=True)
        self._thread.start()
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.collect_once()
            except Exception:  # noqa: BLE001 - the collector must keep running
                log.exception("vSphere metrics collection failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
