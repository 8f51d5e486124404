"""Host power and the operating system of a vSphere host (vcsim -esx: one ESXi host),
through both hosts: VRM_OperatingSystem agrees with pyVmomi's view of the HostSystem;
RequestStateChange 10 / 4 on VRM_HostSystem runs as a job that enters maintenance mode,
calls RebootHost_Task / ShutdownHost_Task and leaves maintenance mode again when that
fails. vcsim 0.24 simulates Enter/ExitMaintenanceMode_Task but not RebootHost_Task or
ShutdownHost_Task (they answer a fault): so what is tested is the maintenance-mode
sequence and the precise error; an actual reboot/shutdown of an ESXi host is not."""

import time

import pytest
import pywbem
from pyVmomi import vim

from support.classhosts import KINDS, open_host
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim
from vrmgmt.backends import create_manager

pytestmark = pytest.mark.vcsim
NS = "root/virt"


@pytest.fixture(scope="module")
def sim():
    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    with Vcsim(esx=True, vms=1) as s:
        yield s


@pytest.fixture(scope="module")
def esx(sim):
    """White box: pyVmomi's HostSystem object of the simulator."""
    m = create_manager("white-box", "vsphere", **sim.manager_options())
    m.host()  # log in
    _TASK_MANAGER.append(m._session.content.taskManager)
    yield m._session.view(vim.HostSystem).view[0]
    _TASK_MANAGER.clear()
    m.close()


_TASK_MANAGER: list = []


def _paths(bid="vc"):
    host = pywbem.CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": bid}, namespace=NS
    )
    os_ = pywbem.CIMInstanceName(
        "VRM_OperatingSystem",
        {
            "CSCreationClassName": "VRM_HostSystem",
            "CSName": bid,
            "CreationClassName": "VRM_OperatingSystem",
            "Name": bid,
        },
        namespace=NS,
    )
    return host, os_


def _open(kind, d, sim, **host_control):
    return open_host(kind, d, {"host_control": host_control}, [sim.backend_config(d)])


def _wait_job(h, job, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = h.get(job)
        if j["JobState"] in (7, 8, 9, 10):
            return j
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish")


def _tasks(esx) -> list[str]:
    """descriptionIds of the simulator's recent tasks, oldest first."""
    return [t.info.descriptionId for t in _TASK_MANAGER[0].recentTask or []]


@pytest.mark.parametrize("kind", KINDS)
def test_operating_system_agrees_with_pyvmomi(kind, tmp_path, sim, esx):
    with _open(kind, tmp_path, sim) as h:
        _, os_path = _paths()
        inst = h.get(os_path)
        product = esx.summary.config.product
        assert inst["ElementName"] == product.fullName
        assert inst["Version"] == product.version
        assert inst["OSType"] == 104  # VMware ESXi
        boot = inst["LastBootUpTime"].datetime
        assert abs((boot - esx.runtime.bootTime).total_seconds()) < 1
        assert inst["TotalVisibleMemorySize"] == esx.summary.hardware.memorySize // 1024
        assert inst["NumberOfProcesses"] is None  # not invented
        assert "not exposed" in inst["Description"]
        assert h.enum("VRM_UnixProcess") == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("state, method", [(10, "RebootHost_Task"), (4, "ShutdownHost_Task")])
def test_power_goes_through_maintenance_mode(kind, state, method, tmp_path, sim, esx):
    before = len(_tasks(esx))
    with _open(kind, tmp_path, sim, allow_power_actions=True) as h:
        host_path, _ = _paths()
        inst = h.get(host_path)
        assert list(inst["AvailableRequestedStates"]) == [4, 10]
        assert "through the hypervisor" in inst["PowerControl"]
        rv, out = h.invoke_typed(
            host_path, "RequestStateChange", RequestedState=pywbem.Uint16(state)
        )
        assert rv == 4096
        job = _wait_job(h, out["Job"])
        # what vcsim lacks, precisely: the reboot/shutdown task itself
        assert job["JobState"] == 10, job["ErrorDescription"]
        assert method in job["ErrorDescription"]
        assert esx.runtime.inMaintenanceMode is False  # left again
        tasks = _tasks(esx)[before:]
        assert tasks == ["HostSystem.enterMaintenanceMode", "HostSystem.exitMaintenanceMode"]


def test_forced_power_skips_maintenance_mode(tmp_path, sim, esx):
    before = len(_tasks(esx))
    with _open("server", tmp_path, sim, allow_power_actions=True, force_power_actions=True) as h:
        host_path, _ = _paths()
        rv, out = h.invoke_typed(host_path, "RequestStateChange", RequestedState=pywbem.Uint16(10))
        assert rv == 4096
        job = _wait_job(h, out["Job"])
        assert job["JobState"] == 10 and "RebootHost_Task" in job["ErrorDescription"]
    new = _tasks(esx)[before:]
    assert "HostSystem.enterMaintenanceMode" not in new


def test_disabled_is_refused_and_advertises_nothing(tmp_path, sim, esx):
    with _open("server", tmp_path, sim) as h:
        host_path, os_path = _paths()
        assert list(h.get(host_path)["AvailableRequestedStates"]) == []
        with pytest.raises(pywbem.CIMError) as exc:
            h.invoke_typed(os_path, "Reboot")
        assert exc.value.status_code == pywbem.CIM_ERR_ACCESS_DENIED
        assert "allow_power_actions" in exc.value.status_description
    assert esx.runtime.inMaintenanceMode is False
