"""Storage pools and networks of a libvirt host (virStoragePool, virNetwork) as
vrmgmt.model.PoolInfo: a mixin of LibvirtManager.

virStoragePoolGetInfo gives (state, capacity, allocation, available) in bytes, what
``virsh pool-info`` prints; the pool XML its type and target path (the directory its
images live in). An inactive pool reports no sizes (None). Networks have no size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import libvirt

from vrmgmt.backends.libvirt import domain_xml as dx
from vrmgmt.backends.libvirt.connection import _UNSUPPORTED
from vrmgmt.model import PoolInfo


class PoolsMixin:
    """list_pools of LibvirtManager (which provides _call)."""

    _call: Callable[..., object]

    def list_pools(self) -> list[PoolInfo]:
        """Every storage pool and network (defined or active), in one call."""

        def read(conn: libvirt.virConnect) -> list[PoolInfo]:
            return _storage_pools(conn) + _networks(conn)

        return self._call(read)  # type: ignore[return-value]


def _storage_pools(conn: libvirt.virConnect) -> list[PoolInfo]:
    try:
        pools = conn.listAllStoragePools(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _UNSUPPORTED:
            return []  # a driver without storage pools (e.g. some remote setups)
        raise
    out = []
    for pool in pools:
        try:
            active = bool(pool.isActive())
            _state, capacity, _allocation, available = pool.info()
            xml = dx.parse(pool.XMLDesc(0))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_POOL:
                continue  # undefined while we listed
            raise
        out.append(
            PoolInfo(
                kind="disk",
                name=pool.name(),
                capacity_bytes=int(capacity) if active else None,
                available_bytes=int(available) if active else None,
                path=(xml.findtext("target/path") or "").strip() or None,
                active=active,
                detail=xml.get("type", ""),
            )
        )
    return out


def _networks(conn: libvirt.virConnect) -> list[PoolInfo]:
    try:
        nets = conn.listAllNetworks(0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in _UNSUPPORTED:
            return []
        raise
    out = []
    for net in nets:
        bridge = ""
        with contextlib.suppress(libvirt.libvirtError):
            bridge = net.bridgeName() or ""
        try:
            active = bool(net.isActive())
        except libvirt.libvirtError:
            continue  # undefined while we listed
        out.append(PoolInfo(kind="net", name=net.name(), active=active, detail=bridge))
    return out
