"""VRM_GroupManagementService through both hosts (issue 12): CreateGroup, DeleteGroup,
AddMembers, RemoveMembers, MoveMembers (atomic: all or nothing), and
RequestStateChangeOfMembers as a job with each member's outcome (GetMemberResults)."""

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import error_code, host_path, vm_path
from support.groupcases import (
    ROOT_ID,
    SVC,
    call,
    create,
    group_of,
    iid,
    members,
    results,
    root,
    wait_job,
)

ALPHA, BETA, GAMMA = (f"VRM_ComputerSystem:{kit.VMS[n][0]}" for n in ("alpha", "beta", "gamma"))


def test_one_service(host):
    (inst,) = host.enum(SVC)
    assert inst["Name"] == "vrmgmt:groups" and int(inst["HealthState"]) == 5


def test_tree_moves_and_renames(fresh_host):
    h = fresh_host
    a = create(h, "a", description="first")
    b = create(h, "b", parent=a, members=[vm_path("alpha"), vm_path("beta")])
    c = create(h, "c")
    assert h.get(a)["Description"] == "first"
    rc, _ = call(h, "MoveMembers", TargetGroup=c, Members=[vm_path("alpha"), b])
    assert rc == 0
    assert members(h, c) == sorted([ALPHA, f"VRM_Group:{iid(b)}"])
    assert members(h, b) == [BETA]
    assert members(h, a) == []
    # a group cannot move into its own subgroup
    err = error_code(lambda: call(h, "MoveMembers", TargetGroup=b, Members=[c]))
    assert err == pywbem.CIM_ERR_FAILED
    # RemoveMembers: back to the root
    rc, _ = call(h, "RemoveMembers", Group=c, Members=[vm_path("alpha")])
    assert rc == 0
    assert group_of(h, vm_path("alpha")) == [ROOT_ID]
    # a group name is unique among its siblings only
    create(h, "b")  # top level: fine, the other "b" is in c
    err = error_code(lambda: call(h, "CreateGroup", GroupName="b", ParentGroup=c))
    assert err == pywbem.CIM_ERR_FAILED


def test_edits_are_all_or_nothing(fresh_host):
    h = fresh_host
    g = create(h, "g")
    ghost = vm_path("0000dead-0000-0000-0000-000000000000")
    err = error_code(lambda: call(h, "AddMembers", Group=g, Members=[vm_path("alpha"), ghost]))
    assert err == pywbem.CIM_ERR_NOT_FOUND
    assert members(h, g) == []  # alpha was not added either
    other = create(h, "other", members=[vm_path("beta")])
    err = error_code(
        lambda: call(h, "AddMembers", Group=g, Members=[vm_path("alpha"), vm_path("beta")])
    )
    assert err == pywbem.CIM_ERR_FAILED  # beta is in "other": use MoveMembers
    assert members(h, g) == [] and members(h, other) == [BETA]
    # not a host, VM or group: invalid parameter
    job = pywbem.CIMInstanceName(
        "VRM_ConcreteJob", {"InstanceID": "vrmgmt:job:x"}, namespace=kit.NS
    )
    err = error_code(lambda: call(h, "AddMembers", Group=g, Members=[job]))
    assert err == pywbem.CIM_ERR_INVALID_PARAMETER
    # a missing required parameter
    assert error_code(lambda: call(h, "AddMembers", Group=g)) == pywbem.CIM_ERR_INVALID_PARAMETER


def test_delete_group_force_moves_members_to_the_parent(fresh_host):
    h = fresh_host
    top = create(h, "top")
    mid = create(h, "mid", parent=top, members=[vm_path("gamma")])
    low = create(h, "low", parent=mid)
    assert error_code(lambda: call(h, "DeleteGroup", Group=mid)) == pywbem.CIM_ERR_FAILED
    rc, _ = call(h, "DeleteGroup", Group=mid, Force=True)
    assert rc == 0
    assert members(h, top) == sorted([GAMMA, f"VRM_Group:{iid(low)}"])
    assert error_code(lambda: call(h, "DeleteGroup", Group=root())) == pywbem.CIM_ERR_FAILED


@pytest.mark.parametrize(
    "state, expect_states",
    [(pywbem.Uint16(9), {"paused"}), (pywbem.Uint16(3), {"off"})],
)
def test_request_state_change_of_members(fresh_host, state, expect_states):
    h = fresh_host
    top = create(h, "top", members=[vm_path("alpha")])
    create(h, "sub", parent=top, members=[vm_path("beta")])
    rc, out = call(
        h,
        "RequestStateChangeOfMembers",
        Group=top,
        RequestedState=state,
        Recursive=True,
        MaxParallel=pywbem.Uint16(2),
    )
    assert rc == 4096
    job = wait_job(h, out["Job"])
    assert int(job["JobState"]) == 7, job["JobStatus"]
    got = results(h, out["Job"])
    assert sorted(got) == sorted([kit.VMS["alpha"][0], kit.VMS["beta"][0]])
    assert all(rc == 0 for rc, _ in got.values()), got
    for name in ("alpha", "beta"):
        en = int(h.get(vm_path(name))["EnabledState"])
        assert en == {"paused": 9, "off": 3}[next(iter(expect_states))]
    assert int(h.get(vm_path("gamma"))["EnabledState"]) == 3  # not in the group: untouched


def test_request_state_change_not_recursive_and_bad_input(fresh_host):
    h = fresh_host
    top = create(h, "top", members=[vm_path("alpha")])
    create(h, "sub", parent=top, members=[vm_path("beta")])
    rc, out = call(h, "RequestStateChangeOfMembers", Group=top, RequestedState=pywbem.Uint16(9))
    wait_job(h, out["Job"])
    assert sorted(results(h, out["Job"])) == [kit.VMS["alpha"][0]]
    assert int(h.get(vm_path("beta"))["EnabledState"]) == 2
    err = error_code(
        lambda: call(
            h,
            "RequestStateChangeOfMembers",
            Group=top,
            RequestedState=pywbem.Uint16(9),
            MaxParallel=pywbem.Uint16(0),
        )
    )
    assert err == pywbem.CIM_ERR_INVALID_PARAMETER
    assert error_code(lambda: call(h, "RequestStateChangeOfMembers", Group=top)) == (
        pywbem.CIM_ERR_INVALID_PARAMETER
    )


def test_host_membership_through_the_service(fresh_host):
    h = fresh_host
    g = create(h, "rack", members=[host_path()])
    assert group_of(h, host_path()) == [iid(g)]
    # a VM of the host moved to the root would land in its host's group again: refused
    err = error_code(lambda: call(h, "MoveMembers", TargetGroup=root(), Members=[vm_path("alpha")]))
    assert err == pywbem.CIM_ERR_FAILED


def test_group_state_change_sets_requested_state_and_4097_per_member(fresh_host):
    """The group path follows RequestStateChange's rules: each member's RequestedState is
    the group's request; a member that cannot make the transition gets 4097, unchanged."""
    h = fresh_host
    top = create(h, "top", members=[vm_path("alpha"), vm_path("gamma")])
    rc, out = call(h, "RequestStateChangeOfMembers", Group=top, RequestedState=pywbem.Uint16(10))
    wait_job(h, out["Job"])
    got = results(h, out["Job"])
    assert {u: rc for u, (rc, _) in got.items()} == {
        kit.VMS["alpha"][0]: 0,
        kit.VMS["gamma"][0]: 4097,  # reboot of a VM that is off
    }
    alpha, gamma = h.get(vm_path("alpha")), h.get(vm_path("gamma"))
    assert (int(alpha["EnabledState"]), int(alpha["RequestedState"])) == (2, 10)
    assert (int(gamma["EnabledState"]), int(gamma["RequestedState"])) == (3, 0)
