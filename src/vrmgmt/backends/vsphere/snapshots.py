"""vSphere snapshots: create (with or without memory), the snapshot tree, revert and
delete, each as a task with the bounded wait of tasks.py. Snapshot ids are the
snapshots' managed object ids. A mixin of VSphereManager."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyVmomi import vim

from vrmgmt.backends.vsphere.session import _object_spec, _props, _Session, _utc
from vrmgmt.backends.vsphere.vms import _POWER_STATES
from vrmgmt.errors import BackendError, NotFound
from vrmgmt.model import PowerState, Snapshot, SnapshotKind, VirtualMachine


class SnapshotsMixin:
    """Snapshot methods of VSphereManager (which provides _call, _retrieve, _run_task,
    _vm_state and _find_moid)."""

    backend_id: str

    # -- snapshots ----------------------------------------------------------------------
    def snapshot_kinds(self, vm: VirtualMachine) -> frozenset[SnapshotKind]:
        """Both kinds at any time: CreateSnapshot_Task takes the memory of a running VM
        or leaves it out (of a VM that is off there is none to take)."""
        return frozenset(SnapshotKind)

    def snapshots_are_slow(self) -> bool:
        """Every snapshot operation is a vSphere task."""
        return True

    def create_snapshot(
        self, uuid: str, name: str, description: str = "", memory: bool = False
    ) -> str:
        """Take a snapshot (of the memory too when ``memory`` and the VM runs); its id."""
        if not isinstance(name, str) or not name:
            raise BackendError("a snapshot needs a non-empty name")
        vm = self._vm_state(uuid)
        result = self._run_task(
            f"snapshot VM {vm.name!r}",
            lambda s: s.ref(vim.VirtualMachine, vm.moid).CreateSnapshot_Task(
                name=name,
                description=description or "",
                memory=bool(memory) and vm.state is PowerState.RUNNING,
                quiesce=False,
            ),
        )
        return result._moId

    def list_snapshots(self, uuid: str) -> list[Snapshot]:
        """The VM's snapshot tree: root snapshots, each with its children."""

        def read(session: _Session) -> list[Snapshot]:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid), vim.VirtualMachine, ["snapshot"]
                    )
                ],
            )
            info = _props(ocs[0]).get("snapshot") if ocs else None
            if info is None:
                return []
            current = info.currentSnapshot._moId if info.currentSnapshot else None

            def convert(node: Any) -> Snapshot:
                sid = node.snapshot._moId
                return Snapshot(
                    id=sid,
                    name=node.name or "",
                    description=node.description or "",
                    created=_utc(node.createTime),
                    state=_POWER_STATES.get(str(node.state), PowerState.UNKNOWN),
                    current=sid == current,
                    children=[convert(c) for c in (node.childSnapshotList or [])],
                )

            return [convert(n) for n in (info.rootSnapshotList or [])]

        return self._call(read)

    def _check_snapshot(self, uuid: str, snapshot_id: str) -> None:
        def ids(nodes: list[Snapshot]) -> Iterable[str]:
            for n in nodes:
                yield n.id
                yield from ids(n.children)

        if snapshot_id not in set(ids(self.list_snapshots(uuid))):
            raise NotFound(
                f"VM {uuid!r} on backend {self.backend_id!r} has no snapshot {snapshot_id!r}"
            )

    def revert_snapshot(self, uuid: str, snapshot_id: str) -> None:
        self._check_snapshot(uuid, snapshot_id)
        self._run_task(
            f"revert VM {uuid} to snapshot {snapshot_id}",
            lambda s: s.ref(vim.vm.Snapshot, snapshot_id).RevertToSnapshot_Task(),
        )

    def delete_snapshot(self, uuid: str, snapshot_id: str, remove_children: bool = False) -> None:
        self._check_snapshot(uuid, snapshot_id)
        self._run_task(
            f"delete snapshot {snapshot_id} of VM {uuid}",
            lambda s: s.ref(vim.vm.Snapshot, snapshot_id).RemoveSnapshot_Task(
                removeChildren=bool(remove_children), consolidate=True
            ),
        )
