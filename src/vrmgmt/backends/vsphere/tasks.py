"""vSphere tasks: start one (never retried on a dropped connection), poll it with a
bounded wait (``task_timeout``), and turn a task fault into the vrmgmt error that says
what failed (InvalidStateTransition, NotSupported, NotFound, BackendError)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyVmomi import vim, vmodl

from vrmgmt.backends.vsphere.session import _fault_text, _object_spec, _props, _Session
from vrmgmt.errors import BackendError, InvalidStateTransition, NotFound, NotSupported


class TasksMixin:
    """Task methods of VSphereManager (which provides _call, _retrieve, _scrub and
    task_timeout)."""

    task_timeout: float

    def _task_fault(self, what: str, fault: BaseException) -> Exception:
        text = self._scrub(_fault_text(fault))
        if isinstance(fault, vim.fault.ToolsUnavailable):
            return InvalidStateTransition(f"{what}: VMware Tools are not running ({text})")
        if isinstance(fault, vim.fault.InvalidState | vim.fault.InvalidPowerState):
            return InvalidStateTransition(f"{what}: {text}")
        if isinstance(
            fault,
            vmodl.fault.NotSupported | vmodl.fault.MethodNotFound | vmodl.fault.NotImplemented,
        ):
            return NotSupported(f"{what}: {text}")
        if isinstance(fault, vim.fault.NotFound | vmodl.fault.ManagedObjectNotFound):
            return NotFound(f"{what}: {text}")
        return BackendError(f"{what} failed: {text}")

    def _task_info(self, session: _Session, task_id: str) -> dict[str, Any]:
        # Only these fields: reading all of Task.info also decodes info.entity, which
        # vcsim sets to the snapshot for snapshot tasks, and pyVmomi rejects that type.
        ocs = self._retrieve(
            session,
            [
                _object_spec(
                    session.ref(vim.Task, task_id),
                    vim.Task,
                    ["info.state", "info.error", "info.result"],
                )
            ],
        )
        return _props(ocs[0]) if ocs else {}

    def _run_task(self, what: str, start: Callable[[_Session], Any]) -> Any:
        """Start a task (not retried on a dropped connection) and wait for it (bounded)."""

        def begin(session: _Session) -> str:
            try:
                return start(session)._moId
            except (vim.fault.VimFault, vmodl.RuntimeFault) as fault:
                if isinstance(fault, vim.fault.NotAuthenticated):
                    raise
                raise self._task_fault(what, fault) from None

        task_id = self._call(begin, idempotent=False)
        deadline = time.monotonic() + self.task_timeout
        delay = 0.02
        while True:
            info = self._call(lambda s: self._task_info(s, task_id))
            state = str(info.get("info.state"))
            if state == "success":
                return info.get("info.result")
            if state == "error":
                error = info.get("info.error")
                if error is None:
                    raise BackendError(f"{what} failed (task {task_id} gave no reason)")
                raise self._task_fault(what, error)
            if time.monotonic() >= deadline:
                raise BackendError(
                    f"{what}: task {task_id} did not finish within "
                    f"{self.task_timeout:g} s (state {state})"
                )
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
