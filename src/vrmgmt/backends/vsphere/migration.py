"""vSphere migration inside one vCenter: a VM moves to another ESXi host of it with
RelocateVM_Task (host and that host's cluster or compute resource pool; vMotion when
the VM runs, a cold migration when it is off). The task's progress is reported while it
runs. vcsim implements RelocateVM_Task. A mixin of VSphereManager.

A vSphere backend is one vCenter (one VRM_HostSystem); its ESXi hosts are the
migration_hosts() a VM can move between. Moving to another backend (another vCenter,
or a libvirt host) is not supported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyVmomi import vim, vmodl

from vrmgmt.backends.vsphere.session import _object_spec, _props, _Session, _view_spec
from vrmgmt.errors import BackendError, NotFound, NotSupported


class MigrationMixin:
    """Migration methods of VSphereManager (which provides _call, _retrieve,
    _find_moid, _task_fault, _task_info, task_timeout and backend_id)."""

    backend_id: str
    task_timeout: float
    _call: Callable[..., Any]
    _retrieve: Callable[..., list[Any]]
    _find_moid: Callable[..., str]
    _task_fault: Callable[..., Exception]

    def _esx_hosts(self, session: _Session) -> dict[str, Any]:
        """{ESXi host name: its HostSystem reference}."""
        ocs = self._retrieve(
            session, [_view_spec(session.view(vim.HostSystem), vim.HostSystem, ["name"])]
        )
        return {str(_props(oc).get("name")): oc.obj for oc in ocs}

    def migration_hosts(self) -> list[str]:
        return sorted(self._call(lambda s: list(self._esx_hosts(s))))

    def vm_host(self, uuid: str) -> str | None:
        def read(session: _Session) -> str | None:
            moid = self._find_moid(session, uuid)
            ref = session.ref(vim.VirtualMachine, moid)
            ocs = self._retrieve(session, [_object_spec(ref, vim.VirtualMachine, ["runtime.host"])])
            host = _props(ocs[0]).get("runtime.host") if ocs else None
            if host is None:
                return None
            hocs = self._retrieve(session, [_object_spec(host, vim.HostSystem, ["name"])])
            return str(_props(hocs[0]).get("name")) if hocs else None

        return self._call(read)

    def migrate_vm(
        self,
        uuid: str,
        target: object,
        live: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Move the VM to the ESXi host named ``target`` of this vCenter."""
        if not isinstance(target, str):
            raise NotSupported(
                f"vSphere backend {self.backend_id} moves VMs only between the ESXi hosts "
                "of its own vCenter"
            )

        def begin(session: _Session) -> str:
            hosts = self._esx_hosts(session)
            host = hosts.get(target)
            if host is None:
                raise NotFound(
                    f"vCenter of {self.backend_id} has no ESXi host {target!r} "
                    f"(it has: {', '.join(sorted(hosts)) or 'none'})"
                )
            pocs = self._retrieve(session, [_object_spec(host, vim.HostSystem, ["parent"])])
            parent = _props(pocs[0]).get("parent") if pocs else None
            pool = None
            if parent is not None:
                rocs = self._retrieve(
                    session, [_object_spec(parent, vim.ComputeResource, ["resourcePool"])]
                )
                pool = _props(rocs[0]).get("resourcePool") if rocs else None
            vm = session.ref(vim.VirtualMachine, self._find_moid(session, uuid))
            spec = vim.vm.RelocateSpec(host=host, pool=pool)
            try:
                return vm.RelocateVM_Task(spec=spec)._moId
            except (vim.fault.VimFault, vmodl.RuntimeFault) as fault:
                if isinstance(fault, vim.fault.NotAuthenticated):
                    raise
                raise self._task_fault(f"moving VM {uuid} to {target}", fault) from None

        task_id = self._call(begin, idempotent=False)
        self._wait_with_progress(f"moving VM {uuid} to {target}", task_id, progress)

    def _wait_with_progress(
        self, what: str, task_id: str, progress: Callable[[int], None] | None
    ) -> Any:
        deadline = time.monotonic() + self.task_timeout
        while True:
            info = self._call(lambda s: _progress_info(self, s, task_id))
            state = str(info.get("info.state"))
            if state == "success":
                return info.get("info.result")
            if state == "error":
                error = info.get("info.error")
                if error is None:
                    raise BackendError(f"{what} failed (task {task_id} gave no reason)")
                raise self._task_fault(what, error)
            if progress is not None and info.get("info.progress") is not None:
                progress(min(99, int(info["info.progress"])))
            if time.monotonic() >= deadline:
                raise BackendError(
                    f"{what}: task {task_id} did not finish within {self.task_timeout:g} s"
                )
            time.sleep(0.1)


def _progress_info(mgr: MigrationMixin, session: _Session, task_id: str) -> dict[str, Any]:
    ocs = mgr._retrieve(
        session,
        [
            _object_spec(
                session.ref(vim.Task, task_id),
                vim.Task,
                ["info.state", "info.error", "info.progress"],
            )
        ],
    )
    return _props(ocs[0]) if ocs else {}
