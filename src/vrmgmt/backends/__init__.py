"""Hypervisor backends: one Manager per configured VMM connection.

This package is the only place that imports hypervisor libraries (libvirt, pyVmomi).
"""

from __future__ import annotations

from vrmgmt.backends.base import Feature, HostPowerAction, Locality, Manager

__all__ = ["Feature", "HostPowerAction", "Locality", "Manager", "create_manager"]


def create_manager(backend_id: str, kind: str, **options) -> Manager:
    """Build the Manager for one backend entry of the configuration."""
    if kind == "libvirt":
        from vrmgmt.backends.libvirt import LibvirtManager

        return LibvirtManager(backend_id, **options)
    if kind == "vsphere":
        from vrmgmt.backends.vsphere import VSphereManager

        return VSphereManager(backend_id, **options)
    from vrmgmt.errors import ConfigError

    raise ConfigError(f"backend {backend_id!r}: unknown type {kind!r} (use libvirt or vsphere)")
