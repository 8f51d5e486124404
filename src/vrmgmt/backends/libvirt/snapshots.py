"""Snapshots of libvirt domains (virDomainSnapshot): create, list as a tree, revert and
delete. A mixin of LibvirtManager; the snapshot XML is built and read by domain_xml.

The test and QEMU drivers have snapshots (QEMU internal snapshots need qcow2 disks, so
a diskless or raw-disk VM answers NotSupported/BackendError with libvirt's reason);
LXC has none (NotSupported; list_snapshots answers []).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import libvirt

from vrmgmt.backends.libvirt import domain_xml as dx
from vrmgmt.backends.libvirt.connection import _UNSUPPORTED, _raise_failure
from vrmgmt.errors import BackendError, NotFound
from vrmgmt.model import PowerState, Snapshot, SnapshotKind, VirtualMachine

T = TypeVar("T")


class SnapshotsMixin:
    """Snapshot methods of LibvirtManager (which provides _call and _lookup)."""

    _call: Callable[..., object]
    _driver_name: Callable[[], str]  # "QEMU", "TEST", "LXC", ... (upper case)
    _lookup: Callable[..., libvirt.virDomain]

    def snapshot_kinds(self, vm: VirtualMachine) -> frozenset[SnapshotKind]:
        """Test driver: both kinds. QEMU takes internal snapshots: of a running or
        paused VM only with its memory ("internal snapshot of a running VM must include
        the memory state"), of a VM that is off both (they are the same then). LXC:
        none."""
        driver = self._driver_name()
        if driver == "LXC":
            return frozenset()
        if driver == "QEMU" and vm.state in (PowerState.RUNNING, PowerState.PAUSED):
            return frozenset({SnapshotKind.FULL})
        return frozenset(SnapshotKind)

    def snapshots_are_slow(self) -> bool:
        """QEMU writes the memory and the disks' internal snapshots (seconds); the
        test driver answers at once."""
        return self._driver_name() != "TEST"

    def create_snapshot(
        self, uuid: str, name: str, description: str = "", memory: bool = False
    ) -> str:
        """Take a snapshot; its id (the snapshot name). With ``memory`` and a running VM
        the memory state is included; without, only the disks (and configuration)."""
        if not name or not name.strip():
            raise BackendError("a snapshot needs a non-empty name")
        if "/" in name:
            raise BackendError(f"snapshot name {name!r} must not contain '/'")

        def run(conn: libvirt.virConnect) -> str:
            dom = self._lookup(conn, uuid)
            xml = dx.snapshot_xml(name, description, with_memory=not dom.isActive() or memory)
            try:
                snap = dom.snapshotCreateXML(xml, 0)
            except libvirt.libvirtError as exc:
                _raise_failure(conn, exc, f"cannot snapshot VM {dom.name()!r}")
            return snap.getName()

        return self._call(run)  # type: ignore[return-value]

    def list_snapshots(self, uuid: str) -> list[Snapshot]:
        """The VM's snapshot tree: root snapshots, each with its children (by creation)."""

        def read(conn: libvirt.virConnect) -> list[Snapshot]:
            dom = self._lookup(conn, uuid)
            try:
                snaps = dom.listAllSnapshots(0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in _UNSUPPORTED:
                    return []  # a driver without snapshots has none
                raise
            return dx.snapshot_tree(
                [dx.parse_snapshot_xml(s.getXMLDesc(0), bool(s.isCurrent())) for s in snaps]
            )

        return self._call(read)  # type: ignore[return-value]

    def _snapshot(self, dom: libvirt.virDomain, snapshot_id: str) -> libvirt.virDomainSnapshot:
        try:
            return dom.snapshotLookupByName(snapshot_id, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in {libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT} | _UNSUPPORTED:
                raise NotFound(f"VM {dom.name()!r} has no snapshot {snapshot_id!r}") from None
            raise

    def revert_snapshot(self, uuid: str, snapshot_id: str) -> None:
        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            snap = self._snapshot(dom, snapshot_id)
            try:
                dom.revertToSnapshot(snap, 0)
            except libvirt.libvirtError as exc:
                _raise_failure(conn, exc, f"cannot revert to {snapshot_id!r}")

        self._call(run)

    def delete_snapshot(self, uuid: str, snapshot_id: str, remove_children: bool = False) -> None:
        """Delete one snapshot (its children are re-parented), or with ``remove_children``
        the snapshot and its whole subtree."""

        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            snap = self._snapshot(dom, snapshot_id)
            flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if remove_children else 0
            try:
                snap.delete(flags)
            except libvirt.libvirtError as exc:
                _raise_failure(conn, exc, f"cannot delete {snapshot_id!r}")

        self._call(run)
