"""The interop namespace as pywbem's WBEMServer and pywbemcli use it (DSP1033 Profile
Registration 1.0.0): brand/version from CIM_ObjectManager, namespaces from
CIM_Namespace, profiles from CIM_RegisteredProfile, central instances through
CIM_ElementConformsToProfile (crossing from root/interop into root/virt), and
CIM_ERR_INVALID_NAMESPACE for namespaces that do not exist. Against a real
`vrmgmt serve` over a libvirt test-driver backend (conftest.testdriver_server)."""

from __future__ import annotations

import warnings

import pytest
from pywbem import CIM_ERR_INVALID_NAMESPACE, CIMError, CIMInstanceName, WBEMServer

from vrmgmt import __version__
from vrmgmt.cim.loader import ProviderTable
from vrmgmt.cim.provider import ProviderEnv
from vrmgmt.classes.interop import registered_profile as rp
from vrmgmt.metrics.rrd import METRICS

EXPECTED_PROFILES = {
    ("DMTF", "Profile Registration", "1.0.0"),
    ("DMTF", "System Virtualization", "1.0.0"),
    ("DMTF", "Virtual System", "1.0.0"),
    ("DMTF", "Virtual System Snapshot Service", "1.0.0"),
    ("DMTF", "Virtual System Migration", "1.0.0"),
    ("DMTF", "KVM Redirection", "1.0.0"),
    ("DMTF", "Indications", "1.2.0"),
    ("DMTF", "Base Metrics", "1.0.1"),
    ("DMTF", "Record Log", "2.0.0"),
    ("DMTF", "Resource Allocation", "1.1.0"),
    ("DMTF", "Allocation Capabilities", "1.0.0"),
    ("DMTF", "Processor Resource Virtualization", "1.0.0"),
    ("DMTF", "Memory Resource Virtualization", "1.0.0"),
    ("DMTF", "Storage Resource Virtualization", "1.0.0"),
    ("DMTF", "Ethernet Port Resource Virtualization", "1.0.0"),
}
#: the component profiles of System Virtualization (VRM_ReferencedProfile)
COMPONENTS = {
    "Virtual System",
    "Virtual System Snapshot Service",
    "Virtual System Migration",
    "Resource Allocation",
    "Allocation Capabilities",
    "Processor Resource Virtualization",
    "Memory Resource Virtualization",
    "Storage Resource Virtualization",
    "Ethernet Port Resource Virtualization",
}

# No "interop" alias (src/vrmgmt/server/repository.py): pywbem's WBEMServer probes
# "interop" first and would then report it as the interop namespace.


# -- the profile table and the registration (no server) ------------------------------
def test_profile_table_is_exact_and_consistent():
    rows = {("DMTF" if p.organization == 2 else "?", p.name, p.version) for p in rp.PROFILES}
    assert rows == EXPECTED_PROFILES
    ids = [p.instance_id for p in rp.PROFILES]
    assert len(set(ids)) == len(ids)
    names = {p.name for p in rp.PROFILES}
    for p in rp.PROFILES:
        assert set(p.references) <= names, p
        for hook in ("paths", "instances", "exists"):  # what the central methodology calls
            assert callable(getattr(p.central, hook, None)), (p, hook)


def test_cimom_profile_is_left_to_a_hosting_broker():
    """Under SFCB/OpenPegasus the broker advertises Profile Registration itself."""
    cmpi_env = ProviderEnv(inventory=None, cimom="cmpi")
    assert [p.name for p in rp.advertised(cmpi_env)] == [
        "System Virtualization",
        "Virtual System",
        "KVM Redirection",
        "Virtual System Snapshot Service",
        "Virtual System Migration",
        *rp.POOL_PROFILES,
        "Base Metrics",
        "Record Log",
    ]
    assert [p.name for p in rp.advertised(ProviderEnv(inventory=None))] == [
        p.name for p in rp.PROFILES
    ]


def test_registration_places_interop_classes():
    table = ProviderTable(ProviderEnv(inventory=None))
    for cls in (
        "CIM_ObjectManager",
        "CIM_Namespace",
        "CIM_NamespaceInManager",
        "VRM_RegisteredProfile",
        "VRM_ReferencedProfile",
        "VRM_ElementConformsToProfile",
    ):
        assert table.get(cls, "root/interop") is not None, cls
    # element -> profile navigation from the implementation namespace
    assert table.get("VRM_ElementConformsToProfile", "root/virt") is not None
    assert table.get("VRM_RegisteredProfile", "root/virt") is None
    assert table.get("CIM_Namespace", "root/virt") is None


# -- pywbemcli ------------------------------------------------------------------------
def _ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_pywbemcli_server_brand(testdriver_server):
    assert _ok(testdriver_server.pywbemcli("server", "brand")).strip() == "vrmgmt"


def test_pywbemcli_server_info(testdriver_server):
    out = _ok(testdriver_server.pywbemcli("server", "info"))
    row = out.strip().splitlines()[-1].split()
    assert row[:2] == ["vrmgmt", __version__]
    assert "root/virt" in out and "root/interop" in out


def test_pywbemcli_server_info_interop_namespace(testdriver_server):
    out = _ok(testdriver_server.pywbemcli("server", "info"))
    row = out.strip().splitlines()[-1].split(None, 3)
    assert row == ["vrmgmt", __version__, "root/interop", "root/interop, root/virt"]


def test_pywbemcli_namespace_list(testdriver_server):
    r = testdriver_server.pywbemcli("-o", "text", "namespace", "list")
    assert _ok(r).split() == ["root/interop", "root/virt"]
    assert "Warning" not in r.stderr


def test_pywbemcli_namespace_interop(testdriver_server):
    assert _ok(testdriver_server.pywbemcli("namespace", "interop")).strip() == "root/interop"


def test_pywbemcli_profile_list(testdriver_server):
    out = _ok(testdriver_server.pywbemcli("-o", "simple", "profile", "list"))
    rows = set()
    for line in out.splitlines():
        if line.startswith("DMTF"):
            org, rest = line.split(None, 1)
            name, version = rest.rsplit(None, 1)
            rows.add((org, name.strip(), version))
    assert rows == EXPECTED_PROFILES
    assert sum(1 for line in out.splitlines() if line.strip()) == len(EXPECTED_PROFILES) + 3


def test_pywbemcli_profile_centralinsts_virtual_system(testdriver_server):
    out = _ok(
        testdriver_server.pywbemcli(
            "profile", "centralinsts", "--organization", "DMTF", "--profile", "Virtual System"
        )
    )
    assert "Exception" not in out
    assert "DMTF:Virtual System:1.0.0" in out
    for _, uuid in testdriver_server.domains:
        assert f'Name="{uuid}"' in out
    assert "root/virt:VRM_ComputerSystem" in out
    assert "VRM_HostSystem" not in out


def test_pywbemcli_profile_centralinsts_all(testdriver_server):
    out = _ok(testdriver_server.pywbemcli("profile", "centralinsts"))
    assert "Exception" not in out
    assert "root/interop:CIM_ObjectManager" in out
    assert "root/virt:VRM_HostSystem" in out
    assert 'Name="tdhost"' in out


def test_pywbemcli_vm_associators_reach_its_profile(testdriver_server):
    _, uuid = testdriver_server.domains[0]
    path = f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{uuid}"'
    out = _ok(
        testdriver_server.pywbemcli(
            "-o",
            "mof",
            "instance",
            "associators",
            path,
            "--assoc-class",
            "CIM_ElementConformsToProfile",
        )
    )
    assert "instance of VRM_RegisteredProfile" in out
    assert 'RegisteredName = "Virtual System";' in out


# -- pywbem WBEMServer ---------------------------------------------------------------
@pytest.fixture(scope="module")
def wbem_server(testdriver_server):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the alias warning; checked in its own test
        server = WBEMServer(testdriver_server.conn())
        server.profiles  # noqa: B018 - discover everything once, outside the tests
        server.namespaces  # noqa: B018
    return server


def _profile(server: WBEMServer, name: str):
    found = server.get_selected_profiles("DMTF", name)
    assert len(found) == 1, found
    return found[0]


def test_wbemserver_brand_version_and_object_manager(wbem_server):
    assert wbem_server.brand == "vrmgmt"
    assert wbem_server.version == __version__
    om = wbem_server.cimom_inst
    assert om.classname == "CIM_ObjectManager"
    assert om["ElementName"] == "vrmgmt"
    assert om["Description"] == f"vrmgmt version {__version__}"
    assert {k.lower() for k in om.path.keybindings} == {
        "systemcreationclassname",
        "systemname",
        "creationclassname",
        "name",
    }


def test_wbemserver_namespace_instances(wbem_server):
    assert wbem_server.namespace_classname == "CIM_Namespace"
    assert {p["Name"] for p in wbem_server.namespace_paths} == {"root/virt", "root/interop"}


def test_wbemserver_discovery_without_tolerated_issues(testdriver_server):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server = WBEMServer(testdriver_server.conn())
        assert server.interop_ns == "root/interop"
        assert sorted(server.namespaces) == ["root/interop", "root/virt"]
    assert [str(w.message) for w in caught] == []


def test_wbemserver_profiles(wbem_server):
    profiles = wbem_server.profiles
    assert {(p["RegisteredName"], p["RegisteredVersion"]) for p in profiles} == {
        (n, v) for _, n, v in EXPECTED_PROFILES
    }
    assert all(p["RegisteredOrganization"] == 2 for p in profiles)
    assert all(p.classname == "VRM_RegisteredProfile" for p in profiles)
    assert len({p["InstanceID"] for p in profiles}) == len(EXPECTED_PROFILES)


def test_get_central_instances_virtual_system(testdriver_server, wbem_server):
    vs = _profile(wbem_server, "Virtual System")
    paths = wbem_server.get_central_instances(vs.path)
    assert {p["Name"] for p in paths} == {uuid for _, uuid in testdriver_server.domains}
    assert {(p.classname, p.namespace) for p in paths} == {("VRM_ComputerSystem", "root/virt")}
    # each path is usable as returned (cross-namespace GetInstance)
    conn = testdriver_server.conn()
    inst = conn.GetInstance(paths[0])
    assert inst["Name"] == paths[0]["Name"]


def test_get_central_instances_with_scoping_arguments(testdriver_server, wbem_server):
    """pywbemcli passes its --cc/--sc/--sp options through; the central class
    methodology still answers first."""
    vs = _profile(wbem_server, "Virtual System")
    paths = wbem_server.get_central_instances(
        vs.path,
        central_class="VRM_ComputerSystem",
        scoping_class="VRM_HostSystem",
        scoping_path=["VRM_HostedDependency"],
    )
    assert {p["Name"] for p in paths} == {uuid for _, uuid in testdriver_server.domains}


def test_get_central_instances_other_profiles(wbem_server):
    sv = _profile(wbem_server, "System Virtualization")
    hosts = wbem_server.get_central_instances(sv.path)
    assert [(h.classname, h.namespace, h["Name"]) for h in hosts] == [
        ("VRM_HostSystem", "root/virt", "tdhost")
    ]
    pr = _profile(wbem_server, "Profile Registration")
    (om,) = wbem_server.get_central_instances(pr.path)
    assert om.classname == "CIM_ObjectManager"
    assert om.keybindings == wbem_server.cimom_inst.path.keybindings
    bm = _profile(wbem_server, "Base Metrics")
    defs = wbem_server.get_central_instances(bm.path)
    assert {d.classname for d in defs} == {"VRM_BaseMetricDefinition"}
    assert "vm:CPUUtilization" in {d["Id"] for d in defs}


def test_get_central_instances_system_virtualization_with_scoping_arguments(wbem_server):
    """DSP1042: the host system is central and scoping class at once (no scoping path)."""
    sv = _profile(wbem_server, "System Virtualization")
    hosts = wbem_server.get_central_instances(
        sv.path, central_class="VRM_HostSystem", scoping_class="VRM_HostSystem", scoping_path=[]
    )
    assert [(h.classname, h["Name"]) for h in hosts] == [("VRM_HostSystem", "tdhost")]


#: profile -> {(class, InstanceID)} of its central instances on the test node: one pool
#: per resource type (the node has network "default" and storage pool "images")
POOL_CENTRALS = {
    "Resource Allocation": {
        ("VRM_ResourcePool", i)
        for i in ("tdhost:pool/proc", "tdhost:pool/mem", "tdhost:pool/disk/images")
    }
    | {("VRM_ResourcePool", "tdhost:pool/net/default")},
    "Allocation Capabilities": {
        ("VRM_AllocationCapabilities", f"tdhost:pool/{k}/capabilities")
        for k in ("proc", "mem", "disk/images", "net/default")
    },
    "Processor Resource Virtualization": {("VRM_ResourcePool", "tdhost:pool/proc")},
    "Memory Resource Virtualization": {("VRM_ResourcePool", "tdhost:pool/mem")},
    "Storage Resource Virtualization": {("VRM_ResourcePool", "tdhost:pool/disk/images")},
    "Ethernet Port Resource Virtualization": {("VRM_ResourcePool", "tdhost:pool/net/default")},
}


@pytest.mark.parametrize("name", sorted(POOL_CENTRALS))
def test_get_central_instances_pool_profiles(testdriver_server, wbem_server, name):
    """DSP1041/1043/1044/1045/1047/1050: the pools (of the profile's resource type) and
    their allocation capabilities, in root/virt, each usable as returned."""
    paths = wbem_server.get_central_instances(_profile(wbem_server, name).path)
    assert {(p.classname, p["InstanceID"]) for p in paths} == POOL_CENTRALS[name]
    assert {p.namespace for p in paths} == {"root/virt"}
    conn = testdriver_server.conn()
    assert conn.GetInstance(paths[0])["InstanceID"] == paths[0]["InstanceID"]
    # and back: a central instance conforms to this profile
    back = conn.AssociatorNames(paths[0], AssocClass="CIM_ElementConformsToProfile")
    assert name in {conn.GetInstance(b)["RegisteredName"] for b in back}


def test_pool_profiles_are_components_of_system_virtualization(testdriver_server, wbem_server):
    conn = testdriver_server.conn()
    sv = _profile(wbem_server, "System Virtualization")
    down = conn.Associators(sv.path, AssocClass="CIM_ReferencedProfile", ResultRole="Antecedent")
    assert {p["RegisteredName"] for p in down} == COMPONENTS
    for name in COMPONENTS - {"Virtual System"}:
        up = conn.AssociatorNames(
            _profile(wbem_server, name).path,
            AssocClass="CIM_ReferencedProfile",
            ResultRole="Dependent",
        )
        assert [p["InstanceID"] for p in up] == [sv["InstanceID"]], name


def test_scoping_path_leads_from_the_scoping_host_to_the_central_vms(
    testdriver_server, wbem_server
):
    """DSP1057's scoping class methodology by hand: the System Virtualization central
    instance (the host) reaches exactly the Virtual System central instances through the
    scoping path VRM_HostedDependency, and each VM reaches its devices (DSP1057 §7.3)."""
    conn = testdriver_server.conn()
    (host,) = wbem_server.get_central_instances(_profile(wbem_server, "System Virtualization").path)
    vms = wbem_server.get_central_instances(_profile(wbem_server, "Virtual System").path)
    scoped = conn.AssociatorNames(
        host, AssocClass="VRM_HostedDependency", ResultClass="VRM_ComputerSystem"
    )
    assert sorted(p["Name"] for p in scoped) == sorted(p["Name"] for p in vms)
    for vm in vms:
        devices = conn.AssociatorNames(vm, AssocClass="VRM_SystemDevice")
        assert {d["SystemName"] for d in devices} == {vm["Name"]}
        assert "VRM_Memory" in {d.classname for d in devices}


def test_referenced_profile_dmtf_direction(testdriver_server, wbem_server):
    """Antecedent = referenced (component) profile, Dependent = referencing one."""
    conn = testdriver_server.conn()
    vs = _profile(wbem_server, "Virtual System")
    sv = _profile(wbem_server, "System Virtualization")
    up = conn.AssociatorNames(vs.path, AssocClass="CIM_ReferencedProfile", ResultRole="Dependent")
    assert [p["InstanceID"] for p in up] == [sv["InstanceID"]]
    down = conn.Associators(sv.path, AssocClass="CIM_ReferencedProfile", ResultRole="Antecedent")
    assert {p["RegisteredName"] for p in down} == COMPONENTS


def test_namespace_in_manager(testdriver_server, wbem_server):
    conn = testdriver_server.conn()
    nss = conn.Associators(
        wbem_server.cimom_inst.path, AssocClass="CIM_NamespaceInManager", ResultRole="Dependent"
    )
    assert {n["Name"] for n in nss} == {"root/virt", "root/interop"}
    assert all(n.classname == "CIM_Namespace" for n in nss)


def test_element_to_profile_from_root_virt(testdriver_server, wbem_server):
    conn = testdriver_server.conn("root/virt")
    _, uuid = testdriver_server.domains[2]
    vm = CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": uuid},
        namespace="root/virt",
    )
    names = conn.AssociatorNames(vm, AssocClass="CIM_ElementConformsToProfile")
    assert [(n.classname, n.namespace) for n in names] == [
        ("VRM_RegisteredProfile", "root/interop")
    ]
    assert names[0]["InstanceID"] == _profile(wbem_server, "Virtual System")["InstanceID"]
    (prof,) = conn.Associators(vm, AssocClass="CIM_ElementConformsToProfile")
    assert prof["RegisteredName"] == "Virtual System"

    host = CIMInstanceName(
        "VRM_HostSystem", {"CreationClassName": "VRM_HostSystem", "Name": "tdhost"}
    )
    (prof,) = conn.Associators(host, AssocClass="CIM_ElementConformsToProfile")
    assert prof["RegisteredName"] == "System Virtualization"

    ghost = CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": "00000000-0000-0000-0000-000000000000"},
    )
    assert conn.AssociatorNames(ghost, AssocClass="CIM_ElementConformsToProfile") == []


def test_conformance_instances_and_get_instance(testdriver_server):
    n_vms = len(testdriver_server.domains)
    for ns in ("root/interop", "root/virt"):
        conn = testdriver_server.conn(ns)
        ectps = conn.EnumerateInstances("CIM_ElementConformsToProfile")
        # object manager, indication service, host, snapshot service, migration
        # service, VMs; the 4 pools (Resource Allocation), their 4 capabilities, each
        # pool again (its Resource Virtualization); the metric definitions; the audit
        # log (Record Log)
        assert len(ectps) == 1 + 1 + 1 + 1 + 1 + n_vms + 4 + 4 + 4 + len(METRICS) + 1, ns
        vm_ectp = next(e for e in ectps if e["ManagedElement"].classname == "VRM_ComputerSystem")
        assert vm_ectp["ManagedElement"].namespace == "root/virt"
        assert vm_ectp["ConformantStandard"].namespace == "root/interop"
        got = conn.GetInstance(vm_ectp.path)
        assert got["ManagedElement"]["Name"] == vm_ectp["ManagedElement"]["Name"]

    conn = testdriver_server.conn("root/interop")
    profs = conn.EnumerateInstances("CIM_RegisteredProfile")
    assert conn.GetInstance(profs[0].path)["InstanceID"] == profs[0]["InstanceID"]
    (om,) = conn.EnumerateInstances("CIM_ObjectManager")
    assert conn.GetInstance(om.path)["ElementName"] == "vrmgmt"


@pytest.mark.parametrize("namespace", ["root/PG_InterOp", "root/PG_Interop", "root/nowhere"])
def test_unknown_namespace_is_invalid_namespace(testdriver_server, namespace):
    conn = testdriver_server.conn()
    with pytest.raises(CIMError) as exc:
        conn.EnumerateInstanceNames("CIM_Namespace", namespace=namespace)
    assert exc.value.status_code == CIM_ERR_INVALID_NAMESPACE
    with pytest.raises(CIMError) as exc:
        conn.EnumerateInstances("CIM_ObjectManager", namespace=namespace)
    assert exc.value.status_code == CIM_ERR_INVALID_NAMESPACE


def test_wbemcli_follows_the_cross_namespace_association(testdriver_server, wbemcli_bin):
    """sblim wbemcli parses the root/interop <-> root/virt references both ways."""
    from support.server import wbemcli

    srv = testdriver_server
    _, uuid = srv.domains[0]
    vm = srv.wbemcli_url(f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{uuid}"')
    r = wbemcli("ain", "-ac", "VRM_ElementConformsToProfile", vm)
    assert r.returncode == 0, r.stderr
    assert 'root/interop:VRM_RegisteredProfile.InstanceID="vrmgmt:DSP1057-1.0.0"' in r.stdout

    interop_url = srv.wbemcli_url().replace("/root/virt", "/root/interop")
    r = wbemcli("ein", interop_url + ":VRM_ElementConformsToProfile")
    assert r.returncode == 0, r.stderr
    assert (
        f'ManagedElement=root/virt:VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{uuid}"'
        in r.stdout
    )


def test_get_central_instances_migration_service(wbem_server):
    """The migration profile's central instances are the hosts' migration services
    (docs/migration.md), reachable as returned."""
    mig = _profile(wbem_server, "Virtual System Migration")
    assert mig["RegisteredVersion"] == "1.0.0"
    (svc,) = wbem_server.get_central_instances(mig.path)
    assert (svc.classname, svc.namespace) == ("VRM_VirtualSystemMigrationService", "root/virt")
    assert (svc["SystemName"], svc["Name"]) == ("tdhost", "VirtualSystemMigrationService")
    assert wbem_server.conn.GetInstance(svc)["EnabledState"] == 2


def test_get_central_instances_snapshot_service(wbem_server):
    """The snapshot profile's central instance is each host's snapshot service
    (docs/snapshots.md), reachable as returned."""
    vsss = _profile(wbem_server, "Virtual System Snapshot Service")
    (svc,) = wbem_server.get_central_instances(vsss.path)
    assert (svc.classname, svc.namespace) == ("VRM_VirtualSystemSnapshotService", "root/virt")
    assert (svc["SystemName"], svc["Name"]) == ("tdhost", "VirtualSystemSnapshotService")
    assert wbem_server.conn.GetInstance(svc)["EnabledState"] == 2
