"""Migration of libvirt domains between two libvirt backends of the configuration
(virDomainMigrate3, client-managed: vrmgmt holds a connection to both daemons), live
when the domain runs and ``live`` is asked, paused-then-resumed otherwise, offline
(the definition only) when it is off. The domain ends up persistent on the target and
undefined on the source. A mixin of LibvirtManager.

While libvirt migrates, a watcher reads the source's job statistics (virDomainGetJobStats:
data processed of data total) and reports a percentage. The test driver cannot migrate
(everything lives in one connection): LibvirtManager does not advertise MIGRATION there
and migrate_vm answers NotSupported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import libvirt

from vrmgmt.backends.libvirt.connection import _raise_failure
from vrmgmt.errors import BackendError, NotSupported


class MigrationMixin:
    """Migration methods of LibvirtManager (which provides _call, _lookup, uri,
    backend_id and _driver_name)."""

    _call: Callable[..., object]
    _driver_name: Callable[[], str]
    _lookup: Callable[..., libvirt.virDomain]
    backend_id: str
    uri: str

    def migrate_vm(
        self,
        uuid: str,
        target: object,
        live: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Move the domain to ``target``, another LibvirtManager (its daemon); progress
        gets 0-100 as libvirt copies memory."""
        if not isinstance(target, MigrationMixin) or target is self:
            raise NotSupported(f"{self.uri} migrates VMs only to another libvirt daemon")
        for side in (self, target):
            if side._driver_name() == "TEST":
                raise NotSupported(
                    f"host {side.backend_id} ({side.uri}) is libvirt's test driver, "
                    "which cannot migrate VMs"
                )

        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            name = dom.name()
            active = bool(dom.isActive())
            flags = libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
            if not active:
                flags |= libvirt.VIR_MIGRATE_OFFLINE
            elif live:  # without LIVE QEMU pauses the guest for the copy, the target resumes it
                flags |= libvirt.VIR_MIGRATE_LIVE
            params = {libvirt.VIR_MIGRATE_PARAM_DEST_NAME: name}
            if active and _local(self.uri, target.uri):
                params[libvirt.VIR_MIGRATE_PARAM_URI] = "tcp://127.0.0.1"
            what = f"migrating VM {name!r} from {self.backend_id} to {target.backend_id}"

            def migrate(dconn: libvirt.virConnect) -> None:
                done = threading.Event()
                watcher = None
                if active and progress is not None:
                    watcher = threading.Thread(
                        target=_watch, args=(dom, progress, done), daemon=True
                    )
                    watcher.start()
                try:
                    new = dom.migrate3(dconn, params, flags)
                except libvirt.libvirtError as exc:
                    _raise_failure(conn, exc, what)
                finally:
                    done.set()
                    if watcher is not None:
                        watcher.join(timeout=2)
                if new is None:
                    raise BackendError(f"{what}: libvirt returned no domain on the target")

            target._call(migrate)

        self._call(run)


def _local(uri: str, other: str) -> bool:
    """Both daemons on this machine (no host part in either URI): the QEMU data stream
    then goes over 127.0.0.1 (libvirt would otherwise use the target's host name)."""
    return not urlsplit(uri).hostname and not urlsplit(other).hostname


def _watch(dom: libvirt.virDomain, progress: Callable[[int], None], done: threading.Event) -> None:
    """Report the share of memory copied while the migration runs."""
    while not done.wait(0.2):
        try:
            stats = dom.jobStats()
        except libvirt.libvirtError:
            return
        total = stats.get("data_total") or stats.get("memory_total") or 0
        processed = stats.get("data_processed") or stats.get("memory_processed") or 0
        if total:
            progress(min(99, int(100 * processed / total)))
