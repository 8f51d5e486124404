"""Bulk VM statistics over libvirt: one virConnectGetAllDomainStats call for many
domains, its per-domain records reduced to flat float metrics (metrics() is pure)."""

from __future__ import annotations

from typing import Any

import libvirt

from vrmgmt.backends.libvirt.connection import _UNSUPPORTED

# Stat groups bulk_stats asks for, and the metrics it returns (values are floats).
_STATS_GROUPS = (
    libvirt.VIR_DOMAIN_STATS_STATE
    | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
    | libvirt.VIR_DOMAIN_STATS_BALLOON
    | libvirt.VIR_DOMAIN_STATS_VCPU
    | libvirt.VIR_DOMAIN_STATS_INTERFACE
    | libvirt.VIR_DOMAIN_STATS_BLOCK
)
#: libvirt stat keys copied as they are (units: ns, KiB, count)
STAT_KEYS = (
    "state.state",
    "state.reason",
    "cpu.time",
    "cpu.user",
    "cpu.system",
    "balloon.current",
    "balloon.maximum",
    "balloon.rss",
    "balloon.unused",
    "balloon.available",
    "vcpu.current",
    "vcpu.maximum",
)
#: per-device libvirt stat keys summed over all NICs / disks: "net.<i>.rx.bytes" -> "net.rx.bytes"
STAT_SUMS = {
    "net": ("rx.bytes", "tx.bytes", "rx.pkts", "tx.pkts", "rx.errs", "tx.errs"),
    "block": ("rd.bytes", "wr.bytes", "rd.reqs", "wr.reqs"),
}


def read_all(conn: libvirt.virConnect, wanted: set[str] | None) -> dict[str, dict[str, float]]:
    """Metrics of every domain (or those whose lower-case UUID is in ``wanted``)."""
    flags = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
    try:
        records = conn.getAllDomainStats(_STATS_GROUPS, flags)
    except libvirt.libvirtError as exc:
        code = exc.get_error_code()
        if not flags or code not in _UNSUPPORTED | {libvirt.VIR_ERR_INVALID_ARG}:
            raise
        records = conn.getAllDomainStats(_STATS_GROUPS, 0)  # daemon without NOWAIT
    out: dict[str, dict[str, float]] = {}
    for dom, stats in records:
        uuid = dom.UUIDString().lower()
        if wanted is not None and uuid not in wanted:
            continue
        out[uuid] = metrics(stats)
    return out


def metrics(stats: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in STAT_KEYS:
        value = stats.get(key)
        if isinstance(value, int | float):
            out[key] = float(value)
    for group, fields in STAT_SUMS.items():
        count = int(stats.get(f"{group}.count", 0) or 0)
        if not count:
            continue
        for name in fields:
            values = [stats.get(f"{group}.{i}.{name}") for i in range(count)]
            present = [float(v) for v in values if isinstance(v, int | float)]
            if present:
                out[f"{group}.{name}"] = sum(present)
    return out
