"""Host control with pywbemcli against a real `vrmgmt serve` over qemu:///system (the
real libvirtd of support.libvirtd, a tiny running TCG guest): pywbemcli lists this
machine's processes with the same PIDs and names as `ps`, follows the VM to its QEMU
process, terminates a process the test started (allowed by [host_control]
allow_process_control), and is refused with CIM_ERR_ACCESS_DENIED where process control
is off (issue 13, "Done when")."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.libvirtd import running_tiny_vm
from support.server import PASSWORD, USER, VrmServer

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]
PYWBEMCLI = str(Path(sys.executable).parent / "pywbemcli")
OS = (
    'VRM_OperatingSystem.CSCreationClassName="VRM_HostSystem",CSName="kvm",'
    'CreationClassName="VRM_OperatingSystem",Name="kvm"'
)


def proc(pid: int) -> str:
    return (
        'VRM_UnixProcess.CSCreationClassName="VRM_HostSystem",CSName="kvm",'
        'OSCreationClassName="VRM_OperatingSystem",OSName="kvm",'
        f'CreationClassName="VRM_UnixProcess",Handle="{pid}"'
    )


@pytest.fixture(scope="module")
def running_vm():
    with running_tiny_vm() as vm_and_pid:
        yield vm_and_pid


def _server(d: Path, allow: bool) -> VrmServer:
    backends = [{"id": "kvm", "type": "libvirt", "uri": "qemu:///system"}]
    extra = f"[host_control]\nallow_process_control = {'true' if allow else 'false'}\n"
    return VrmServer(d, backends, extra_config=extra)


def cli(srv: VrmServer, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(
        [PYWBEMCLI, "-s", srv.url, "-u", USER, "-p", PASSWORD, "-d", "root/virt", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _mof_pairs(text: str) -> dict[int, str]:
    """PID -> Name from pywbemcli's MOF output of VRM_UnixProcess instances."""
    out = {}
    for block in text.split("instance of VRM_UnixProcess")[1:]:
        handle = re.search(r'Handle = "(\d+)";', block)
        name = re.search(r'Name = "((?:[^"\\]|\\.)*)";', block)
        if handle and name:
            out[int(handle.group(1))] = name.group(1)
    return out


def _ps() -> dict[int, str]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,comm="], capture_output=True, text=True)
    procs = {}
    for line in out.stdout.splitlines():
        pid, _, comm = line.strip().partition(" ")
        procs[int(pid)] = comm.strip()
    return procs


def test_pywbemcli_lists_follows_and_terminates(tmp_path, running_vm):
    vm, qemu_pid = running_vm
    with _server(tmp_path / "on", allow=True) as srv:
        # the processes of this machine, as ps shows them
        before = _ps()
        listed = _mof_pairs(
            cli(
                srv, "instance", "associators", OS, "--assoc-class", "VRM_OSProcess",
                "--pl", "Handle", "--pl", "Name",
            ).stdout
        )  # fmt: skip
        after = _ps()
        stable = {p: n for p, n in before.items() if after.get(p) == n}
        assert len(stable) > 10 and not set(stable) - set(listed), sorted(set(stable) - set(listed))
        for pid, comm in stable.items():
            if not comm.startswith("kworker/"):
                assert listed[pid][:15] == comm[:15], (pid, listed[pid], comm)

        # from the VM to the QEMU process that runs it
        vm_path = (
            f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{vm.uuid.lower()}"'
        )
        out = cli(srv, "instance", "associators", vm_path, "--assoc-class", "VRM_VMProcess").stdout
        assert list(_mof_pairs(out)) == [qemu_pid], out

        # terminate a process of this test's own (3 = Disabled: SIGTERM)
        sleeper = subprocess.Popen(["sleep", "300"])
        try:
            out = cli(
                srv, "instance", "invokemethod", proc(sleeper.pid), "RequestStateChange",
                "-p", "RequestedState=3",
            ).stdout  # fmt: skip
            assert "ReturnValue=0" in out, out
            deadline = time.monotonic() + 10
            while sleeper.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sleeper.poll() is not None, "the process was not terminated"
        finally:
            if sleeper.poll() is None:
                sleeper.kill()
            sleeper.wait()

    # with process control off: refused, and the process lives on
    with _server(tmp_path / "off", allow=False) as srv:
        sleeper = subprocess.Popen(["sleep", "300"])
        try:
            r = cli(
                srv, "instance", "invokemethod", proc(sleeper.pid), "RequestStateChange",
                "-p", "RequestedState=3", check=False,
            )  # fmt: skip
            assert r.returncode != 0 and "CIM_ERR_ACCESS_DENIED" in r.stdout + r.stderr, r
            time.sleep(0.3)
            assert sleeper.poll() is None
        finally:
            sleeper.kill()
            sleeper.wait()
