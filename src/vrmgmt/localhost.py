"""The machine vrmgmt runs on: its operating system (/proc, /etc/os-release), its
processes (read from /proc directly; psutil for users and liveness), terminating a
process, and running the configured host power command. Used for the hosts of local
libvirt backends (qemu:///system, lxc:///, and the test driver, which runs inside
vrmgmt's own process, so its "host" is this machine); see DESIGN.md "Host control".
The CIM classes are in vrmgmt.classes.system (operating_system, unix_process:
CIM_OperatingSystem / CIM_UnixProcess, CIM Schema 2.49).
"""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from vrmgmt.errors import BackendError, NotFound
from vrmgmt.model import HostOS, HostProcess

#: CIM_OperatingSystem.OSType of Linux
OSTYPE_LINUX = 36
OSTYPE_OTHER = 1


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    """The os-release fields (quotes removed); {} when the file is missing."""
    out: dict[str, str] = {}
    for candidate in (path, "/usr/lib/os-release"):
        try:
            text = Path(candidate).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                out[key.strip()] = value.strip().strip("\"'")
        break
    return out


def _meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts:
                out[key] = int(parts[0])  # kB
    return out


def boot_time() -> datetime:
    """When this machine booted (btime of /proc/stat), UTC."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return datetime.fromtimestamp(int(line.split()[1]), UTC)
    raise BackendError("/proc/stat has no btime line")


def process_count() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def operating_system() -> HostOS:
    """This machine's operating system: os-release for the name, the kernel release
    for Version, /proc for boot time, memory and the number of processes, utmp for
    the number of users."""
    rel = os_release()
    uname = os.uname()
    linux = uname.sysname == "Linux"
    mem = _meminfo()
    return HostOS(
        name=rel.get("PRETTY_NAME") or rel.get("NAME") or uname.sysname,
        os_type=OSTYPE_LINUX if linux else OSTYPE_OTHER,
        other_type=None if linux else uname.sysname,
        version=uname.release,
        last_boot=boot_time(),
        processes=process_count(),
        users=len({u.name for u in psutil.users()}),
        total_memory_kib=mem.get("MemTotal"),
        free_memory_kib=mem.get("MemFree"),
    )


#: /proc/<pid>/stat state letter -> psutil's status names
_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-sleep",
    "T": "stopped",
    "t": "tracing-stop",
    "Z": "zombie",
    "X": "dead",
    "I": "idle",
    "W": "waking",
    "P": "parked",
}
_TICKS = os.sysconf("SC_CLK_TCK")


class _Reader:
    """Reads processes from /proc directly: one stat, status and cmdline read and one
    readlink per process (what psutil's process_iter needs several reads and a
    terminal map per process for). Boot time and the terminal map once per listing."""

    def __init__(self) -> None:
        self.boot = boot_time().timestamp()
        self._ttys: dict[int, str] | None = None

    def tty(self, tty_nr: int) -> str | None:
        if not tty_nr:
            return None
        if self._ttys is None:
            self._ttys = {}
            for pattern in ("/dev/tty*", "/dev/pts/*"):
                for dev in glob.glob(pattern):
                    with contextlib.suppress(OSError):
                        self._ttys[os.stat(dev).st_rdev] = dev
        return self._ttys.get(tty_nr)

    def read(self, pid: int) -> HostProcess:
        """One process; OSError (FileNotFoundError, ProcessLookupError) if it is gone."""
        base = f"/proc/{pid}/"
        with open(base + "stat", "rb") as f:
            stat = f.read()
        left, right = stat.index(b"("), stat.rindex(b")")
        comm = stat[left + 1 : right].decode(errors="replace")
        fields = stat[right + 2 :].split()
        uid = 0
        with open(base + "status", "rb") as f:
            for line in f:
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                    break
        with open(base + "cmdline", "rb") as f:
            raw = f.read()
        args = [a.decode(errors="replace") for a in raw.split(b"\0")[:-1]] if raw else []
        try:
            exe: str | None = os.readlink(base + "exe")
        except OSError:  # kernel threads, or gone
            exe = None
        name = comm
        if len(comm) >= 15 and args:  # comm is cut at 15 characters (as psutil does)
            full = os.path.basename(args[0])
            if full.startswith(comm):
                name = full
        nice = int(fields[16])
        priority = int(fields[15])
        return HostProcess(
            pid=pid,
            name=name,
            ppid=int(fields[1]),
            uid=uid,
            pgid=int(fields[2]),
            sid=int(fields[3]),
            args=args,
            exe=exe,
            tty=self.tty(int(fields[4])),
            created=datetime.fromtimestamp(self.boot + int(fields[19]) / _TICKS, UTC),
            state=_STATES.get(fields[0].decode(), ""),
            user_ms=int(fields[11]) * 1000 // _TICKS,
            kernel_ms=int(fields[12]) * 1000 // _TICKS,
            priority=priority if priority >= 0 else None,  # real-time tasks: negative
            nice=nice,
        )


def processes() -> list[HostProcess]:
    """Every process of this machine (those that end while being read are left out)."""
    reader = _Reader()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                out.append(reader.read(int(entry)))
            except (OSError, ValueError, IndexError):
                continue
    return out


def process(pid: int) -> HostProcess:
    """One process; NotFound when there is no such process."""
    try:
        return _Reader().read(pid)
    except (OSError, ValueError, IndexError):
        raise NotFound(f"no process with PID {pid} on this machine") from None


def is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def terminate(pid: int, kill_after: float | None = None, poll: float = 0.05) -> str:
    """SIGTERM the process; with kill_after, SIGKILL it if it still runs that many
    seconds later. Returns what happened ("terminated", "killed")."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise NotFound(f"no process with PID {pid} on this machine") from None
    if kill_after is None:
        return "terminated"
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return "terminated"
        time.sleep(poll)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "terminated"
    return "killed"


def run_command(argv: list[str], timeout: float = 60.0) -> None:
    """Run a configured host command (reboot / poweroff); BackendError naming the
    command and its exit status or error output when it fails."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"host command {argv!r} could not be run: {exc}") from None
    if done.returncode != 0:
        err = (done.stderr or done.stdout).strip()[-300:]
        raise BackendError(
            f"host command {argv!r} exited with status {done.returncode}"
            + (f": {err}" if err else "")
        )
