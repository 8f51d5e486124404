"""The machine vrmgmt runs on: its operating system (/proc, /etc/os-release), its
processes (psutil), terminating a process, and running the configured host power
command. Used for the hosts of local libvirt backends (qemu:///system, lxc:///, and the
test driver, which runs inside vrmgmt's own process, so its "host" is this machine);
see DESIGN.md "Host control". The CIM classes are in vrmgmt.classes.system
(operating_system, unix_process: CIM_OperatingSystem / CIM_UnixProcess, CIM Schema 2.49).
"""

from __future__ import annotations

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

_ATTRS = [
    "pid",
    "name",
    "ppid",
    "uids",
    "cmdline",
    "exe",
    "terminal",
    "create_time",
    "status",
    "cpu_times",
    "nice",
]


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


def _process(info: dict) -> HostProcess:
    pid = info["pid"]
    try:
        pgid: int | None = os.getpgid(pid)
        sid: int | None = os.getsid(pid)
    except OSError:
        pgid = sid = None
    times = info.get("cpu_times")
    uids = info.get("uids")
    nice = info.get("nice")
    created = info.get("create_time")
    return HostProcess(
        pid=pid,
        name=info.get("name") or "",
        ppid=info.get("ppid") or 0,
        uid=uids.real if uids is not None else 0,
        pgid=pgid,
        sid=sid,
        args=list(info.get("cmdline") or []),
        exe=info.get("exe") or None,
        tty=info.get("terminal") or None,
        created=datetime.fromtimestamp(created, UTC) if created else None,
        state=str(info.get("status") or ""),
        user_ms=int(times.user * 1000) if times is not None else None,
        kernel_ms=int(times.system * 1000) if times is not None else None,
        priority=20 + nice if nice is not None else None,
        nice=nice,
    )


def processes() -> list[HostProcess]:
    """Every process of this machine (those that end while being read are left out)."""
    out = []
    for p in psutil.process_iter(_ATTRS, ad_value=None):
        try:
            out.append(_process(p.info))
        except psutil.Error:
            continue
    return out


def process(pid: int) -> HostProcess:
    """One process; NotFound when there is no such process."""
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            info = p.as_dict(_ATTRS, ad_value=None)
    except psutil.NoSuchProcess:
        raise NotFound(f"no process with PID {pid} on this machine") from None
    return _process(info)


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
