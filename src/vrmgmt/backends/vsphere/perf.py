"""vSphere performance counters: the latest realtime sample of STAT_COUNTERS for many
VMs in ONE QueryPerf call (PerformanceManager), the counter ids cached per session."""

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
        wanted = None
        if uuids is not None:
            wanted = {c for c in (_canonical_uuid(u) for u in uuids) if c}

        def read(session: _Session) -> dict[str, dict[str, float]]:
            ocs = self._retrieve(
                session,
                [
                    _view_spec(
                        session.view(vim.VirtualMachine),
                        vim.VirtualMachine,
                        ["config.instanceUuid", "config.template", "runtime.powerState"],
                    )
                ],
            )
            result: dict[str, dict[str, float]] = {}
            running: dict[str, str] = {}  # moid -> uuid
            for oc in ocs:
                p = _props(oc)
                uuid = (p.get("config.instanceUuid") or "").lower()
                if not uuid or p.get("config.template"):
                    continue
                if wanted is not None and uuid not in wanted:
                    continue
                result[uuid] = {}
                if str(p.get("runtime.powerState")) == "poweredOn":
                    running[oc.obj._moId] = uuid
            if not running:
                return result
            counters = self._counters(session)
            known = {name: counters[name] for name in STAT_COUNTERS if name in counters}
            if not known:
                return result
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
            ]
            for em in session.content.perfManager.QueryPerf(querySpec=specs) or []:
                uuid = running.get(em.entity._moId)
                if uuid is None:
                    continue
                for series in em.value or []:
                    name = by_key.get(series.id.counterId)
                    values = [v for v in (getattr(series, "value", None) or []) if v >= 0]
                    if name is None or series.id.instance or not values:
                        continue
                    result[uuid][name] = float(values[-1]) * STAT_COUNTERS[name]
            return result

        return self._call(read)
