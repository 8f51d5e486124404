"""VRM_UnixProcess, VRM_OSProcess and VRM_VMProcess through both hosts (CIM_UnixProcess,
CIM_OSProcess, CIM Schema 2.49). The test driver's host is this machine: its processes
are the machine's, as `ps` shows them; its running VMs are simulated inside the process
holding the test:// connection (here: this test process). Terminations only ever hit
processes the test started itself."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import error_code, vm_path
from support.classhosts import KINDS, open_host, provider_pid

CLS = "VRM_UnixProcess"
OS_PATH = pywbem.CIMInstanceName(
    "VRM_OperatingSystem",
    {
        "CSCreationClassName": "VRM_HostSystem",
        "CSName": kit.BACKEND,
        "CreationClassName": "VRM_OperatingSystem",
        "Name": kit.BACKEND,
    },
    namespace=kit.NS,
)


def proc_path(pid, backend=kit.BACKEND, **over):
    keys = {
        "CSCreationClassName": "VRM_HostSystem",
        "CSName": backend,
        "OSCreationClassName": "VRM_OperatingSystem",
        "OSName": backend,
        "CreationClassName": CLS,
        "Handle": str(pid),
    }
    keys.update(over)
    return pywbem.CIMInstanceName(CLS, keys, namespace=kit.NS)


def _ps() -> dict[int, str]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,comm="], capture_output=True, text=True)
    procs = {}
    for line in out.stdout.splitlines():
        pid, _, comm = line.strip().partition(" ")
        procs[int(pid)] = comm.strip()
    return procs


@pytest.fixture
def sleeper():
    """A process of this test's own (the only kind a test may terminate)."""
    p = subprocess.Popen(["sleep", "300"])
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


@pytest.fixture
def stubborn():
    """A process of this test's own that ignores SIGTERM (needs SIGKILL)."""
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)"
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


def test_same_pids_and_names_as_ps(host):
    before = _ps()
    listed = {int(i["Handle"]): i["Name"] for i in host.enum(CLS)}
    after = _ps()
    stable = {pid: name for pid, name in before.items() if after.get(pid) == name}
    assert len(stable) > 10
    missing = set(stable) - set(listed)
    assert not missing, f"ps shows PIDs the server does not: {sorted(missing)[:10]}"
    for pid, comm in stable.items():
        if comm.startswith("kworker/"):  # named after their current work item
            continue
        assert listed[pid][:15] == comm[:15], (pid, listed[pid], comm)


def test_get_a_process_of_this_test(host, sleeper):
    inst = host.get(proc_path(sleeper.pid))
    assert inst["Name"] == "sleep"
    assert inst["ParentProcessID"] == str(os.getpid())
    assert list(inst["Parameters"]) == ["sleep", "300"]
    assert inst["ModulePath"] and inst["ModulePath"].endswith("/sleep")
    assert inst["RealUserID"] == os.getuid()
    assert inst["ProcessGroupID"] == os.getpgid(sleeper.pid)
    assert inst["ProcessSessionID"] == os.getsid(sleeper.pid)
    assert inst["ExecutionState"] in (3, 6)
    assert abs(inst["CreationDate"].datetime.timestamp() - time.time()) < 120
    assert inst["UserModeTime"] is not None and inst["KernelModeTime"] is not None
    assert inst["Priority"] == 20 + os.getpriority(os.PRIO_PROCESS, sleeper.pid)
    # process control is off in this configuration: nothing advertised
    assert list(inst["AvailableRequestedStates"]) == []


def test_os_process_both_ways(host, sleeper):
    procs = host.assoc_names(OS_PATH, assoc="VRM_OSProcess")
    assert str(sleeper.pid) in {p.keybindings["Handle"] for p in procs}
    insts = host.assocs(OS_PATH, assoc="VRM_OSProcess", plist=["Name"])
    assert any(
        i["Name"] == "sleep" and i.path.keybindings["Handle"] == str(sleeper.pid) for i in insts
    )
    [os_] = host.assoc_names(proc_path(sleeper.pid), assoc="VRM_OSProcess")
    assert os_.keybindings["Name"] == kit.BACKEND


def test_vm_process(host):
    """A running test-driver VM runs in the process holding the connection (the
    providers' process)."""
    pid = provider_pid(host)
    [p] = host.assoc_names(vm_path("alpha"), assoc="VRM_VMProcess")
    assert p.classname == CLS and p.keybindings["Handle"] == str(pid)
    assert host.assoc_names(vm_path("gamma"), assoc="VRM_VMProcess") == []  # off
    vms = host.assoc_names(proc_path(pid), assoc="VRM_VMProcess")
    assert {v.keybindings["Name"] for v in vms} == {kit.VMS["alpha"][0], kit.VMS["beta"][0]}


def test_terminate_is_refused_when_process_control_is_off(host, sleeper):
    code = error_code(
        lambda: host.invoke_typed(
            proc_path(sleeper.pid), "RequestStateChange", RequestedState=pywbem.Uint16(3)
        )
    )
    assert code == pywbem.CIM_ERR_ACCESS_DENIED
    assert sleeper.poll() is None


@pytest.mark.parametrize(
    "over, code",
    [
        ({"Handle": "999999999"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"Handle": "abc"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"CSName": "other"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"OSCreationClassName": "CIM_OperatingSystem"}, pywbem.CIM_ERR_NOT_FOUND),
        ({"Handle": ""}, pywbem.CIM_ERR_INVALID_PARAMETER),
    ],
)
def test_bad_paths(host, over, code):
    assert error_code(lambda: host.get(proc_path(1, **over))) == code


# -- with [host_control] allow_process_control = true ---------------------------------
@pytest.fixture(params=KINDS)
def control_host(request, tmp_path):
    sections = {"host_control": {"allow_process_control": True, "kill_grace_seconds": 0.5}}
    with open_host(request.param, tmp_path, sections) as h:
        yield h


def _wait_exit(p, timeout=10):
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def test_disabled_state_sends_sigterm(control_host, sleeper):
    inst = control_host.get(proc_path(sleeper.pid))
    assert list(inst["AvailableRequestedStates"]) == [3, 4]
    rv, _ = control_host.invoke_typed(
        proc_path(sleeper.pid), "RequestStateChange", RequestedState=pywbem.Uint16(3)
    )
    assert rv == 0
    assert _wait_exit(sleeper) == -signal.SIGTERM


def _wait_job(h, job, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = h.get(job)
        if j["JobState"] in (7, 8, 9, 10):  # completed, terminated, killed, exception
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job} did not finish")


def test_shut_down_state_kills_after_the_grace_period(control_host, stubborn):
    rv, out = control_host.invoke_typed(
        proc_path(stubborn.pid), "RequestStateChange", RequestedState=pywbem.Uint16(4)
    )
    if rv == 4096:
        assert _wait_job(control_host, out["Job"])["JobState"] == 7
    else:
        assert rv == 0
    assert _wait_exit(stubborn) == -signal.SIGKILL


def test_protected_and_unknown_processes(control_host, sleeper):
    def rsc(pid, state=3):
        return control_host.invoke_typed(
            proc_path(pid), "RequestStateChange", RequestedState=pywbem.Uint16(state)
        )

    own = provider_pid(control_host)  # vrmgmt's own process is never terminated
    assert error_code(lambda: rsc(own)) == pywbem.CIM_ERR_ACCESS_DENIED
    assert error_code(lambda: rsc(1)) == pywbem.CIM_ERR_ACCESS_DENIED
    assert error_code(lambda: rsc(999999999)) == pywbem.CIM_ERR_NOT_FOUND
    assert rsc(sleeper.pid, 2)[0] == 1  # only 3 and 4
    assert sleeper.poll() is None


def test_a_thousand_processes_are_listed_quickly(host):
    """bench/processes.py measures it (about 0.4 s through the server for 1,000 here);
    this bound only catches a listing that became per-process slow."""
    count = sum(1 for n in os.listdir("/proc") if n.isdigit())
    extra = [subprocess.Popen(["sleep", "300"]) for _ in range(max(0, 1050 - count))]
    try:
        t = time.perf_counter()
        names = host.enum_names(CLS)
        elapsed = time.perf_counter() - t
        listed = {p.keybindings["Handle"] for p in names}
        assert len(names) >= 1000
        assert {str(p.pid) for p in extra} <= listed
        assert elapsed < 10, f"{len(names)} processes took {elapsed:.1f} s"
        t = time.perf_counter()
        assert len(host.enum(CLS)) >= 1000
        assert time.perf_counter() - t < 15
    finally:
        for p in extra:
            p.kill()
        for p in extra:
            p.wait()


def test_timeout_period_is_the_grace_before_sigkill(tmp_path, stubborn):
    """Embedded server only: the CMPI test double passes no datetime parameters."""
    sections = {"host_control": {"allow_process_control": True, "kill_grace_seconds": 600}}
    with open_host("server", tmp_path, sections) as h:
        grace = pywbem.CIMDateTime(timedelta(seconds=0.3))
        t = time.monotonic()
        rv, out = h.invoke_typed(
            proc_path(stubborn.pid),
            "RequestStateChange",
            RequestedState=pywbem.Uint16(4),
            TimeoutPeriod=grace,
        )
        assert rv == 4096
        assert _wait_job(h, out["Job"])["JobState"] == 7
        assert _wait_exit(stubborn) == -signal.SIGKILL
        assert time.monotonic() - t < 30  # not the configured 600 s
        rv, _ = h.invoke_typed(
            proc_path(os.getpid()),
            "RequestStateChange",
            RequestedState=pywbem.Uint16(4),
            TimeoutPeriod=pywbem.CIMDateTime("20260101000000.000000+000"),
        )
        assert rv == 5  # a point in time is not a grace period
