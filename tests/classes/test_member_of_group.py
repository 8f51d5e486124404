"""VRM_MemberOfGroup through both hosts (issue 12; CIM_MemberOfCollection of CIM Schema
2.49): answers from every end (VM -> its group, group -> members and subgroups,
subgroup -> parent), and intrinsic Create/DeleteInstance."""

import cmpi_testkit as kit
import pywbem

from support.classcases import error_code, host_path, vm_path
from support.groupcases import MOG, ROOT_ID, call, create, group_of, iid, members, root

ALPHA, BETA, GAMMA = (f"VRM_ComputerSystem:{kit.VMS[n][0]}" for n in ("alpha", "beta", "gamma"))
HOST = f"VRM_HostSystem:{kit.BACKEND}"


def _link(group, member):
    return pywbem.CIMInstanceName(MOG, {"Collection": group, "Member": member}, namespace=kit.NS)


def test_every_end(fresh_host):
    h = fresh_host
    top = create(h, "top")
    sub = create(h, "sub", parent=top, members=[vm_path("alpha")])
    assert members(h, top) == [f"VRM_Group:{iid(sub)}"]
    assert members(h, sub) == [ALPHA]
    assert group_of(h, vm_path("alpha")) == [iid(sub)]
    assert group_of(h, sub) == [iid(top)]  # subgroup -> parent
    assert group_of(h, top) == [ROOT_ID]
    assert sorted(members(h, root())) == sorted([BETA, GAMMA, HOST, f"VRM_Group:{iid(top)}"])
    # the far instances come back as whole instances of their classes
    (inst,) = h.assocs(sub, MOG, role="Collection")
    assert inst.classname == "VRM_ComputerSystem" and inst["ElementName"] == "alpha"
    # ResultClass filters the far end
    assert h.assoc_names(top, MOG, role="Collection", result_class="VRM_ComputerSystem") == []
    # references from a VM: exactly one link, to its group
    (ref,) = h.refs(vm_path("alpha"), MOG)
    assert iid(ref["Collection"]) == iid(sub)
    # enumeration holds every link: 5 members of the root (3 VMs... minus alpha, the
    # host, top) + top -> sub + sub -> alpha
    links = h.enum_names(MOG)
    assert len(links) == 2 + 1 + 1 + 1 + 1


def test_create_and_delete_instance(fresh_host):
    h = fresh_host
    g = create(h, "web")
    p = h.create(pywbem.CIMInstance(MOG, {"Collection": g, "Member": vm_path("beta")}))
    assert p.classname == MOG
    assert group_of(h, vm_path("beta")) == [iid(g)]
    # twice: already exists
    dup = pywbem.CIMInstance(MOG, {"Collection": g, "Member": vm_path("beta")})
    assert error_code(lambda: h.create(dup)) == pywbem.CIM_ERR_ALREADY_EXISTS
    # into another group while one holds it: refused (use MoveMembers)
    other = create(h, "db")
    err = error_code(
        lambda: h.create(pywbem.CIMInstance(MOG, {"Collection": other, "Member": vm_path("beta")}))
    )
    assert err == pywbem.CIM_ERR_FAILED
    # a VM that does not exist cannot be added
    ghost = vm_path("0000dead-0000-0000-0000-000000000000")
    err = error_code(lambda: h.create(pywbem.CIMInstance(MOG, {"Collection": g, "Member": ghost})))
    assert err == pywbem.CIM_ERR_NOT_FOUND
    # delete: back to the root (its host is in no group)
    h.delete(_link(g, vm_path("beta")))
    assert group_of(h, vm_path("beta")) == [ROOT_ID]
    # the root's implicit links cannot be deleted
    assert error_code(lambda: h.delete(_link(root(), vm_path("beta")))) == pywbem.CIM_ERR_FAILED


def test_a_vm_follows_its_host(fresh_host):
    h = fresh_host
    g = create(h, "rack1")
    rc, _ = call(h, "AddMembers", Group=g, Members=[host_path()])
    assert rc == 0
    assert members(h, g) == sorted([ALPHA, BETA, GAMMA, HOST])
    assert group_of(h, vm_path("gamma")) == [iid(g)]
