"""LibvirtManager: the Manager interface over libvirt-python for one libvirt URI (see
the package docstring for what each driver supports).

Reads domains in bulk (listAllDomains plus flag-filtered lists), maps libvirt's states
to vrmgmt.model.PowerState, performs power actions, and defines / modifies / undefines
domains from VMSpec / VMChange. The connection handling lives in connection.py, the
domain XML in domain_xml.py (pure), snapshots in snapshots.py, migration in
migration.py, storage pools and networks in pools.py, statistics in stats.py.
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import urllib.parse
from collections.abc import Callable, Iterable, Iterator

import libvirt
from lxml import etree

from vrmgmt.backends.base import Feature, Locality, Manager
from vrmgmt.backends.libvirt import domain_xml as dx
from vrmgmt.backends.libvirt import stats
from vrmgmt.backends.libvirt.connection import (
    _CONNECTION_LOST,
    _UNSUPPORTED,
    LibvirtConnection,
    _alive,
    _message,
    _raise_failure,
)
from vrmgmt.backends.libvirt.consoles import ConsolesMixin
from vrmgmt.backends.libvirt.events import LifecycleEvents
from vrmgmt.backends.libvirt.migration import MigrationMixin
from vrmgmt.backends.libvirt.pools import PoolsMixin
from vrmgmt.backends.libvirt.snapshots import SnapshotsMixin
from vrmgmt.errors import (
    BackendError,
    ConfigError,
    InvalidSpec,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)
from vrmgmt.model import (
    CpuAllocation,
    DiskSpec,
    Host,
    HostOS,
    NicSpec,
    PowerAction,
    PowerState,
    VirtualMachine,
    VMChange,
    VMSpec,
)

log = logging.getLogger(__name__)

_STATE = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.UNKNOWN,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.OFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}


_ALL_ACTIONS = frozenset(PowerAction)
_SUPPORTED_ACTIONS = {
    "LXC": _ALL_ACTIONS - {PowerAction.SAVE, PowerAction.RESET},
}

_UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA", 0)
    | getattr(libvirt, "VIR_DOMAIN_UNDEFINE_NVRAM", 0)
)


# -- the manager -----------------------------------------------------------------------------
class LibvirtManager(
    SnapshotsMixin,
    MigrationMixin,
    ConsolesMixin,
    PoolsMixin,
    LifecycleEvents,
    LibvirtConnection,
    Manager,
):
    kind = "libvirt"

    def __init__(
        self,
        backend_id: str,
        uri: str = "test:///default",
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        domain_type: str = "auto",
        keepalive_interval: int = 5,
        keepalive_count: int = 3,
        **unknown,
    ):
        if unknown:
            raise ConfigError(
                f"backend {backend_id!r}: unknown option(s) for libvirt: "
                + ", ".join(sorted(unknown))
            )
        super().__init__(backend_id, timeout)
        self.uri = uri
        #: <domain type> for define_vm: "auto" picks kvm/qemu (QEMU driver) or the driver's own
        self.domain_type = domain_type
        self.keepalive = (int(keepalive_interval), int(keepalive_count))
        self._init_connection(username, password)
        self._init_events()
        self._caps: etree._Element | None = None
        self._qemu_pid_dir: str | None = None

    def __repr__(self) -> str:
        return f"LibvirtManager({self.backend_id!r}, uri={self.uri!r})"

    def _opened(self, conn: libvirt.virConnect) -> None:
        self._caps = None
        self._qemu_pid_dir = self._find_qemu_pid_dir(conn)
        self._register_events(conn)

    # -- capabilities ---------------------------------------------------------------
    def _driver_name(self) -> str:
        """The connection's driver in upper case; before the first connection guessed
        from the URI scheme."""
        return (self._driver or _scheme_driver(self.uri)).upper()

    def driver_features(self) -> frozenset[Feature]:
        """What this URI's driver can do (see the package docstring): snapshots on all
        but LXC; migration only between daemons (not the test driver, which keeps
        everything in one connection); statistics from every driver; the QEMU guest
        agent state on QEMU. Before the first connection the driver is guessed from the
        URI scheme."""
        driver = (self._driver or _scheme_driver(self.uri)).upper()
        found = {Feature.DEFINE, Feature.MODIFY, Feature.UNDEFINE, Feature.METRICS_SOURCE}
        found |= {Feature.POOLS, Feature.HOST_POWER}
        if driver != "LXC":
            found.add(Feature.SNAPSHOTS)
        if driver != "TEST":
            found.add(Feature.MIGRATION)
        if driver == "QEMU":
            found.add(Feature.GUEST_AGENT)
        return frozenset(found)

    def is_slow(self, action: PowerAction) -> bool:
        """Graceful shutdown and reboot wait for the guest; managed save writes its
        memory out. Everything else is one quick libvirt call. The test driver answers
        every action at once."""
        driver = (self._driver or _scheme_driver(self.uri)).upper()
        if driver == "TEST":
            return False
        return action in (PowerAction.SHUTDOWN, PowerAction.REBOOT, PowerAction.SAVE)

    # -- host -------------------------------------------------------------------------
    def host(self) -> Host:
        def read(conn: libvirt.virConnect) -> Host:
            info = conn.getInfo()  # model, memory MiB, cpus, MHz, nodes, sockets, cores, threads
            try:
                free = conn.getFreeMemory() // 1024
            except libvirt.libvirtError:
                free = None
            driver = conn.getType()
            return Host(
                backend_id=self.backend_id,
                hostname=conn.getHostname(),
                hypervisor_type=driver,
                hypervisor_version=_version(conn.getVersion()),
                virtual_system_type=dx.virtual_system_type(driver, None),
                cpu_model=info[0],
                cpu_count=info[2],
                cpu_mhz=info[3],
                memory_total_kib=info[1] * 1024,
                memory_free_kib=free,
                uri=conn.getURI(),
            )

        return self._call(read)

    # -- the host: locality, operating system, VM processes -------------------------
    def locality(self) -> Locality:
        """The test driver runs in vrmgmt's process (IN_PROCESS); a URI without a host
        part (qemu:///system, lxc:///, qemu+unix:///system) is LOCAL; any other
        (qemu+ssh://h/system, qemu+tcp://...) is REMOTE."""
        parts = urllib.parse.urlsplit(self.uri)
        if _scheme_driver(self.uri).upper() == "TEST":
            return Locality.IN_PROCESS
        transport = parts.scheme.partition("+")[2].lower()
        if not parts.netloc and transport in ("", "unix"):
            return Locality.LOCAL
        return Locality.REMOTE

    def operating_system(self) -> HostOS:
        """What libvirt reports of a (remote) host: its memory; the rest is unknown."""

        def read(conn: libvirt.virConnect) -> HostOS:
            info = conn.getInfo()
            try:
                free: int | None = conn.getFreeMemory() // 1024
            except libvirt.libvirtError:
                free = None
            return HostOS(
                name=f"operating system of {conn.getHostname()}",
                total_memory_kib=info[1] * 1024,
                free_memory_kib=free,
                process_note=(
                    f"{self.uri} is a remote host: libvirt has no process API, so its "
                    "processes are not shown"
                ),
            )

        return self._call(read)

    def _vm_run_dir(self) -> str | None:
        """Where libvirt keeps the <name>.pid files of running domains (local QEMU
        system/session and LXC)."""
        if self.locality() is not Locality.LOCAL:
            return None
        driver = _scheme_driver(self.uri).upper()
        if driver == "LXC":
            return "/run/libvirt/lxc"
        if driver == "QEMU":
            if urllib.parse.urlsplit(self.uri).path == "/session":
                runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
                return os.path.join(runtime, "libvirt", "qemu", "run")
            return "/run/libvirt/qemu"
        return None

    def vm_process_ids(self) -> dict[str, int]:
        """Local QEMU / LXC: the PIDs in libvirt's pid files. The test driver simulates
        its running domains inside the process holding the connection, so that process
        (vrmgmt's own) is theirs."""
        in_process = self.locality() is Locality.IN_PROCESS
        run_dir = self._vm_run_dir()
        if run_dir is None and not in_process:
            return {}

        def read(conn: libvirt.virConnect) -> dict[str, int]:
            out = {}
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                if in_process or run_dir is None:
                    out[dom.UUIDString().lower()] = os.getpid()
                    continue
                try:
                    with open(os.path.join(run_dir, dom.name() + ".pid")) as f:
                        out[dom.UUIDString().lower()] = int(f.read().strip())
                except (OSError, ValueError):
                    continue
            return out

        return self._call(read)

    # -- VMs ------------------------------------------------------------------------
    def list_vms(self) -> list[VirtualMachine]:
        """All domains: one listAllDomains, three flag-filtered lists (managed save,
        autostart, transient) and info() per domain; the domain XML only on QEMU."""
        return self._call(lambda conn: list(self._convert(conn, *self._listing(conn))))

    def list_vms_with_devices(self) -> list[VirtualMachine]:
        """list_vms with each domain's XML read for its devices (one pass, one call)."""
        return self._call(
            lambda conn: list(self._convert(conn, *self._listing(conn), details=True))
        )

    def iter_vms(self) -> Iterator[VirtualMachine]:
        """Like list_vms, but only the listing happens now; each VM is read when the
        iterator reaches it, so a huge host is never held in memory as VM objects."""
        conn, listing = self._call(lambda c: (c, self._listing(c)))
        return self._lazy(conn, listing)

    def _lazy(self, conn, listing) -> Iterator[VirtualMachine]:
        try:
            yield from self._convert(conn, *listing)
        except libvirt.libvirtError as exc:
            raise BackendError(f"reading VMs of {self.backend_id!r}: {_message(exc)}") from None

    def _listing(self, conn: libvirt.virConnect) -> tuple:
        doms = conn.listAllDomains(0)
        if not doms:
            return ([], set(), set(), set())
        saved = _uuid_set(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)
        auto = _uuid_set(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
        transient = _uuid_set(conn, libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
        return (doms, saved, auto, transient)

    def _convert(
        self, conn, doms, saved, auto, transient, details: bool = False
    ) -> Iterator[VirtualMachine]:
        driver = self._driver or conn.getType()
        for dom in doms:
            try:
                uuid = dom.UUIDString()
                vm = self._build(
                    dom,
                    driver,
                    uuid in saved,
                    uuid in auto,
                    uuid not in transient,
                    details=details,
                    uuid=uuid,
                )
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
                continue  # a domain undefined while we listed: skip it
            yield vm

    def get_vm(self, uuid: str) -> VirtualMachine:
        return self._call(lambda conn: self._vm(conn, self._lookup(conn, uuid), details=True))

    def _lookup(self, conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain:
        try:
            return conn.lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_INVALID_ARG):
                raise NotFound(f"no VM with UUID {uuid} on backend {self.backend_id!r}") from None
            raise

    def _vm(
        self, conn: libvirt.virConnect, dom: libvirt.virDomain, details: bool
    ) -> VirtualMachine:
        """One domain, its flags read per domain (a listing reads them in bulk)."""
        autostart = False
        with contextlib.suppress(libvirt.libvirtError):
            autostart = bool(dom.autostart())
        return self._build(
            dom,
            self._driver or conn.getType(),
            saved=bool(dom.hasManagedSaveImage(0)),
            autostart=autostart,
            persistent=bool(dom.isPersistent()),
            details=details,
        )

    def _build(
        self,
        dom: libvirt.virDomain,
        driver: str,
        saved: bool,
        autostart: bool,
        persistent: bool,
        details: bool,
        uuid: str | None = None,
    ) -> VirtualMachine:
        """The VirtualMachine of a domain; the domain XML is read for details, and on
        QEMU hosts, which run both KVM and plain-QEMU (TCG) domains."""
        state_code, max_mem, mem, vcpus, cpu_time = dom.info()
        state = _STATE.get(state_code, PowerState.UNKNOWN)
        if state is PowerState.OFF and saved:
            state = PowerState.SUSPENDED
        vm = VirtualMachine(
            uuid=uuid or dom.UUIDString(),  # virUUIDFormat writes lower-case hex already
            name=dom.name(),
            backend_id=self.backend_id,
            state=state,
            vcpus=vcpus,
            memory_kib=mem,
            max_memory_kib=max_mem,
            virtual_system_type=dx.virtual_system_type(driver, None),
            persistent=persistent,
            autostart=autostart,
            cpu_time_ns=cpu_time,
        )
        if details or driver.upper() == "QEMU":
            facts = dx.parse_domain_xml(dom.XMLDesc(0))
            vm.virtual_system_type = dx.virtual_system_type(driver, facts["type"])
            vm.os_type = facts["os_type"]
            vm.guest_agent_running = facts["guest_agent"]
            if details:
                vm.description = facts["description"]
                vm.on_crash = facts["on_crash"] or "destroy"  # libvirt's default
                vm.cpu = facts["cpu"]
                vm.disks = facts["disks"]
                vm.nics = facts["nics"]
                for disk in vm.disks:
                    if disk.kind == "disk":
                        with contextlib.suppress(libvirt.libvirtError):
                            disk.capacity_bytes = dom.blockInfo(disk.device)[0]
        if state in (PowerState.RUNNING, PowerState.PAUSED):
            vm.uptime_s = self._uptime(dom)
        return vm

    # -- uptime (local QEMU only) -------------------------------------------------------
    def _find_qemu_pid_dir(self, conn: libvirt.virConnect) -> str | None:
        """Where libvirtd keeps QEMU pid files, for a local qemu:///system|session."""
        parts = urllib.parse.urlsplit(self.uri)
        if parts.scheme != "qemu" or parts.netloc:
            return None
        if parts.path == "/system":
            path = "/run/libvirt/qemu"
        elif parts.path == "/session":
            runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
            path = os.path.join(runtime, "libvirt", "qemu", "run")
        else:
            return None
        return path if os.path.isdir(path) else None

    def _uptime(self, dom: libvirt.virDomain) -> int | None:
        """Seconds since the domain's QEMU process started (local QEMU), else None."""
        if self._qemu_pid_dir is None:
            return None
        try:
            with open(os.path.join(self._qemu_pid_dir, dom.name() + ".pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open("/proc/uptime") as f:
                system_up = float(f.read().split()[0])
        except (OSError, ValueError):
            return None
        # field 22 (starttime, in clock ticks after boot) counts from after the ")" of comm
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return max(0, int(system_up - start_ticks / os.sysconf("SC_CLK_TCK")))

    def cpu_allocation(self) -> tuple[str, frozenset[str]] | None:
        """<cputune>: a limit (quota per period, percent of a host CPU per vCPU) and a
        weight (shares); libvirt has no processor reservation."""
        return ("percent", frozenset({"limit", "weight"}))

    # -- power ------------------------------------------------------------------------
    def supported_actions(self) -> frozenset[PowerAction]:
        driver = (self._driver or _scheme_driver(self.uri)).upper()
        return _SUPPORTED_ACTIONS.get(driver, _ALL_ACTIONS)

    def perform(self, uuid: str, action: PowerAction) -> None:
        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            vm = self._vm(conn, dom, details=False)
            if action not in self.supported_actions():
                raise NotSupported(f"{action.value} is not supported by {self.uri}")
            if action not in self.possible_actions(vm):
                raise InvalidStateTransition(
                    f"cannot {action.value} VM {vm.name!r}: it is {vm.state.value}"
                )
            try:
                if vm.state is PowerState.SUSPENDED and action in _FROM_SAVED:
                    # managed save (shut off + image) vs. guest PM suspend (still active)
                    _FROM_SAVED[action][bool(dom.isActive())](dom)
                else:
                    _ACTIONS[action](dom)
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code in _UNSUPPORTED:
                    raise NotSupported(
                        f"{action.value} is not supported by {self.uri}: {_message(exc)}"
                    ) from None
                if code == libvirt.VIR_ERR_OPERATION_INVALID:
                    raise InvalidStateTransition(_message(exc)) from None
                if code in _CONNECTION_LOST or not _alive(conn):
                    raise
                raise BackendError(
                    f"{action.value} of VM {vm.name!r} failed: {_message(exc)}"
                ) from None

        self._call(run)

    # -- define / undefine / modify -----------------------------------------------------
    def define_vm(self, spec: VMSpec) -> VirtualMachine:
        """Define a persistent VM from a spec (see domain_xml.build_domain_xml); the new
        VM, OFF. ``spec.autostart`` marks it to start with the host. On a local daemon
        a disk's image file or block device must exist (InvalidSpec naming it)."""
        self._check_spec(spec, VMSpec)
        _check_cpu(spec.cpu, "VMSpec.cpu")
        for i, disk in enumerate(spec.disks):
            self._check_source(disk, f"VMSpec.disks[{i}].source")

        def run(conn: libvirt.virConnect) -> VirtualMachine:
            driver = self._driver or conn.getType()
            dtype = self._domain_type(conn, driver, spec)
            xml = dx.build_domain_xml(spec, dtype)
            try:
                dom = conn.defineXML(xml)
                if spec.autostart:
                    dom.setAutostart(1)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in _CONNECTION_LOST or not _alive(conn):
                    raise
                raise BackendError(f"cannot define VM {spec.name!r}: {_message(exc)}") from None
            return self._vm(conn, dom, details=True)

        return self._call(run)

    def _domain_type(self, conn: libvirt.virConnect, driver: str, spec: VMSpec) -> str:
        choice = (spec.domain_type or self.domain_type or "auto").lower()
        if choice != "auto":
            return choice
        drv = driver.upper()
        if drv == "QEMU":
            arch = spec.arch or self._host_arch(conn)
            os_type = spec.os_type or "hvm"
            kvm_ok = self._caps_offer(conn, os_type, arch, "kvm")
            if kvm_ok and not urllib.parse.urlsplit(self.uri).netloc:
                # Local daemon: libvirtd (root) offers kvm whenever /dev/kvm exists, but
                # QEMU runs as the DAC base label's user, who may not be allowed to open it.
                kvm_ok = _kvm_usable_by(self._capabilities(conn))
            return "kvm" if kvm_ok else "qemu"
        return {"TEST": "test", "LXC": "lxc", "XEN": "xen", "LIBXL": "xen", "ESX": "vmware"}.get(
            drv, drv.lower()
        )

    def _capabilities(self, conn: libvirt.virConnect) -> etree._Element:
        if self._caps is None:
            self._caps = dx.parse(conn.getCapabilities())
        return self._caps

    def _host_arch(self, conn: libvirt.virConnect) -> str:
        return dx.caps_arch(self._capabilities(conn)) or os.uname().machine

    def _caps_offer(self, conn: libvirt.virConnect, os_type: str, arch: str, dtype: str) -> bool:
        return dx.caps_offer(self._capabilities(conn), os_type, arch, dtype)

    def undefine_vm(self, uuid: str) -> None:
        """Remove the VM's definition (powering it off first if it runs), its managed
        save image, snapshot/checkpoint metadata and NVRAM. Disk images stay."""

        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            try:
                if dom.isActive():
                    dom.destroy()
                if not dom.isPersistent():
                    return  # transient: gone with destroy()
                _undefine(dom)
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code == libvirt.VIR_ERR_NO_DOMAIN:
                    return
                if code in _CONNECTION_LOST or not _alive(conn):
                    raise
                raise BackendError(f"cannot undefine VM {uuid}: {_message(exc)}") from None

        self._call(run)

    def modify_vm(self, uuid: str, change: VMChange) -> VirtualMachine:
        """Change vCPUs, memory and devices; return the VM as it is afterwards.

        Changes go to the persistent configuration (VIR_DOMAIN_AFFECT_CONFIG) and, when
        the VM runs and the driver and guest allow it, live too (VIR_DOMAIN_AFFECT_LIVE);
        a change that cannot be applied live waits for the next start.
        ``change.remove_disks`` name the target device ("vdb") or source path;
        ``remove_nics`` the MAC address. Removals happen before additions. Disk images
        always stay: ``destroy_removed_disks`` is NotSupported here.
        """
        self._check_spec(change, VMChange)
        _check_cpu(change.cpu, "VMChange.cpu")
        for i, disk in enumerate(change.add_disks):
            self._check_source(disk, f"VMChange.add_disks[{i}].source")
        if change.destroy_removed_disks:
            raise NotSupported(
                "libvirt backend: removed disks' images are never deleted "
                "(destroy_removed_disks); delete the files or volumes yourself"
            )

        def run(conn: libvirt.virConnect) -> VirtualMachine:
            dom = self._lookup(conn, uuid)
            try:
                if change.name is not None and change.name != dom.name():
                    if dom.isActive():
                        raise InvalidStateTransition(
                            f"VM {dom.name()!r} runs: libvirt renames a VM only while it is off"
                        )
                    dom.rename(change.name, 0)
                if change.description is not None:
                    self._set_description(dom, change.description)
                if change.autostart is not None:
                    dom.setAutostart(1 if change.autostart else 0)
                if change.vcpus is not None:
                    self._set_vcpus(dom, change.vcpus)
                if change.memory_mib is not None:
                    self._set_memory(dom, change.memory_mib * 1024)
                if change.cpu is not None:
                    self._set_cputune(conn, dom, change.cpu)
                for key in change.remove_disks:
                    self._remove_device(conn, dom, "disk", key)
                for key in change.remove_nics:
                    self._remove_device(conn, dom, "interface", key)
                for disk in change.add_disks:
                    self._add_device(conn, dom, "disk", disk)
                for nic in change.add_nics:
                    self._add_device(conn, dom, "interface", nic)
            except libvirt.libvirtError as exc:
                _raise_failure(conn, exc, f"cannot modify VM {uuid}")
            return self._vm(conn, dom, details=True)

        return self._call(run)

    def _set_cputune(
        self, conn: libvirt.virConnect, dom: libvirt.virDomain, cpu: CpuAllocation
    ) -> None:
        """<cputune> shares / period / quota: the persistent definition rewritten (every
        driver, the test driver too), and on a running domain the live values through
        virDomainSetSchedulerParameters (QEMU; a quota of -1 lifts the limit)."""
        active, persistent = dom.isActive(), dom.isPersistent()
        if persistent:
            root = _inactive_xml(dom)
            dx.set_cputune(root, cpu)
            conn.defineXML(dx.to_string(root))
        if active:
            params: dict[str, int] = {
                "vcpu_quota": -1 if cpu.limit is None else dx.DEFAULT_PERIOD_US * cpu.limit // 100,
            }
            if cpu.limit is not None:
                params["vcpu_period"] = dx.DEFAULT_PERIOD_US
            if cpu.weight is not None:
                params["cpu_shares"] = cpu.weight
            _live(
                lambda: dom.setSchedulerParametersFlags(params, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                f"cputune={params}",
                required=not persistent,
            )

    def _set_description(self, dom: libvirt.virDomain, text: str) -> None:
        """<description> of the persistent definition (and live, when it runs)."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, text or None, None, None, flags)

    def _set_vcpus(self, dom: libvirt.virDomain, n: int) -> None:
        if n < 1:
            raise BackendError(f"vcpus must be at least 1, not {n}")
        active, persistent = dom.isActive(), dom.isPersistent()
        cfg = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if persistent:
            if n > dom.vcpusFlags(cfg | libvirt.VIR_DOMAIN_VCPU_MAXIMUM):
                dom.setVcpusFlags(n, cfg | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
            dom.setVcpusFlags(n, cfg)
        if active:
            _live(
                lambda: dom.setVcpusFlags(n, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                f"vcpus={n}",
                required=not persistent,
            )

    def _set_memory(self, dom: libvirt.virDomain, kib: int) -> None:
        if kib < 1024:
            raise BackendError(f"memory_kib must be at least 1024, not {kib}")
        active, persistent = dom.isActive(), dom.isPersistent()
        cfg = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if persistent:
            config_max = int(_inactive_xml(dom).findtext("memory") or 0)
            if kib > config_max:
                dom.setMemoryFlags(kib, cfg | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
            dom.setMemoryFlags(kib, cfg)
        if active:
            _live(
                lambda: dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE),
                f"memory_kib={kib}",
                required=not persistent,
            )

    def _check_source(self, disk: DiskSpec, field: str) -> None:
        """A disk's source must exist where this process can see the host's files (a
        local qemu/xen/lxc daemon): libvirt defines a domain with a missing image and
        only its start fails. Remote hosts and the test driver are not checked."""
        if disk.kind != "disk" or not disk.source or not disk.source.startswith("/"):
            return
        parts = urllib.parse.urlsplit(self.uri)
        if parts.netloc or _scheme_driver(self.uri).upper() == "TEST":
            return
        if not os.path.exists(disk.source):
            raise InvalidSpec(field, f"no image file or block device {disk.source!r} on the host")

    def _add_device(
        self,
        conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        kind: str,
        spec: DiskSpec | NicSpec,
    ) -> None:
        inactive = _inactive_xml(dom)
        dtype = inactive.get("type", "")
        if isinstance(spec, DiskSpec):
            elem = dx.disk_element(spec, dtype, dx.disk_targets(inactive))
        else:
            elem = dx.nic_element(spec, dtype)
        self._apply_device(conn, dom, elem, attach=True)

    def _remove_device(
        self, conn: libvirt.virConnect, dom: libvirt.virDomain, kind: str, key: str
    ) -> None:
        elem = dx.find_device(_inactive_xml(dom), kind, key)
        if elem is None and dom.isActive():
            elem = dx.find_device(_xml(dom, 0), kind, key)
        if elem is None:
            what = "disk" if kind == "disk" else "NIC"
            raise NotFound(f"VM {dom.name()!r} has no {what} {key!r}")
        self._apply_device(conn, dom, elem, attach=False)

    def _apply_device(
        self,
        conn: libvirt.virConnect,
        dom: libvirt.virDomain,
        elem: etree._Element,
        attach: bool,
    ) -> None:
        xml = dx.to_string(elem)
        op = dom.attachDeviceFlags if attach else dom.detachDeviceFlags
        active, persistent = dom.isActive(), dom.isPersistent()
        cfg, live = libvirt.VIR_DOMAIN_AFFECT_CONFIG, libvirt.VIR_DOMAIN_AFFECT_LIVE
        if active and persistent:
            try:
                op(xml, cfg | live)
                return
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
                    pass  # the driver has no hotplug at all: redefine below
                elif exc.get_error_code() in _UNSUPPORTED | {
                    libvirt.VIR_ERR_OPERATION_FAILED,
                    libvirt.VIR_ERR_OPERATION_INVALID,
                    libvirt.VIR_ERR_INTERNAL_ERROR,
                }:
                    log.info(
                        "VM %s: device change not possible live (%s); config only",
                        dom.name(),
                        _message(exc),
                    )
                else:
                    raise
        flags = cfg if persistent else live
        try:
            op(xml, flags)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT or not persistent:
                raise
        # No device API (test, LXC drivers): rewrite the persistent definition.
        root = _inactive_xml(dom)
        devices = root.find("devices")
        if devices is None:
            devices = etree.SubElement(root, "devices")
        if attach:
            devices.append(elem)
        else:
            target = dx.find_device(root, elem.tag, dx.device_key(elem))
            if target is None:  # pragma: no cover - found a moment ago
                raise NotFound(f"device vanished from VM {dom.name()!r}")
            devices.remove(target)
        conn.defineXML(dx.to_string(root))

    # -- statistics -----------------------------------------------------------------------
    def bulk_stats(self, uuids: Iterable[str] | None = None) -> dict[str, dict[str, float]]:
        """Statistics of many VMs in one virConnectGetAllDomainStats call.

        Keys are VM UUIDs (unknown ones are left out); values map the libvirt stat names
        in STAT_KEYS (``state.state``, ``cpu.time`` ns, ``balloon.current`` KiB, …) and
        the per-device sums of STAT_SUMS (``net.rx.bytes``, ``block.wr.bytes``, …) to
        floats. A driver reports what it has: the test driver only ``state.*``.
        """
        wanted = None if uuids is None else {u.lower() for u in uuids}
        return self._call(lambda conn: stats.read_all(conn, wanted))


# -- helpers ------------------------------------------------------------------------------
_ACTIONS: dict[PowerAction, Callable[[libvirt.virDomain], object]] = {
    PowerAction.START: lambda d: d.create(),
    PowerAction.RESUME: lambda d: d.resume(),
    PowerAction.POWER_OFF: lambda d: d.destroy(),
    PowerAction.SHUTDOWN: lambda d: d.shutdown(),
    PowerAction.SAVE: lambda d: d.managedSave(0),
    PowerAction.PAUSE: lambda d: d.suspend(),
    PowerAction.REBOOT: lambda d: d.reboot(0),
    PowerAction.RESET: lambda d: d.reset(0),
}


# From SUSPENDED, by whether the domain is active: a managed-save image (inactive) is
# started (restored) or discarded; a guest in S3/S4 (pmsuspended, active) is woken or
# destroyed.
def _restore_running(dom: libvirt.virDomain) -> None:
    """Start a domain from its managed-save image, running: QEMU restores a domain that
    was saved while paused as paused, but START is asked for a running VM."""
    dom.create()
    if dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
        dom.resume()


_FROM_SAVED: dict[PowerAction, dict[bool, Callable[[libvirt.virDomain], object]]] = {
    PowerAction.START: {False: _restore_running, True: lambda d: d.pMWakeup(0)},
    PowerAction.POWER_OFF: {False: lambda d: d.managedSaveRemove(0), True: lambda d: d.destroy()},
}


def _check_cpu(cpu: CpuAllocation | None, field: str) -> None:
    if cpu is None:
        return
    if cpu.unit != "percent":
        raise InvalidSpec(
            f"{field}.unit", f"libvirt takes a processor limit in percent, not {cpu.unit}"
        )
    if cpu.reservation is not None:
        raise InvalidSpec(f"{field}.reservation", "libvirt has no processor reservation")


def _version(v: int) -> str:
    return f"{v // 1_000_000}.{(v // 1000) % 1000}.{v % 1000}"


def _kvm_usable_by(caps: etree._Element, device: str = "/dev/kvm") -> bool:
    """Can the user QEMU runs as (capabilities' DAC baselabel for kvm) open /dev/kvm?"""
    try:
        st = os.stat(device)
    except OSError:
        return False
    label = dx.caps_dac_kvm_label(caps)
    if not label:
        return True  # no DAC driver: QEMU runs as the daemon's user (root)
    try:
        uid, gid = (int(x.lstrip("+")) for x in label.split(":"))
    except ValueError:
        return True
    rw = 0o6
    if uid == 0 or (st.st_mode & rw) == rw:
        return True
    if st.st_uid == uid and (st.st_mode >> 6) & rw == rw:
        return True
    groups = {gid}
    with contextlib.suppress(KeyError):
        name = pwd.getpwuid(uid).pw_name
        groups |= {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
    return st.st_gid in groups and (st.st_mode >> 3) & rw == rw


def _uuid_set(conn: libvirt.virConnect, flag: int) -> set[str]:
    return {d.UUIDString() for d in conn.listAllDomains(flag)}


def _live(change: Callable[[], object], what: str, required: bool) -> None:
    """Apply a live change; when the driver or guest cannot, keep the config change."""
    try:
        change()
    except libvirt.libvirtError as exc:
        if required or exc.get_error_code() not in _UNSUPPORTED | {
            libvirt.VIR_ERR_INVALID_ARG,
            libvirt.VIR_ERR_OPERATION_INVALID,
            libvirt.VIR_ERR_OPERATION_FAILED,
        }:
            raise
        log.info("%s not applied live (%s); it takes effect at the next start", what, _message(exc))


def _undefine(dom: libvirt.virDomain) -> None:
    """undefineFlags with everything libvirt keeps beside the definition, dropping flags
    the driver does not know (the test driver lacks NVRAM/CHECKPOINTS, LXC takes none)."""
    for flags in (
        _UNDEFINE_FLAGS,
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
    ):
        try:
            dom.undefineFlags(flags)
            return
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in _UNSUPPORTED | {libvirt.VIR_ERR_INVALID_ARG}:
                raise
    dom.undefine()


def _xml(dom: libvirt.virDomain, flags: int) -> etree._Element:
    return dx.parse(dom.XMLDesc(flags))


def _inactive_xml(dom: libvirt.virDomain) -> etree._Element:
    """The persistent definition, secrets included (so a redefine keeps them)."""
    flags = libvirt.VIR_DOMAIN_XML_INACTIVE
    try:
        return _xml(dom, flags | libvirt.VIR_DOMAIN_XML_SECURE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_OPERATION_DENIED, *_UNSUPPORTED):
            raise
        return _xml(dom, flags)


def _scheme_driver(uri: str) -> str:
    """The driver a URI names ("qemu+ssh://h/system" -> "QEMU"), before connecting."""
    scheme = urllib.parse.urlsplit(uri).scheme.split("+")[0].lower()
    return {"xen": "XEN", "libxl": "LIBXL", "esx": "ESX"}.get(scheme, scheme.upper())
