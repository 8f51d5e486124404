"""VRM_VirtualSystemManagementService, VRM_VirtualSystemManagementCapabilities,
VRM_HostedService and VRM_ElementCapabilities through both hosts (DSP1042 §7.3-7.4 and
§8: DefineSystem, DestroySystem, Add/Modify/RemoveResourceSettings,
ModifySystemSettings; bad embedded instances answer CIM_ERR_INVALID_PARAMETER naming the
RASD and property, and change nothing)."""

import cmpi_testkit as kit
import pytest
import pywbem
from pywbem import CIMInstance, CIMInstanceName, Uint16, Uint64

from support.classcases import ALL_UUIDS, error_code, host_path, names

VSMS = "VRM_VirtualSystemManagementService"
CAPS = "VRM_VirtualSystemManagementCapabilities"
VSSD = "VRM_VirtualSystemSettingData"
PROC = "VRM_ProcessorAllocationSettingData"
MEM = "VRM_MemoryAllocationSettingData"
DISK = "VRM_StorageAllocationSettingData"
NIC = "VRM_EthernetPortAllocationSettingData"
MAC = "52:54:00:12:34:56"


def vsms_path(backend=kit.BACKEND) -> CIMInstanceName:
    return CIMInstanceName(
        VSMS,
        {
            "SystemCreationClassName": "VRM_HostSystem",
            "SystemName": backend,
            "CreationClassName": VSMS,
            "Name": "VirtualSystemManagementService",
        },
        namespace=kit.NS,
    )


def vssd(name="delta", **extra) -> CIMInstance:
    return CIMInstance(VSSD, {"ElementName": name, **extra})


def proc(n=2) -> CIMInstance:
    return CIMInstance(PROC, {"ResourceType": Uint16(3), "VirtualQuantity": Uint64(n)})


def mem(mib=1024) -> CIMInstance:
    return CIMInstance(
        MEM,
        {"ResourceType": Uint16(4), "VirtualQuantity": Uint64(mib), "AllocationUnits": "byte*2^20"},
    )


def disk(source="/var/lib/images/delta.qcow2", device=None) -> CIMInstance:
    props = {"ResourceType": Uint16(17), "HostResource": [source]}
    if device:
        props["AddressOnParent"] = device
    return CIMInstance(DISK, props)


def nic(mac=MAC, network="default") -> CIMInstance:
    return CIMInstance(NIC, {"ResourceType": Uint16(10), "Address": mac, "Connection": [network]})


#: CIMOMs that fill an embedded instance from its class: a property the client left out
#: arrives as NULL, so it cannot mean "unchanged" there (docs/virtualization-profiles.md)
LEFT_OUT_IS_NULL = {"sfcb", "pegasus"}
#: CIMOMs that drop the properties of an embedded instance that its class lacks
DROPS_UNKNOWN_PROPERTIES = {"pegasus"}


def define(h, system=None, resources=None):
    return h.invoke_typed(
        vsms_path(),
        "DefineSystem",
        SystemSettings=system if system is not None else vssd(),
        ResourceSettings=resources if resources is not None else [proc(), mem(), disk(), nic()],
    )


def assert_define_refused(h, words, system=None, resources=None):
    """DefineSystem answers CIM_ERR_INVALID_PARAMETER naming every one of `words`, and
    no VM was defined."""
    try:
        define(h, system, resources)
    except pywbem.CIMError as exc:
        assert exc.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        for w in words:
            assert w in exc.status_description, exc.status_description
    else:
        pytest.fail(f"DefineSystem accepted settings that should name {words}")
    assert names(h.enum_names("VRM_ComputerSystem")) == ALL_UUIDS


def settings_of(h, vm):
    """{class: [instances]} of the VM's RASDs, through its VSSD."""
    (vssd_path,) = h.assoc_names(vm, assoc="VRM_SettingsDefineState")
    out = {}
    for inst in h.assocs(vssd_path, assoc="VRM_VirtualSystemSettingDataComponent"):
        out.setdefault(inst.classname, []).append(inst)
    return vssd_path, out


def test_one_service_per_host_with_capabilities(host):
    (svc,) = host.enum(VSMS)
    assert svc["SystemName"] == kit.BACKEND and svc["EnabledState"] == 2
    assert names(host.assoc_names(host_path(), assoc="VRM_HostedService", result_class=VSMS)) == [
        "VirtualSystemManagementService"
    ]
    assert names(host.assoc_names(svc.path, assoc="VRM_HostedService", role="Dependent")) == [
        kit.BACKEND
    ]
    (caps,) = host.assocs(svc.path, assoc="VRM_ElementCapabilities", result_class=CAPS)
    assert list(caps["VirtualSystemTypesSupported"]) == ["Test"]
    # the test driver defines, modifies and undefines at once: all synchronous
    assert sorted(caps["SynchronousMethodsSupported"]) == [2, 3, 5, 6, 7, 10]
    assert list(caps["AsynchronousMethodsSupported"]) == []
    back = host.assoc_names(
        caps.path, assoc="VRM_ElementCapabilities", result_role="ManagedElement"
    )
    assert [p["SystemName"] for p in back] == [kit.BACKEND]
    assert host.get(caps.path)["InstanceID"] == f"{kit.BACKEND}:VirtualSystemManagementCapabilities"


def test_unknown_service_is_not_found(host):
    assert error_code(lambda: host.get(vsms_path("elsewhere"))) == pywbem.CIM_ERR_NOT_FOUND


def test_define_modify_destroy(fresh_host):
    h = fresh_host
    rv, out = define(h, vssd(Notes=["made by a test"], AutomaticStartupAction=Uint16(4)))
    assert rv == 0 and out.get("Job") is None
    vm = out["ResultingSystem"]
    assert h.get(vm)["ElementName"] == "delta"
    vssd_path, rasds = settings_of(h, vm)
    sd = h.get(vssd_path)
    assert (sd["ElementName"], list(sd["Notes"]), sd["AutomaticStartupAction"]) == (
        "delta",
        ["made by a test"],
        4,
    )
    assert [i["VirtualQuantity"] for i in rasds[PROC]] == [2]
    assert [(i["VirtualQuantity"], i["AllocationUnits"]) for i in rasds[MEM]] == [
        (1024, "byte*2^20")
    ]
    assert [list(i["HostResource"]) for i in rasds[DISK]] == [["/var/lib/images/delta.qcow2"]]
    assert [(i["Address"], list(i["Connection"])) for i in rasds[NIC]] == [(MAC, ["default"])]

    # a second disk, then 2 GiB of memory and 3 vCPUs
    rv, out = h.invoke_typed(
        vsms_path(),
        "AddResourceSettings",
        AffectedConfiguration=vssd_path,
        ResourceSettings=[disk("/var/lib/images/data.img", device="vdb")],
    )
    assert rv == 0
    assert [p["InstanceID"] for p in out["ResultingResourceSettings"]] == [
        f"{vssd_path['InstanceID']}/disk/vdb"
    ]
    m = rasds[MEM][0]
    m["VirtualQuantity"] = Uint64(2048)
    p = rasds[PROC][0]
    p["VirtualQuantity"] = Uint64(3)
    rv, out = h.invoke_typed(vsms_path(), "ModifyResourceSettings", ResourceSettings=[m, p])
    assert rv == 0
    _, rasds = settings_of(h, vm)
    assert [i["VirtualQuantity"] for i in rasds[MEM]] == [2048]
    assert [i["VirtualQuantity"] for i in rasds[PROC]] == [3]
    assert sorted(i["AddressOnParent"] for i in rasds[DISK]) == ["vda", "vdb"]
    assert h.get(vm)["NumberOfVirtualCPUs"] == 3

    # remove the NIC
    rv, _ = h.invoke_typed(
        vsms_path(), "RemoveResourceSettings", ResourceSettings=[rasds[NIC][0].path]
    )
    assert rv == 0
    _, rasds = settings_of(h, vm)
    assert NIC not in rasds

    # rename it, new notes, no autostart (an unchanged VSSD changes nothing)
    sd = h.get(vssd_path)
    assert h.invoke_typed(vsms_path(), "ModifySystemSettings", SystemSettings=sd)[0] == 0
    sd["ElementName"] = "epsilon"
    sd["Notes"] = ["renamed"]
    sd["AutomaticStartupAction"] = Uint16(2)
    assert h.invoke_typed(vsms_path(), "ModifySystemSettings", SystemSettings=sd)[0] == 0
    sd = h.get(vssd_path)
    assert (sd["ElementName"], list(sd["Notes"]), sd["AutomaticStartupAction"]) == (
        "epsilon",
        ["renamed"],
        2,
    )
    assert h.get(vm)["ElementName"] == "epsilon"

    rv, _ = h.invoke_typed(vsms_path(), "DestroySystem", AffectedSystem=vm)
    assert rv == 0
    assert error_code(lambda: h.get(vm)) == pywbem.CIM_ERR_NOT_FOUND
    assert error_code(lambda: h.get(vssd_path)) == pywbem.CIM_ERR_NOT_FOUND
    assert names(h.enum_names("VRM_ComputerSystem")) == ALL_UUIDS


def test_define_from_cim_xml_text(fresh_host):
    """sblim wbemcli sends embedded instances as CIM-XML text, not marked embedded."""
    rv, out = define(
        fresh_host,
        vssd("zeta").tocimxmlstr(),
        [mem(256).tocimxmlstr(), proc(1).tocimxmlstr()],
    )
    assert rv == 0
    assert fresh_host.get(out["ResultingSystem"])["ElementName"] == "zeta"


def _bad_mem():
    m = mem()
    m["VirtualQuantity"] = Uint64(0)
    return m


def _unknown_prop():
    d = disk()
    d["Colour"] = "blue"
    return d


@pytest.mark.parametrize(
    "system, resources, words",
    [
        (CIMInstance("VRM_ComputerSystem", {"Name": "x"}), None, ["SystemSettings", "not a"]),
        (None, [mem(), CIMInstance(VSSD, {"ElementName": "x"})], ["ResourceSettings[1]"]),
        (None, [_bad_mem()], ["ResourceSettings[0]", "VirtualQuantity", "at least 1"]),
        (None, [mem(), _unknown_prop()], ["ResourceSettings[1]", "Colour"]),
        (None, [mem(), nic(), nic()], ["ResourceSettings[2]", "Address", MAC]),
        (None, [proc()], ["memory"]),
        (None, [mem(), nic(mac="zz:zz")], ["ResourceSettings[1]", "Address"]),
        (vssd(VirtualSystemType="VMware"), None, ["VirtualSystemType", "Test"]),
        ("<INSTANCE", None, ["SystemSettings", "not an embedded instance"]),
    ],
)
def test_bad_embedded_instances_change_nothing(fresh_host, system, resources, words):
    if fresh_host.name in DROPS_UNKNOWN_PROPERTIES and "Colour" in words:
        # OpenPegasus parses an embedded instance against its class and leaves out the
        # properties the class lacks: vrmgmt never sees Colour, the VM is defined
        rv, out = define(fresh_host, system, resources)
        assert rv == 0
        assert len(names(fresh_host.enum_names("VRM_ComputerSystem"))) == len(ALL_UUIDS) + 1
        return
    assert_define_refused(fresh_host, words, system, resources)


def test_settings_of_a_vm_on_another_host_are_refused(fresh_host):
    m = mem(64)
    m["InstanceID"] = f"elsewhere:{kit.VMS['alpha'][0]}/mem"
    try:
        fresh_host.invoke_typed(vsms_path(), "ModifyResourceSettings", ResourceSettings=[m])
    except pywbem.CIMError as exc:
        assert exc.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        assert "elsewhere" in exc.status_description
    else:
        pytest.fail("a RASD of another host was accepted")
    alpha = fresh_host.get(
        CIMInstanceName(MEM, {"InstanceID": f"{kit.BACKEND}:{kit.VMS['alpha'][0]}/mem"}, kit.NS)
    )
    assert alpha["VirtualQuantity"] == 512


def test_destroy_needs_a_vm_of_this_host(fresh_host):
    ghost = CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": "00000000-0000-0000-0000-000000000009"},
        namespace=kit.NS,
    )
    code = error_code(
        lambda: fresh_host.invoke_typed(vsms_path(), "DestroySystem", AffectedSystem=ghost)
    )
    assert code == pywbem.CIM_ERR_INVALID_PARAMETER
    assert names(fresh_host.enum_names("VRM_ComputerSystem")) == ALL_UUIDS


def test_renaming_a_running_libvirt_vm_is_an_invalid_state(fresh_host):
    sd = fresh_host.get(
        CIMInstanceName(VSSD, {"InstanceID": f"{kit.BACKEND}:{kit.VMS['alpha'][0]}"}, kit.NS)
    )
    sd["ElementName"] = "alpha2"
    rv, _ = fresh_host.invoke_typed(vsms_path(), "ModifySystemSettings", SystemSettings=sd)
    assert rv == 5  # CIM_VirtualSystemManagementService: Invalid State
    assert fresh_host.get(sd.path)["ElementName"] == "alpha"


def _proc_rasd(h, vm):
    _, rasds = settings_of(h, vm)
    (p,) = rasds[PROC]
    return p


def test_processor_limit_and_weight(fresh_host):
    """libvirt <cputune>: Limit in percent of a host CPU per vCPU (quota/period), Weight
    = shares, no Reservation; set by DefineSystem, changed and cleared by
    ModifyResourceSettings (a property left out stays, a NULL one is unset)."""
    h = fresh_host
    p = proc(2)
    p["Limit"] = Uint64(50)
    p["Weight"] = pywbem.Uint32(2048)
    p["AllocationUnits"] = "percent"
    rv, out = define(h, resources=[p, mem()])
    assert rv == 0
    vm = out["ResultingSystem"]
    got = _proc_rasd(h, vm)
    assert (got["AllocationUnits"], got["Limit"], got["Weight"], got["Reservation"]) == (
        "percent",
        50,
        2048,
        None,
    )
    assert got["VirtualQuantityUnits"] == "count" and got["VirtualQuantity"] == 2
    # the RASD as read, with a new limit: the weight stays
    got["Limit"] = Uint64(25)
    assert h.invoke_typed(vsms_path(), "ModifyResourceSettings", ResourceSettings=[got])[0] == 0
    got = _proc_rasd(h, vm)
    assert (got["Limit"], got["Weight"]) == (25, 2048)
    # only InstanceID and VirtualQuantity: nothing else changes
    minimal = CIMInstance(
        PROC,
        {"InstanceID": got["InstanceID"], "ResourceType": Uint16(3), "VirtualQuantity": Uint64(3)},
    )
    assert h.invoke_typed(vsms_path(), "ModifyResourceSettings", ResourceSettings=[minimal])[0] == 0
    got = _proc_rasd(h, vm)
    if h.name in LEFT_OUT_IS_NULL:  # the CIMOM made the left-out properties NULL
        assert (got["VirtualQuantity"], got["Limit"], got["Weight"]) == (3, None, None)
        return
    assert (got["VirtualQuantity"], got["Limit"], got["Weight"]) == (3, 25, 2048)
    # NULL: no limit, default weight
    got["Limit"] = pywbem.CIMProperty("Limit", None, type="uint64")
    got["Weight"] = pywbem.CIMProperty("Weight", None, type="uint32")
    assert h.invoke_typed(vsms_path(), "ModifyResourceSettings", ResourceSettings=[got])[0] == 0
    got = _proc_rasd(h, vm)
    assert (got["Limit"], got["Weight"], got["AllocationUnits"]) == (None, None, "percent")


@pytest.mark.parametrize(
    "props, words",
    [
        (
            {"Reservation": Uint64(10)},
            ["ResourceSettings[0]", "Reservation", "no processor reservation"],
        ),
        ({"Limit": Uint64(150)}, ["ResourceSettings[0]", "Limit", "100 percent"]),
        (
            {"Limit": Uint64(50), "AllocationUnits": "hertz*10^6"},
            ["ResourceSettings[0]", "AllocationUnits", "percent"],
        ),
        ({"Weight": pywbem.Uint32(0)}, ["ResourceSettings[0]", "Weight", ">= 1"]),
    ],
)
def test_bad_processor_allocation_is_refused(fresh_host, props, words):
    p = proc(1)
    for k, v in props.items():
        p[k] = v
    assert_define_refused(fresh_host, words, resources=[p, mem()])


def _vssd_path(name):
    return CIMInstanceName(VSSD, {"InstanceID": f"{kit.BACKEND}:{kit.VMS[name][0]}"}, kit.NS)


def test_define_from_a_reference_configuration(fresh_host):
    """DefineSystem(ReferenceConfiguration = alpha's VSSD): the new VM takes alpha's
    vCPUs, memory, DVD drive and NIC (same network and model, a new MAC) and notes;
    SystemSettings and ResourceSettings override (name, 3 vCPUs, its own disk)."""
    h = fresh_host
    sd = h.get(_vssd_path("alpha"))
    sd["Notes"] = ["template"]
    assert h.invoke_typed(vsms_path(), "ModifySystemSettings", SystemSettings=sd)[0] == 0
    p = proc(3)
    p["Weight"] = pywbem.Uint32(600)
    rv, out = h.invoke_typed(
        vsms_path(),
        "DefineSystem",
        SystemSettings=vssd("alpha2"),
        ResourceSettings=[p, disk("/var/lib/images/alpha2.qcow2")],
        ReferenceConfiguration=_vssd_path("alpha"),
    )
    assert rv == 0
    vm = out["ResultingSystem"]
    new_sd, rasds = settings_of(h, vm)
    assert h.get(new_sd)["ElementName"] == "alpha2"
    assert list(h.get(new_sd)["Notes"]) == ["template"]
    assert [(i["VirtualQuantity"], i["Weight"]) for i in rasds[PROC]] == [(3, 600)]
    assert [i["VirtualQuantity"] for i in rasds[MEM]] == [512]  # alpha's
    got = sorted(
        (int(i["ResourceType"]), i["HostResource"] and list(i["HostResource"])) for i in rasds[DISK]
    )
    assert got == [(16, None), (17, ["/var/lib/images/alpha2.qcow2"])]
    (n,) = rasds[NIC]
    assert (list(n["Connection"]), n["ResourceSubType"]) == (["default"], "virtio")
    assert n["Address"] and n["Address"] != kit.ALPHA_MAC
    assert h.get(vm)["NumberOfVirtualCPUs"] == 3


def test_define_from_a_reference_alone_names_the_copy(fresh_host):
    h = fresh_host
    rv, out = h.invoke_typed(
        vsms_path(), "DefineSystem", ReferenceConfiguration=_vssd_path("gamma")
    )
    assert rv == 0
    inst = h.get(out["ResultingSystem"])
    assert (inst["ElementName"], inst["NumberOfVirtualCPUs"]) == ("gamma-copy", 2)


@pytest.mark.parametrize(
    "ref, words",
    [
        (_vssd_path("alpha"), ["ReferenceConfiguration", "vda", "ResourceSettings"]),  # disk
        (
            CIMInstanceName(VSSD, {"InstanceID": f"elsewhere:{kit.VMS['alpha'][0]}"}, kit.NS),
            ["ReferenceConfiguration", "elsewhere"],
        ),
        (vsms_path(), ["ReferenceConfiguration", "not a VM's system settings"]),
    ],
)
def test_bad_reference_configuration_changes_nothing(fresh_host, ref, words):
    try:
        fresh_host.invoke_typed(
            vsms_path(),
            "DefineSystem",
            SystemSettings=vssd("copy"),
            ReferenceConfiguration=ref,
        )
    except pywbem.CIMError as exc:
        assert exc.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        for w in words:
            assert w in exc.status_description, exc.status_description
    else:
        pytest.fail("a bad ReferenceConfiguration was accepted")
    assert names(fresh_host.enum_names("VRM_ComputerSystem")) == ALL_UUIDS


def test_define_from_mof_text(fresh_host):
    """Embedded instances in MOF syntax, typed by the host's classes."""
    rv, out = define(
        fresh_host,
        'instance of VRM_VirtualSystemSettingData { ElementName = "eta"; Notes = {"from MOF"}; };',
        [
            "instance of VRM_MemoryAllocationSettingData { ResourceType = 4; "
            "VirtualQuantity = 256; };",
            "// two vCPUs\ninstance of CIM_ResourceAllocationSettingData "
            "{ ResourceType = 3; VirtualQuantity = 2; Weight = 300; };",
            "instance of VRM_EthernetPortAllocationSettingData { ResourceType = 10; "
            'Address = "52:54:00:00:00:77"; Connection = {"default"}; };',
        ],
    )
    assert rv == 0
    vm = out["ResultingSystem"]
    sd, rasds = settings_of(fresh_host, vm)
    assert (fresh_host.get(sd)["ElementName"], list(fresh_host.get(sd)["Notes"])) == (
        "eta",
        ["from MOF"],
    )
    assert [i["VirtualQuantity"] for i in rasds[MEM]] == [256]
    assert [(i["VirtualQuantity"], i["Weight"]) for i in rasds[PROC]] == [(2, 300)]
    assert [i["Address"] for i in rasds[NIC]] == ["52:54:00:00:00:77"]


@pytest.mark.parametrize(
    "text, words",
    [
        (
            "instance of VRM_MemoryAllocationSettingData { Colour = 4; };",
            ["Colour", "not declared"],
        ),
        ("instance of VRM_Nope { A = 1; };", ["VRM_Nope"]),
        (
            'instance of VRM_MemoryAllocationSettingData { VirtualQuantity = "x"; };',
            ["invalid value"],
        ),
        ("instance of VRM_MemoryAllocationSettingData { VirtualQuantity = 1 ", ["end of MOF"]),
        (
            '#pragma include ("/etc/passwd")\ninstance of VRM_MemoryAllocationSettingData {};',
            ["#pragma"],
        ),
        (
            "instance of VRM_MemoryAllocationSettingData { VirtualQuantity = 1; };"
            "instance of VRM_MemoryAllocationSettingData { VirtualQuantity = 2; };",
            ["one instance declaration expected, found 2"],
        ),
        ("class VRM_Evil : CIM_ManagedElement { };", ["not an embedded instance"]),
    ],
)
def test_bad_mof_is_an_invalid_parameter(fresh_host, text, words):
    try:
        define(fresh_host, None, [text])
    except pywbem.CIMError as exc:
        assert exc.status_code == pywbem.CIM_ERR_INVALID_PARAMETER
        assert "ResourceSettings[0]" in exc.status_description, exc.status_description
        for w in words:
            assert w in exc.status_description, exc.status_description
        assert "root:" not in exc.status_description  # no file content ever
    else:
        pytest.fail("bad MOF was accepted")
    assert names(fresh_host.enum_names("VRM_ComputerSystem")) == ALL_UUIDS
