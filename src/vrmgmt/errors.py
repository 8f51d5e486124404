"""Domain errors raised by backends and the inventory, free of CIM and hypervisor types.

The CIM layer maps each to a CIM status code (see vrmgmt.cim.errors).
"""

from __future__ import annotations


class VrmError(Exception):
    """Base class of vrmgmt's own errors."""


class NotFound(VrmError):
    """The named VM, host or object does not exist."""


class InvalidStateTransition(VrmError):
    """The requested action is not possible in the VM's current state (DSP1052 4097)."""


class NotSupported(VrmError):
    """The backend cannot do this at all."""


class BackendUnavailable(VrmError):
    """A backend could not be reached (down, hung past its timeout, refused login)."""

    def __init__(self, backend_id: str, detail: str):
        super().__init__(f"backend {backend_id!r} unavailable: {detail}")
        self.backend_id = backend_id
        self.detail = detail


class StaleVM(BackendUnavailable):
    """A change was asked of a VM whose backend cannot be reached: the VM is known only
    from its last known state, so nothing is attempted (and nothing waits)."""

    def __init__(self, vm, what: str):
        since = vm.stale_since.strftime("%Y-%m-%dT%H:%M:%SZ") if vm.stale_since else "?"
        super().__init__(vm.backend_id, vm.stale_reason)
        self.args = (
            f"{what} not performed: backend {vm.backend_id!r} is down "
            f"({vm.stale_reason}); VM {vm.name} ({vm.uuid}) is known only from its last "
            f"known state of {since}",
        )
        self.vm = vm


class BackendError(VrmError):
    """The hypervisor refused or failed an operation."""


class ConfigError(VrmError):
    """The configuration file is wrong; the message names the file and the problem."""


class LimitReached(VrmError):
    """A configured bound on stored objects (jobs, subscriptions, …) is reached; the
    message names the bound and what frees room."""


class InvalidSpec(VrmError):
    """A VM spec or change (vrmgmt.model.specs) is malformed; ``field`` names the bad
    field as ``Class.field`` (``VMSpec.disks[1].capacity_bytes``), ``reason`` says why.
    The CIM layer reports it as an invalid parameter."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class AlreadyExists(VrmError):
    """A record with this identity exists already (CIM_ERR_ALREADY_EXISTS)."""
