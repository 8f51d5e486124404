"""VRM_Group through both hosts (issue 12; CIM_ConcreteCollection of CIM Schema 2.49):
the implicit root, intrinsic Create/Modify/DeleteInstance, stale members in
StatusDescriptions, and the store shared through files by the two hosts."""

import subprocess
import sys
import textwrap

import cmpi_testkit as kit
import pytest
import pywbem

from support.classcases import ALL_UUIDS, error_code, host_path, vm_path
from support.groupcases import (
    GROUP,
    ROOT_ID,
    call,
    create,
    group_of,
    group_path,
    iid,
    members,
    root,
)


def test_root_group_holds_everything_at_first(host):
    insts = host.enum(GROUP)
    assert [(iid(i), i["ElementName"], int(i["HealthState"])) for i in insts][:1] == [
        (ROOT_ID, "All", 5)
    ]
    got = members(host, root())
    assert got == sorted(
        [f"VRM_ComputerSystem:{u}" for u in ALL_UUIDS] + [f"VRM_HostSystem:{kit.BACKEND}"]
    )
    assert group_of(host, vm_path("alpha")) == [ROOT_ID]


def test_create_modify_delete_instance(fresh_host):
    h = fresh_host
    new = pywbem.CIMInstance(GROUP, {"ElementName": "lab", "Description": "the lab"})
    p = h.create(new)
    assert iid(p).startswith("vrmgmt:group:")
    inst = h.get(p)
    assert (inst["ElementName"], inst["Description"]) == ("lab", "the lab")
    # a second top-level group of that name: refused, with the reason
    with pytest.raises(pywbem.CIMError) as exc:
        h.create(pywbem.CIMInstance(GROUP, {"ElementName": "lab"}))
    assert exc.value.status_code == pywbem.CIM_ERR_FAILED
    assert "exists already" in exc.value.status_description
    # rename
    mod = pywbem.CIMInstance(GROUP, {"InstanceID": iid(p), "ElementName": "lab2"}, path=p)
    h.modify(mod, ["ElementName"])
    assert h.get(p)["ElementName"] == "lab2"
    bad = pywbem.CIMInstance(GROUP, {"InstanceID": iid(p), "Caption": "x"}, path=p)
    assert error_code(lambda: h.modify(bad, ["Caption"])) == pywbem.CIM_ERR_NOT_SUPPORTED
    # the root cannot be renamed or deleted
    assert error_code(lambda: h.delete(root())) == pywbem.CIM_ERR_FAILED
    # a non-empty group is refused; Force through DeleteGroup moves members to the parent
    rc, _ = call(h, "AddMembers", Group=p, Members=[vm_path("alpha")])
    assert rc == 0
    with pytest.raises(pywbem.CIMError) as exc:
        h.delete(p)
    assert "not empty" in exc.value.status_description
    assert "Force=true" in exc.value.status_description
    rc, _ = call(h, "DeleteGroup", Group=p, Force=True)
    assert rc == 0
    assert error_code(lambda: h.get(p)) == pywbem.CIM_ERR_NOT_FOUND
    assert group_of(h, vm_path("alpha")) == [ROOT_ID]


def test_bad_input_gives_clear_errors(host):
    assert error_code(lambda: host.get(group_path("nope"))) == pywbem.CIM_ERR_NOT_FOUND
    assert error_code(lambda: host.get(group_path("vrmgmt:group:nope"))) == (
        pywbem.CIM_ERR_NOT_FOUND
    )
    no_name = pywbem.CIMInstance(GROUP, {"Description": "x"})
    assert error_code(lambda: host.create(no_name)) == pywbem.CIM_ERR_INVALID_PARAMETER


def test_stale_member_keeps_its_place_and_is_reported(fresh_host, tmp_path):
    h = fresh_host
    g = create(h, "ghosts", members=[vm_path("beta")])
    state = _state_dir(h, tmp_path)
    # another process lists a VM that no backend knows (undefined elsewhere)
    _edit_elsewhere(
        state, iid(g)[len("vrmgmt:group:") :], "vm", "0000dead-0000-0000-0000-00000000beef"
    )
    inst = h.get(g)
    assert int(inst["HealthState"]) == 10
    (note,) = inst["StatusDescriptions"]
    assert "0000dead-0000-0000-0000-00000000beef" in note and "keeps its place" in note
    assert members(h, g) == [f"VRM_ComputerSystem:{kit.VMS['beta'][0]}"]


def test_a_change_in_another_process_is_seen(fresh_host, tmp_path):
    h = fresh_host
    g = create(h, "shared")
    gid = iid(g)[len("vrmgmt:group:") :]
    _edit_elsewhere(_state_dir(h, tmp_path), gid, "host", kit.BACKEND)
    # the host moved, and with it every VM no group lists (a VM lands in its host's group)
    assert members(h, g) == sorted(
        [f"VRM_ComputerSystem:{u}" for u in ALL_UUIDS] + [f"VRM_HostSystem:{kit.BACKEND}"]
    )
    assert group_of(h, host_path()) == [iid(g)]


def _state_dir(h, tmp_path):
    """The state directory of the host under test (tests/classes/conftest.py)."""
    return tmp_path / ("state" if h.name == "server" else "cmpi-state")


_ELSEWHERE = textwrap.dedent(
    """
    import sys
    from vrmgmt.groups import GroupStore
    gid, kind, ref = sys.argv[2:5]
    GroupStore(sys.argv[1]).edit(lambda t: t.add(gid, [(kind, ref)]))
    """
)


def _edit_elsewhere(state, gid, kind, ref):
    subprocess.run([sys.executable, "-c", _ELSEWHERE, str(state), gid, kind, ref], check=True)


def test_damaged_store_is_reported_and_read_only(fresh_host, tmp_path):
    """A corrupt groups.xml with no usable backup: moved aside, the root group and the
    service say why (HealthState 10), edits fail with a clear CIM error."""
    h = fresh_host
    state = _state_dir(h, tmp_path)
    state.mkdir(parents=True, exist_ok=True)
    (state / "groups.xml").write_text("<groups version='1'><group id='x'")  # truncated
    root_inst = h.get(root())
    assert int(root_inst["HealthState"]) == 10
    (note,) = root_inst["StatusDescriptions"]
    assert "not well-formed" in note and "read-only" in note and "moved aside" in note
    (svc_inst,) = h.enum("VRM_GroupManagementService")
    assert int(svc_inst["HealthState"]) == 10
    with pytest.raises(pywbem.CIMError) as exc:
        create(h, "x")
    assert exc.value.status_code == pywbem.CIM_ERR_FAILED
    assert "cannot be changed" in exc.value.status_description
    assert len(list(state.glob("groups.xml.corrupt-*"))) == 1
