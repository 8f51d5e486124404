"""A real libvirtd (+ virtlogd) for tests that need ``qemu:///system`` or ``lxc:///system``.

Usage (session scope)::

    with LibvirtdForTests() as daemon:          # qemu:///system
        with daemon.tiny_vm() as vm:            # diskless TCG guest, removed afterwards
            ...

What it does, in order:

1. Checks the Debian packages (APT_PACKAGES) are installed and raises
   LibvirtdUnavailable naming the missing ones (``apt-get install …``).
2. Prepares what libvirt-daemon-system would: groups ``kvm`` and ``libvirt-qemu``, user
   ``libvirt-qemu`` (primary group kvm, like Debian's postinst), directories
   /var/log/libvirt, /var/lib/libvirt/qemu, /run/libvirt — and gives /dev/kvm udev's
   root:kvm 0660 when nothing did (see fix_kvm_device: without it every libvirt call
   re-probes QEMU for seconds).
3. Starts ``virtlogd -d`` and ``libvirtd -d`` with pid files unless they already run
   (another session's daemons are used as they are and never stopped), then waits —
   bounded — until ``virsh -c <uri> version`` answers. The first answer from a fresh
   libvirtd takes ~10 s here: it probes QEMU's capabilities.
4. On exit stops only the daemons it started (SIGTERM, then SIGKILL), unless
   VRMGMT_KEEP_LIBVIRTD=1 is set (handy when iterating on tests).

Needs root (qemu:///system). QEMU runs as ``libvirt-qemu``. tiny_vm() guests use TCG
(type 'qemu') so they work with or without KVM.
"""

from __future__ import annotations

import contextlib
import glob
import grp
import os
import pwd
import shutil
import signal
import subprocess
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Debian packages needed for the daemons, QEMU guests and LXC containers
APT_PACKAGES = (
    "libvirt-daemon",
    "libvirt-daemon-driver-qemu",
    "libvirt-daemon-driver-lxc",
    "libvirt-clients",
    "qemu-system-x86",
)

# What each package provides that we check for (globs: multiarch library paths).
_PACKAGE_FILES = {
    "libvirt-daemon": ("/usr/sbin/libvirtd", "/usr/sbin/virtlogd"),
    "libvirt-clients": ("/usr/bin/virsh",),
    "libvirt-daemon-driver-qemu": ("/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so",),
    "libvirt-daemon-driver-lxc": (
        "/usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so",
        "/usr/lib/libvirt/libvirt_lxc",
    ),
    "qemu-system-x86": ("/usr/bin/qemu-system-x86_64",),
}
# Which packages a URI scheme needs.
_NEEDS = {
    "qemu": ("libvirt-daemon", "libvirt-clients", "libvirt-daemon-driver-qemu", "qemu-system-x86"),
    "lxc": ("libvirt-daemon", "libvirt-clients", "libvirt-daemon-driver-lxc"),
}

LIBVIRTD_PID = "/run/libvirtd.pid"
VIRTLOGD_PID = "/run/virtlogd.pid"
LIBVIRTD_LOG = "/var/log/libvirt/libvirtd.log"
TEST_VM_PREFIX = "vrmgmt-test"
KVM_DEVICE = "/dev/kvm"


class LibvirtdUnavailable(RuntimeError):
    """libvirtd cannot be run here; the message says why and what to install."""


def missing_packages(scheme: str = "qemu") -> list[str]:
    """The Debian packages of APT_PACKAGES that ``scheme`` (qemu | lxc) needs and lacks."""
    missing = []
    for pkg in _NEEDS[scheme]:
        if not all(glob.glob(pattern) for pattern in _PACKAGE_FILES[pkg]):
            missing.append(pkg)
    return missing


def _pid_from(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def _running(pid: int | None, comm: str) -> bool:
    """True if pid is a live (not zombie) process named comm."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat[stat.rindex(")") + 2 :].split()[0]
    return name == comm and state not in ("Z", "X")


def _stop(pid: int, comm: str, timeout: float = 10.0) -> None:
    if not _running(pid, comm):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(pid, comm):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class TinyVM:
    """A VM defined by LibvirtdForTests.tiny_vm()."""

    name: str
    uuid: str
    xml: str


class LibvirtdForTests:
    """Context manager: a libvirtd answering ``uri``, started if needed, stopped if ours."""

    def __init__(self, uri: str = "qemu:///system", start_timeout: float = 90.0):
        self.uri = uri
        self.scheme = uri.split(":", 1)[0].split("+")[0]
        if self.scheme not in _NEEDS:
            raise ValueError(f"LibvirtdForTests serves qemu:// and lxc:// URIs, not {uri!r}")
        self.start_timeout = start_timeout
        self.started: list[tuple[str, int]] = []  # (comm, pid) of daemons we started

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> LibvirtdForTests:
        self.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()

    def start(self) -> None:
        missing = missing_packages(self.scheme)
        if missing:
            raise LibvirtdUnavailable(
                f"{self.uri} needs the Debian package(s) {' '.join(missing)}: "
                f"apt-get install -y {' '.join(missing)}"
            )
        if os.geteuid() != 0:
            raise LibvirtdUnavailable(f"{self.uri} needs root to run libvirtd")
        self.prepare_host()
        if self.answers(timeout=30.0):
            return  # someone else's daemon: use it, leave it alone
        try:
            self._start_daemons()
        except BaseException:
            self.stop()
            raise

    def _start_daemons(self) -> None:
        if not _running(_pid_from(VIRTLOGD_PID), "virtlogd"):
            self._spawn(["virtlogd", "-d", "-p", VIRTLOGD_PID], "virtlogd", VIRTLOGD_PID)
        if not _running(_pid_from(LIBVIRTD_PID), "libvirtd"):
            self._spawn(["libvirtd", "-d", "-p", LIBVIRTD_PID], "libvirtd", LIBVIRTD_PID)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.answers(timeout=max(1.0, min(30.0, deadline - time.monotonic()))):
                self.remove_stale_test_vms()
                return
            if not _running(_pid_from(LIBVIRTD_PID), "libvirtd"):
                break
            time.sleep(0.2)
        self.stop()
        raise LibvirtdUnavailable(
            f"libvirtd did not answer {self.uri} within {self.start_timeout:g} s; "
            f"end of {LIBVIRTD_LOG}:\n{_log_tail(LIBVIRTD_LOG)}"
        )

    def stop(self) -> None:
        if os.environ.get("VRMGMT_KEEP_LIBVIRTD") == "1":
            self.started.clear()
            return
        while self.started:
            comm, pid = self.started.pop()  # libvirtd before virtlogd
            _stop(pid, comm)

    def _spawn(self, argv: list[str], comm: str, pid_file: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pid_file)  # stale: the process is not running
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        pid = None
        for _ in range(100):  # the pid file appears once the daemon is up
            pid = _pid_from(pid_file)
            if _running(pid, comm):
                break
            time.sleep(0.05)
        if _running(pid, comm):
            self.started.append((comm, pid))
            return
        # Lost a race with another session starting the same daemon? Then use theirs.
        if proc.returncode != 0 and _running(_pid_from(pid_file), comm):
            return
        raise LibvirtdUnavailable(
            f"{' '.join(argv)} failed (exit {proc.returncode}): {proc.stderr.strip()}\n"
            + (_log_tail(LIBVIRTD_LOG) if comm == "libvirtd" else "")
        )

    def answers(self, timeout: float = 10.0) -> bool:
        """True if ``virsh -c <uri> version`` succeeds within timeout."""
        try:
            proc = subprocess.run(
                ["virsh", "-c", self.uri, "version"],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0

    @staticmethod
    def prepare_host() -> None:
        """Users, groups and directories that libvirt-daemon-system would create."""
        for group in ("kvm", "libvirt-qemu"):
            try:
                grp.getgrnam(group)
            except KeyError:
                subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)
        try:
            pwd.getpwnam("libvirt-qemu")
        except KeyError:
            subprocess.run(
                [
                    "useradd",
                    "--system",
                    "--no-create-home",
                    "--home-dir",
                    "/var/lib/libvirt",
                    "--shell",
                    "/usr/sbin/nologin",
                    "--gid",
                    "kvm",
                    "--groups",
                    "libvirt-qemu",
                    "libvirt-qemu",
                ],
                check=True,
                capture_output=True,
            )
        for d in ("/var/log/libvirt", "/var/lib/libvirt/qemu", "/run/libvirt"):
            os.makedirs(d, exist_ok=True)
        fix_kvm_device()

    # -- guests -----------------------------------------------------------------------
    def connect(self):
        """A libvirt connection to the URI (close it yourself)."""
        import libvirt

        return libvirt.open(self.uri)

    @contextlib.contextmanager
    def tiny_vm(
        self,
        memory_mib: int = 48,
        *,
        prefix: str = TEST_VM_PREFIX,
        nic: bool = False,
        domain_type: str = "qemu",
    ) -> Iterator[TinyVM]:
        """Define a tiny diskless QEMU guest (TCG, no graphics, serial to null, optional
        user-mode NIC) with a unique name; destroy and undefine it afterwards.

        It boots SeaBIOS and idles ("no bootable device"), so it cannot shut down
        gracefully: stop it with destroy (POWER_OFF)."""
        name = f"{prefix}-{os.getpid()}-{uuidlib.uuid4().hex[:8]}"
        xml = tiny_vm_xml(name, memory_mib=memory_mib, nic=nic, domain_type=domain_type)
        conn = self.connect()
        try:
            dom = conn.defineXML(xml)
            vm = TinyVM(name=name, uuid=dom.UUIDString(), xml=xml)
            try:
                yield vm
            finally:
                remove_domain(conn, vm.uuid)
        finally:
            conn.close()

    def remove_stale_test_vms(self, prefix: str = TEST_VM_PREFIX) -> list[str]:
        """Remove test VMs left behind by test processes that no longer run."""
        if self.scheme != "qemu":
            return []
        removed = []
        conn = self.connect()
        try:
            for dom in conn.listAllDomains(0):
                parts = dom.name().split("-")
                if not dom.name().startswith(prefix + "-") or len(parts) < 4:
                    continue
                try:
                    pid = int(parts[-2])
                except ValueError:
                    continue
                if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                    remove_domain(conn, dom.UUIDString())
                    removed.append(dom.name())
        finally:
            conn.close()
        return removed


def fix_kvm_device(path: str = KVM_DEVICE) -> bool:
    """Give /dev/kvm udev's usual owner and mode (root:kvm 0660) if it lacks them.

    Without udev (containers, minimal VMs) /dev/kvm stays root:root 0600. libvirtd, as
    root, then probes QEMU with KVM, but QEMU guests run as libvirt-qemu, who cannot open
    the device: libvirt finds its capability cache invalid on every use ("KVM was
    enabled when probing …, but it is not available now") and re-probes QEMU — 4-8 s on
    every API call, ~45 s for one defineXML. Returns True if it changed the device.
    """
    try:
        st = os.stat(path)
        kvm_gid = grp.getgrnam("kvm").gr_gid
    except (OSError, KeyError):
        return False
    if st.st_gid == kvm_gid and (st.st_mode & 0o060) == 0o060:
        return False
    os.chown(path, -1, kvm_gid)
    os.chmod(path, (st.st_mode & 0o7777) | 0o660)
    return True


def tiny_vm_xml(
    name: str, memory_mib: int = 48, nic: bool = False, domain_type: str = "qemu"
) -> str:
    """Domain XML of a diskless x86_64 guest: no disk, no graphics, serial to null."""
    emulator = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
    interface = "<interface type='user'><model type='virtio'/></interface>" if nic else ""
    return (
        f"<domain type='{domain_type}'>"
        f"<name>{name}</name>"
        f"<memory unit='MiB'>{memory_mib}</memory>"
        "<vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>"
        "<features><acpi/></features>"
        "<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot>"
        "<on_crash>destroy</on_crash>"
        "<devices>"
        f"<emulator>{emulator}</emulator>"
        f"{interface}"
        "<serial type='null'/>"
        "<video><model type='none'/></video>"
        "<memballoon model='virtio'/>"
        "</devices>"
        "</domain>"
    )


def remove_domain(conn, uuid: str) -> None:
    """Destroy (if running) and undefine a domain with its managed save and snapshot
    metadata; a domain that is already gone is fine."""
    import libvirt

    try:
        dom = conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError:
        return
    with contextlib.suppress(libvirt.libvirtError):
        if dom.isActive():
            dom.destroy()
    flags = (
        libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    )
    try:
        dom.undefineFlags(flags | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    except libvirt.libvirtError:
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(flags)
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefine()


@contextlib.contextmanager
def running_tiny_vm(uri: str = "qemu:///system"):
    """A tiny TCG guest started on a libvirtd for tests; yields (vm, QEMU pid from
    libvirt's pid file). Fails the test when no libvirtd can be had."""
    import pytest

    try:
        daemon = LibvirtdForTests(uri).__enter__()
    except LibvirtdUnavailable as exc:
        pytest.fail(f"needs libvirtd: {exc}")
    try:
        with daemon.tiny_vm() as vm:
            conn = daemon.connect()
            try:
                conn.lookupByUUIDString(vm.uuid).create()
                yield vm, int(Path(f"/run/libvirt/qemu/{vm.name}.pid").read_text())
            finally:
                conn.close()
    finally:
        daemon.__exit__(None, None, None)
