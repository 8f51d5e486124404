"""VSphereManager against a real vCenter simulator (govmomi's vcsim), no mocks.

The simulator is built from Debian's golang-github-vmware-govmomi-dev by
tests/support/vcsim.py (cached; 30-40 s the first time, then instant) and starts in
~0.03 s. The module skips only when `go` or the govmomi source is not installed.

vcsim (govmomi 0.24.2) limits what can be checked here; see the notes at the tests:
no RebootGuest, VMware Tools never running (main.go fakes it for one VM), deleting the
current snapshot when it is a root snapshot crashes the request, all VMs share one MAC,
and performance data are canned samples.

define_vm / modify_vm / undefine_vm (CreateVM_Task, ReconfigVM_Task, Destroy_Task) work
in vcsim 0.24.2, with these differences from a real vCenter, so the matching refusals of
real vSphere cannot be exercised here:

- vcsim lets two VMs in one folder share a name (vCenter: DuplicateName). define_vm
  checks the folder itself (SearchIndex.FindChild) first, so the test sees the error
  real vSphere would give.
- vcsim accepts any memory size (ESXi wants a multiple of 4 MiB), any static MAC
  (vCenter takes only 00:50:56:00:00:00-00:50:56:3f:ff:ff for addressType "manual"),
  and vCPU/memory changes of a powered-on VM without CPU/memory hot add.
- A NIC backing that names an unknown network makes vcsim panic in the request handler
  (the connection drops) after it has already applied the spec's memory size: the
  "unknown network" tests rely on the backend's own check, made before any change.
- vcsim labels new devices with govmomi's short names ("disk-202-0", "ethernet--7")
  unless the client gives labels; the backend gives vSphere's ("Hard disk 2", "Network
  adapter 1", "SCSI controller 0"), which ESXi would assign itself.
- vcsim derives a new VM's instanceUuid from its .vmx path (a VM re-defined under the
  same name gets the same UUID again; vCenter picks a random one) and its generated MACs
  from the BIOS UUID.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyVmomi import vim

from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim
from vrmgmt.backends import create_manager
from vrmgmt.backends.vsphere import Snapshot, VSphereManager
from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    InvalidSpec,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)
from vrmgmt.model import DiskSpec, NicSpec, PowerAction, PowerState, VMChange, VMSpec

pytestmark = pytest.mark.vcsim

HOSTS, VMS = 2, 4


@pytest.fixture(scope="module")
def vcsim_binary():
    try:
        return build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def sim(vcsim_binary):
    # the first VM by name (DC0_C0_RP0_VM0) reports VMware Tools running
    with Vcsim(hosts=HOSTS, vms=VMS, tools_running=1) as s:
        yield s


@pytest.fixture(scope="module")
def mgr(sim):
    m = create_manager("vc1", "vsphere", **sim.manager_options())
    assert isinstance(m, VSphereManager)
    m.connect()
    yield m
    m.close()


@pytest.fixture(scope="module")
def vms_by_name(mgr):
    return {vm.name: vm for vm in mgr.list_vms()}


def _vm(mgr, vms_by_name, index):
    name = sorted(vms_by_name)[index]
    vm = mgr.get_vm(vms_by_name[name].uuid)
    if vm.state is not PowerState.RUNNING:
        mgr.perform(vm.uuid, PowerAction.START)
        vm = mgr.get_vm(vm.uuid)
    return vm


def _small_sim(**kw):
    return Vcsim(hosts=1, vms=1, **kw)


# -- configuration -------------------------------------------------------------------
def test_unknown_option_is_a_config_error(sim):
    with pytest.raises(ConfigError, match="bogus.*uri|uri.*bogus") as info:
        create_manager("vc", "vsphere", **sim.manager_options(bogus=1, uri="x"))
    assert "bogus" in str(info.value) and "uri" in str(info.value)


@pytest.mark.parametrize(
    "override",
    [
        {"host": ""},
        {"port": "443"},
        {"timeout": 0},
        {"verify_tls": "yes"},
        {"ca_file": "/nonexistent/ca.pem"},
        {"username": None},
    ],
)
def test_bad_option_values(sim, override):
    with pytest.raises(ConfigError):
        create_manager("vc", "vsphere", **sim.manager_options(**override))


def test_repr_hides_credentials(sim, mgr):
    for text in (repr(mgr), str(mgr), repr(vars(mgr)) if hasattr(mgr, "__dict__") else ""):
        assert sim.password not in text
        assert sim.username not in text
    assert str(sim.port) in repr(mgr)


# -- host and VMs ----------------------------------------------------------------------
def test_host_facts(sim, mgr):
    h = mgr.host()
    assert h.backend_id == "vc1"
    assert h.hostname == "127.0.0.1"
    assert h.hypervisor_type == "VMware vCenter"  # vcsim's VPX model: apiType VirtualCenter
    assert h.hypervisor_version.startswith("6.")
    assert h.virtual_system_type == "VMware"
    assert h.cpu_model and h.cpu_mhz > 0
    assert h.cpu_count >= sim.expected_hosts  # summed over the cluster's hosts
    assert h.cpu_count % sim.expected_hosts == 0  # identical simulated hosts
    assert h.memory_total_kib > 0 and h.memory_total_kib % sim.expected_hosts == 0
    assert h.memory_free_kib is not None and 0 < h.memory_free_kib <= h.memory_total_kib
    assert h.uri == sim.url


def test_list_vms(sim, mgr):
    vms = mgr.list_vms()
    assert len(vms) == sim.expected_vms == VMS
    uuids = [vm.uuid for vm in vms]
    assert len(set(uuids)) == len(uuids)
    for vm in vms:
        assert vm.uuid == str(uuidlib.UUID(vm.uuid))  # canonical lower-case form
        assert vm.backend_id == "vc1"
        assert vm.virtual_system_type == "VMware"
        assert vm.name.startswith("DC0_C0_RP0_VM")
        assert vm.state in (PowerState.RUNNING, PowerState.OFF, PowerState.SUSPENDED)
        assert vm.vcpus >= 1 and vm.memory_kib > 0 and vm.max_memory_kib == vm.memory_kib
        disks = [d for d in vm.disks if d.kind == "disk"]
        assert len(disks) == 1
        assert disks[0].source.endswith(".vmdk") and disks[0].capacity_bytes > 0
        assert disks[0].bus == "scsi"
        assert len(vm.nics) == 1
        nic = vm.nics[0]
        assert nic.mac.count(":") == 5 and nic.mac == nic.mac.lower()
        assert nic.network == "DC0_DVPG0"  # DVS port group name resolved from its key
        assert nic.model == "e1000"
        if vm.state is PowerState.RUNNING:
            assert vm.uptime_s is not None and vm.uptime_s >= 0


def test_get_vm(mgr, vms_by_name):
    want = vms_by_name[sorted(vms_by_name)[0]]
    got = mgr.get_vm(want.uuid)
    assert (got.uuid, got.name) == (want.uuid, want.name)
    assert mgr.get_vm(want.uuid.upper()).uuid == want.uuid
    assert mgr.find_vm_by_name(want.name).uuid == want.uuid


@pytest.mark.parametrize("bad", [str(uuidlib.uuid4()), "not-a-uuid", ""])
def test_get_vm_unknown(mgr, bad):
    with pytest.raises(NotFound):
        mgr.get_vm(bad)
    with pytest.raises(NotFound):
        mgr.perform(bad, PowerAction.START)


def test_bulk_reads_are_single_round_trips(mgr, vms_by_name, monkeypatch):
    """list_vms is ONE PropertyCollector call, bulk_stats one more QueryPerf (white box:
    counts the SOAP requests the session's stub sends)."""
    mgr.list_vms(), mgr.host(), mgr.bulk_stats()  # warm the per-session caches
    stub = mgr._session.stub
    sent = []
    invoke = stub.InvokeMethod

    def counting(mo, info, args, *rest, **kw):
        sent.append(info.wsdlName)
        return invoke(mo, info, args, *rest, **kw)

    monkeypatch.setattr(stub, "InvokeMethod", counting)
    assert len(mgr.list_vms()) == VMS
    assert sent == ["RetrieveProperties"]
    sent.clear()
    mgr.host()
    assert sent == ["RetrieveProperties"]
    sent.clear()
    mgr.bulk_stats()
    assert sent == ["RetrieveProperties", "QueryPerf"]
    sent.clear()
    mgr.get_vm(next(iter(vms_by_name.values())).uuid)
    assert sent == ["FindByUuid", "RetrieveProperties"]


# -- power ---------------------------------------------------------------------------
def test_power_cycle(mgr, vms_by_name):
    vm = _vm(mgr, vms_by_name, 1)
    assert mgr.possible_actions(vm) == {
        PowerAction.POWER_OFF,
        PowerAction.SAVE,
        PowerAction.RESET,
    }  # no tools: no guest actions

    mgr.perform(vm.uuid, PowerAction.POWER_OFF)
    vm = mgr.get_vm(vm.uuid)
    assert vm.state is PowerState.OFF and vm.uptime_s is None
    assert mgr.possible_actions(vm) == {PowerAction.START}

    mgr.perform(vm.uuid, PowerAction.START)
    vm = mgr.get_vm(vm.uuid)
    assert vm.state is PowerState.RUNNING

    mgr.perform(vm.uuid, PowerAction.SAVE)
    vm = mgr.get_vm(vm.uuid)
    assert vm.state is PowerState.SUSPENDED
    assert mgr.possible_actions(vm) == {
        PowerAction.START,
        PowerAction.RESUME,
        PowerAction.POWER_OFF,
    }

    mgr.perform(vm.uuid, PowerAction.RESUME)  # = power on from suspended
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING

    mgr.perform(vm.uuid, PowerAction.SAVE)
    mgr.perform(vm.uuid, PowerAction.START)
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING

    mgr.perform(vm.uuid, PowerAction.RESET)
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING


def test_invalid_transitions(mgr, vms_by_name):
    vm = _vm(mgr, vms_by_name, 2)
    with pytest.raises(InvalidStateTransition, match="running"):
        mgr.perform(vm.uuid, PowerAction.START)
    mgr.perform(vm.uuid, PowerAction.POWER_OFF)
    try:
        for action in (
            PowerAction.SAVE,
            PowerAction.POWER_OFF,
            PowerAction.RESET,
            PowerAction.SHUTDOWN,
            PowerAction.RESUME,
        ):
            with pytest.raises(InvalidStateTransition, match="state off"):
                mgr.perform(vm.uuid, action)
        assert mgr.get_vm(vm.uuid).state is PowerState.OFF
    finally:
        mgr.perform(vm.uuid, PowerAction.START)


def test_pause_is_not_supported(mgr, vms_by_name):
    vm = _vm(mgr, vms_by_name, 2)
    assert PowerAction.PAUSE not in mgr.supported_actions()
    assert PowerAction.PAUSE not in mgr.possible_actions(vm)
    with pytest.raises(NotSupported, match="pause"):
        mgr.perform(vm.uuid, PowerAction.PAUSE)
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING


def test_guest_actions_need_tools(mgr, vms_by_name):
    no_tools = _vm(mgr, vms_by_name, 3)
    for action in (PowerAction.SHUTDOWN, PowerAction.REBOOT):
        assert action not in mgr.possible_actions(no_tools)
        with pytest.raises(InvalidStateTransition, match="VMware Tools are not running"):
            mgr.perform(no_tools.uuid, action)

    tools = _vm(mgr, vms_by_name, 0)  # main.go marks this one's Tools running
    assert {PowerAction.SHUTDOWN, PowerAction.REBOOT} <= mgr.possible_actions(tools)
    try:
        mgr.perform(tools.uuid, PowerAction.REBOOT)
    except NotSupported as exc:
        # vcsim 0.24.2 does not implement RebootGuest (real vSphere does)
        assert "RebootGuest" in str(exc)
    mgr.perform(tools.uuid, PowerAction.SHUTDOWN)  # vcsim powers off at once
    assert mgr.get_vm(tools.uuid).state is PowerState.OFF
    mgr.perform(tools.uuid, PowerAction.START)


def test_possible_actions_match_what_perform_accepts(mgr, vms_by_name):
    vm = _vm(mgr, vms_by_name, 2)  # no VMware Tools
    try:
        for enter in (None, PowerAction.SAVE, PowerAction.POWER_OFF):  # running, suspended, off
            if enter:
                mgr.perform(vm.uuid, enter)
            vm = mgr.get_vm(vm.uuid)
            refused = mgr.supported_actions() - mgr.possible_actions(vm)
            assert refused
            for action in refused:  # whatever possible_actions leaves out, perform refuses
                with pytest.raises(InvalidStateTransition):
                    mgr.perform(vm.uuid, action)
            assert mgr.get_vm(vm.uuid).state is vm.state
    finally:
        mgr.perform(vm.uuid, PowerAction.START)


# -- snapshots -------------------------------------------------------------------------
def _ids(tree):
    for s in tree:
        yield s.id
        yield from _ids(s.children)


def test_snapshots(mgr, vms_by_name):
    vm = _vm(mgr, vms_by_name, 3)
    assert mgr.list_snapshots(vm.uuid) == []
    before = time.time()
    a = mgr.create_snapshot(vm.uuid, "base", "first snapshot")
    b = mgr.create_snapshot(vm.uuid, "child", "on top of base")
    assert a != b

    tree = mgr.list_snapshots(vm.uuid)
    assert len(tree) == 1 and isinstance(tree[0], Snapshot)
    root = tree[0]
    assert (root.id, root.name, root.description) == (a, "base", "first snapshot")
    assert root.state is PowerState.RUNNING and not root.current
    assert root.created.tzinfo is not None and root.created.timestamp() >= before - 5
    assert [c.id for c in root.children] == [b]
    assert root.children[0].current and root.children[0].children == []

    mgr.revert_snapshot(vm.uuid, a)
    root = mgr.list_snapshots(vm.uuid)[0]
    assert root.current and not root.children[0].current

    mgr.delete_snapshot(vm.uuid, b)
    assert list(_ids(mgr.list_snapshots(vm.uuid))) == [a]

    with pytest.raises(NotFound):
        mgr.revert_snapshot(vm.uuid, b)
    with pytest.raises(NotFound):
        mgr.delete_snapshot(vm.uuid, "snapshot-999999")

    # (vcsim 0.24.2 crashes the request when deleting the current *root* snapshot, so
    # the tree is removed from its root while a child is current)
    c = mgr.create_snapshot(vm.uuid, "again", memory=True)
    assert list(_ids(mgr.list_snapshots(vm.uuid))) == [a, c]
    mgr.delete_snapshot(vm.uuid, a, remove_children=True)
    assert mgr.list_snapshots(vm.uuid) == []


def test_snapshot_of_unknown_vm(mgr):
    with pytest.raises(NotFound):
        mgr.create_snapshot(str(uuidlib.uuid4()), "x")
    with pytest.raises(NotFound):
        mgr.list_snapshots(str(uuidlib.uuid4()))


# -- statistics ------------------------------------------------------------------------
def test_bulk_stats(mgr, vms_by_name):
    vms = mgr.list_vms()
    stats = mgr.bulk_stats()
    assert set(stats) == {vm.uuid for vm in vms}
    for vm in vms:
        if vm.state is PowerState.RUNNING:
            # vcsim serves canned samples for these counters
            assert {"cpu.usage.average", "mem.consumed.average"} <= set(stats[vm.uuid])
            assert all(isinstance(v, float) and v >= 0 for v in stats[vm.uuid].values())
            assert stats[vm.uuid]["cpu.usage.average"] <= 100 * vm.vcpus
        else:
            assert stats[vm.uuid] == {}

    some = [vms[0].uuid.upper(), vms[1].uuid, str(uuidlib.uuid4())]
    assert set(mgr.bulk_stats(some)) == {vms[0].uuid, vms[1].uuid}

    off = _vm(mgr, vms_by_name, 2)
    mgr.perform(off.uuid, PowerAction.POWER_OFF)
    try:
        assert mgr.bulk_stats([off.uuid]) == {off.uuid: {}}  # no realtime stats when off
    finally:
        mgr.perform(off.uuid, PowerAction.START)


# -- define / modify / undefine ----------------------------------------------------------
GIB = 1 << 30
NEW_VM = {
    "name": "vrm-new",
    "vcpus": 2,
    "memory_mib": 256,
    "disks": [{"capacity_bytes": GIB}],
    "nics": [{"network": "DC0_DVPG0"}],  # the simulator's distributed port group
}


def _spec(**change) -> VMSpec:
    """NEW_VM with some fields changed, as a VMSpec."""
    return VMSpec.from_mapping({**NEW_VM, **change})


ADD_DISK_AND_NIC = VMChange(
    add_disks=[DiskSpec(capacity_bytes=GIB)], add_nics=[NicSpec(network="DC0_DVPG0")]
)
MAC_RE = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")


@pytest.fixture
def created(mgr):
    """UUIDs of VMs a test defines: whatever is left is powered off and undefined after
    the test, so the module's other tests keep seeing the simulator's own VMs only."""
    uuids: list[str] = []
    yield uuids
    for u in uuids:
        try:
            vm = mgr.get_vm(u)
        except NotFound:
            continue
        if vm.state is PowerState.RUNNING:
            mgr.perform(u, PowerAction.POWER_OFF)
        mgr.undefine_vm(u)


def _define(mgr, created, spec):
    vm = mgr.define_vm(spec if isinstance(spec, VMSpec) else VMSpec.from_mapping(spec))
    created.append(vm.uuid)
    return vm


def _vm_ref(mgr, uuid):
    """White box: the pyVmomi object of a VM, to check what the facts do not show."""
    return mgr._session.content.searchIndex.FindByUuid(None, uuid, True, True)


def _local_file(mgr, datastore_path):
    """Where the simulator keeps "[datastore] dir/file" on the local disk."""
    ds_name, rel = re.fullmatch(r"\[([^\]]+)\] (.+)", datastore_path).groups()
    view = mgr._session.view(vim.Datastore)
    url = next(ds.info.url for ds in view.view if ds.name == ds_name)
    return os.path.join(url, rel)


def test_define_vm(mgr, created):
    before = {vm.uuid for vm in mgr.list_vms()}
    vm = _define(mgr, created, NEW_VM)
    assert vm.uuid == str(uuidlib.UUID(vm.uuid)) and vm.uuid not in before
    assert (vm.name, vm.state, vm.vcpus) == ("vrm-new", PowerState.OFF, 2)
    assert vm.memory_kib == vm.max_memory_kib == 256 * 1024
    assert (vm.virtual_system_type, vm.os_type) == ("VMware", "otherGuest64")
    assert [(d.device, d.kind, d.bus, d.capacity_bytes) for d in vm.disks] == [
        ("Hard disk 1", "disk", "scsi", GIB)
    ]
    assert vm.disks[0].source == "[LocalDS_0] vrm-new/vrm-new.vmdk"  # in the VM's directory
    assert os.path.exists(_local_file(mgr, vm.disks[0].source))
    [nic] = vm.nics
    assert (nic.device, nic.network, nic.model) == ("Network adapter 1", "DC0_DVPG0", "vmxnet3")
    assert MAC_RE.fullmatch(nic.mac)  # generated by vSphere
    assert {v.uuid: v for v in mgr.list_vms()}[vm.uuid] == vm  # listed, same facts
    assert mgr.get_vm(vm.uuid) == vm
    assert mgr.find_vm_by_name("vrm-new").uuid == vm.uuid
    assert mgr.possible_actions(vm) == {PowerAction.START}

    # the defaults: first datacenter's VM folder, first cluster's root pool, its datastore,
    # a paravirtual SCSI controller for the disk
    ref = _vm_ref(mgr, vm.uuid)
    assert ref.parent.name == "vm" and ref.parent.parent.name == "DC0"
    assert ref.resourcePool.owner.name == "DC0_C0"
    assert ref.config.files.vmPathName == "[LocalDS_0] vrm-new/vrm-new.vmx"
    [ctrl] = [
        d for d in ref.config.hardware.device if isinstance(d, vim.vm.device.VirtualSCSIController)
    ]
    assert isinstance(ctrl, vim.vm.device.ParaVirtualSCSIController)
    assert ctrl.deviceInfo.label == "SCSI controller 0" and ctrl.busNumber == 0

    mgr.perform(vm.uuid, PowerAction.START)  # a real VM: it powers on
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING


def test_define_vm_with_choices(mgr, created):
    u = "6a1e0b6e-5d2c-4e8f-9a01-00000000beef"
    vm = _define(
        mgr,
        created,
        {
            "name": "vrm-choices",
            "memory_mib": 64,
            "uuid": u.upper(),
            "description": "made by a test",
            "guest_id": "ubuntu64Guest",
            "datacenter": "DC0",
            "folder": "vm",
            "resource_pool": "DC0_C0",  # a cluster stands for its root pool
            "datastore": "LocalDS_0",
            "scsi_controller": "lsilogic",
            "disks": [
                {"capacity_bytes": GIB, "provisioning": "thick"},
                {"capacity_bytes": 2 * GIB, "source": "[LocalDS_0]"},
            ],
            "nics": [
                {"network": "VM Network", "mac": "00:50:56:3F:00:01", "model": "e1000e"},
                {"network": "DC0_DVPG0"},
            ],
        },
    )
    assert (vm.uuid, vm.vcpus, vm.os_type) == (u, 1, "ubuntu64Guest")  # uuid = instanceUuid
    assert [(d.device, d.capacity_bytes) for d in vm.disks] == [
        ("Hard disk 1", GIB),
        ("Hard disk 2", 2 * GIB),
    ]
    assert [(n.device, n.network, n.model) for n in vm.nics] == [
        ("Network adapter 1", "VM Network", "e1000e"),  # a standard port group
        ("Network adapter 2", "DC0_DVPG0", "vmxnet3"),
    ]
    assert vm.nics[0].mac == "00:50:56:3f:00:01" and vm.nics[1].mac != vm.nics[0].mac
    ref = _vm_ref(mgr, vm.uuid)
    assert ref.config.annotation == "made by a test"
    devices = ref.config.hardware.device
    assert len([d for d in devices if isinstance(d, vim.vm.device.VirtualLsiLogicController)]) == 1
    thin = [d.backing.thinProvisioned for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    assert thin == [False, True]
    [manual] = [d for d in devices if isinstance(d, vim.vm.device.VirtualE1000e)]
    assert manual.addressType == "manual"


def test_define_vm_unknown_network(sim, mgr):
    count = len(mgr.list_vms())
    spec = _spec(name="vrm-badnet", nics=[{"network": "no-such-net"}])
    with pytest.raises(BackendError) as info:
        mgr.define_vm(spec)
    text = str(info.value)
    assert "network 'no-such-net' does not exist on cluster 'DC0_C0'" in text
    assert "available: 'DC0_DVPG0'" in text and "'VM Network'" in text
    assert sim.password not in text
    assert len(mgr.list_vms()) == count  # nothing was created


# What vSphere refuses of a valid VMSpec, before creating anything (the spec's own
# validation is tested in tests/unit/test_specs.py).
BAD_SPECS = [
    ({"max_memory_mib": 512}, NotSupported, "one memory size"),
    ({"os_type": "exe"}, NotSupported, "os_type 'exe'"),
    ({"autostart": True}, NotSupported, "autostart"),
    (
        {"disks": [{"source": "vm/x.vmdk"}]},
        InvalidSpec,
        r"VMSpec.disks\[0\].source: .*'\[datastore1\]",
    ),
    ({"disks": [{"capacity_bytes": 1000}]}, InvalidSpec, r"disks\[0\].capacity_bytes: .*1024"),
    ({"disks": [{"capacity_bytes": GIB, "bus": "virtio"}]}, NotSupported, "bus 'virtio'"),
    ({"disks": [{"source": "[LocalDS_0] x.iso", "kind": "cdrom"}]}, NotSupported, "cdrom"),
    ({"nics": [{"bridge": "br0"}]}, NotSupported, "use 'network' instead of 'bridge'"),
    ({"nics": [{}]}, InvalidSpec, r"VMSpec.nics\[0\].network: vSphere NICs need a network"),
    ({"nics": [{"network": "VM Network", "model": "virtio"}]}, NotSupported, "vmxnet3"),
    ({"datacenter": "DC9"}, BackendError, r"datacenter 'DC9' .*available: 'DC0'"),
    ({"folder": "nowhere"}, BackendError, r"VM folder 'nowhere' .*available: 'vm'"),
    ({"resource_pool": "RP9"}, BackendError, r"'RP9' .*available: 'DC0_C0', 'Resources'"),
    ({"datastore": "DS9"}, BackendError, r"datastore 'DS9' .*available: 'LocalDS_0'"),
]


@pytest.mark.parametrize(
    "change, error, match", BAD_SPECS, ids=[next(iter(c)) for c, _, _ in BAD_SPECS]
)
def test_define_vm_bad_spec(sim, mgr, change, error, match):
    count = len(mgr.list_vms())
    with pytest.raises(error, match=match) as info:
        mgr.define_vm(_spec(name="vrm-bad", **change))
    assert sim.password not in str(info.value)
    assert len(mgr.list_vms()) == count  # refused before anything was created


def test_define_vm_name_taken(mgr, vms_by_name):
    taken = sorted(vms_by_name)[0]
    count = len(mgr.list_vms())
    with pytest.raises(BackendError, match="folder 'vm' .*already holds an object of that name"):
        mgr.define_vm(_spec(name=taken))
    assert len(mgr.list_vms()) == count


def test_modify_vm(mgr, created):
    vm = _define(mgr, created, dict(NEW_VM, name="vrm-modify"))
    first_mac = vm.nics[0].mac
    vm = mgr.modify_vm(
        vm.uuid,
        VMChange(
            vcpus=4,
            memory_mib=512,
            add_disks=[DiskSpec(capacity_bytes=2 * GIB)],
            add_nics=[NicSpec(network="VM Network", mac="00:50:56:3f:00:02")],
        ),
    )
    assert (vm.vcpus, vm.memory_kib, vm.max_memory_kib) == (4, 512 * 1024, 512 * 1024)
    assert vm.state is PowerState.OFF
    assert [(d.device, d.bus, d.capacity_bytes) for d in vm.disks] == [
        ("Hard disk 1", "scsi", GIB),
        ("Hard disk 2", "scsi", 2 * GIB),
    ]
    second = vm.disks[1].source
    assert second.startswith("[LocalDS_0] vrm-modify/") and second != vm.disks[0].source
    assert [(n.device, n.mac, n.network) for n in vm.nics] == [
        ("Network adapter 1", first_mac, "DC0_DVPG0"),
        ("Network adapter 2", "00:50:56:3f:00:02", "VM Network"),
    ]
    assert mgr.get_vm(vm.uuid) == vm
    devices = _vm_ref(mgr, vm.uuid).config.hardware.device
    controllers = [d for d in devices if isinstance(d, vim.vm.device.VirtualSCSIController)]
    assert len(controllers) == 1  # the new disk went on the controller define_vm added

    # remove by MAC (any case) and by label: the disk is detached, its file stays
    vm = mgr.modify_vm(
        vm.uuid, VMChange(remove_nics=[first_mac.upper()], remove_disks=["Hard disk 2"])
    )
    assert [n.mac for n in vm.nics] == ["00:50:56:3f:00:02"]
    assert [d.device for d in vm.disks] == ["Hard disk 1"]
    assert os.path.exists(_local_file(mgr, second))

    # remove by backing file, deleting it (fileOperation destroy); NIC by MAC in upper case
    vm = mgr.modify_vm(vm.uuid, ADD_DISK_AND_NIC)
    third = vm.disks[-1].source
    assert os.path.exists(_local_file(mgr, third))
    vm = mgr.modify_vm(
        vm.uuid,
        VMChange(
            vcpus=1,
            memory_mib=128,
            remove_disks=[third],
            destroy_removed_disks=True,
            remove_nics=["00:50:56:3F:00:02"],
        ),
    )
    assert (vm.vcpus, vm.memory_kib) == (1, 128 * 1024)
    assert [d.device for d in vm.disks] == ["Hard disk 1"]
    assert [n.network for n in vm.nics] == ["DC0_DVPG0"]
    assert not os.path.exists(_local_file(mgr, third))
    assert mgr.modify_vm(vm.uuid, VMChange()) == vm  # nothing asked, nothing changed


def test_modify_running_vm(mgr, created):
    """vSphere hot-adds devices to a running VM (vcsim also takes vCPU/memory changes
    that real vSphere refuses without CPU/memory hot add)."""
    vm = _define(mgr, created, VMSpec("vrm-hot", 64))
    mgr.perform(vm.uuid, PowerAction.START)
    vm = mgr.modify_vm(vm.uuid, ADD_DISK_AND_NIC)
    assert vm.state is PowerState.RUNNING
    assert [d.device for d in vm.disks] == ["Hard disk 1"]
    assert [n.network for n in vm.nics] == ["DC0_DVPG0"]
    [nic] = [
        d
        for d in _vm_ref(mgr, vm.uuid).config.hardware.device
        if isinstance(d, vim.vm.device.VirtualEthernetCard)
    ]
    assert nic.connectable.connected and nic.connectable.startConnected


def test_modify_vm_errors(sim, mgr, created):
    vm = _define(mgr, created, VMSpec("vrm-modify-errors", 64))
    u = vm.uuid
    with pytest.raises(NotFound, match="no disk 'Hard disk 9'"):
        mgr.modify_vm(u, VMChange(remove_disks=["Hard disk 9"]))
    with pytest.raises(NotFound, match="no NIC '00:50:56:3f:00:99'"):
        mgr.modify_vm(u, VMChange(remove_nics=["00:50:56:3f:00:99"]))
    with pytest.raises(InvalidSpec, match=r"VMChange.add_disks\[0\].capacity_bytes: .*1024"):
        mgr.modify_vm(u, VMChange(add_disks=[DiskSpec(capacity_bytes=1000)]))
    with pytest.raises(InvalidSpec, match="a VMChange is required, got dict"):
        mgr.modify_vm(u, {"vcpus": 2})
    with pytest.raises(BackendError, match=r"'no-such-net' does not exist.*'DC0_DVPG0'"):
        mgr.modify_vm(u, VMChange(add_nics=[NicSpec(network="no-such-net")]))
    with pytest.raises(NotFound):
        mgr.modify_vm(str(uuidlib.uuid4()), VMChange(vcpus=1))
    # a task that fails on the server: its reason is passed on
    with pytest.raises(BackendError, match="modify VM 'vrm-modify-errors' failed: FileNotFound"):
        mgr.modify_vm(u, VMChange(add_disks=[DiskSpec(source="[LocalDS_0] nowhere/missing.vmdk")]))
    assert mgr.get_vm(u) == vm  # nothing changed

    # a VM without disks gets a controller (of the asked type) with its first disk
    vm = mgr.modify_vm(
        u,
        VMChange(add_disks=[DiskSpec(capacity_bytes=GIB)], scsi_controller="lsilogic-sas"),
    )
    assert [(d.device, d.bus) for d in vm.disks] == [("Hard disk 1", "scsi")]
    devices = _vm_ref(mgr, u).config.hardware.device
    assert any(isinstance(d, vim.vm.device.VirtualLsiLogicSASController) for d in devices)


def test_undefine_vm(mgr, created):
    vm = _define(mgr, created, dict(NEW_VM, name="vrm-undefine"))
    vmx = _local_file(mgr, _vm_ref(mgr, vm.uuid).config.files.vmPathName)
    assert os.path.exists(vmx)
    count = len(mgr.list_vms())
    mgr.undefine_vm(vm.uuid.upper())
    with pytest.raises(NotFound):
        mgr.get_vm(vm.uuid)
    assert vm.uuid not in {v.uuid for v in mgr.list_vms()}
    assert len(mgr.list_vms()) == count - 1
    assert not os.path.exists(vmx)  # Destroy_Task deletes the VM's files too
    with pytest.raises(NotFound):
        mgr.undefine_vm(vm.uuid)
    with pytest.raises(NotFound):
        mgr.perform(vm.uuid, PowerAction.START)
    again = _define(mgr, created, dict(NEW_VM, name="vrm-undefine"))  # the name is free
    assert again.state is PowerState.OFF


def test_undefine_running_vm_is_refused(mgr, created):
    vm = _define(mgr, created, dict(NEW_VM, name="vrm-running"))
    mgr.perform(vm.uuid, PowerAction.START)
    with pytest.raises(InvalidStateTransition, match="powered on.*power it off first"):
        mgr.undefine_vm(vm.uuid)
    assert mgr.get_vm(vm.uuid).state is PowerState.RUNNING  # untouched
    mgr.perform(vm.uuid, PowerAction.SAVE)
    mgr.undefine_vm(vm.uuid)  # a suspended VM may be deleted
    with pytest.raises(NotFound):
        mgr.get_vm(vm.uuid)


def test_define_modify_undefine_on_standalone_esxi(vcsim_binary):
    with Vcsim(esx=True, vms=1) as s:
        m = create_manager("esx-def", "vsphere", **s.manager_options())
        vm = m.define_vm(_spec(name="vrm-esx", nics=[{"network": "VM Network"}]))
        assert (vm.vcpus, vm.memory_kib, vm.state) == (2, 256 * 1024, PowerState.OFF)
        assert [n.network for n in vm.nics] == ["VM Network"]
        with pytest.raises(BackendError, match=r"available: 'VM Network'\)"):
            m.modify_vm(vm.uuid, VMChange(add_nics=[NicSpec(network="DC0_DVPG0")]))  # no DVS
        vm = m.modify_vm(vm.uuid, VMChange(add_disks=[DiskSpec(capacity_bytes=GIB)]))
        assert [d.device for d in vm.disks] == ["Hard disk 1", "Hard disk 2"]
        assert len(m.list_vms()) == 2
        m.undefine_vm(vm.uuid)
        assert len(m.list_vms()) == 1
        m.close()


# -- login, TLS, outages -----------------------------------------------------------------
def test_wrong_password(sim):
    secret = "Wr0ng-" + uuidlib.uuid4().hex
    m = create_manager("vc-bad", "vsphere", **sim.manager_options(password=secret))
    with pytest.raises(BackendUnavailable) as info:
        m.connect()
    exc = info.value
    assert exc.backend_id == "vc-bad"
    assert "login refused" in str(exc) and "user name or password" in str(exc)
    chain = [exc, exc.__cause__, exc.__context__]
    for text in [str(e) for e in chain if e] + [repr(exc), repr(m)]:
        assert secret not in text
    with pytest.raises(BackendUnavailable, match="login refused"):
        m.list_vms()  # lazy connect from a call says the same


def test_tls_verification(sim):
    strict = create_manager("vc-tls", "vsphere", **sim.manager_options(ca_file=None))
    with pytest.raises(BackendUnavailable, match="certificate verification failed"):
        strict.connect()
    lax = create_manager("vc-lax", "vsphere", **sim.manager_options(ca_file=None, verify_tls=False))
    assert len(lax.list_vms()) == sim.expected_vms
    lax.close()


def test_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    m = VSphereManager(
        "vc-none", host="127.0.0.1", port=port, username="u", password="p", timeout=2
    )
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="connection refused"):
        m.host()
    assert time.monotonic() - started < 2


def test_backend_goes_down_and_comes_back(vcsim_binary, caplog):
    timeout = 2.0
    with _small_sim() as s:
        m = create_manager("vc-flaky", "vsphere", **s.manager_options(timeout=timeout))
        assert len(m.list_vms()) == 1
        port = s.port

        s.stop()
        for call in (m.list_vms, m.host, lambda: m.get_vm(str(uuidlib.uuid4()))):
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as info:
                call()
            assert time.monotonic() - started < timeout  # refused at once: no hang
            assert s.password not in str(info.value)

        s.start()  # same port, fresh simulator: the old session is unknown there
        assert s.port == port
        with caplog.at_level(logging.INFO, logger="vrmgmt.backends.vsphere"):
            vms = m.list_vms()
        assert len(vms) == 1
        assert any("logged in" in r.getMessage() for r in caplog.records)
        m.close()


def test_hung_backend_times_out(vcsim_binary):
    timeout = 1.5
    with _small_sim() as s:
        m = create_manager("vc-hung", "vsphere", **s.manager_options(timeout=timeout))
        assert len(m.list_vms()) == 1
        s.freeze()  # port open, process stopped: connections are accepted, never answered
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="no answer within"):
                m.list_vms()
            elapsed = time.monotonic() - started
            assert timeout * 0.8 < elapsed < timeout + 1.5  # one timeout, no retry

            fresh = create_manager("vc-hung2", "vsphere", **s.manager_options(timeout=timeout))
            started = time.monotonic()
            with pytest.raises(BackendUnavailable, match="no answer within"):
                fresh.connect()  # the API version probe is bounded too
            assert time.monotonic() - started < timeout + 1.5
        finally:
            s.thaw()
        assert len(m.list_vms()) == 1  # same session, works again


def test_threads_share_one_relogin(vcsim_binary, caplog):
    with _small_sim() as s:
        m = create_manager("vc-mt", "vsphere", **s.manager_options())
        uuid = m.list_vms()[0].uuid
        s.stop()
        s.start()  # every thread now meets an unknown session

        barrier = threading.Barrier(8)

        def work(i):
            barrier.wait()
            if i % 3 == 0:
                return m.host().backend_id
            if i % 3 == 1:
                return m.get_vm(uuid).uuid
            return len(m.list_vms())

        with (
            caplog.at_level(logging.INFO, logger="vrmgmt.backends.vsphere"),
            ThreadPoolExecutor(8) as pool,
        ):
            results = list(pool.map(work, range(8)))
        assert results.count(uuid) == 3 and results.count(1) == 2
        logins = [r for r in caplog.records if "logged in" in r.getMessage()]
        assert len(logins) == 1  # one re-login, shared by all threads
        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(lambda _: len(m.list_vms()) == 1, range(32)))
        m.close()


def test_hung_backend_does_not_queue_logins(vcsim_binary):
    """Threads waiting behind a login that timed out fail at once, not one timeout each."""
    timeout = 1.0
    with _small_sim() as s:
        m = create_manager("vc-hung3", "vsphere", **s.manager_options(timeout=timeout))
        s.freeze()
        try:
            barrier = threading.Barrier(6)

            def attempt(_):
                barrier.wait()
                started = time.monotonic()
                with pytest.raises(BackendUnavailable, match="no answer within"):
                    m.list_vms()
                return time.monotonic() - started

            with ThreadPoolExecutor(6) as pool:
                elapsed = list(pool.map(attempt, range(6)))
            assert max(elapsed) < timeout + 0.8  # one login timeout for all six
        finally:
            s.thaw()
        assert len(m.list_vms()) == 1  # the next call logs in normally


def test_standalone_esxi(vcsim_binary):
    with Vcsim(esx=True, vms=2) as s:
        m = create_manager("esx1", "vsphere", **s.manager_options())
        h = m.host()
        assert h.hypervisor_type == "VMware ESX"
        assert h.cpu_count > 0 and h.memory_total_kib > 0
        vms = m.list_vms()
        assert len(vms) == s.expected_vms == 2
        for vm in vms:
            assert vm.nics and vm.nics[0].network == "VM Network"  # standard port group
            assert m.get_vm(vm.uuid).name == vm.name
        assert set(m.bulk_stats()) == {vm.uuid for vm in vms}
        m.close()


def test_features_and_slow_actions(mgr):
    from vrmgmt.backends.base import Feature

    assert mgr.features() == {
        Feature.DEFINE,
        Feature.MODIFY,
        Feature.UNDEFINE,
        Feature.SNAPSHOTS,
        Feature.METRICS_SOURCE,
        Feature.GUEST_AGENT,
        Feature.SUSPEND,
        Feature.HOST_POWER,  # host_power: maintenance mode + RebootHost_Task
        Feature.POOLS,  # list_pools: datastores and networks
        Feature.MIGRATION,  # migrate_vm: RelocateVM_Task between the vCenter's ESXi hosts
    }  # no PAUSE (vSphere cannot pause)
    slow = {a for a in PowerAction if mgr.is_slow(a)}
    assert slow == {
        PowerAction.START,
        PowerAction.RESUME,
        PowerAction.POWER_OFF,
        PowerAction.SAVE,
        PowerAction.RESET,
    }  # every task; ShutdownGuest / RebootGuest return at once


def test_close_cancels_the_update_wait_at_once(sim):
    """A manager that follows its VMs (WaitForUpdatesEx with maxWaitSeconds half the
    timeout) closes at once: the running wait is cancelled and the thread has ended, so
    no long poll is left holding a connection to the vCenter."""
    m = create_manager("vc-close", "vsphere", **{**sim.manager_options(), "timeout": 30})
    m.connect()
    assert m.watch(lambda event: None)
    deadline = time.monotonic() + 10
    while m._events_col is None and time.monotonic() < deadline:  # the wait is running
        time.sleep(0.05)
    assert m._events_col is not None
    thread = m._events_thread
    time.sleep(0.3)
    t0 = time.monotonic()
    m.close()
    took = time.monotonic() - t0
    assert not thread.is_alive()
    assert took < 2.0, f"close took {took:.1f} s (the wait's bound is 15 s)"
