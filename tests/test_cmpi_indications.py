"""Indications through the CMPI broker under CMPI's thread rules (prepareAttachThread in
an MB thread, attachThread/detachThread in the provider's own thread), and the
indication entry points of the adapter."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "cmpi_double"))

import cmpi  # noqa: E402
import cmpi_mb  # noqa: E402
import cmpi_testkit as kit  # noqa: E402
import pytest  # noqa: E402
from pywbem import CIMInstance, Uint16  # noqa: E402

from vrmgmt.cmpi import IndicationSender  # noqa: E402

mb = kit.mb  # fixtures
vrm_config = kit.vrm_config

NS = "root/virt"


def indication(msg: str = "hello") -> CIMInstance:
    return CIMInstance("VRM_TestIndication", properties={"Message": msg, "Code": Uint16(7)})


def mb_context(broker):
    return cmpi.CMPIContext._make()


def make_sender(broker) -> IndicationSender:
    with broker._as_mb():  # as inside an MI call
        return IndicationSender(broker, mb_context(broker))


def run_in_thread(fn) -> None:
    errors = []

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    if errors:
        raise errors[0]


def test_deliver_from_provider_threads_goes_through_one_attached_thread():
    broker = cmpi.CMPIBroker()
    sender = make_sender(broker)
    results = []
    for i in range(3):  # three provider threads, none attached itself
        run_in_thread(lambda i=i: results.append(sender.deliver(NS, indication(f"n{i}"))))
    assert results == [True, True, True]
    assert sender.flush()
    assert [i._as_dict()["Message"] for _, i, _ in broker.indications] == ["n0", "n1", "n2"]
    ns, inst, ctx = broker.indications[0]
    assert ns == NS and ctx is sender.context
    assert inst._as_dict() == {"Message": "n0", "Code": 7}
    assert inst._props["Code"].type == cmpi.CMPI_uint16
    # attached once, for the sender's life; detached (which frees the context) at close
    assert list(broker._attached.values()) == [sender.context]
    sender.close()
    assert not broker._attached and sender.context._freed
    assert sender.deliver(NS, indication()) is False
    assert not broker.violations


def test_worker_thread_attached_once_for_many_indications():
    broker = cmpi.CMPIBroker()
    sender = make_sender(broker)

    def worker(deliver, count):
        assert threading.get_ident() in broker._attached
        for i in range(count):
            deliver(NS, indication(f"n{i}"))

    with broker._as_mb():  # start_thread prepares the worker's context: an MI call
        sender.start_thread(worker, 3).join(10)
    assert [i._as_dict()["Message"] for _, i, _ in broker.indications] == ["n0", "n1", "n2"]
    assert not broker.violations and not broker._attached


def test_a_detached_context_is_never_used_again():
    """SFCB's detachThread releases the context; a second attach-deliver-detach with it
    killed SFCB's provider process (SIGSEGV). The double reproduces that."""
    broker = cmpi.CMPIBroker()
    with broker._as_mb():
        ctx = broker.prepareAttachThread(mb_context(broker))

    def once():
        broker.attachThread(ctx)
        broker.detachThread(ctx)

    run_in_thread(once)
    with pytest.raises(cmpi.UseAfterFree):
        run_in_thread(once)
    assert "freed by detachThread" in broker.violations[-1]


def test_the_double_enforces_the_thread_rules():
    broker = cmpi.CMPIBroker()
    with pytest.raises(cmpi.CMPIException):  # prepareAttachThread outside an MI call
        IndicationSender(broker, mb_context(broker))
    broker.violations.clear()
    sender = make_sender(broker)

    def unattached():
        with broker._as_mb():
            ci = cmpi.CMPIInstance._make(broker.new_object_path(NS, "X"))
        broker.deliverIndication(sender.context, NS, ci)

    with pytest.raises(cmpi.CMPIException):
        run_in_thread(unattached)
    assert broker.violations and "neither running an MI call nor attached" in broker.violations[0]


def test_disabled_sender_drops_and_sfcb_gets_the_namespace():
    broker = cmpi.CMPIBroker(name="RequestHandler")  # SFCB's broker name
    sender = make_sender(broker)
    run_in_thread(lambda: sender.deliver(NS, indication()))  # an indication has no path
    assert sender.flush()
    assert broker.indications[0][1].objectpath().namespace() == NS
    sender.enabled = False
    assert sender.deliver(NS, indication()) is False
    assert len(broker.indications) == 1
    assert not broker.violations


def test_sfcb_double_refuses_an_indication_without_namespace():
    """SFCB 1.3.16's deliverIndication cannot find the class of a keyless instance
    without namespace and dies (SIGSEGV); the double fails such a call."""
    broker = cmpi.CMPIBroker(name="RequestHandler")
    with broker._as_mb():
        ci = broker.new_instance(broker.new_object_path(None, "VRM_TestIndication"), 1)
        with pytest.raises(cmpi.CMPIException):
            broker.deliverIndication(mb_context(broker), NS, ci)
    assert "without a namespace" in broker.violations[-1]


INDICATOR = """
    import pywbem
    from vrmgmt.cim import Provider

    EVENTS = []

    class Indicator(Provider):
        def authorize_filter(self, ctx, query, class_name, owner):
            EVENTS.append(("authorize", owner))
            return owner != "mallory"

        def activate_filter(self, ctx, query, class_name, first):
            EVENTS.append(("activate", query, class_name, first))
            sender = self.env.indications
            sender.start_thread(self.emit, ctx.namespace)

        def deactivate_filter(self, ctx, query, class_name, last):
            EVENTS.append(("deactivate", last))

        def enable_indications(self, ctx):
            EVENTS.append(("enable",))

        def disable_indications(self, ctx):
            EVENTS.append(("disable",))

        def emit(self, deliver, namespace):
            deliver(namespace, pywbem.CIMInstance(
                "VRM_TestIndication", properties={"Message": "state changed"}))

    def get_providers(env):
        return {"VRM_TestIndication": Indicator(env)}
"""


@pytest.fixture
def ind_mb(tmp_path, vrm_config):
    proj = tmp_path / "proj"
    (proj / "providers").mkdir(parents=True)
    (proj / "registration").mkdir()
    (proj / "providers" / "Indicator.py").write_text(textwrap.dedent(INDICATOR))
    reg = proj / "registration" / "vrmgmt.reg"
    reg.write_text(
        "[VRM_TestIndication]\n provider: Indicator\n location: py3CmpiProvider\n"
        " type: indication\n namespace: root/virt\n"
    )
    m = cmpi_mb.MiniMB(reg, proj / "providers", classes=kit.CLASSES)
    yield m
    assert not m.escaped and not m.broker.violations, (m.escaped, m.broker.violations)
    m.cleanup()


def test_indication_entry_points(ind_mb):
    m = ind_mb
    mi = m.mi(m._reg("VRM_TestIndication"), "indication")
    ctx = m.context()
    flt = cmpi.CMPISelectExp(m.broker, "SELECT * FROM VRM_TestIndication", "WQL")
    cp = m.path("VRM_TestIndication")

    assert mi.authorize_filter(ctx, flt, "VRM_TestIndication", cp, "alice").ok
    st = mi.authorize_filter(ctx, flt, "VRM_TestIndication", cp, "mallory")
    assert st.rc == cmpi.CMPI_RC_ERR_ACCESS_DENIED
    st = mi.must_poll(ctx, flt, "VRM_TestIndication", cp)
    assert st.rc == cmpi.CMPI_RC_ERR_NOT_SUPPORTED and "polling" in st.msg
    assert mi.enable_indications(ctx).ok
    assert mi.activate_filter(ctx, flt, "VRM_TestIndication", cp, True).ok
    deadline = time.monotonic() + 10
    while not m.broker.indications and time.monotonic() < deadline:
        time.sleep(0.01)
    ns, inst, _ = m.broker.indications[0]
    assert ns == NS and inst._as_dict() == {"Message": "state changed"}
    assert mi.deactivate_filter(ctx, flt, "VRM_TestIndication", cp, True).ok
    assert mi.disable_indications(ctx).ok

    events = next(
        mod for name, mod in sys.modules.items() if name.startswith("vrmgmt_providers.Indicator")
    ).EVENTS
    assert events == [
        ("authorize", "alice"),
        ("authorize", "mallory"),
        ("enable",),
        ("activate", "SELECT * FROM VRM_TestIndication", "VRM_TestIndication", True),
        ("deactivate", True),
        ("disable",),
    ]
    proxy = mi.instance
    assert proxy.indication_sender.enabled is False
    assert proxy.indication_sender.deliver(NS, indication()) is False


def test_filters_on_classes_without_indication_support(mb):
    mi = mb.mi(mb._reg("VRM_ComputerSystem"), "instance")
    flt = cmpi.CMPISelectExp(mb.broker, "SELECT * FROM VRM_ComputerSystem", "WQL")
    st = mi.activate_filter(
        mb.context(), flt, "VRM_ComputerSystem", mb.path("VRM_ComputerSystem"), True
    )
    assert st.rc == cmpi.CMPI_RC_ERR_NOT_SUPPORTED
    assert mi.enable_indications(mb.context()).ok  # nothing to enable: fine


# -- the real IndicationProvider: a filter activated, a VM changed through the method MI --
ALPHA = kit.VMS["alpha"][0]
VM_MODIFICATION = "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA VRM_ComputerSystem"


def _wait_for(broker, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ns, inst, _ctx in list(broker.indications):
            if pred(inst):
                return ns, inst
        time.sleep(0.02)
    raise AssertionError(f"no matching indication; got {broker.indications}")


def test_activated_lifecycle_provider_delivers_vm_state_changes(mb):
    reg = mb._reg("CIM_InstModification")
    assert reg is not None and reg.types == ("indication",)
    assert reg.provider == "IndicationProvider"
    mi = mb.mi(reg, "indication")
    ctx = mb.context("alice")
    flt = cmpi.CMPISelectExp(mb.broker, VM_MODIFICATION, "WQL")
    cp = mb.path("CIM_InstModification")
    assert mi.authorize_filter(ctx, flt, "CIM_InstModification", cp, "alice").ok
    assert mi.activate_filter(ctx, flt, "CIM_InstModification", cp, True).ok
    assert mi.enable_indications(ctx).ok
    assert mb.broker.indications == []  # nothing changed yet

    res = kit.ok(
        mb.invoke_method(
            kit.vm_path(mb, ALPHA),
            "RequestStateChange",
            mb.args([("RequestedState", 9, cmpi.CMPI_uint16)]),  # pause
        )
    )
    assert cmpi._plain(res.data[0]) == 0
    ns, ind = _wait_for(mb.broker, lambda i: i.objectpath().classname() == "CIM_InstModification")
    assert ns == kit.NS
    d = ind._as_dict()
    src, prev = d["SourceInstance"]._as_dict(), d["PreviousInstance"]._as_dict()
    assert src["Name"] == ALPHA and src["EnabledState"] == 9  # Quiesce: paused
    assert prev["Name"] == ALPHA and prev["EnabledState"] == 2
    assert "EnabledState" in d["ChangedPropertyNames"]
    assert d["SourceInstanceModelPath"].endswith(f'Name="{ALPHA}"')

    # a second activation (another filter) starts no second source: one indication per change
    flt2 = cmpi.CMPISelectExp(mb.broker, "SELECT * FROM CIM_InstCreation", "WQL")
    cp2 = mb.path("CIM_InstCreation")
    assert mi.activate_filter(ctx, flt2, "CIM_InstCreation", cp2, False).ok
    before = len(mb.broker.indications)
    kit.ok(
        mb.invoke_method(
            kit.vm_path(mb, ALPHA),
            "RequestStateChange",
            mb.args([("RequestedState", 2, cmpi.CMPI_uint16)]),  # resume
        )
    )
    _, ind = _wait_for(
        mb.broker, lambda i: i._as_dict()["SourceInstance"]._as_dict()["EnabledState"] == 2
    )
    time.sleep(0.3)
    assert len(mb.broker.indications) == before + 1

    # disabled: the CIMOM no longer wants them, nothing reaches the broker
    assert mi.disable_indications(ctx).ok
    kit.ok(
        mb.invoke_method(
            kit.vm_path(mb, ALPHA),
            "RequestStateChange",
            mb.args([("RequestedState", 9, cmpi.CMPI_uint16)]),
        )
    )
    time.sleep(0.5)
    assert len(mb.broker.indications) == before + 1


def test_activated_lifecycle_provider_delivers_job_completion(mb):
    """A job of the provider process that finishes: CIM_InstModification of the
    VRM_ConcreteJob, JobState Running (4) -> Completed (7)."""
    from vrmgmt.cim.methods import MethodCall
    from vrmgmt.cim.provider import ProviderContext
    from vrmgmt.classes.jobs import concrete_job
    from vrmgmt.classes.system import computer_system
    from vrmgmt.cmpi.proxy import process_env

    mi = mb.mi(mb._reg("CIM_InstModification"), "indication")
    ctx = mb.context()
    flt = cmpi.CMPISelectExp(
        mb.broker,
        "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA VRM_ConcreteJob",
        "WQL",
    )
    assert mi.activate_filter(
        ctx, flt, "CIM_InstModification", mb.path("CIM_InstModification"), True
    ).ok
    assert mi.enable_indications(ctx).ok

    env = process_env()
    vm = computer_system.path(ALPHA, kit.NS)
    call = MethodCall(env, ProviderContext(namespace=kit.NS), vm, "RequestStateChange")
    _, out = concrete_job.start(
        call, lambda progress: {"ok": True}, name="t", description="", affected=[vm]
    )
    job_id = out["Job"]["InstanceID"]
    _, ind = _wait_for(
        mb.broker,
        lambda i: i._as_dict()["SourceInstance"]._as_dict().get("InstanceID") == job_id,
    )
    d = ind._as_dict()
    assert ind.objectpath().classname() == "CIM_InstModification"
    assert d["SourceInstance"]._as_dict()["JobState"] == 7
    assert d["PreviousInstance"]._as_dict()["JobState"] == 4


def test_activated_lifecycle_provider_delivers_group_changes(mb):
    """A group created through the provider process's group service: CIM_InstCreation
    of the VRM_Group with the name given, delivered through the broker."""
    mi = mb.mi(mb._reg("CIM_InstCreation"), "indication")
    ctx = mb.context()
    flt = cmpi.CMPISelectExp(
        mb.broker, "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA VRM_Group", "WQL"
    )
    assert mi.activate_filter(ctx, flt, "CIM_InstCreation", mb.path("CIM_InstCreation"), True).ok
    assert mi.enable_indications(ctx).ok

    [svc] = kit.ok(mb.enumerate_instance_names("VRM_GroupManagementService")).paths
    res = kit.ok(
        mb.invoke_method(svc, "CreateGroup", mb.args([("GroupName", "fleet", cmpi.CMPI_string)]))
    )
    assert cmpi._plain(res.data[0]) == 0
    ns, ind = _wait_for(
        mb.broker,
        lambda i: (
            i.objectpath().classname() == "CIM_InstCreation"
            and i._as_dict()["SourceInstance"]._as_dict().get("ElementName") == "fleet"
        ),
    )
    assert ns == kit.NS
    assert ind._as_dict()["SourceInstance"].objectpath().classname() == "VRM_Group"


def test_sources_follow_a_reloaded_configuration(mb, vrm_config, tmp_path):
    """The configuration file changes while indications are enabled: the adapter builds
    a new environment (new backend connections) and starts the sources on it, since the
    CIMOM will not activate the filter again."""
    mi = mb.mi(mb._reg("CIM_InstModification"), "indication")
    ctx = mb.context()
    flt = cmpi.CMPISelectExp(mb.broker, VM_MODIFICATION, "WQL")
    cp = mb.path("CIM_InstModification")
    assert mi.activate_filter(ctx, flt, "CIM_InstModification", cp, True).ok
    assert mi.enable_indications(ctx).ok

    node = kit.write_node_xml(tmp_path / "node2.xml")  # a new node: alpha running again
    new = tmp_path / "vrmgmt2.toml"
    new.write_text(vrm_config.read_text().replace(str(tmp_path / "node.xml"), str(node)))
    os.replace(new, vrm_config)

    kit.ok(  # the first call after the change reloads; it pauses alpha on the new node
        mb.invoke_method(
            kit.vm_path(mb, ALPHA),
            "RequestStateChange",
            mb.args([("RequestedState", 9, cmpi.CMPI_uint16)]),
        )
    )
    _, ind = _wait_for(
        mb.broker, lambda i: i._as_dict()["SourceInstance"]._as_dict()["EnabledState"] == 9
    )
    assert ind._as_dict()["PreviousInstance"]._as_dict()["EnabledState"] == 2


@pytest.mark.qemu  # a libvirtd of the test's own (support.peer_libvirtd)
def test_activated_lifecycle_provider_delivers_host_lost_and_back(mb, vrm_config, tmp_path):
    """The provider process's backend is a libvirtd that stops and starts again: the
    CIMOM gets CIM_InstModification of the VRM_HostSystem, Lost Communication then OK."""
    from support.libvirtd import LibvirtdForTests
    from support.peer_libvirtd import PeerLibvirtd

    LibvirtdForTests.prepare_host()
    with PeerLibvirtd() as peer:
        new = tmp_path / "peer.toml"
        new.write_text(
            f'[paths]\nstate_dir = "{tmp_path / "state"}"\n'
            f'[[backends]]\nid = "peer"\ntype = "libvirt"\nuri = "{peer.uri}"\n'
        )
        os.replace(new, vrm_config)
        mi = mb.mi(mb._reg("CIM_InstModification"), "indication")
        ctx = mb.context()
        flt = cmpi.CMPISelectExp(
            mb.broker,
            "SELECT * FROM CIM_InstModification WHERE SourceInstance ISA VRM_HostSystem",
            "WQL",
        )
        cp = mb.path("CIM_InstModification")
        assert mi.activate_filter(ctx, flt, "CIM_InstModification", cp, True).ok
        assert mi.enable_indications(ctx).ok
        kit.ok(mb.enumerate_instance_names("VRM_HostSystem"))  # connected, watched
        time.sleep(1)

        def host_in(status: int):
            def pred(i) -> bool:
                d = i._as_dict()
                src = d["SourceInstance"]._as_dict()
                return src.get("Name") == "peer" and list(src["OperationalStatus"]) == [status]

            return pred

        peer.stop()
        _, ind = _wait_for(mb.broker, host_in(13), timeout=10)  # Lost Communication
        d = ind._as_dict()
        assert d["SourceInstance"]._as_dict()["CommunicationStatus"] == 3
        assert list(d["PreviousInstance"]._as_dict()["OperationalStatus"]) == [2]
        peer.start()
        _, ind = _wait_for(mb.broker, host_in(2), timeout=15)  # OK again
        assert ind._as_dict()["SourceInstance"]._as_dict()["CommunicationStatus"] == 2
