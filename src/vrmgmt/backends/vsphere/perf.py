"""vSphere performance counters: the latest realtime sample of STAT_COUNTERS for many
VMs, and for the backend's ESXi hosts, in ONE QueryPerf call (PerformanceManager,
vSphere Web Services API "Performance Counters"), the counter ids cached per session.

A vSphere backend is one VRM_HostSystem (DSP1057 Virtual System profile's host: the whole
vCenter or ESXi), so perf_sample() also sums its ESXi hosts into one host sample."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyVmomi import vim

from vrmgmt.backends.vsphere.session import _canonical_uuid, _props, _Session, _view_spec

#: realtime performance interval of ESXi/vCenter (seconds)
REALTIME_INTERVAL = 20

#: counters bulk_stats() reports: name -> scale applied to the raw value
STAT_COUNTERS: dict[str, float] = {
    "cpu.usage.average": 0.01,  # raw: hundredths of a percent -> percent
    "cpu.usagemhz.average": 1.0,  # MHz
    "mem.consumed.average": 1.0,  # KiB
    "mem.active.average": 1.0,  # KiB
    "net.usage.average": 1.0,  # KB/s
    "disk.usage.average": 1.0,  # KB/s
    "net.received.average": 1.0,  # KB/s
    "net.transmitted.average": 1.0,  # KB/s
    "disk.read.average": 1.0,  # KB/s
    "disk.write.average": 1.0,  # KB/s
}


class PerfMixin:
    """bulk_stats of VSphereManager (which provides _call and _retrieve)."""

    def _counters(self, session: _Session) -> dict[str, Any]:
        with session.lock:
            if session.counters is None:
                perf = session.content.perfManager
                session.counters = {
                    f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c
                    for c in (perf.perfCounter or [])
                }
            return session.counters

    def bulk_stats(self, uuids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        """Latest realtime sample of STAT_COUNTERS for many VMs, in ONE QueryPerf call.

        Keys are the VM UUIDs (unknown UUIDs and templates are left out); a VM that is
        not running has no realtime statistics and maps to {}. Values are in the counter's
        unit (KiB, KB/s, MHz) except cpu.usage.average, which is scaled to percent.
        """
        return self._perf(uuids, hosts=False)[0]

    def perf_sample(self) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """(bulk_stats() of all VMs, the host sample): still ONE RetrieveProperties and
        ONE QueryPerf, the connected ESXi hosts' HostSystems added to the QuerySpec list.

        The host sample aggregates the ESXi hosts that reported a counter:
        cpu.usage.average is their mean weighted by each host's CPU threads
        (summary.hardware.numCpuThreads, what VRM_HostSystem counts as its processors),
        so it stays "% of all the backend's CPUs"; every other counter (KiB, KB/s, MHz)
        is their sum. {} when no host reported anything.
        """
        return self._perf(None, hosts=True)

    def _perf(
        self, uuids: Iterable[str] | None, hosts: bool
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        wanted = None
        if uuids is not None:
            wanted = {c for c in (_canonical_uuid(u) for u in uuids) if c}

        def read(session: _Session) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
            specs = [
                _view_spec(
                    session.view(vim.VirtualMachine),
                    vim.VirtualMachine,
                    ["config.instanceUuid", "config.template", "runtime.powerState"],
                )
            ]
            if hosts:
                specs.append(
                    _view_spec(
                        session.view(vim.HostSystem),
                        vim.HostSystem,
                        ["summary.hardware", "runtime.connectionState"],
                    )
                )
            ocs = self._retrieve(session, specs)
            result: dict[str, dict[str, float]] = {}
            running: dict[str, str] = {}  # moid -> uuid
            threads: dict[str, int] = {}  # HostSystem moid -> CPU threads
            for oc in ocs:
                p = _props(oc)
                if isinstance(oc.obj, vim.HostSystem):
                    if str(p.get("runtime.connectionState", "connected")) == "connected":
                        hw = p.get("summary.hardware")
                        threads[oc.obj._moId] = int(getattr(hw, "numCpuThreads", 0) or 0)
                    continue
                uuid = (p.get("config.instanceUuid") or "").lower()
                if not uuid or p.get("config.template"):
                    continue
                if wanted is not None and uuid not in wanted:
                    continue
                result[uuid] = {}
                if str(p.get("runtime.powerState")) == "poweredOn":
                    running[oc.obj._moId] = uuid
            if not running and not threads:
                return result, {}
            counters = self._counters(session)
            known = {name: counters[name] for name in STAT_COUNTERS if name in counters}
            if not known:
                return result, {}
            by_key = {c.key: name for name, c in known.items()}
            metric_ids = [
                vim.PerformanceManager.MetricId(counterId=c.key, instance="")
                for c in known.values()
            ]
            specs = [
                vim.PerformanceManager.QuerySpec(
                    entity=session.ref(vim.VirtualMachine, moid),
                    metricId=metric_ids,
                    intervalId=REALTIME_INTERVAL,
                    maxSample=1,
                )
                for moid in running
            ] + [
                vim.PerformanceManager.QuerySpec(
                    entity=session.ref(vim.HostSystem, moid),
                    metricId=metric_ids,
                    intervalId=REALTIME_INTERVAL,
                    maxSample=1,
                )
                for moid in threads
            ]
            per_host: dict[str, dict[str, float]] = {m: {} for m in threads}
            for em in session.content.perfManager.QueryPerf(querySpec=specs) or []:
                moid = em.entity._moId
                if isinstance(em.entity, vim.HostSystem):
                    target = per_host.get(moid)
                else:
                    uuid = running.get(moid)
                    target = result[uuid] if uuid is not None else None
                if target is None:
                    continue
                for series in em.value or []:
                    name = by_key.get(series.id.counterId)
                    values = [v for v in (getattr(series, "value", None) or []) if v >= 0]
                    if name is None or series.id.instance or not values:
                        continue
                    target[name] = float(values[-1]) * STAT_COUNTERS[name]
            return result, aggregate_hosts(per_host, threads)

        return self._call(read)


def aggregate_hosts(
    per_host: dict[str, dict[str, float]], threads: dict[str, int]
) -> dict[str, float]:
    """One sample of several ESXi hosts: cpu.usage.average weighted by CPU threads (a host
    reporting 0 threads weighs 1), the other counters summed; only reported counters."""
    out: dict[str, float] = {}
    weight = 0
    for moid, sample in per_host.items():
        for name, v in sample.items():
            if name == "cpu.usage.average":
                w = max(threads.get(moid, 0), 1)
                out[name] = out.get(name, 0.0) + v * w
                weight += w
            else:
                out[name] = out.get(name, 0.0) + v
    if weight:
        out["cpu.usage.average"] /= weight
    return out
