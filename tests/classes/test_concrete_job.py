"""VRM_ConcreteJob, VRM_AffectedJobElement and VRM_OwningJobElement through both hosts
(DSP1103 Job Control), over a vCenter simulator whose power tasks take their time
(PowerOnVM_Task/PowerOffVM_Task served 1.5 s late): RequestStateChange returns 4096 and
a job that the client polls to completion; a job that fails explains itself through
ErrorCode, ErrorDescription and GetError; kill and the job's lifetime."""

from __future__ import annotations

import time

import cmpi_testkit as kit
import pytest
import pywbem

from support.classhosts import KINDS, open_host
from support.vcsim import Vcsim, missing_prerequisites

pytestmark = pytest.mark.vcsim
DELAY_MS = 1500
JOB = "VRM_ConcreteJob"


@pytest.fixture(scope="module")
def sim():
    why = missing_prerequisites()
    if why:
        pytest.fail(why)
    with Vcsim(
        hosts=1, vms=4, method_delay={"PowerOnVM_Task": DELAY_MS, "PowerOffVM_Task": DELAY_MS}
    ) as s:
        yield s


@pytest.fixture(scope="module", params=KINDS)
def host(request, sim, tmp_path_factory):
    d = tmp_path_factory.mktemp(f"jobs-{request.param}")
    with open_host(request.param, d, backends=[sim.backend_config(d)]) as h:
        yield h


def vms_in(host, state: int) -> list[pywbem.CIMInstance]:
    return sorted(
        (i for i in host.enum("VRM_ComputerSystem") if i["EnabledState"] == state),
        key=lambda i: i["ElementName"],
    )


def poll(host, job_path, timeout=30.0) -> tuple[pywbem.CIMInstance, list[int]]:
    """Poll the job until it has finished; the JobStates seen on the way."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        job = host.get(job_path)
        seen.append(int(job["JobState"]))
        if job["JobState"] >= 7:
            return job, seen
        assert time.monotonic() < deadline, f"job still in state {job['JobState']}"
        time.sleep(0.1)


def an_off_vm(host) -> pywbem.CIMInstance:
    """A powered-off VM, powering one off (through a job) when none is."""
    off = vms_in(host, 3)
    if off:
        return off[0]
    vm = vms_in(host, 2)[0]
    rv, out = rsc(host, vm, 3)
    assert rv == 4096
    assert poll(host, out["Job"])[0]["JobState"] == 7
    return host.get(vm.path)


def rsc(host, vm, state):
    return host.invoke_typed(vm.path, "RequestStateChange", RequestedState=pywbem.Uint16(state))


def test_slow_power_off_is_a_job_polled_to_completion(host):
    vm = vms_in(host, 2)[0]
    t0 = time.monotonic()
    rv, out = rsc(host, vm, 3)
    assert time.monotonic() - t0 < DELAY_MS / 1000, "the method waited for the task"
    assert rv == 4096
    job_path = out["Job"]
    assert job_path.classname == JOB
    job, seen = poll(host, job_path)
    assert seen[0] in (2, 4) and seen[-1] == 7, seen  # New/Running ... Completed
    assert job["PercentComplete"] == 100 and job["ErrorCode"] == 0
    assert job["ErrorDescription"] is None
    assert job["ElapsedTime"].timedelta.total_seconds() >= DELAY_MS / 1000 - 0.1
    assert list(job["OperationalStatus"]) == [2, 17]
    assert host.get(vm.path, ["EnabledState"])["EnabledState"] == 3
    rv, out = host.invoke_typed(job_path, "GetError")
    assert rv == 0 and out.get("Error") is None

    # the job and the VM it acted on / the element whose method started it
    affected = host.assoc_names(job_path, "VRM_AffectedJobElement")
    assert [p["Name"] for p in affected] == [vm["Name"]]
    jobs_of_vm = host.assoc_names(vm.path, "VRM_AffectedJobElement", result_class=JOB)
    assert job_path["InstanceID"] in {p["InstanceID"] for p in jobs_of_vm}
    owner = host.assoc_names(job_path, "VRM_OwningJobElement", role="OwnedElement")
    assert [p["Name"] for p in owner] == [vm["Name"]]
    assert job_path["InstanceID"] in {p["InstanceID"] for p in host.enum_names(JOB)}


def test_a_failed_job_reports_its_error(host):
    """Two starts of one VM: the second passes every check while the first task is still
    under way, and vCenter refuses it when its turn comes (InvalidPowerState)."""
    vm = an_off_vm(host)
    rv1, out1 = rsc(host, vm, 2)
    rv2, out2 = rsc(host, vm, 2)
    assert (rv1, rv2) == (4096, 4096)
    first, _ = poll(host, out1["Job"])
    second, _ = poll(host, out2["Job"])
    assert first["JobState"] == 7
    assert second["JobState"] == 10  # Exception
    assert second["ErrorCode"] not in (None, 0)
    assert "power" in second["ErrorDescription"].lower(), second["ErrorDescription"]
    assert list(second["OperationalStatus"]) == [6, 17]
    rv, out = host.invoke_typed(out2["Job"], "GetError")
    err = out["Error"]
    assert rv == 0 and err.classname == "CIM_Error"
    assert err["Message"] == second["ErrorDescription"]
    assert err["CIMStatusCode"] == pywbem.CIM_ERR_FAILED


def test_kill_a_running_job_and_a_finished_one(host):
    vm = vms_in(host, 2)[0]
    rv, out = rsc(host, vm, 3)
    assert rv == 4096
    kill_rv, _ = host.invoke_typed(
        out["Job"], "RequestStateChange", RequestedState=pywbem.Uint16(5)
    )
    job, _ = poll(host, out["Job"])
    # cooperative: the task was already sent, so the job either stops or completes
    assert kill_rv == 0 and job["JobState"] in (7, 9)
    again, _ = host.invoke_typed(out["Job"], "RequestStateChange", RequestedState=pywbem.Uint16(5))
    assert again == 4097  # a finished job cannot be killed
    susp, _ = host.invoke_typed(out["Job"], "RequestStateChange", RequestedState=pywbem.Uint16(3))
    assert susp == 1  # Suspend is not supported


def test_unknown_job(host):
    path = pywbem.CIMInstanceName(JOB, {"InstanceID": "vrmgmt:job:nope"}, namespace=kit.NS)
    with pytest.raises(pywbem.CIMError) as exc:
        host.get(path)
    assert exc.value.status_code == pywbem.CIM_ERR_NOT_FOUND
