"""Life-cycle indications through real CIMOMs (issue 15): pywbem's
WBEMSubscriptionManager subscribes a WBEMListener at SFCB 1.3.16 and OpenPegasus 2.14.4
(vrmgmt registered as `vrmgmt register` does it, tests/support/cimoms.py); the CIMOM's
indication service activates vrmgmt's IndicationProvider in the provider process, a
RequestStateChange through the CIMOM pauses and resumes a test-driver VM in that
process, and the listener receives CIM_InstModification with the VM as SourceInstance
(delivered by the provider through the broker's deliverIndication) within seconds;
DefineSystem/DestroySystem give CIM_InstCreation/CIM_InstDeletion; and a tiny QEMU guest
changed with virsh, behind vrmgmt's back, gives them too (marker qemu: the system
libvirtd)."""

from __future__ import annotations

import subprocess
import time

import cmpi_testkit as kit
import pytest
import pywbem

from support import cimoms
from support.classhosts import open_host
from support.indications import collector

pytestmark = pytest.mark.timeout(1200)  # a first run builds the CIMOMs

ALPHA = kit.VMS["alpha"][0]
VM_MODIFICATION = "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA VRM_ComputerSystem"
#: the filter's query language: OpenPegasus's WQL parser refuses ISA ("ISA Token Not
#: Supported", pegasus/src/Pegasus/WQL/WQL.y unless PEGASUS_SNIA_EXTENSIONS); its CQL has it
LANGUAGE = {"sfcb": "WQL", "pegasus": "DMTF:CQL"}
#: a CIMOM's path from a change to the listener: provider, CIMOM's indication service,
#: its delivery (SFCB forks a handler per indication)
WITHIN = 5.0


@pytest.fixture(scope="module", autouse=True)
def _stop_cimoms_after():
    """The shared CIMOMs stop after this module (each build allows one daemon at a time;
    other modules deploy their own) and their logs must show no provider crash."""
    yield
    found = cimoms.crashes()
    cimoms.release()
    found += [c for c in cimoms.crashes() if c not in found]
    assert not found, "provider crashes in the CIMOMs' logs:\n" + "\n".join(found)


def _subscribe(conn: pywbem.WBEMConnection, kind: str, url: str, query: str, name: str):
    """Permanent destination, filter and subscription through WBEMSubscriptionManager,
    as a client script does it; returns the subscription instance."""
    sm = pywbem.WBEMSubscriptionManager(f"vrmgmt-{kind}")
    sid = sm.add_server(pywbem.WBEMServer(conn))
    dest = sm.add_destination(sid, url, owned=False, name=f"{name}-dest")
    flt = sm.add_filter(
        sid, kit.NS, query, query_language=LANGUAGE[kind], owned=False, name=f"{name}-filter"
    )
    return sm.add_subscriptions(sid, flt.path, [dest.path], owned=False)[0]


def _unsubscribe(host, sub: pywbem.CIMInstance) -> None:
    """SFCB answers a void DeleteInstance oddly: host.delete accepts that (docs/cmpi.md)."""
    host.delete(sub.path)
    host.delete(sub["Filter"])
    host.delete(sub["Handler"])


def _vm_path() -> pywbem.CIMInstanceName:
    return pywbem.CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": ALPHA},
        namespace=kit.NS,
    )


def _request_state(conn: pywbem.WBEMConnection, state: int) -> None:
    rc, _out = conn.InvokeMethod(
        "RequestStateChange", _vm_path(), [("RequestedState", pywbem.Uint16(state))]
    )
    assert rc == 0, f"RequestStateChange({state}) returned {rc}"


def _of_alpha_in(state: int):
    def pred(ind: pywbem.CIMInstance) -> bool:
        src = ind.get("SourceInstance")
        return (
            ind.classname.lower() == "cim_instmodification"
            and src is not None
            and src.get("Name") == ALPHA
            and src.get("EnabledState") == state
        )

    return pred


@pytest.mark.parametrize("kind", cimoms.KINDS)
def test_vm_state_changes_reach_a_listener_subscribed_at_the_cimom(kind, tmp_path):
    with open_host(kind, tmp_path) as host, collector() as listener:
        conn = host.cimom.conn()
        sub = _subscribe(conn, kind, listener.url, VM_MODIFICATION, f"vrmgmt-ind-{kind}")
        try:
            t0 = time.monotonic()
            _request_state(conn, 9)  # pause
            ind = listener.wait_for(_of_alpha_in(9), WITHIN)
            took = time.monotonic() - t0
            src, prev = ind["SourceInstance"], ind["PreviousInstance"]
            assert src.classname == "VRM_ComputerSystem"
            assert src["CreationClassName"] == "VRM_ComputerSystem"
            assert prev["Name"] == ALPHA and prev["EnabledState"] == 2
            assert "EnabledState" in ind["ChangedPropertyNames"]
            assert ind["SourceInstanceModelPath"].endswith(f'Name="{ALPHA}"')
            # the CIMOM's own properties: SFCB names the filter, OpenPegasus 2.14.4 does not
            filter_name = f"vrmgmt-ind-{kind}-filter" if kind == "sfcb" else None
            assert ind.get("IndicationFilterName") == filter_name

            _request_state(conn, 2)  # resume
            ind = listener.wait_for(_of_alpha_in(2), WITHIN)
            assert ind["PreviousInstance"]["EnabledState"] == 9
            print(f"{kind}: change -> listener {took * 1000:.0f} ms")
        finally:
            _unsubscribe(host, sub)


VSMS = pywbem.CIMInstanceName(
    "VRM_VirtualSystemManagementService",
    {
        "SystemCreationClassName": "VRM_HostSystem",
        "SystemName": kit.BACKEND,
        "CreationClassName": "VRM_VirtualSystemManagementService",
        "Name": "VirtualSystemManagementService",
    },
    namespace=kit.NS,
)


@pytest.mark.parametrize("kind", cimoms.KINDS)
def test_defined_and_destroyed_vm_reach_the_listener(kind, tmp_path):
    """DefineSystem gives CIM_InstCreation, DestroySystem CIM_InstDeletion; a filter on
    one class gets only that class."""
    with open_host(kind, tmp_path) as host, collector() as listener:
        conn = host.cimom.conn()
        subs = [
            _subscribe(
                conn,
                kind,
                listener.url,
                f"SELECT * FROM {cls} WHERE SourceInstance ISA VRM_ComputerSystem",
                f"vrmgmt-{cls[8:].lower()}-{kind}",
            )
            for cls in ("CIM_InstCreation", "CIM_InstDeletion")
        ]
        try:
            system = pywbem.CIMInstance("VRM_VirtualSystemSettingData", {"ElementName": "delta"})
            mem = pywbem.CIMInstance(
                "VRM_MemoryAllocationSettingData",
                {
                    "ResourceType": pywbem.Uint16(4),
                    "VirtualQuantity": pywbem.Uint64(256),
                    "AllocationUnits": "byte*2^20",
                },
            )
            rv, out = conn.InvokeMethod(
                "DefineSystem", VSMS, SystemSettings=system, ResourceSettings=[mem]
            )
            assert rv == 0
            vm = out["ResultingSystem"]
            ind = listener.wait_for(lambda i: i.classname == "CIM_InstCreation", WITHIN)
            src = ind["SourceInstance"]
            assert (src.classname, src["Name"], src["ElementName"]) == (
                "VRM_ComputerSystem",
                vm["Name"],
                "delta",
            )
            assert src["EnabledState"] == 3  # defined, not running

            rv, _ = conn.InvokeMethod("DestroySystem", VSMS, AffectedSystem=vm)
            assert rv == 0
            ind = listener.wait_for(lambda i: i.classname == "CIM_InstDeletion", WITHIN)
            assert ind["SourceInstance"]["Name"] == vm["Name"]
            # nothing else: the state changes of a define are no CIM_InstModification
            assert [i.classname for i in listener.drain()] == []
        finally:
            for sub in subs:
                _unsubscribe(host, sub)


@pytest.mark.parametrize("kind", cimoms.KINDS)
def test_group_created_through_the_cimom_reaches_the_listener(kind, tmp_path):
    """CreateGroup through the CIMOM: CIM_InstCreation of the VRM_Group, whichever
    provider process ran the method (the group store tells the indication process)."""
    with open_host(kind, tmp_path) as host, collector() as listener:
        conn = host.cimom.conn()
        sub = _subscribe(
            conn,
            kind,
            listener.url,
            "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA VRM_Group",
            f"vrmgmt-group-{kind}",
        )
        try:
            [svc] = conn.EnumerateInstanceNames("VRM_GroupManagementService", kit.NS)
            name = f"fleet-{kind}-{time.monotonic_ns()}"
            rv, out = conn.InvokeMethod("CreateGroup", svc, GroupName=name)
            assert rv == 0
            ind = listener.wait_for(
                lambda i: (
                    i.classname == "CIM_InstCreation"
                    and i["SourceInstance"].get("ElementName") == name
                ),
                WITHIN,
            )
            src = ind["SourceInstance"]
            assert src.classname == "VRM_Group"
            assert ind["SourceInstanceModelPath"].endswith(f'"{out["Group"]["InstanceID"]}"')
            conn.InvokeMethod("DeleteGroup", svc, Group=out["Group"])
        finally:
            _unsubscribe(host, sub)


QEMU = "qemu:///system"


def _virsh(*args: str) -> None:
    r = subprocess.run(["virsh", "-c", QEMU, *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def libvirtd():
    from support.libvirtd import LibvirtdForTests

    with LibvirtdForTests(QEMU) as daemon:
        yield daemon


@pytest.mark.qemu
@pytest.mark.parametrize("kind", cimoms.KINDS)
def test_qemu_vm_changed_with_virsh_reaches_the_listener(kind, tmp_path, libvirtd):
    """Behind vrmgmt's back: a tiny QEMU guest defined with libvirt, started and
    destroyed with virsh, undefined; the provider process's libvirt events reach the
    CIMOM's listener as creation, modifications and deletion."""
    backends = [{"id": "qemu", "type": "libvirt", "uri": QEMU}]
    with open_host(kind, tmp_path, backends=backends) as host, collector() as listener:
        conn = host.cimom.conn()
        subs = [
            _subscribe(
                conn,
                kind,
                listener.url,
                f"SELECT * FROM {cls} WHERE SourceInstance ISA VRM_ComputerSystem",
                f"vrmgmt-qemu-{cls[8:].lower()}-{kind}",
            )
            for cls in ("CIM_InstCreation", "CIM_InstModification", "CIM_InstDeletion")
        ]
        try:
            time.sleep(1)  # the backend registers for libvirt's events in its own thread

            def expect(cls: str, uuid: str, enabled: int | None, what: str):
                ind = listener.wait_for(
                    lambda i: i.classname == cls and i["SourceInstance"]["Name"] == uuid, WITHIN
                )
                if enabled is not None:
                    assert ind["SourceInstance"]["EnabledState"] == enabled, what

            with libvirtd.tiny_vm() as tiny:
                expect("CIM_InstCreation", tiny.uuid, 3, "defined with libvirt")
                _virsh("start", tiny.name)
                expect("CIM_InstModification", tiny.uuid, 2, "virsh start")
                _virsh("destroy", tiny.name)
                expect("CIM_InstModification", tiny.uuid, 3, "virsh destroy")
            expect("CIM_InstDeletion", tiny.uuid, None, "undefined")
        finally:
            for sub in subs:
                _unsubscribe(host, sub)
