"""The Manager interface: what the CIM layer needs from any hypervisor backend.

One Manager instance serves one configured backend (one libvirt URI, one vCenter or
ESXi). Managers return vrmgmt.model objects and raise vrmgmt.errors exceptions; they
never expose library objects. Methods may be called from several threads at once.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator

from vrmgmt.errors import NotSupported
from vrmgmt.model import Host, PowerAction, PowerState, Snapshot, VirtualMachine

# Which actions make sense from which state, for backends that have no finer rule.
DEFAULT_TRANSITIONS: dict[PowerState, frozenset[PowerAction]] = {
    PowerState.RUNNING: frozenset(
        {
            PowerAction.POWER_OFF,
            PowerAction.SHUTDOWN,
            PowerAction.SAVE,
            PowerAction.PAUSE,
            PowerAction.REBOOT,
            PowerAction.RESET,
        }
    ),
    PowerState.PAUSED: frozenset(
        {PowerAction.RESUME, PowerAction.POWER_OFF, PowerAction.SAVE, PowerAction.RESET}
    ),
    PowerState.SUSPENDED: frozenset({PowerAction.START, PowerAction.POWER_OFF}),
    PowerState.OFF: frozenset({PowerAction.START}),
    PowerState.CRASHED: frozenset({PowerAction.POWER_OFF, PowerAction.START}),
    PowerState.SHUTTING_DOWN: frozenset({PowerAction.POWER_OFF}),
    PowerState.STARTING: frozenset({PowerAction.POWER_OFF}),
    PowerState.UNKNOWN: frozenset(),
}


ALL_ACTIONS = frozenset(PowerAction)


class Manager(abc.ABC):
    """Per-VMM manager. Subclasses implement the abstract methods; the rest are optional
    capabilities that raise NotSupported until a backend provides them."""

    #: backend kind, e.g. "libvirt" or "vsphere"
    kind: str = ""

    def __init__(self, backend_id: str, timeout: float = 10.0):
        self.backend_id = backend_id
        self.timeout = timeout

    # -- connection -------------------------------------------------------------
    @abc.abstractmethod
    def connect(self) -> None:
        """Open (or re-open) the connection; raise BackendUnavailable on failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection. Safe to call twice."""

    # -- host -------------------------------------------------------------------
    @abc.abstractmethod
    def host(self) -> Host:
        """Facts about the hypervisor host behind this backend."""

    # -- VMs --------------------------------------------------------------------
    @abc.abstractmethod
    def list_vms(self) -> list[VirtualMachine]:
        """Every VM the backend knows (running or defined), in one bulk call if possible."""

    def iter_vms(self) -> Iterator[VirtualMachine]:
        """The VMs one by one; backends that can read them lazily override this so a
        huge host streams (pull enumerations) instead of being held in memory."""
        return iter(self.list_vms())

    @abc.abstractmethod
    def get_vm(self, uuid: str) -> VirtualMachine:
        """One VM by UUID (lower-case canonical form); NotFound if absent."""

    def find_vm_by_name(self, name: str) -> VirtualMachine:
        for vm in self.list_vms():
            if vm.name == name:
                return vm
        from vrmgmt.errors import NotFound

        raise NotFound(f"no VM named {name!r} on backend {self.backend_id!r}")

    def possible_actions(self, vm: VirtualMachine) -> frozenset[PowerAction]:
        """Actions that are valid for this VM in its current state. Must depend only on
        vm.state and vm.guest_agent_running (callers memoise it on those)."""
        return DEFAULT_TRANSITIONS.get(vm.state, frozenset()) & self.supported_actions()

    def supported_actions(self) -> frozenset[PowerAction]:
        """Actions this backend can perform at all (in some state)."""
        return ALL_ACTIONS

    @abc.abstractmethod
    def perform(self, uuid: str, action: PowerAction) -> None:
        """Carry out a power action. InvalidStateTransition if the state forbids it."""

    # -- optional capabilities (issue-by-issue) -----------------------------------
    def define_vm(self, spec: dict) -> VirtualMachine:
        raise NotSupported(f"{self.kind} backend cannot define VMs")

    def undefine_vm(self, uuid: str) -> None:
        raise NotSupported(f"{self.kind} backend cannot undefine VMs")

    def modify_vm(
        self,
        uuid: str,
        vcpus: int | None = None,
        memory_kib: int | None = None,
        add_disk: dict | None = None,
        remove_disk: str | dict | None = None,
        add_nic: dict | None = None,
        remove_nic: str | dict | None = None,
    ) -> VirtualMachine:
        """Change vCPUs, memory and devices; the VM as it is afterwards. add_* take
        dicts as in define_vm's spec; remove_disk names a device or its source,
        remove_nic a MAC address."""
        raise NotSupported(f"{self.kind} backend cannot modify VMs")

    def create_snapshot(
        self, uuid: str, name: str, description: str = "", memory: bool = False
    ) -> str:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def list_snapshots(self, uuid: str) -> list[Snapshot]:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def revert_snapshot(self, uuid: str, snapshot_id: str) -> None:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def delete_snapshot(self, uuid: str, snapshot_id: str, remove_children: bool = False) -> None:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def bulk_stats(self, uuids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        raise NotSupported(f"{self.kind} backend has no bulk statistics")
