"""The Manager interface: what the CIM layer needs from any hypervisor backend.

One Manager instance serves one configured backend (one libvirt URI, one vCenter or
ESXi). Managers return vrmgmt.model objects and raise vrmgmt.errors exceptions; they
never expose library objects. Methods may be called from several threads at once.

Each Manager says what it can do with ``features()`` (a set of Feature, so capabilities
classes advertise exactly what works) and which power actions take long with
``is_slow()`` (the CIM layer runs those as jobs). define_vm / modify_vm take the typed
specs of vrmgmt.model.specs.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterable, Iterator

from vrmgmt.errors import InvalidSpec, NotSupported
from vrmgmt.model import (
    Console,
    Host,
    HostOS,
    PoolInfo,
    PowerAction,
    PowerState,
    Snapshot,
    SnapshotKind,
    VirtualMachine,
    VMChange,
    VmEvent,
    VMSpec,
)


class Locality(enum.Enum):
    """Where a backend's host is, seen from vrmgmt (DESIGN.md "Host control")."""

    LOCAL = "local"  # the hypervisor runs on the machine vrmgmt runs on
    #: simulated inside vrmgmt's own process (libvirt's test driver): its host's
    #: operating system and processes are this machine's, but there is no host to power
    IN_PROCESS = "in-process"
    REMOTE = "remote"


class HostPowerAction(enum.Enum):
    REBOOT = "reboot"
    SHUTDOWN = "shutdown"


class Feature(enum.Enum):
    """An optional capability of a backend (beyond listing VMs and power actions)."""

    DEFINE = "define"  # define_vm
    MODIFY = "modify"  # modify_vm
    UNDEFINE = "undefine"  # undefine_vm
    SNAPSHOTS = "snapshots"  # create/list/revert/delete_snapshot
    MIGRATION = "migration"  # migrate_vm (to another host of the same kind)
    POOLS = "pools"  # resource pools (storage / compute)
    HOST_POWER = "host-power"  # power the host itself (standby, reboot)
    PROCESSES = "processes"  # processes inside the guest (through the guest agent)
    METRICS_SOURCE = "metrics-source"  # bulk_stats
    GUEST_AGENT = "guest-agent"  # VirtualMachine.guest_agent_running is reported
    PAUSE = "pause"  # PowerAction.PAUSE / RESUME of a paused VM
    SUSPEND = "suspend"  # PowerAction.SAVE (state to disk)


#: the Manager method that implements a Feature (None: nothing beyond reporting); a
#: backend has a feature when its driver can do it AND its class implements the method
FEATURE_METHODS: dict[Feature, str | None] = {
    Feature.DEFINE: "define_vm",
    Feature.MODIFY: "modify_vm",
    Feature.UNDEFINE: "undefine_vm",
    Feature.SNAPSHOTS: "create_snapshot",
    Feature.MIGRATION: "migrate_vm",
    Feature.POOLS: "list_pools",
    Feature.HOST_POWER: "host_power",
    Feature.PROCESSES: "list_processes",
    Feature.METRICS_SOURCE: "bulk_stats",
    Feature.GUEST_AGENT: None,
    Feature.PAUSE: None,
    Feature.SUSPEND: None,
}

# Which actions make sense from which state, for backends that have no finer rule (the
# libvirt backend). What is left out is what does not reach the requested state there,
# measured on libvirtd 9.0 + QEMU 7.2: a paused domain answers virDomainReboot and
# virDomainReset with success and stays paused (so REBOOT / RESET from PAUSED would
# report a transition that did not happen); shutdown of a paused domain, and reboot,
# reset, suspend or managed save of a shut-off one, fail (VIR_ERR_OPERATION_INVALID).
# The test driver is more lenient (it reboots a paused domain into running) and is held
# to the same rules. RequestStateChange answers 4097 for an action not listed here.
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
    PowerState.PAUSED: frozenset({PowerAction.RESUME, PowerAction.POWER_OFF, PowerAction.SAVE}),
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

    # -- events -----------------------------------------------------------------
    def watch(self, callback: Callable[[VmEvent], None]) -> bool:
        """Call callback(VmEvent) from a backend thread whenever the hypervisor pushes a
        VM change, from now on and again after every reconnect. False when this backend
        cannot push events (nothing is polled instead). callback must return quickly."""
        return False

    def watch_connection(self, callback: Callable[[bool, str], None]) -> bool:
        """Call callback(up, why) from a backend thread when the backend notices by
        itself that its connection is lost (up False: libvirt closed it, vSphere's
        update wait failed and a new session could not be made) or is back (up True).
        False when the backend notices nothing by itself (calls that fail tell the
        inventory instead). callback must return quickly."""
        return False

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

    def list_vms_with_devices(self) -> list[VirtualMachine]:
        """Like list_vms, but each VM with its disks, NICs, description and crash action
        as get_vm reads them (what the settings classes show). Backends whose listing
        has them already, or that can read them in one pass, override this."""
        return [self.get_vm(vm.uuid) for vm in self.list_vms()]

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

    def disk_support(self) -> tuple[bool, frozenset[str]]:
        """What define_vm / modify_vm do with DiskSpecs: (whether a disk without a source
        is created new from capacity_bytes, the DiskSpec kinds they add)."""
        return (False, frozenset({"disk", "cdrom"}))

    def cpu_allocation(self) -> tuple[str, frozenset[str]] | None:
        """The unit (CpuAllocation.unit) and fields ("reservation", "limit", "weight") of
        the processor allocation this backend reads into VirtualMachine.cpu and sets from
        VMSpec.cpu / VMChange.cpu; None when it has none."""
        return None

    def is_slow(self, action: PowerAction) -> bool:
        """True when perform(uuid, action) can take longer than about a second (the CIM
        layer then runs RequestStateChange as a job)."""
        return False

    def definitions_are_slow(self) -> bool:
        """True when define_vm / modify_vm / undefine_vm can take longer than about a
        second (the CIM layer then runs DefineSystem and friends as jobs)."""
        return False

    @property
    def long_call_timeout(self) -> float:
        """Bound for a call that waits for the hypervisor to finish work (define, modify,
        undefine, a slow power action): the call timeout here; vSphere adds the time it
        waits for a task."""
        return self.timeout

    # -- capabilities -------------------------------------------------------------
    def driver_features(self) -> frozenset[Feature]:
        """What the hypervisor behind this backend can do; features() narrows it to
        what this class implements. Backends override it."""
        return frozenset()

    def features(self) -> frozenset[Feature]:
        """The optional capabilities this backend really offers: those its driver has
        (driver_features) whose Manager method (FEATURE_METHODS) this class implements,
        and PAUSE / SUSPEND when supported_actions() has PAUSE / SAVE."""
        found = set()
        for feature in self.driver_features():
            method = FEATURE_METHODS[feature]
            if method is None or _overrides(type(self), method):
                found.add(feature)
        actions = self.supported_actions()
        if PowerAction.PAUSE in actions:
            found.add(Feature.PAUSE)
        if PowerAction.SAVE in actions:
            found.add(Feature.SUSPEND)
        return frozenset(found)

    @staticmethod
    def _check_spec(spec: object, kind: type) -> None:
        """A typed spec is required (InvalidSpec for a dict or anything else)."""
        if not isinstance(spec, kind):
            raise InvalidSpec(
                kind.__name__,
                f"a {kind.__name__} is required, got {type(spec).__name__} "
                f"(convert a mapping with {kind.__name__}.from_mapping)",
            )

    # -- optional capabilities (issue-by-issue) -----------------------------------
    def define_vm(self, spec: VMSpec) -> VirtualMachine:
        """Create a persistent VM from the spec; the new VM (powered off)."""
        raise NotSupported(f"{self.kind} backend cannot define VMs")

    def undefine_vm(self, uuid: str) -> None:
        raise NotSupported(f"{self.kind} backend cannot undefine VMs")

    def modify_vm(self, uuid: str, change: VMChange) -> VirtualMachine:
        """Apply the change (fields left None / empty stay as they are); the VM as it
        is afterwards."""
        raise NotSupported(f"{self.kind} backend cannot modify VMs")

    def create_snapshot(
        self, uuid: str, name: str, description: str = "", memory: bool = False
    ) -> str:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def snapshot_kinds(self, vm: VirtualMachine) -> frozenset[SnapshotKind]:
        """The kinds of snapshot create_snapshot can take of the VM as it is now
        (FULL: memory=True, DISK: memory=False); none without Feature.SNAPSHOTS."""
        return frozenset()

    def snapshots_are_slow(self) -> bool:
        """True when creating, reverting or deleting a snapshot can take longer than
        about a second (the CIM layer then runs them as jobs)."""
        return False

    def list_snapshots(self, uuid: str) -> list[Snapshot]:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def revert_snapshot(self, uuid: str, snapshot_id: str) -> None:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    def delete_snapshot(self, uuid: str, snapshot_id: str, remove_children: bool = False) -> None:
        raise NotSupported(f"{self.kind} backend has no snapshots")

    # -- migration (Feature.MIGRATION) ---------------------------------------------------
    def migration_hosts(self) -> list[str]:
        """Hosts inside this backend a VM can move to without leaving it (vSphere: the
        ESXi hosts of the vCenter); [] where a backend is one host."""
        return []

    def vm_host(self, uuid: str) -> str | None:
        """Which of migration_hosts() runs the VM (None where a backend is one host)."""
        return None

    def migrate_vm(
        self,
        uuid: str,
        target: Manager | str,
        live: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Move the VM to ``target``: another backend of the same kind (its Manager) or
        a host of migration_hosts() (its name); live (running on) where possible.
        ``progress`` gets 0-100 while it runs. Blocks until the VM is there."""
        raise NotSupported(f"{self.kind} backend cannot migrate VMs")

    def consoles(self, uuid: str) -> list[Console]:
        """How to reach the running VM's display ([] when it is not running or has
        none); NotSupported where the backend cannot tell."""
        raise NotSupported(f"{self.kind} backend has no console access")

    def list_pools(self) -> list[PoolInfo]:
        """The storage pools (datastores) and networks (port groups) of this backend's
        host, with real capacity and free space (Feature.POOLS); the host's processors
        and memory come from host()."""
        raise NotSupported(f"{self.kind} backend has no resource pools")

    def bulk_stats(self, uuids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        raise NotSupported(f"{self.kind} backend has no bulk statistics")

    def perf_sample(self) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """(bulk_stats() of all VMs, the host's own sample) in one backend round; a backend
        that cannot measure its host returns {} for it."""
        return self.bulk_stats(), {}

    # -- the host itself: locality, operating system, VM processes, power -------------
    def locality(self) -> Locality:
        """Where this backend's host is; the inventory reads the operating system and
        processes of LOCAL and IN_PROCESS hosts from this machine."""
        return Locality.REMOTE

    def operating_system(self) -> HostOS:
        """What the hypervisor reports about its host's operating system (used for
        remote hosts; unknown fields None)."""
        raise NotSupported(f"{self.kind} backend does not report the host's operating system")

    def vm_process_ids(self) -> dict[str, int]:
        """VM UUID -> PID of the process that runs it (local hypervisors whose VMs are
        processes, e.g. QEMU and LXC); {} when not known."""
        return {}

    def host_power(self, action: HostPowerAction, force: bool = False) -> None:
        """Reboot or shut down the host through the hypervisor's API (Feature.HOST_POWER).
        Slow (runs as a job)."""
        raise NotSupported(f"{self.kind} backend cannot power its host")


def _overrides(cls: type, method: str) -> bool:
    """Does cls implement ``method`` (present, and not Manager's NotSupported default)?"""
    impl = getattr(cls, method, None)
    return impl is not None and impl is not getattr(Manager, method, None)
