"""The interop classes through both hosts (DSP1033 Profile Registration 1.0.0):
VRM_RegisteredProfile, VRM_ReferencedProfile, VRM_ElementConformsToProfile and, where
vrmgmt is the CIMOM, CIM_ObjectManager / CIM_Namespace / CIM_NamespaceInManager.

Under SFCB/OpenPegasus the broker owns the object manager and advertises Profile
Registration itself, so the two hosts differ there by design (asserted per host)."""

import cmpi_testkit as kit
import pywbem

from support.cimoms import KINDS as CIMOMS
from support.classcases import ALL_UUIDS, INTEROP, error_code, host_path, names, vm_path

RP = "VRM_RegisteredProfile"
#: the resource pool profiles (components of System Virtualization): name -> version
POOL_PROFILES = {
    "Resource Allocation": "1.1.0",
    "Allocation Capabilities": "1.0.0",
    "Processor Resource Virtualization": "1.0.0",
    "Memory Resource Virtualization": "1.0.0",
    "Storage Resource Virtualization": "1.0.0",
    "Ethernet Port Resource Virtualization": "1.0.0",
}
ECTP = "VRM_ElementConformsToProfile"
REF = "VRM_ReferencedProfile"


def profiles(host) -> dict[str, pywbem.CIMInstance]:
    return {i["RegisteredName"]: i for i in host.enum(RP, ns=INTEROP)}


def test_registered_profiles(host):
    got = {
        (i["RegisteredOrganization"], n, i["RegisteredVersion"]) for n, i in profiles(host).items()
    }
    expect = {
        (2, "System Virtualization", "1.0.0"),
        (2, "Virtual System", "1.0.0"),
        (2, "Virtual System Snapshot Service", "1.0.0"),
        (2, "Virtual System Migration", "1.0.0"),
        (2, "KVM Redirection", "1.0.0"),
        (2, "Base Metrics", "1.0.1"),
        (2, "Record Log", "2.0.0"),
    }
    expect |= {(2, name, version) for name, version in POOL_PROFILES.items()}
    if host.name == "server":
        expect |= {(2, "Profile Registration", "1.0.0"), (2, "Indications", "1.2.0")}
    assert got == expect


def test_get_profile_and_unknown_profile(host):
    sv = profiles(host)["System Virtualization"]
    assert host.get(sv.path)["RegisteredVersion"] == "1.0.0"
    bad = pywbem.CIMInstanceName(RP, {"InstanceID": "vrmgmt:nope"}, namespace=INTEROP)
    assert error_code(lambda: host.get(bad)) == pywbem.CIM_ERR_NOT_FOUND


def test_referenced_profile_both_directions(host):
    """System Virtualization references Virtual System and the snapshot profile;
    Virtual System references KVM Redirection (the VM's displays)."""
    p = profiles(host)
    iid = {n: i["InstanceID"] for n, i in p.items()}
    sv, vs = p["System Virtualization"].path, p["Virtual System"].path
    kvm = p["KVM Redirection"].path
    snap = p["Virtual System Snapshot Service"].path
    components = {
        "Virtual System",
        "Virtual System Snapshot Service",
        "Virtual System Migration",
        *POOL_PROFILES,
    }

    def ids(path, role):
        return sorted(x["InstanceID"] for x in host.assoc_names(path, REF, role=role))

    assert ids(sv, "Dependent") == sorted(iid[n] for n in components)
    for name in components:
        assert ids(p[name].path, "Antecedent") == [iid["System Virtualization"]], name
    assert ids(vs, "Dependent") == [iid["KVM Redirection"]]
    assert ids(kvm, "Antecedent") == [iid["Virtual System"]]
    assert ids(kvm, "Dependent") == [] and ids(snap, "Dependent") == []
    refs = host.enum(REF, ns=INTEROP)
    assert sorted((r["Antecedent"]["InstanceID"], r["Dependent"]["InstanceID"]) for r in refs) == (
        sorted(
            [(iid[n], iid["System Virtualization"]) for n in components]
            + [(iid["KVM Redirection"], iid["Virtual System"])]
        )
    )


def test_central_instances_of_the_profiles(host):
    p = profiles(host)
    vs, sv = p["Virtual System"].path, p["System Virtualization"].path
    assert names(host.assoc_names(vs, ECTP, result_role="ManagedElement")) == ALL_UUIDS
    hosts = host.assocs(sv, ECTP, ["ElementName"], result_role="ManagedElement")
    assert [(i.path.classname, i.path.namespace) for i in hosts] == [("VRM_HostSystem", kit.NS)]
    wrong_class = lambda: host.assoc_names(vs, ECTP, result_class="VRM_HostSystem")  # noqa: E731
    if host.name == "pegasus":
        # OpenPegasus checks ResultClass in the source object's namespace (root/PG_InterOp,
        # where VRM_HostSystem is not defined) before it asks a provider
        assert error_code(wrong_class) == pywbem.CIM_ERR_INVALID_CLASS
    else:
        assert wrong_class() == []


def test_central_instances_of_the_pool_profiles(host):
    """Through OpenPegasus too (its interop provider refuses only VRM_HostSystem)."""
    p = profiles(host)
    b = kit.BACKEND
    pools = {f"{b}:pool/{k}" for k in ("proc", "mem", f"disk/{kit.POOL_NAME}", "net/default")}
    got = host.assoc_names(p["Resource Allocation"].path, ECTP, result_role="ManagedElement")
    assert {(x.classname, x["InstanceID"]) for x in got} == {("VRM_ResourcePool", i) for i in pools}
    got = host.assoc_names(p["Allocation Capabilities"].path, ECTP, result_role="ManagedElement")
    assert {x["InstanceID"] for x in got} == {i + "/capabilities" for i in pools}
    got = host.assocs(p["Memory Resource Virtualization"].path, ECTP, result_role="ManagedElement")
    assert [(x["InstanceID"], x["ResourceType"]) for x in got] == [(f"{b}:pool/mem", 4)]


def test_pool_to_its_profiles_in_the_implementation_namespace(host):
    pool = pywbem.CIMInstanceName(
        "VRM_ResourcePool", {"InstanceID": f"{kit.BACKEND}:pool/disk/images"}, namespace=kit.NS
    )
    got = host.assocs(pool, ECTP)
    assert sorted(i["RegisteredName"] for i in got) == [
        "Resource Allocation",
        "Storage Resource Virtualization",
    ]


def test_element_to_its_profiles_in_the_implementation_namespace(host):
    got = host.assocs(vm_path("alpha"), ECTP)
    assert [i["RegisteredName"] for i in got] == ["Virtual System"]
    interop = getattr(host, "interop", INTEROP)  # OpenPegasus: root/PG_InterOp
    assert [p.namespace for p in host.assoc_names(host_path(), ECTP)] == [interop]


def test_conformance_instance_round_trip(host):
    # (under OpenPegasus the VM end is a class root/PG_InterOp does not define: the adapter
    # answers from vrmgmt's own classes that VRM_ComputerSystem is a CIM_ManagedElement)
    insts = host.enum(ECTP, ns=INTEROP)
    vm_links = [i for i in insts if i["ManagedElement"].classname == "VRM_ComputerSystem"]
    assert sorted(i["ManagedElement"]["Name"] for i in vm_links) == ALL_UUIDS
    got = host.get(vm_links[0].path)
    assert (
        got["ConformantStandard"]["InstanceID"] == vm_links[0]["ConformantStandard"]["InstanceID"]
    )


def test_object_manager_and_namespaces(host):
    # (`vrmgmt register` leaves group vrmgmt-cimom to the broker's own interop provider;
    # the mini CIMOM loads the whole registration, so the adapter answers here too)
    (om,) = host.enum("CIM_ObjectManager", ns=INTEROP)
    nss = sorted(i["Name"] for i in host.enum("CIM_Namespace", ns=INTEROP))
    if host.name in CIMOMS:  # the real CIMOM's own object manager and namespaces
        assert om["ElementName"] != "vrmgmt"
        assert "root/virt" in nss
        return
    assert om["ElementName"] == "vrmgmt" and om["Description"].startswith("vrmgmt version ")
    assert nss == ["root/interop", "root/virt"]
    linked = host.assoc_names(om.path, "CIM_NamespaceInManager", role="Antecedent")
    assert sorted(p["Name"] for p in linked) == nss
    back = host.assoc_names(linked[0], "CIM_NamespaceInManager")
    assert [p["Name"] for p in back] == [om["Name"]]
