"""VRM_ComputerSystem through both hosts (DSP1057 §7.1-7.3, DSP1052 §8.1 return codes)."""

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import ALL_UUIDS, error_code, names, vm_path


def test_enumerate_names(host):
    assert names(host.enum_names("VRM_ComputerSystem")) == ALL_UUIDS


def test_enumerate_states(host):
    got = {i["ElementName"]: i["EnabledState"] for i in host.enum("VRM_ComputerSystem")}
    assert got == {name: 2 if on else 3 for name, (_, on) in kit.VMS.items()}


def test_available_requested_states_follow_the_state(host):
    running = host.get(vm_path("alpha"))
    off = host.get(vm_path("gamma"))
    assert {3, 4, 6, 9, 10, 11} <= set(running["AvailableRequestedStates"])
    assert 2 not in running["AvailableRequestedStates"]
    assert list(off["AvailableRequestedStates"]) == [2]


def test_get_with_property_list(host):
    inst = host.get(vm_path("beta"), ["EnabledState"])
    assert inst["EnabledState"] == 2
    assert set(inst.keys()) - {"CreationClassName", "Name"} == {"EnabledState"}


def test_unknown_vm_is_not_found(host):
    assert error_code(lambda: host.get(vm_path("00000000-0000-0000-0000-00000000abcd"))) == (
        pywbem.CIM_ERR_NOT_FOUND
    )


def test_query(host):
    q = "SELECT Name FROM VRM_ComputerSystem WHERE ElementName LIKE 'g%'"
    if host.name == "pegasus":  # OpenPegasus's WQL: no LIKE, strings in double quotes only
        assert error_code(lambda: host.query(q)) == pywbem.CIM_ERR_INVALID_QUERY
        q = 'SELECT Name FROM VRM_ComputerSystem WHERE ElementName = "gamma"'
    got = host.query(q)
    assert [i["Name"] for i in got] == [kit.VMS["gamma"][0]]


@pytest.mark.parametrize(
    "vm, states, expect",
    [
        ("alpha", [9, 2], [(0, 9), (0, 2)]),  # pause, resume
        ("gamma", [9], [(4097, 3)]),  # pause a VM that is off
        ("alpha", [99], [(5, 2)]),  # not a RequestedState
        ("gamma", [2, 6, 2, 3], [(0, 2), (0, 6), (0, 2), (0, 3)]),  # start, save, start, off
    ],
)
def test_request_state_change(fresh_host, vm, states, expect):
    out = []
    for s in states:
        rc = fresh_host.invoke(vm_path(vm), "RequestStateChange", RequestedState=s)
        out.append((rc, fresh_host.get(vm_path(vm), ["EnabledState"])["EnabledState"]))
    assert out == expect


def test_request_state_change_without_state_is_invalid(fresh_host):
    code = error_code(lambda: fresh_host.invoke(vm_path("alpha"), "RequestStateChange"))
    assert code == pywbem.CIM_ERR_INVALID_PARAMETER


def _states(h, name):
    i = h.get(vm_path(name), ["EnabledState", "RequestedState"])
    return int(i["EnabledState"]), int(i["RequestedState"])


def test_requested_state_is_the_last_request_not_the_state(fresh_host):
    h = fresh_host
    # nothing requested yet: 0 Unknown, whatever the state
    assert {n: _states(h, n)[1] for n in kit.VMS} == {n: 0 for n in kit.VMS}
    assert h.invoke(vm_path("alpha"), "RequestStateChange", RequestedState=10) == 0
    assert _states(h, "alpha") == (2, 10)  # rebooted: running, RequestedState Reboot
    assert h.invoke(vm_path("alpha"), "RequestStateChange", RequestedState=11) == 0
    assert _states(h, "alpha") == (2, 11)
    assert h.invoke(vm_path("alpha"), "RequestStateChange", RequestedState=2) == 0  # already
    assert _states(h, "alpha") == (2, 2)
    # enumeration shows the same as GetInstance
    got = {i["ElementName"]: int(i["RequestedState"]) for i in h.enum("VRM_ComputerSystem")}
    assert got == {"alpha": 2, "beta": 0, "gamma": 0}


@pytest.mark.parametrize(
    "vm, prepare, state, expect",
    [
        ("alpha", [9], 10, (9, 9)),  # reboot a paused VM: it stays paused, 9 stays
        ("alpha", [9], 11, (9, 9)),  # reset a paused VM
        ("alpha", [9], 4, (9, 9)),  # graceful shutdown of a paused VM
        ("gamma", [], 10, (3, 0)),  # reboot a VM that is off
        ("gamma", [], 11, (3, 0)),
        ("gamma", [], 9, (3, 0)),  # pause a VM that is off
        ("gamma", [], 6, (3, 0)),  # save a VM that is off
        ("gamma", [2, 6], 9, (6, 6)),  # pause a saved VM
        ("gamma", [2, 6], 10, (6, 6)),
    ],
)
def test_impossible_transitions_answer_4097(fresh_host, vm, prepare, state, expect):
    h = fresh_host
    for s in prepare:
        assert h.invoke(vm_path(vm), "RequestStateChange", RequestedState=s) == 0
    assert h.invoke(vm_path(vm), "RequestStateChange", RequestedState=state) == 4097
    assert _states(h, vm) == expect


def test_requested_state_survives_a_restart(tmp_path):
    from support.classhosts import KINDS, open_host

    for kind in KINDS:
        d = tmp_path / kind
        d.mkdir()
        with open_host(kind, d) as h:
            assert h.invoke(vm_path("alpha"), "RequestStateChange", RequestedState=10) == 0
            assert h.invoke(vm_path("gamma"), "RequestStateChange", RequestedState=2) == 0
        with open_host(kind, d) as h:  # a new host over the same state directory
            assert _states(h, "alpha") == (2, 10)
            # the node file was read afresh (gamma off again); the request is remembered
            assert _states(h, "gamma") == (3, 2)
            assert _states(h, "beta") == (2, 0)
