"""Console access to libvirt domains: the VNC / SPICE displays of a running domain from
its live <graphics> elements (host and port QEMU listens on). A mixin of
LibvirtManager; the XML is read by domain_xml.parse_graphics."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

import libvirt

from vrmgmt.backends.libvirt import domain_xml as dx
from vrmgmt.model import Console


class ConsolesMixin:
    """Console methods of LibvirtManager (which provides _call, _lookup and uri)."""

    _call: Callable[..., object]
    _lookup: Callable[..., libvirt.virDomain]
    uri: str

    def consoles(self, uuid: str) -> list[Console]:
        """The running domain's displays ([] when it is not running or has none). A
        display listening on every address is reached at the URI's host (127.0.0.1
        for a local URI)."""
        default_host = urllib.parse.urlsplit(self.uri).hostname or "127.0.0.1"

        def read(conn: libvirt.virConnect) -> list[Console]:
            dom = self._lookup(conn, uuid)
            if not dom.isActive():
                return []
            return dx.parse_graphics(dom.XMLDesc(0), default_host)

        return self._call(read)  # type: ignore[return-value]
