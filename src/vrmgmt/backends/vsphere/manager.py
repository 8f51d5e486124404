"""VSphereManager: the Manager interface over one vCenter Server or standalone ESXi host
(see the package docstring for the choices visible to the CIM layer).

VMs are read in bulk with the PropertyCollector; power actions, snapshots, define,
modify and undefine run as vSphere tasks. The session lives in session.py, task waits
in tasks.py, placement in placement.py, spec conversion in specs.py, QueryPerf in perf.py,
snapshots in snapshots.py, migration in migration.py, datastores and networks in
pools.py, property-to-model conversion in vms.py, pushed VM changes (watch) in events.py.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyVmomi import vim

from vrmgmt.backends.base import Feature, Manager
from vrmgmt.backends.vsphere import specs as vs_specs
from vrmgmt.backends.vsphere.consoles import ConsolesMixin
from vrmgmt.backends.vsphere.events import EventsMixin
from vrmgmt.backends.vsphere.hostpower import HostPowerMixin
from vrmgmt.backends.vsphere.migration import MigrationMixin
from vrmgmt.backends.vsphere.perf import PerfMixin
from vrmgmt.backends.vsphere.placement import PlacementMixin, _owner_kind, _Placement
from vrmgmt.backends.vsphere.pools import PoolsMixin
from vrmgmt.backends.vsphere.session import (
    SessionMixin,
    _canonical_uuid,
    _is_vcenter,
    _object_spec,
    _props,
    _Secret,
    _Session,
    _utc,
    _view_spec,
)
from vrmgmt.backends.vsphere.snapshots import SnapshotsMixin
from vrmgmt.backends.vsphere.specs import (
    _DeviceChanges,
    _find_disk,
    _find_nic,
    _Network,
)
from vrmgmt.backends.vsphere.tasks import TasksMixin
from vrmgmt.backends.vsphere.vms import (
    _POWER_STATES,
    _VM_PATHS,
    cpu_allocation_info,
    cpu_allocation_of,
    devices_of,
)
from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    InvalidSpec,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)
from vrmgmt.model import (
    Host,
    PowerAction,
    PowerState,
    VirtualMachine,
    VMChange,
    VMSpec,
)

log = logging.getLogger(__name__)

#: options accepted from the configuration (create_manager(id, "vsphere", **options))
OPTIONS = (
    "host",
    "port",
    "username",
    "password",
    "verify_tls",
    "ca_file",
    "timeout",
    "task_timeout",
)


_BASE_TRANSITIONS: dict[PowerState, frozenset[PowerAction]] = {
    PowerState.RUNNING: frozenset({PowerAction.POWER_OFF, PowerAction.SAVE, PowerAction.RESET}),
    PowerState.SUSPENDED: frozenset({PowerAction.START, PowerAction.RESUME, PowerAction.POWER_OFF}),
    PowerState.OFF: frozenset({PowerAction.START}),
}
_GUEST_ACTIONS = frozenset({PowerAction.SHUTDOWN, PowerAction.REBOOT})
#: power actions performed as vSphere tasks (is_slow)
_TASK_ACTIONS = frozenset(
    {
        PowerAction.START,
        PowerAction.RESUME,
        PowerAction.POWER_OFF,
        PowerAction.SAVE,
        PowerAction.RESET,
    }
)

_HOST_PATHS = [
    "name",
    "summary.hardware",
    "summary.quickStats.overallMemoryUsage",
    "runtime.connectionState",
]


@dataclass(slots=True)
class _VmState:
    moid: str
    name: str
    state: PowerState
    tools_running: bool


class VSphereManager(
    HostPowerMixin,
    SnapshotsMixin,
    MigrationMixin,
    ConsolesMixin,
    PoolsMixin,
    PerfMixin,
    PlacementMixin,
    TasksMixin,
    EventsMixin,
    SessionMixin,
    Manager,
):
    """Manager for one vCenter Server or ESXi host; safe to use from several threads."""

    kind = "vsphere"

    def __init__(
        self,
        backend_id: str,
        host: str | None = None,
        port: int = 443,
        username: str | None = None,
        password: str | None = None,
        verify_tls: bool = True,
        ca_file: str | None = None,
        timeout: float = 10.0,
        task_timeout: float | None = None,
        **unknown: Any,
    ):
        where = f"backend {backend_id!r} (vsphere)"
        if unknown:
            raise ConfigError(
                f"{where}: unknown option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(OPTIONS)}"
            )
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"{where}: option 'host' (vCenter or ESXi host name) is required")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"{where}: option 'port' must be an integer 1-65535")
        if not isinstance(username, str) or not username:
            raise ConfigError(f"{where}: option 'username' is required")
        if not isinstance(password, str):
            raise ConfigError(f"{where}: option 'password' is required")
        if not isinstance(verify_tls, bool):
            raise ConfigError(f"{where}: option 'verify_tls' must be true or false")
        if ca_file is not None and (not isinstance(ca_file, str) or not os.path.isfile(ca_file)):
            raise ConfigError(f"{where}: ca_file {ca_file!r} is not a readable file")
        for name, value in (("timeout", timeout), ("task_timeout", task_timeout)):
            if value is None and name == "task_timeout":
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                raise ConfigError(f"{where}: option {name!r} must be a positive number of seconds")
        super().__init__(backend_id, timeout=float(timeout))
        self._host = host.strip()
        self._port = port
        self._username = _Secret(username)
        self._password = _Secret(password)
        self._verify_tls = verify_tls
        self._ca_file = ca_file
        #: bound for vSphere tasks (power operations, snapshots) to finish
        self.task_timeout = float(task_timeout) if task_timeout else max(60.0, 6 * self.timeout)
        self._lock = threading.Lock()  # guards _session (login, re-login, close)
        self._session: _Session | None = None
        self._login_error: BackendUnavailable | None = None  # how the last login failed
        self._login_failed_at = 0.0  # and when (time.monotonic())
        self._tools: dict[str, bool] = {}  # uuid -> VMware Tools running, as last read
        self._init_events()

    def __repr__(self) -> str:
        return f"<VSphereManager {self.backend_id!r} {self.url}>"

    @property
    def long_call_timeout(self) -> float:
        """A task's wait (task_timeout) plus the calls that start and poll it."""
        return self.task_timeout + 2 * self.timeout

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"https://{host}:{self._port}/sdk"

    # -- property reads ------------------------------------------------------------------
    def _portgroup_spec(self, session: _Session) -> Any:
        return _view_spec(
            session.view(vim.dvs.DistributedVirtualPortgroup),
            vim.dvs.DistributedVirtualPortgroup,
            ["key", "name"],
        )

    def _read_vms(self, session: _Session, vm_moid: str | None = None) -> list[VirtualMachine]:
        """VMs from ONE RetrieveContents call (all VMs, or the one with vm_moid)."""
        if vm_moid is None:
            vm_spec = _view_spec(session.view(vim.VirtualMachine), vim.VirtualMachine, _VM_PATHS)
        else:
            vm_spec = _object_spec(
                session.ref(vim.VirtualMachine, vm_moid), vim.VirtualMachine, _VM_PATHS
            )
        specs = [vm_spec]
        if _is_vcenter(session.content.about):
            specs.append(self._portgroup_spec(session))
        portgroups: dict[str, str] = {}
        vm_contents = []
        for oc in self._retrieve(session, specs):
            if isinstance(oc.obj, vim.dvs.DistributedVirtualPortgroup):
                p = _props(oc)
                portgroups[p.get("key") or oc.obj._moId] = p.get("name", "")
            elif isinstance(oc.obj, vim.VirtualMachine):
                vm_contents.append(oc)
        vms = []
        for oc in vm_contents:
            vm = self._to_vm(_props(oc), portgroups)
            if vm is not None:
                vms.append(vm)
        return vms

    def _to_vm(self, p: dict[str, Any], portgroups: dict[str, str]) -> VirtualMachine | None:
        uuid = p.get("config.instanceUuid")
        if not uuid or p.get("config.template"):
            return None  # template, or a VM without configuration (inaccessible)
        uuid = uuid.lower()
        state = _POWER_STATES.get(str(p.get("runtime.powerState")), PowerState.UNKNOWN)
        if str(p.get("runtime.connectionState", "connected")) != "connected":
            state = PowerState.UNKNOWN  # disconnected / orphaned / inaccessible
        tools = str(p.get("guest.toolsRunningStatus")) == "guestToolsRunning"
        self._tools[uuid] = tools
        uptime = None
        boot = _utc(p.get("summary.runtime.bootTime"))
        if state is PowerState.RUNNING and boot is not None:
            uptime = max(0, int((datetime.now(UTC) - boot).total_seconds()))
        memory_kib = int(p.get("config.hardware.memoryMB") or 0) * 1024
        disks, nics = devices_of(p.get("config.hardware.device") or [], portgroups)
        return VirtualMachine(
            uuid=uuid,
            name=p.get("name", ""),
            backend_id=self.backend_id,
            state=state,
            vcpus=int(p.get("config.hardware.numCPU") or 0),
            memory_kib=memory_kib,
            max_memory_kib=memory_kib,
            virtual_system_type="VMware",
            persistent=True,
            autostart=False,
            uptime_s=uptime,
            os_type=p.get("config.guestId"),
            guest_agent_running=tools,
            disks=disks,
            nics=nics,
            description=p.get("config.annotation") or None,
            created=_utc(p.get("config.createDate")),
            cpu=cpu_allocation_of(p.get("config.cpuAllocation")),
        )

    def _find_moid(self, session: _Session, uuid: str) -> str:
        canonical = _canonical_uuid(uuid)
        if canonical is not None:
            ref = session.content.searchIndex.FindByUuid(None, canonical, True, True)
            if ref is not None:
                return ref._moId
        raise NotFound(f"no VM with UUID {uuid!r} on backend {self.backend_id!r}")

    def _vm_state(self, uuid: str) -> _VmState:
        def read(session: _Session) -> _VmState:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid),
                        vim.VirtualMachine,
                        [
                            "name",
                            "config.template",
                            "runtime.powerState",
                            "runtime.connectionState",
                            "guest.toolsRunningStatus",
                        ],
                    )
                ],
            )
            p = _props(ocs[0]) if ocs else {}
            if p.get("config.template"):
                raise NotFound(f"{uuid!r} on backend {self.backend_id!r} is a template")
            state = _POWER_STATES.get(str(p.get("runtime.powerState")), PowerState.UNKNOWN)
            if str(p.get("runtime.connectionState", "connected")) != "connected":
                state = PowerState.UNKNOWN
            tools = str(p.get("guest.toolsRunningStatus")) == "guestToolsRunning"
            self._tools[_canonical_uuid(uuid) or uuid.lower()] = tools
            return _VmState(moid, p.get("name", ""), state, tools)

        return self._call(read)

    # -- host ---------------------------------------------------------------------------
    def host(self) -> Host:
        def read(session: _Session) -> Host:
            about = session.content.about
            ocs = self._retrieve(
                session, [_view_spec(session.view(vim.HostSystem), vim.HostSystem, _HOST_PATHS)]
            )
            models: list[str] = []
            cpu_count = cpu_mhz = total_kib = free_kib = 0
            have_free = False
            unreachable = 0
            for oc in ocs:
                p = _props(oc)
                hw = p.get("summary.hardware")
                connected = str(p.get("runtime.connectionState", "connected")) == "connected"
                if not connected:
                    unreachable += 1
                if hw is None:
                    continue
                if hw.cpuModel and hw.cpuModel not in models:
                    models.append(hw.cpuModel)
                cpu_count += int(hw.numCpuThreads or 0)
                cpu_mhz = max(cpu_mhz, int(hw.cpuMhz or 0))
                host_kib = int(hw.memorySize or 0) // 1024
                total_kib += host_kib
                used_mb = p.get("summary.quickStats.overallMemoryUsage")
                if connected and used_mb is not None:
                    have_free = True
                    free_kib += max(0, host_kib - int(used_mb) * 1024)
            detail = ""
            if unreachable:
                detail = f"{unreachable} of {len(ocs)} ESXi hosts not connected"
            return Host(
                backend_id=self.backend_id,
                hostname=self._host,
                hypervisor_type="VMware vCenter" if _is_vcenter(about) else "VMware ESX",
                hypervisor_version=about.version or "",
                virtual_system_type="VMware",
                cpu_model="; ".join(models),
                cpu_count=cpu_count,
                cpu_mhz=cpu_mhz,
                memory_total_kib=total_kib,
                memory_free_kib=free_kib if have_free else None,
                uri=self.url,
                status_detail=detail,
            )

        return self._call(read)

    # -- VMs ----------------------------------------------------------------------------
    def list_vms(self) -> list[VirtualMachine]:
        return self._call(self._read_vms)

    def get_vm(self, uuid: str) -> VirtualMachine:
        def read(session: _Session) -> VirtualMachine:
            vms = self._read_vms(session, self._find_moid(session, uuid))
            if not vms:
                raise NotFound(
                    f"{uuid!r} on backend {self.backend_id!r} is a template or inaccessible"
                )
            return vms[0]

        return self._call(read)

    def supported_actions(self) -> frozenset[PowerAction]:
        return frozenset(PowerAction) - {PowerAction.PAUSE}

    def disk_support(self) -> tuple[bool, frozenset[str]]:
        """New disks are created from capacity_bytes; no CD/DVD drives are added."""
        return (True, frozenset({"disk"}))

    def cpu_allocation(self) -> tuple[str, frozenset[str]] | None:
        """config.cpuAllocation: reservation and limit in MHz, shares."""
        return ("MHz", frozenset({"reservation", "limit", "weight"}))

    def driver_features(self) -> frozenset[Feature]:
        """vCenter and ESXi alike: define/modify/undefine, snapshots, QueryPerf
        statistics, VMware Tools state (guest_agent_running); resource pools and host
        power exist on both, migration (vMotion) needs vCenter. features() keeps those
        this class implements. No pause (supported_actions() has no PAUSE)."""
        found = {
            Feature.DEFINE,
            Feature.MODIFY,
            Feature.UNDEFINE,
            Feature.SNAPSHOTS,
            Feature.METRICS_SOURCE,
            Feature.GUEST_AGENT,
            Feature.POOLS,
            Feature.HOST_POWER,
        }
        session = self._session
        if session is None or _is_vcenter(session.content.about):
            found.add(Feature.MIGRATION)  # unknown until logged in: assume vCenter
        return frozenset(found)

    def list_vms_with_devices(self) -> list[VirtualMachine]:
        """The listing reads every VM's devices and annotation already."""
        return self.list_vms()

    def definitions_are_slow(self) -> bool:
        """Defining, reconfiguring and destroying a VM are vSphere tasks."""
        return True

    def is_slow(self, action: PowerAction) -> bool:
        """Every power action that is a vSphere task (power on/off, suspend, reset) is
        waited for up to ``task_timeout``; ShutdownGuest / RebootGuest only ask VMware
        Tools and return at once. PAUSE does not exist here."""
        return action in _TASK_ACTIONS

    @staticmethod
    def _transitions(state: PowerState, tools_running: bool) -> frozenset[PowerAction]:
        actions = _BASE_TRANSITIONS.get(state, frozenset())
        if state is PowerState.RUNNING and tools_running:
            actions = actions | _GUEST_ACTIONS
        return actions

    def possible_actions(self, vm: VirtualMachine) -> frozenset[PowerAction]:
        tools = self._tools.get(vm.uuid)
        if tools is None and vm.state is PowerState.RUNNING:
            try:
                tools = self._vm_state(vm.uuid).tools_running
            except (NotFound, BackendUnavailable, BackendError):
                tools = False
        return self._transitions(vm.state, bool(tools))

    def perform(self, uuid: str, action: PowerAction) -> None:
        if action is PowerAction.PAUSE:
            raise NotSupported("vSphere cannot pause a VM; use SAVE (suspend) instead")
        vm = self._vm_state(uuid)
        if action not in self._transitions(vm.state, vm.tools_running):
            if action in _GUEST_ACTIONS and vm.state is PowerState.RUNNING:
                raise InvalidStateTransition(
                    f"cannot {action.value} VM {vm.name!r}: VMware Tools are not running "
                    "in the guest (use power-off or reset instead)"
                )
            raise InvalidStateTransition(
                f"cannot {action.value} VM {vm.name!r} in state {vm.state.value}"
            )
        what = f"{action.value} VM {vm.name!r}"
        if action in _GUEST_ACTIONS:
            method = "ShutdownGuest" if action is PowerAction.SHUTDOWN else "RebootGuest"

            def guest(session: _Session) -> None:
                try:
                    getattr(session.ref(vim.VirtualMachine, vm.moid), method)()
                except (vim.fault.ToolsUnavailable, vim.fault.InvalidState) as fault:
                    raise self._task_fault(what, fault) from None

            self._call(guest, idempotent=False)
            return
        method = {
            PowerAction.START: "PowerOnVM_Task",
            PowerAction.RESUME: "PowerOnVM_Task",
            PowerAction.POWER_OFF: "PowerOffVM_Task",
            PowerAction.SAVE: "SuspendVM_Task",
            PowerAction.RESET: "ResetVM_Task",
        }[action]
        self._run_task(what, lambda s: getattr(s.ref(vim.VirtualMachine, vm.moid), method)())

    # -- define / modify / undefine -----------------------------------------------------
    def define_vm(self, spec: VMSpec) -> VirtualMachine:
        """Create a VM (CreateVM_Task) from a VMSpec; the new VM, powered off.

        What vSphere reads of the spec:

        - ``name`` (vSphere refuses a second object of that name in the folder, and so
          does this method, before creating anything), ``memory_mib`` (memoryMB; real
          ESXi also wants a multiple of 4 MiB and refuses other sizes itself),
          ``vcpus``, ``uuid`` (sets ``config.instanceUuid``, which is the VM's identity
          here), ``description`` (the VM's annotation). ``max_memory_mib`` must equal
          ``memory_mib`` if given (a vSphere VM has one memory size); ``os_type`` may
          only be "hvm"; ``autostart`` is NotSupported; ``arch``, ``machine`` and the
          other libvirt-only fields are ignored.
        - vSphere only: ``guest_id`` (guest OS identifier, default "otherGuest64"),
          ``datacenter``, ``folder`` (a VM folder), ``resource_pool`` (a resource pool, or
          a cluster or standalone host meaning its root pool), ``datastore`` (for the VM's
          files, ``files.vmPathName = "[datastore]"``), all by name. By default the VM goes
          into the first datacenter's VM folder, the first compute resource's root
          resource pool and that compute resource's first accessible datastore. A name
          that does not exist (or that several objects share) raises BackendError listing
          the available names. ``scsi_controller``: the controller added for the disks,
          "paravirtual" (default), "lsilogic", "lsilogic-sas" or "buslogic"; none is added
          for a VM without disks.
        - ``disks`` (DiskSpec: ``capacity_bytes`` (a new disk of that size, a multiple of 1024,
          created in the VM's directory, or at ``source`` if that names a datastore path,
          "[ds] dir/x.vmdk" or just "[ds]"), ``source`` (without ``capacity_bytes``: an
          existing VMDK to attach, "[ds] dir/x.vmdk"), ``provisioning`` ("thin" default,
          "thick", "eagerzeroedthick")). ``bus`` may only be "scsi"; ``kind`` only "disk"
          (NotSupported otherwise); ``device`` is ignored: vSphere labels disks itself
          ("Hard disk 1", ...), and those labels are what Disk.device reports.
        - ``nics`` (NicSpec: ``network`` (required: the name of a standard or distributed port
          group, or NSX opaque network, reachable from the chosen compute resource; an
          unknown name raises BackendError listing the available ones), ``mac`` (a static
          MAC, addressType "manual": vCenter accepts only 00:50:56:00:00:00 to
          00:50:56:3f:ff:ff there; without it vSphere generates one), ``model``
          ("vmxnet3" default, "e1000e", "e1000", "vmxnet2", "pcnet32")). ``bridge`` is
          NotSupported: vSphere connects NICs to port groups.
        """
        self._check_spec(spec, VMSpec)
        _check_cpu(spec.cpu, "VMSpec.cpu")
        vs_specs.check_vm_spec(spec)
        name = spec.name
        controller = vs_specs.controller_class(spec.scsi_controller)
        disks = [vs_specs.disk_request(d, f"VMSpec.disks[{i}]") for i, d in enumerate(spec.disks)]
        nics = [vs_specs.nic_request(n, f"VMSpec.nics[{i}]") for i, n in enumerate(spec.nics)]
        what = f"define VM {name!r}"

        def prepare(session: _Session) -> tuple[_Placement, dict[str, _Network]]:
            place = self._placement(session, spec)
            folder = session.ref(vim.Folder, place.folder)
            if session.content.searchIndex.FindChild(folder, name) is not None:
                raise BackendError(
                    f"cannot {what}: folder {place.folder_name!r} of datacenter "
                    f"{place.datacenter!r} already holds an object of that name"
                )
            where = f"on {_owner_kind(place.owner)} {place.owner_name!r}"
            nets = self._networks(session, place.owner, [n.network for n in nics], where)
            return place, nets

        place, nets = self._call(prepare)
        changes = _DeviceChanges([], controller)
        for d in disks:
            changes.add_disk(d)
        for n in nics:
            changes.add_nic(n, nets[n.network], connected=False)
        config = vim.vm.ConfigSpec(
            name=name,
            numCPUs=spec.vcpus,
            memoryMB=spec.memory_mib,
            guestId=spec.guest_id or vs_specs.DEFAULT_GUEST_ID,
            files=vim.vm.FileInfo(vmPathName=f"[{place.datastore}]"),
            deviceChange=changes.changes,
        )
        if spec.uuid:
            config.instanceUuid = spec.uuid
        if spec.description:
            config.annotation = spec.description
        if spec.cpu is not None:
            config.cpuAllocation = cpu_allocation_info(spec.cpu)
        try:
            result = self._run_task(
                what,
                lambda s: s.ref(vim.Folder, place.folder).CreateVM_Task(
                    config=config, pool=s.ref(vim.ResourcePool, place.pool)
                ),
            )
        except NotFound as exc:  # a fault about the spec, not a missing VM
            raise BackendError(str(exc)) from None
        moid = getattr(result, "_moId", None)
        if not moid:
            raise BackendError(f"{what}: the task returned no VM")
        log.info("vsphere backend %s: defined VM %r (%s)", self.backend_id, name, moid)
        vms = self._call(lambda s: self._read_vms(s, moid))
        if not vms:
            raise BackendError(f"{what}: the new VM {moid} cannot be read back")
        return vms[0]

    def modify_vm(self, uuid: str, change: VMChange) -> VirtualMachine:
        """Change vCPUs, memory and devices in ONE ReconfigVM_Task; the VM afterwards.

        ``change.add_disks`` / ``add_nics`` are read as define_vm reads ``disks`` /
        ``nics``; a new disk goes on a free unit of an existing SCSI controller, or on a
        controller added with it (``change.scsi_controller`` picks its type).
        ``remove_disks`` name disks by label ("Hard disk 2") or backing file ("[ds]
        vm/vm_1.vmdk", or its file name "vm_1.vmdk"): by default a disk is only detached
        and its VMDK stays on the datastore (as the libvirt backend leaves disk images);
        with ``destroy_removed_disks`` the VMDKs are deleted too (fileOperation
        "destroy"). CD/DVD and floppy drives are removed by label the same way.
        ``remove_nics`` name NICs by MAC address (any case) or label ("Network adapter
        1"). Removals happen before additions. A name that matches nothing raises
        NotFound.

        On a powered-on VM vSphere hot-adds disks and NICs; vCPU and memory changes then
        need CPU/memory hot add enabled in the VM (vSphere refuses them otherwise:
        InvalidStateTransition, power the VM off first).
        """
        self._check_spec(change, VMChange)
        _check_cpu(change.cpu, "VMChange.cpu")
        if change.autostart is not None:
            raise NotSupported(
                "vsphere backend: autostart is a per-host setting (AutoStartManager) that "
                "vrmgmt does not manage"
            )
        n_cpus = change.vcpus
        memory_mb = change.memory_mib
        disk_reqs = [
            vs_specs.disk_request(d, f"VMChange.add_disks[{i}]")
            for i, d in enumerate(change.add_disks)
        ]
        nic_reqs = [
            vs_specs.nic_request(n, f"VMChange.add_nics[{i}]")
            for i, n in enumerate(change.add_nics)
        ]
        controller = vs_specs.controller_class(change.scsi_controller)
        destroy = change.destroy_removed_disks

        def prepare(session: _Session) -> tuple[str, dict[str, Any], dict[str, _Network]]:
            moid = self._find_moid(session, uuid)
            ocs = self._retrieve(
                session,
                [
                    _object_spec(
                        session.ref(vim.VirtualMachine, moid),
                        vim.VirtualMachine,
                        [
                            "name",
                            "config.template",
                            "config.hardware.device",
                            "runtime.powerState",
                            "runtime.host",
                        ],
                    )
                ],
            )
            p = _props(ocs[0]) if ocs else {}
            if not p or p.get("config.template") or "config.hardware.device" not in p:
                raise NotFound(
                    f"{uuid!r} on backend {self.backend_id!r} is a template or inaccessible"
                )
            nets: dict[str, _Network] = {}
            if nic_reqs:
                host = p.get("runtime.host")
                if host is None:
                    raise BackendError(f"VM {p.get('name')!r} has no host: cannot add a NIC")
                where = f"on the host of VM {p.get('name')!r}"
                nets = self._networks(session, host, [n.network for n in nic_reqs], where)
            return moid, p, nets

        moid, props, nets = self._call(prepare)
        name = props.get("name", "")
        devices = list(props.get("config.hardware.device") or [])
        changes = _DeviceChanges(devices, controller)
        for disk_key in change.remove_disks:
            dev = _find_disk(devices, disk_key)
            if dev is None:
                raise NotFound(f"VM {name!r} has no disk {disk_key!r}")
            changes.remove(dev, destroy=destroy and isinstance(dev, vim.vm.device.VirtualDisk))
        for nic_key in change.remove_nics:
            dev = _find_nic(devices, nic_key)
            if dev is None:
                raise NotFound(f"VM {name!r} has no NIC {nic_key!r}")
            changes.remove(dev)
        for disk_req in disk_reqs:
            changes.add_disk(disk_req)
        running = str(props.get("runtime.powerState")) == "poweredOn"
        for nic_req in nic_reqs:
            changes.add_nic(nic_req, nets[nic_req.network], connected=running)
        config = vim.vm.ConfigSpec()
        if n_cpus is not None:
            config.numCPUs = n_cpus
        if memory_mb is not None:
            config.memoryMB = memory_mb
        if changes.changes:
            config.deviceChange = changes.changes
        renamed = change.name is not None and change.name != name
        if renamed:
            config.name = change.name
        if change.description is not None:
            config.annotation = change.description
        if change.cpu is not None:
            config.cpuAllocation = cpu_allocation_info(change.cpu)
        settings = renamed or change.description is not None or change.cpu is not None
        if n_cpus is not None or memory_mb is not None or changes.changes or settings:
            try:
                self._run_task(
                    f"modify VM {name!r}",
                    lambda s: s.ref(vim.VirtualMachine, moid).ReconfigVM_Task(spec=config),
                )
            except InvalidStateTransition as exc:
                if n_cpus is None and memory_mb is None:
                    raise
                raise InvalidStateTransition(
                    f"{exc} (changing vCPUs or memory of a powered-on VM needs CPU/memory "
                    "hot add enabled in it; power it off first)"
                ) from None
        vms = self._call(lambda s: self._read_vms(s, moid))
        if not vms:
            raise NotFound(f"VM {uuid!r} on backend {self.backend_id!r} vanished")
        return vms[0]

    def undefine_vm(self, uuid: str) -> None:
        """Delete the VM (Destroy_Task, vSphere's "Delete from Disk").

        The VM must be powered off (or suspended) first: a powered-on VM is refused with
        InvalidStateTransition, unlike the libvirt backend, which powers a running VM off
        and removes its definition. Destroy_Task removes the VM from the inventory AND
        deletes its files from the datastore, its virtual disks included (libvirt leaves
        disk images behind): detach a disk to keep with modify_vm (remove_disks) first.
        NotFound for an unknown UUID or a template.
        """
        vm = self._vm_state(uuid)
        if vm.state is PowerState.RUNNING:
            raise InvalidStateTransition(
                f"cannot undefine VM {vm.name!r}: it is powered on, and vSphere deletes only "
                "powered-off VMs; power it off first"
            )
        what = f"undefine VM {vm.name!r}"
        try:
            self._run_task(what, lambda s: s.ref(vim.VirtualMachine, vm.moid).Destroy_Task())
        except InvalidStateTransition as exc:  # powered on meanwhile
            raise InvalidStateTransition(f"{exc} (the VM must be powered off first)") from None
        self._tools.pop(_canonical_uuid(uuid) or uuid.lower(), None)
        log.info("vsphere backend %s: undefined VM %r (%s)", self.backend_id, vm.name, vm.moid)


def _check_cpu(cpu, field: str) -> None:
    if cpu is not None and cpu.unit != "MHz":
        raise InvalidSpec(
            f"{field}.unit", f"vSphere takes processor allocations in MHz, not {cpu.unit}"
        )
