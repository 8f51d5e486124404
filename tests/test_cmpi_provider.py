"""The real providers (providers/*.py, registration/vrmgmt.reg) behind the real
cmpi_pywbem_bindings module, driven the way cmpi-bindings' C dispatcher drives them
(tests/cmpi_double: MiniMB + MIHandle mirror src/cmpi_provider.c and target_python.c),
over libvirt's test driver with a node file private to each test."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "cmpi_double"))

import cmpi  # noqa: E402
import cmpi_mb  # noqa: E402
import cmpi_testkit as kit  # noqa: E402
import pytest  # noqa: E402

import cmpi_pywbem_bindings  # noqa: E402
import vrmgmt.cmpi  # noqa: E402
from vrmgmt.metrics.rrd import metrics_of  # noqa: E402

mb = kit.mb  # fixtures
vrm_config = kit.vrm_config

ALPHA, BETA, GAMMA = (kit.VMS[n][0] for n in ("alpha", "beta", "gamma"))
ALL_VMS = {ALPHA, BETA, GAMMA}


def names(paths) -> set[str]:
    return {p._keys_dict()["Name"] for p in paths}


def vm_instance(mb, uuid, props=None) -> dict:
    res = kit.ok(mb.get_instance(kit.vm_path(mb, uuid), props))
    assert len(res.instances) == 1
    return res.instances[0]._as_dict()


def rsc(mb, uuid, state, ctype=cmpi.CMPI_uint16):
    res = kit.ok(
        mb.invoke_method(
            kit.vm_path(mb, uuid), "RequestStateChange", mb.args([("RequestedState", state, ctype)])
        )
    )
    assert len(res.data) == 1 and res.data[0].type == cmpi.CMPI_uint32
    return cmpi._plain(res.data[0]), res


# -- instance operations ------------------------------------------------------------------
def test_enumerate_instance_names(mb):
    res = kit.ok(mb.enumerate_instance_names("VRM_ComputerSystem"))
    assert names(res.paths) == ALL_VMS
    assert all(p.namespace() == kit.NS and p.classname() == "VRM_ComputerSystem" for p in res.paths)
    assert {p._keys_dict()["CreationClassName"] for p in res.paths} == {"VRM_ComputerSystem"}

    res = kit.ok(mb.enumerate_instance_names("VRM_HostSystem"))
    assert [p._keys_dict() for p in res.paths] == [
        {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND}
    ]

    res = kit.ok(mb.enumerate_instance_names("VRM_HostedDependency"))
    assert len(res.paths) == 3
    for p in res.paths:
        assert {k: d.type for k, d in p._keys.items()} == {
            "Antecedent": cmpi.CMPI_ref,
            "Dependent": cmpi.CMPI_ref,
        }
        keys = p._keys_dict()
        assert keys["Antecedent"]._keys_dict()["Name"] == kit.BACKEND
    assert {p._keys_dict()["Dependent"]._keys_dict()["Name"] for p in res.paths} == ALL_VMS


def test_enumerate_instances(mb):
    res = kit.ok(mb.enumerate_instances("VRM_ComputerSystem"))
    by_name = {i._as_dict()["ElementName"]: i for i in res.instances}
    assert set(by_name) == set(kit.VMS)
    assert by_name["alpha"]._as_dict()["EnabledState"] == 2
    assert by_name["gamma"]._as_dict()["EnabledState"] == 3
    assert by_name["alpha"]._props["EnabledState"].type == cmpi.CMPI_uint16
    assert by_name["alpha"]._props["AvailableRequestedStates"].type == cmpi.CMPI_uint16A
    assert by_name["alpha"]._props["MemoryKiB"].type == cmpi.CMPI_uint64
    assert by_name["alpha"]._props["Autostart"].type == cmpi.CMPI_boolean
    assert by_name["alpha"].objectpath()._keys_dict()["Name"] == ALPHA

    host = kit.ok(mb.enumerate_instances("VRM_HostSystem")).instances[0]._as_dict()
    assert host["Name"] == kit.BACKEND and host["NumberOfProcessors"] == 4

    deps = kit.ok(mb.enumerate_instances("VRM_HostedDependency")).instances
    assert {d._as_dict()["Dependent"]._keys_dict()["Name"] for d in deps} == ALL_VMS
    assert all(d._props["Antecedent"].type == cmpi.CMPI_ref for d in deps)


def test_enumerate_superclass_reaches_served_subclasses(mb):
    # a CIMOM may pass the requested superclass: the adapter routes to its subclasses
    mi = mb.mi(mb._reg("VRM_ComputerSystem"), "instance")
    rslt = cmpi.CMPIResult._make(mb.broker)
    st = mi.enum_instance_names(mb.context(), rslt, mb.path("CIM_ComputerSystem"))
    assert st.ok and names(rslt._paths) == ALL_VMS
    # the MB's own routing over registrations does the same
    res = kit.ok(mb.enumerate_instance_names("CIM_ComputerSystem"))
    assert names(res.paths) == ALL_VMS | {kit.BACKEND}


def test_get_instance_and_property_lists(mb):
    full = vm_instance(mb, ALPHA)
    assert full["ElementName"] == "alpha" and full["EnabledState"] == 2
    assert len(full) > 10
    # the list is applied; keys stay (as cmpi-bindings' set_property_filter keeps them)
    assert vm_instance(mb, ALPHA, ["ElementName"]) == {
        "CreationClassName": "VRM_ComputerSystem",
        "Name": ALPHA,
        "ElementName": "alpha",
    }
    assert set(vm_instance(mb, ALPHA, ["enabledstate", "NoSuchProperty"])) == {
        "CreationClassName",
        "Name",
        "EnabledState",
    }
    assert set(vm_instance(mb, ALPHA, [])) == {"CreationClassName", "Name"}

    host = kit.ok(mb.get_instance(kit.host_path(mb), ["HostName"])).instances[0]._as_dict()
    assert host == {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND, "HostName": "vm"}

    dep_path = mb.path(
        "VRM_HostedDependency",
        {"Antecedent": kit.host_path(mb), "Dependent": kit.vm_path(mb, BETA)},
    )
    dep = kit.ok(mb.get_instance(dep_path)).instances[0]._as_dict()
    assert dep["Dependent"]._keys_dict()["Name"] == BETA


def test_unknown_vm_is_not_found_with_a_bytes_message(mb):
    res = mb.get_instance(kit.vm_path(mb, "00000000-0000-0000-0000-00000000dead"))
    assert res.status.rc == cmpi.CMPI_RC_ERR_NOT_FOUND == 6
    assert "00000000-0000-0000-0000-00000000dead" in res.status.msg
    assert not res.instances
    # what the C side receives: (int, bytes)
    mi = mb.mi(mb._reg("VRM_ComputerSystem"), "instance")
    raw = mi.instance.get_instance(
        mb.context(),
        cmpi.CMPIResult._make(mb.broker),
        kit.vm_path(mb, "00000000-0000-0000-0000-00000000dead"),
        None,
    )
    assert type(raw) is tuple and raw[0] == 6 and isinstance(raw[1], bytes)

    res = mb.get_instance(kit.host_path(mb, "nohost"))
    assert res.status.rc == cmpi.CMPI_RC_ERR_NOT_FOUND and "nohost" in res.status.msg


def test_wrong_class_and_unsupported_operations(mb):
    mi = mb.mi(mb._reg("VRM_ComputerSystem"), "instance")
    ctx, rslt = mb.context(), cmpi.CMPIResult._make(mb.broker)
    st = mi.enum_instances(ctx, rslt, mb.path("VRM_Unrelated"), None)
    assert st.rc == cmpi.CMPI_RC_ERR_INVALID_CLASS and "VRM_ComputerSystem" in st.msg
    # ExecQuery runs the server's WQL engine: a query naming an unknown class is invalid
    st = mi.exec_query(ctx, rslt, mb.path("VRM_ComputerSystem"), "SELECT * FROM X", "WQL")
    assert st.rc == cmpi.CMPI_RC_ERR_INVALID_QUERY and "X" in st.msg
    inst = cmpi.CMPIInstance._make(kit.vm_path(mb, ALPHA))
    st = mi.create_instance(ctx, rslt, kit.vm_path(mb, ALPHA), inst)
    assert st.rc == cmpi.CMPI_RC_ERR_NOT_SUPPORTED and "CreateInstance" in st.msg
    st = mi.set_instance(ctx, rslt, kit.vm_path(mb, ALPHA), inst, ["ElementName"])
    assert st.rc == cmpi.CMPI_RC_ERR_NOT_SUPPORTED
    st = mi.delete_instance(ctx, rslt, kit.vm_path(mb, ALPHA))
    assert st.rc == cmpi.CMPI_RC_ERR_NOT_SUPPORTED


# -- associations ------------------------------------------------------------------------------
def test_associators_between_vm_and_host(mb):
    vm = kit.vm_path(mb, ALPHA)
    res = kit.ok(mb.associators(vm, assoc_class="VRM_HostedDependency"))
    assert [i._as_dict()["Name"] for i in res.instances] == [kit.BACKEND]
    # CIM_HostedDependency also covers VRM_HostedAccessPoint: alpha's VNC display
    res = kit.ok(mb.associators(vm, assoc_class="CIM_HostedDependency"))
    assert sorted(i._as_dict()["Name"] for i in res.instances) == [kit.BACKEND, "vnc/0"]
    # CIM_Dependency also covers VRM_VMProcess (a running test-driver VM's process is the
    # one holding the test:// connection: this one), alpha's snapshots
    # (VRM_SnapshotOfVirtualSystem: base, patched; VRM_LastAppliedSnapshot: patched again,
    # an instance found twice is answered once) and VRM_MetricDefForME: the VM's metric
    # definitions (DSP1053)
    res = kit.ok(mb.associators(vm, assoc_class="CIM_Dependency"))
    found = sorted(
        str(d.get("Handle") or d.get("Name") or d["ElementName"])
        for d in (i._as_dict() for i in res.instances)
    )
    defs = [i for i in res.instances if i.objectpath().classname() == "VRM_BaseMetricDefinition"]
    assert len(defs) == len(metrics_of("vm"))
    assert found == sorted(
        [kit.BACKEND, str(os.getpid()), "vnc/0", "base", "patched"]
        + [m.name for m in metrics_of("vm")]
    )
    res = kit.ok(mb.associators(vm))  # no AssocClass: every association provider
    assert kit.BACKEND in [i._as_dict().get("Name") for i in res.instances]

    res = kit.ok(
        mb.associators(
            vm,
            "VRM_HostedDependency",
            "CIM_ComputerSystem",
            "Dependent",
            "Antecedent",
            ["HostName"],
        )
    )
    assert [i._as_dict() for i in res.instances] == [
        {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND, "HostName": "vm"}
    ]
    assert not kit.ok(mb.associators(vm, "VRM_HostedDependency", role="Antecedent")).instances
    assert not kit.ok(
        mb.associators(vm, "VRM_HostedDependency", result_class="VRM_ComputerSystem")
    ).instances

    res = kit.ok(mb.associators(kit.host_path(mb), "VRM_HostedDependency"))
    assert {i._as_dict()["Name"] for i in res.instances} == ALL_VMS
    assert all(i.objectpath().namespace() == kit.NS for i in res.instances)


def test_associator_names(mb):
    res = kit.ok(mb.associator_names(kit.vm_path(mb, GAMMA), "VRM_HostedDependency"))
    assert [p._keys_dict() for p in res.paths] == [
        {"CreationClassName": "VRM_HostSystem", "Name": kit.BACKEND}
    ]
    res = kit.ok(
        mb.associator_names(
            kit.host_path(mb), "CIM_HostedDependency", role="Antecedent", result_role="Dependent"
        )
    )
    # VRM_HostedService and VRM_HostedMetricService are CIM_HostedDependency too: the
    # host's management, snapshot, migration and metric services
    assert names(res.paths) == ALL_VMS | {
        "VirtualSystemManagementService",
        "VirtualSystemSnapshotService",
        "VirtualSystemMigrationService",
        "MetricService",
    }


def test_references_and_reference_names(mb):
    res = kit.ok(mb.references(kit.vm_path(mb, BETA), "VRM_HostedDependency"))
    assert len(res.instances) == 1
    ref = res.instances[0]._as_dict()
    assert ref["Dependent"]._keys_dict()["Name"] == BETA
    assert ref["Antecedent"]._keys_dict()["Name"] == kit.BACKEND

    res = kit.ok(mb.references(kit.host_path(mb), "CIM_Dependency", role="Antecedent"))
    keys = [i._as_dict()["Dependent"]._keys_dict() for i in res.instances]
    assert {k.get("Name") or k["Id"] for k in keys} == ALL_VMS | {
        "VirtualSystemManagementService",  # VRM_HostedService
        "VirtualSystemSnapshotService",
        "VirtualSystemMigrationService",
        "MetricService",  # VRM_HostedMetricService
    } | {m.id for m in metrics_of("host")}  # VRM_MetricDefForME
    assert not kit.ok(
        mb.references(kit.host_path(mb), "VRM_HostedDependency", role="Dependent")
    ).instances

    res = kit.ok(mb.reference_names(kit.vm_path(mb, ALPHA), "VRM_HostedDependency"))
    assert [p.classname() for p in res.paths] == ["VRM_HostedDependency"]
    assert res.paths[0]._keys_dict()["Dependent"]._keys_dict()["Name"] == ALPHA
    res = kit.ok(mb.reference_names(kit.host_path(mb)))  # all association providers
    assert len([p for p in res.paths if p.classname() == "VRM_HostedDependency"]) == 3


# -- methods ---------------------------------------------------------------------------------
def test_request_state_change_pause_and_resume(mb):
    assert vm_instance(mb, ALPHA)["EnabledState"] == 2
    rc, res = rsc(mb, ALPHA, 9)
    assert rc == 0
    assert res.out.arg_count() == 0  # Job is NULL: not passed
    assert vm_instance(mb, ALPHA)["EnabledState"] == 9  # fresh GetInstance
    assert vm_instance(mb, BETA)["EnabledState"] == 2
    assert rsc(mb, ALPHA, 2)[0] == 0
    assert vm_instance(mb, ALPHA)["EnabledState"] == 2


def test_request_state_change_invalid_state_and_errors(mb):
    assert rsc(mb, ALPHA, 42)[0] == 5
    assert vm_instance(mb, ALPHA)["EnabledState"] == 2
    res = mb.invoke_method(
        kit.vm_path(mb, "00000000-0000-0000-0000-00000000dead"),
        "RequestStateChange",
        mb.args([("RequestedState", 2, cmpi.CMPI_uint16)]),
    )
    assert res.status.rc == cmpi.CMPI_RC_ERR_NOT_FOUND
    res = mb.invoke_method(kit.vm_path(mb, ALPHA), "RequestStateChange", mb.args())
    assert res.status.rc == cmpi.CMPI_RC_ERR_INVALID_PARAMETER
    res = mb.invoke_method(kit.vm_path(mb, ALPHA), "Frobnicate", mb.args())
    assert res.status.rc == cmpi.CMPI_RC_ERR_METHOD_NOT_AVAILABLE and "Frobnicate" in res.status.msg
    # TimeoutPeriod other than 0 is not supported (DSP1052: 4098)
    res = kit.ok(
        mb.invoke_method(
            kit.vm_path(mb, ALPHA),
            "RequestStateChange",
            mb.args(
                [
                    ("RequestedState", 9, cmpi.CMPI_uint16),
                    ("TimeoutPeriod", "00000000000010.000000:000", cmpi.CMPI_dateTime),
                ]
            ),
        )
    )
    assert cmpi._plain(res.data[0]) == 4098


def test_user_from_context_reaches_the_audit(mb, caplog):
    with caplog.at_level(logging.INFO, logger="vrmgmt.audit"):
        kit.ok(
            mb.invoke_method(
                kit.vm_path(mb, BETA),
                "RequestStateChange",
                mb.args([("RequestedState", 9, cmpi.CMPI_uint16)]),
                ctx=mb.context("alice"),
            )
        )
    assert any(
        "alice" in r.getMessage() and "RequestStateChange(9)" in r.getMessage()
        for r in caplog.records
    )


# -- robustness -----------------------------------------------------------------------------------
def write_project(tmp_path: Path, modules: dict[str, str], reg: str) -> tuple[Path, Path]:
    prov = tmp_path / "proj" / "providers"
    prov.mkdir(parents=True)
    (tmp_path / "proj" / "registration").mkdir()
    for name, src in modules.items():
        (prov / f"{name}.py").write_text(textwrap.dedent(src))
    regfile = tmp_path / "proj" / "registration" / "vrmgmt.reg"
    regfile.write_text(textwrap.dedent(reg))
    return regfile, prov


BOOM = """
    import pywbem
    from vrmgmt.cim import Provider

    CLEANUPS = []

    class Boom(Provider):
        def enum_instance_names(self, ctx, class_name):
            raise RuntimeError("boom in enum")
            yield

        def enum_instances(self, ctx, class_name, property_list):
            yield pywbem.CIMInstance("T_Boom", properties={"Id": "1"},
                                     path=pywbem.CIMInstanceName("T_Boom", {"Id": "1"}))
            raise KeyError("half way")

        def get_instance(self, ctx, path, property_list):
            raise SystemExit(3)

        def invoke_method(self, ctx, obj, method, params):
            return 42, {}   # a plain int: no CIM type (sent as uint32)

        def cleanup(self):
            CLEANUPS.append(self)

    def get_providers(env):
        p = Boom(env)
        return {"T_Boom": p, "T_Boom2": p}
"""
BOOM_REG = """
    [T_Boom]
       provider: Boom
       location: py3CmpiProvider
       type: instance method
       namespace: root/virt
    [T_Boom2]
       provider: Boom
       location: py3CmpiProvider
       type: instance
       namespace: root/virt
    [T_Broken]
       provider: Broken
       location: py3CmpiProvider
       type: instance
       namespace: root/virt
    [T_Missing]
       provider: Missing
       location: py3CmpiProvider
       type: instance
       namespace: root/virt
"""


@pytest.fixture
def boom_mb(tmp_path, vrm_config):
    regfile, prov = write_project(
        tmp_path, {"Boom": BOOM, "Broken": "def get_providers(env:\n"}, BOOM_REG
    )
    m = cmpi_mb.MiniMB(regfile, prov, classes=kit.CLASSES)
    yield m
    assert not m.escaped, m.escaped
    m.cleanup()


def test_provider_exceptions_become_cmpi_errors(boom_mb):
    res = boom_mb.enumerate_instance_names("T_Boom")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED
    assert (
        "RuntimeError: boom in enum" in res.status.msg
        and "EnumerateInstanceNames" in res.status.msg
    )
    res = boom_mb.enumerate_instances("T_Boom")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED and "KeyError" in res.status.msg
    res = boom_mb.get_instance(boom_mb.path("T_Boom", {"Id": "1"}))
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED and "SystemExit" in res.status.msg
    res = kit.ok(boom_mb.invoke_method(boom_mb.path("T_Boom", {"Id": "1"}), "M"))
    assert res.data[0].type == cmpi.CMPI_uint32 and cmpi._plain(res.data[0]) == 42


def test_unloadable_modules_are_reported(boom_mb):
    res = boom_mb.enumerate_instance_names("T_Broken")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED
    assert "cannot load provider module" in res.status.msg and "SyntaxError" in res.status.msg
    res = boom_mb.enumerate_instance_names("T_Missing")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED
    assert "Missing.py does not exist" in res.status.msg


def test_provider_cleanup_runs_once_after_the_last_mi(boom_mb):
    kit.ok(boom_mb.invoke_method(boom_mb.path("T_Boom", {"Id": "1"}), "M"))
    boom_mb.enumerate_instances("T_Boom")  # second MI (instance) of the same miname
    mod = next(m for k, m in sys.modules.items() if k.startswith("vrmgmt_providers.Boom"))
    mis = list(boom_mb.mis.values())
    assert len(mis) == 2 and mis[0].instance is mis[1].instance  # one proxy per miname
    # idle unload (not terminating): declined, nothing released, the MIs stay
    statuses = boom_mb.cleanup(terminating=False)
    assert [st.rc for st in statuses] == [cmpi.CMPI_RC_DO_NOT_UNLOAD] * 2
    assert mod.CLEANUPS == [] and len(boom_mb.mis) == 2
    kit.ok(boom_mb.invoke_method(boom_mb.path("T_Boom", {"Id": "1"}), "M"))  # still served
    assert mis[0].cleanup(boom_mb.context(), True).ok
    assert mod.CLEANUPS == []
    assert mis[1].cleanup(boom_mb.context(), True).ok
    assert len(mod.CLEANUPS) == 1  # one provider object serving two classes
    boom_mb.mis.clear()


ROUTED = """
    import pywbem
    from vrmgmt.cim.association import Association, End

    class Routed(Association):
        \"\"\"A declared association whose far-end instances come from the default
        far_instances(): ctx.get_instances, which the CMPI host answers through
        CBGetInstance.\"\"\"

        class_name = "T_Routed"
        ends = (End("Owner", "VRM_HostSystem"), End("Owned", "VRM_ComputerSystem"))

        def far(self, ctx, near, path):
            if near.role != "Owner":
                return []
            return [
                pywbem.CIMInstanceName(
                    "VRM_ComputerSystem",
                    {"CreationClassName": "VRM_ComputerSystem", "Name": vm.uuid},
                    namespace=ctx.namespace)
                for vm in self.env.inventory.list_vms()[0]
            ]

    def get_providers(env):
        return {"T_Routed": Routed(env)}
"""


def test_associators_resolve_through_broker_get_instance(tmp_path, vrm_config):
    reg = f"""
        [VRM_ComputerSystem]
           provider: {kit.PROVIDERS / "VMListProvider"}
           location: py3CmpiProvider
           type: instance method
           namespace: root/virt
        [VRM_HostSystem]
           provider: {kit.PROVIDERS / "HostControlProvider"}
           location: py3CmpiProvider
           type: instance
           namespace: root/virt
        [T_Routed]
           provider: Routed
           location: py3CmpiProvider
           type: instance association
           namespace: root/virt
    """
    regfile, prov = write_project(tmp_path, {"Routed": ROUTED}, reg)
    m = cmpi_mb.MiniMB(regfile, prov, classes=kit.CLASSES)
    res = kit.ok(m.associators(kit.host_path(m), None, None, None, None, ["ElementName"]))
    assert {i._as_dict()["ElementName"] for i in res.instances} == set(kit.VMS)
    assert set(res.instances[0]._as_dict()) == {"CreationClassName", "Name", "ElementName"}
    # the first far end goes through the broker, which has the CIMOM load
    # VMListProvider; from then on it is in this process and answers directly (no
    # broker round trip; OpenPegasus's broker GetInstance loses empty arrays)
    routed = [c for c in m.calls if c[1] == "get_instance"]
    assert len(routed) == 1 and routed[0][0].endswith("VMListProvider")
    kit.ok(m.associators(kit.host_path(m), None, None, None, None, ["ElementName"]))
    assert len([c for c in m.calls if c[1] == "get_instance"]) == 1
    assert not m.escaped and not m.broker.violations
    m.cleanup()


# -- binding variants ------------------------------------------------------------------------
def test_strings_from_the_c_side_as_bytes(mb, monkeypatch):
    monkeypatch.setattr(cmpi, "TARGET_STRING_BYTES", True)
    assert names(kit.ok(mb.enumerate_instance_names("VRM_ComputerSystem")).paths) == ALL_VMS
    assert vm_instance(mb, ALPHA, ["ElementName"])["ElementName"] == "alpha"
    res = kit.ok(
        mb.associators(
            kit.vm_path(mb, ALPHA), "VRM_HostedDependency", None, "Dependent", None, ["Name"]
        )
    )
    assert len(res.instances) == 1
    assert rsc(mb, ALPHA, 9)[0] == 0


def test_older_two_argument_initialisation(vrm_config):
    m = cmpi_mb.MiniMB(
        kit.REGISTRATION, kit.PROVIDERS, classes=kit.CLASSES, pass_init_context=False
    )
    assert names(kit.ok(m.enumerate_instance_names("VRM_ComputerSystem")).paths) == ALL_VMS
    assert not m.escaped
    m.cleanup()


def test_entry_points_take_the_c_argument_lists():
    proxy = vrmgmt.cmpi.get_cmpi_proxy_provider("/nonexistent/X", cmpi.CMPIBroker())
    expected = {
        "cleanup": 2,
        "enum_instance_names": 3,
        "enum_instances": 4,
        "get_instance": 4,
        "create_instance": 4,
        "set_instance": 5,
        "delete_instance": 3,
        "exec_query": 5,
        "associator_names": 7,
        "associators": 8,
        "reference_names": 5,
        "references": 6,
        "invoke_method": 6,
        "authorize_filter": 5,
        "activate_filter": 5,
        "deactivate_filter": 5,
        "enable_indications": 1,
        "disable_indications": 1,
    }
    assert set(expected) | {"must_poll"} == set(cmpi_mb._ENTRY_POINTS)
    for name, n in expected.items():
        params = inspect.signature(getattr(proxy, name)).parameters
        assert len(params) == n, name
    vrmgmt.cmpi.reset()


def test_bindings_module_survives_a_broken_vrmgmt(monkeypatch):
    """cmpi-bindings abort()s the CIMOM when the import fails; ours never fails."""
    monkeypatch.setitem(sys.modules, "vrmgmt.cmpi.proxy", None)  # import -> ImportError
    try:
        mod = importlib.reload(cmpi_pywbem_bindings)
        proxy = mod.get_cmpi_proxy_provider("/x/Y", object(), None)
        rc, msg = proxy.enum_instances(None, None, None, None)
        assert rc == cmpi.CMPI_RC_ERR_FAILED and b"cannot be imported" in msg
        assert proxy.cleanup(None, True) == (0, None)
    finally:
        monkeypatch.undo()
        importlib.reload(cmpi_pywbem_bindings)
    assert cmpi_pywbem_bindings._IMPORT_ERROR is None


def test_configuration_errors_are_reported_to_the_client(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[backends]]\nid = 'x'\n")  # no type
    monkeypatch.setenv("VRMGMT_CONFIG", str(bad))
    vrmgmt.cmpi.reset()
    m = cmpi_mb.MiniMB(kit.REGISTRATION, kit.PROVIDERS, classes=kit.CLASSES)
    res = m.enumerate_instance_names("VRM_ComputerSystem")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED
    assert str(bad) in res.status.msg and "'type'" in res.status.msg
    assert not m.escaped
    m.cleanup()
    vrmgmt.cmpi.reset()


def test_concurrent_calls_from_several_mb_threads(mb):
    import threading

    errors: list = []

    def worker(uuid):
        try:
            for _ in range(5):
                assert vm_instance(mb, uuid, ["ElementName"])["Name"] == uuid
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(u,)) for u in sorted(ALL_VMS) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len({id(mi.instance) for mi in mb.mis.values()}) == 1


@pytest.mark.parametrize(
    ("broker_name", "interop"), [("RequestHandler", "root/interop"), ("Pegasus", "root/PG_InterOp")]
)
def test_process_env_namespaces(vrm_config, broker_name, interop):
    m = cmpi_mb.MiniMB(
        kit.REGISTRATION,
        kit.PROVIDERS,
        namespace=interop,
        broker_name=broker_name,
        classes=kit.CLASSES,
    )
    cls = next(r.class_name for r in m.regs if "root/interop" in r.namespaces)
    op = cmpi.CMPIObjectPath._make(interop, cls)
    mi = m.mi(m._reg(cls, "root/interop"), "instance")
    mi.enum_instance_names(m.context(), cmpi.CMPIResult._make(m.broker), op)  # first call
    env = vrmgmt.cmpi.proxy._State.env
    assert env.namespace == "root/virt" and env.interop_namespace == interop
    assert env.cimom == "cmpi"
    assert not m.escaped
    m.cleanup()


def test_a_changed_configuration_file_is_read_again_without_a_restart(mb, vrm_config, tmp_path):
    """The CIMOM keeps the provider loaded; the next request after the configuration file
    changed sees the new backends (the old ones are closed)."""
    res = kit.ok(mb.enumerate_instance_names("VRM_HostSystem"))
    assert [p._keys_dict()["Name"] for p in res.paths] == [kit.BACKEND]
    node = kit.write_node_xml(tmp_path / "other-node.xml")
    vrm_config.write_text(
        f'[[backends]]\nid = "other"\ntype = "libvirt"\nuri = "test://{node}"\ntimeout = 10\n'
    )
    os.utime(vrm_config, ns=(0, 1))  # same size within the mtime granularity: still seen
    res = kit.ok(mb.enumerate_instance_names("VRM_HostSystem"))
    assert [p._keys_dict()["Name"] for p in res.paths] == ["other"]
    res = kit.ok(mb.enumerate_instance_names("VRM_ComputerSystem"))
    assert names(res.paths) == ALL_VMS
    vrm_config.write_text("[[backends]]\nid = 'broken'\n")  # no type: refused, named
    res = mb.enumerate_instance_names("VRM_HostSystem")
    assert res.status.rc == cmpi.CMPI_RC_ERR_FAILED
    assert "type" in str(res.status.msg)
