"""LibvirtManager: the Manager interface over libvirt-python, for any libvirt URI
(qemu:///system, qemu+ssh://…, xen:///system, lxc:///system, test:///default,
test:///path/to/node.xml).

libvirt's own states are mapped to vrmgmt.model.PowerState; libvirt errors to
vrmgmt.errors. The connection is opened lazily, shared by threads (libvirt
connections are thread-safe) and re-opened once when libvirt reports it gone.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import libvirt
from lxml import etree

from vrmgmt.backends.base import Manager
from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)
from vrmgmt.model import Disk, Host, Nic, PowerAction, PowerState, VirtualMachine

log = logging.getLogger(__name__)
T = TypeVar("T")

# libvirt prints every error to stderr by default; we report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

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

# libvirt driver name (virConnectGetType) -> VirtualSystemType when domains carry no finer type
_DRIVER_TYPE = {"QEMU": "QEMU", "TEST": "Test", "XEN": "Xen", "LXC": "LXC", "LIBXL": "Xen"}
# <domain type='…'> -> VirtualSystemType
_DOMAIN_TYPE = {"kvm": "KVM", "qemu": "QEMU", "xen": "Xen", "lxc": "LXC", "test": "Test"}

# Errors that mean the connection itself is gone (reconnect and retry once).
_CONNECTION_LOST = {
    getattr(libvirt, name)
    for name in (
        "VIR_ERR_SYSTEM_ERROR",
        "VIR_ERR_RPC",
        "VIR_ERR_NO_CONNECT",
        "VIR_ERR_INVALID_CONN",
    )
    if hasattr(libvirt, name)
}


def virtual_system_type(driver: str, domain_type: str | None) -> str:
    """VirtualSystemType for a domain: from its XML type if known, else the driver."""
    if domain_type and domain_type.lower() in _DOMAIN_TYPE:
        return _DOMAIN_TYPE[domain_type.lower()]
    return _DRIVER_TYPE.get(driver.upper(), driver)


def parse_domain_xml(xml: str) -> dict:
    """Facts from a domain's XML description (type, disks, NICs, OS type)."""
    root = etree.fromstring(xml.encode(), parser=_SAFE_PARSER)
    disks = []
    for d in root.iterfind("devices/disk"):
        target = d.find("target")
        source = d.find("source")
        src = None
        if source is not None:
            src = (
                source.get("file")
                or source.get("dev")
                or source.get("name")
                or source.get("volume")
            )
        disks.append(
            Disk(
                device=target.get("dev", "") if target is not None else "",
                source=src,
                bus=target.get("bus") if target is not None else None,
                kind=d.get("device", "disk"),
            )
        )
    nics = []
    for n in root.iterfind("devices/interface"):
        mac = n.find("mac")
        source = n.find("source")
        model = n.find("model")
        target = n.find("target")
        net = None
        if source is not None:
            net = source.get("network") or source.get("bridge") or source.get("dev")
        nics.append(
            Nic(
                mac=(mac.get("address", "") if mac is not None else "").lower(),
                network=net,
                model=model.get("type") if model is not None else None,
                device=target.get("dev") if target is not None else None,
            )
        )
    os_type = root.findtext("os/type")
    return {"type": root.get("type"), "disks": disks, "nics": nics, "os_type": os_type}


_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class LibvirtManager(Manager):
    kind = "libvirt"

    def __init__(
        self,
        backend_id: str,
        uri: str = "test:///default",
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
        **unknown,
    ):
        if unknown:
            raise ConfigError(
                f"backend {backend_id!r}: unknown option(s) for libvirt: "
                + ", ".join(sorted(unknown))
            )
        super().__init__(backend_id, timeout)
        self.uri = uri
        self._username = username
        self._password = password
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._driver: str | None = None

    def __repr__(self) -> str:
        return f"LibvirtManager({self.backend_id!r}, uri={self.uri!r})"

    # -- connection -----------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> libvirt.virConnect:
        if self._conn is not None:
            return self._conn
        try:
            if self._username is not None:
                conn = libvirt.openAuth(self.uri, self._auth(), 0)
            else:
                conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise BackendUnavailable(self.backend_id, _message(exc)) from None
        if conn is None:
            raise BackendUnavailable(self.backend_id, f"cannot open {self.uri}")
        self._conn = conn
        self._driver = conn.getType()
        log.info("backend %s: connected to %s (%s)", self.backend_id, self.uri, self._driver)
        return conn

    def _auth(self) -> list:
        user, password = self._username, self._password

        def callback(creds, _data):
            for cred in creds:
                if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                    cred[4] = user
                elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                    cred[4] = password
            return 0

        return [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], callback, None]

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()

    def _call(self, fn: Callable[[libvirt.virConnect], T]) -> T:
        """Run fn(conn), reconnecting once if the connection was lost."""
        for attempt in (1, 2):
            with self._lock:
                conn = self._open_locked()
            try:
                return fn(conn)
            except libvirt.libvirtError as exc:
                lost = exc.get_error_code() in _CONNECTION_LOST or not _alive(conn)
                if lost and attempt == 1:
                    log.warning(
                        "backend %s: connection lost (%s); reconnecting",
                        self.backend_id,
                        _message(exc),
                    )
                    with self._lock:
                        if self._conn is conn:
                            self._conn = None
                    continue
                if lost:
                    raise BackendUnavailable(self.backend_id, _message(exc)) from None
                raise
        raise AssertionError("unreachable")

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
                virtual_system_type=virtual_system_type(driver, None),
                cpu_model=info[0],
                cpu_count=info[2],
                cpu_mhz=info[3],
                memory_total_kib=info[1] * 1024,
                memory_free_kib=free,
                uri=conn.getURI(),
            )

        return self._call(read)

    # -- VMs ------------------------------------------------------------------------
    def list_vms(self) -> list[VirtualMachine]:
        def read(conn: libvirt.virConnect) -> list[VirtualMachine]:
            out = []
            for dom in conn.listAllDomains(0):
                try:
                    out.append(self._vm(conn, dom, details=False))
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                        raise  # a domain undefined while we listed: skip it
            return out

        return self._call(read)

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
        state_code, max_mem, mem, vcpus, cpu_time = dom.info()
        state = _STATE.get(state_code, PowerState.UNKNOWN)
        if state == PowerState.OFF and dom.hasManagedSaveImage(0):
            state = PowerState.SUSPENDED
        driver = self._driver or conn.getType()
        vm = VirtualMachine(
            uuid=dom.UUIDString().lower(),
            name=dom.name(),
            backend_id=self.backend_id,
            state=state,
            vcpus=vcpus,
            memory_kib=mem,
            max_memory_kib=max_mem,
            virtual_system_type=virtual_system_type(driver, None),
            persistent=bool(dom.isPersistent()),
            cpu_time_ns=cpu_time,
        )
        with contextlib.suppress(libvirt.libvirtError):
            vm.autostart = bool(dom.autostart())
        # QEMU hosts run both KVM and plain-QEMU (TCG) domains: the XML says which.
        if details or driver.upper() == "QEMU":
            facts = parse_domain_xml(dom.XMLDesc(0))
            vm.virtual_system_type = virtual_system_type(driver, facts["type"])
            vm.os_type = facts["os_type"]
            if details:
                vm.disks = facts["disks"]
                vm.nics = facts["nics"]
                for disk in vm.disks:
                    if disk.kind == "disk":
                        with contextlib.suppress(libvirt.libvirtError):
                            disk.capacity_bytes = dom.blockInfo(disk.device)[0]
        return vm

    # -- power ------------------------------------------------------------------------
    def perform(self, uuid: str, action: PowerAction) -> None:
        def run(conn: libvirt.virConnect) -> None:
            dom = self._lookup(conn, uuid)
            vm = self._vm(conn, dom, details=False)
            if action not in self.possible_actions(vm):
                raise InvalidStateTransition(
                    f"cannot {action.value} VM {vm.name!r}: it is {vm.state.value}"
                )
            try:
                _ACTIONS[action](dom)
            except libvirt.libvirtError as exc:
                code = exc.get_error_code()
                if code == libvirt.VIR_ERR_NO_SUPPORT:
                    raise NotSupported(
                        f"{action.value} is not supported by {self.uri}: {_message(exc)}"
                    ) from None
                if code == libvirt.VIR_ERR_OPERATION_INVALID:
                    raise InvalidStateTransition(_message(exc)) from None
                if code in _CONNECTION_LOST:
                    raise
                raise BackendError(
                    f"{action.value} of VM {vm.name!r} failed: {_message(exc)}"
                ) from None

        self._call(run)


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


def _message(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False


def _version(v: int) -> str:
    return f"{v // 1_000_000}.{(v // 1000) % 1000}.{v % 1000}"
