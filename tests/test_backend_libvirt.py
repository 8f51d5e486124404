"""LibvirtManager against libvirt's test driver (test:///<tmp>/node.xml).

Each test writes its own node file: the test driver keeps state per connection, so
tests never see each other's changes.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import UTC, datetime

import libvirt
import pytest

from support.testdriver import node_uri, write_node_xml
from vrmgmt.backends import create_manager
from vrmgmt.backends import libvirt as lv
from vrmgmt.backends.base import DEFAULT_TRANSITIONS, Feature
from vrmgmt.backends.libvirt import LibvirtManager, build_domain_xml, virtual_system_type
from vrmgmt.backends.libvirt import connection as lv_connection
from vrmgmt.backends.libvirt import manager as lv_manager
from vrmgmt.backends.libvirt import stats as lv_stats
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

A = PowerAction

# The default node: 6 domains; i even runs (every 3rd running one paused), i odd is shut
# off (every 3rd shut-off one has a managed save image).
EXPECTED_STATES = {
    "vm00000": PowerState.RUNNING,
    "vm00001": PowerState.OFF,
    "vm00002": PowerState.RUNNING,
    "vm00003": PowerState.OFF,
    "vm00004": PowerState.PAUSED,
    "vm00005": PowerState.SUSPENDED,
}


@pytest.fixture
def node(tmp_path):
    path = tmp_path / "node.xml"
    doms = write_node_xml(path, 6, running_every=2, paused_every=3, saved_every=3, seed=7)
    return node_uri(path), dict(doms)


@pytest.fixture
def mgr(node):
    m = LibvirtManager("test", node[0])
    yield m
    m.close()


@pytest.fixture
def uuids(node):
    return node[1]


def _state(mgr, uuid):
    return mgr.get_vm(uuid).state


# -- host ---------------------------------------------------------------------------------
def test_host_facts(mgr, node):
    host = mgr.host()
    assert host.backend_id == "test"
    assert host.hypervisor_type == "TEST"
    assert host.virtual_system_type == "Test"
    assert host.cpu_count == 1 * 2 * 4 * 2  # nodes * sockets * cores * threads
    assert host.cpu_mhz == 2400
    assert host.cpu_model == "x86_64"
    assert host.memory_total_kib == 64 * 1024 * 1024
    assert host.uri == node[0]
    assert host.hypervisor_version.count(".") == 2
    assert host.hostname


def test_node_file_host_options(tmp_path):
    path = tmp_path / "n.xml"
    write_node_xml(path, 0, cpus=(2, 1, 2, 1), cpu_mhz=1800, cpu_model="EPYC", memory_kib=8388608)
    host = LibvirtManager("h", node_uri(path)).host()
    assert (host.cpu_count, host.cpu_mhz, host.cpu_model) == (4, 1800, "EPYC")
    assert host.memory_total_kib == 8388608


# -- listing --------------------------------------------------------------------------------
def test_list_vms_states_and_facts(mgr, uuids):
    vms = {vm.name: vm for vm in mgr.list_vms()}
    assert {n: vm.state for n, vm in vms.items()} == EXPECTED_STATES
    for name, vm in vms.items():
        assert vm.uuid == uuids[name]
        assert vm.backend_id == "test"
        assert vm.virtual_system_type == "Test"
        assert vm.persistent is True
        assert vm.autostart is False
        assert vm.vcpus >= 1 and vm.memory_kib >= 262144 and vm.max_memory_kib >= vm.memory_kib
        assert vm.uptime_s is None  # only local QEMU has it


def test_list_1000_vms_unique_uuids(tmp_path):
    path = tmp_path / "big.xml"
    doms = write_node_xml(path, 1000, running_every=3, seed=11)
    m = LibvirtManager("big", node_uri(path))
    vms = m.list_vms()
    assert len(vms) == 1000
    assert len({vm.uuid for vm in vms}) == 1000
    assert {(vm.name, vm.uuid) for vm in vms} == set(doms)
    running = sum(vm.state is PowerState.RUNNING for vm in vms)
    assert running == len(range(0, 1000, 3))


def test_write_node_xml_is_deterministic(tmp_path):
    a = write_node_xml(tmp_path / "a.xml", 50, seed=3)
    b = write_node_xml(tmp_path / "b.xml", 50, seed=3)
    c = write_node_xml(tmp_path / "c.xml", 50, seed=4, prefix="web")
    assert a == b
    assert {u for _, u in a}.isdisjoint({u for _, u in c})
    assert c[0][0] == "web00000"
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


@pytest.mark.slow
def test_list_10000_vms_fast(tmp_path):
    path = tmp_path / "huge.xml"
    t0 = time.perf_counter()
    write_node_xml(path, 10_000, running_every=2)
    t1 = time.perf_counter()
    m = LibvirtManager("huge", node_uri(path))
    m.connect()
    t2 = time.perf_counter()
    conn = m._conn
    conn.listAllDomains(0)  # warm up
    t3 = time.perf_counter()
    raw = [(d.UUIDString(), d.name(), d.info()) for d in conn.listAllDomains(0)]
    t4 = time.perf_counter()
    vms = m.list_vms()
    t5 = time.perf_counter()
    assert len(vms) == len(raw) == 10_000
    per_vm = (t5 - t4) / 10_000 * 1e6
    print(
        f"\nwrite {t1 - t0:.3f} s, open {t2 - t1:.3f} s, raw list+info "
        f"{(t4 - t3) / 10_000 * 1e6:.1f} us/VM, list_vms {per_vm:.1f} us/VM"
    )
    assert per_vm < 200  # measured ~10 us/VM; generous for loaded machines


# -- one VM ----------------------------------------------------------------------------------
def test_get_vm_with_devices(mgr, uuids):
    vm = mgr.get_vm(uuids["vm00002"])
    assert vm.name == "vm00002" and vm.state is PowerState.RUNNING
    assert vm.os_type == "hvm"
    assert len(vm.disks) == 1
    disk = vm.disks[0]
    assert (disk.device, disk.bus, disk.kind) == ("vda", "virtio", "disk")
    assert disk.source == "/var/lib/libvirt/images/vm00002.img"
    assert disk.capacity_bytes and disk.capacity_bytes > 0
    assert len(vm.nics) == 1
    nic = vm.nics[0]
    assert nic.mac.startswith("52:54:00:") and nic.mac == nic.mac.lower()
    assert (nic.network, nic.model) == ("default", "virtio")


def test_list_vms_with_devices_is_get_vm_of_each(mgr):
    """The one-pass listing the settings classes use gives what get_vm gives, per VM
    (devices, description, crash action included)."""
    listed = mgr.list_vms_with_devices()
    assert sorted(v.uuid for v in listed) == sorted(v.uuid for v in mgr.list_vms())

    def still(v):  # what does not move while a VM runs
        return dataclasses.replace(v, cpu_time_ns=None, uptime_s=None)

    for vm in listed:
        assert still(vm) == still(mgr.get_vm(vm.uuid)), vm.name
    assert any(vm.disks and vm.nics for vm in listed)


def test_get_vm_accepts_upper_case_uuid(mgr, uuids):
    assert mgr.get_vm(uuids["vm00001"].upper()).uuid == uuids["vm00001"]


@pytest.mark.parametrize(
    "bad", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", ""], ids=repr
)
def test_get_vm_unknown_uuid(mgr, bad):
    with pytest.raises(NotFound):
        mgr.get_vm(bad)


def test_find_vm_by_name(mgr, uuids):
    assert mgr.find_vm_by_name("vm00003").uuid == uuids["vm00003"]
    with pytest.raises(NotFound):
        mgr.find_vm_by_name("nope")


# -- power --------------------------------------------------------------------------------
def test_power_cycle_every_action(mgr, uuids):
    u = uuids["vm00000"]
    steps = [
        (A.PAUSE, PowerState.PAUSED),
        (A.RESUME, PowerState.RUNNING),
        (A.SAVE, PowerState.SUSPENDED),
        (A.START, PowerState.RUNNING),  # restores the managed save image
        (A.SHUTDOWN, PowerState.OFF),
        (A.START, PowerState.RUNNING),
        (A.REBOOT, PowerState.RUNNING),
        (A.RESET, PowerState.RUNNING),
        (A.POWER_OFF, PowerState.OFF),
    ]
    for action, expected in steps:
        mgr.perform(u, action)
        assert _state(mgr, u) is expected, action


def test_save_from_paused_and_discard_saved_state(mgr, uuids):
    u = uuids["vm00004"]  # paused
    mgr.perform(u, A.SAVE)
    assert _state(mgr, u) is PowerState.SUSPENDED
    mgr.perform(u, A.POWER_OFF)  # discards the saved image
    assert _state(mgr, u) is PowerState.OFF


def test_start_suspended_from_node_file(mgr, uuids):
    u = uuids["vm00005"]
    assert _state(mgr, u) is PowerState.SUSPENDED
    mgr.perform(u, A.START)
    assert _state(mgr, u) is PowerState.RUNNING


@pytest.mark.parametrize(
    "name,action",
    [
        ("vm00001", A.PAUSE),  # OFF
        ("vm00001", A.RESUME),
        ("vm00001", A.SHUTDOWN),
        ("vm00001", A.POWER_OFF),
        ("vm00001", A.SAVE),
        ("vm00001", A.REBOOT),
        ("vm00000", A.START),  # RUNNING
        ("vm00000", A.RESUME),
        ("vm00004", A.PAUSE),  # PAUSED
        ("vm00004", A.SHUTDOWN),
        ("vm00004", A.REBOOT),  # the test driver would reboot it into running
        ("vm00004", A.RESET),  # QEMU would reset it and leave it paused
        ("vm00005", A.PAUSE),  # SUSPENDED
        ("vm00005", A.RESUME),
    ],
)
def test_impossible_transitions(mgr, uuids, name, action):
    before = _state(mgr, uuids[name])
    with pytest.raises(InvalidStateTransition):
        mgr.perform(uuids[name], action)
    assert _state(mgr, uuids[name]) is before


def test_possible_actions_per_state(mgr):
    seen = set()
    for vm in mgr.list_vms():
        assert mgr.possible_actions(vm) == DEFAULT_TRANSITIONS[vm.state]
        seen.add(vm.state)
    assert seen == set(EXPECTED_STATES.values())
    assert mgr.supported_actions() == frozenset(PowerAction)


def test_perform_unknown_vm(mgr):
    with pytest.raises(NotFound):
        mgr.perform("00000000-0000-4000-8000-000000000000", A.START)


# -- define / modify / undefine -------------------------------------------------------------
SPEC = VMSpec(
    name="fresh",
    memory_mib=128,
    vcpus=2,
    disks=[
        DiskSpec(source="/srv/fresh.img", bus="virtio"),
        DiskSpec(source="/srv/iso", kind="cdrom"),
    ],
    nics=[NicSpec(network="default", mac="52:54:00:AA:00:01"), NicSpec(bridge="br0")],
    description="made by a test",
)


def test_define_vm(mgr):
    vm = mgr.define_vm(SPEC)
    assert vm.name == "fresh" and vm.state is PowerState.OFF
    assert (vm.vcpus, vm.memory_kib, vm.max_memory_kib) == (2, 131072, 131072)
    assert vm.virtual_system_type == "Test"
    assert [(d.device, d.kind, d.source) for d in vm.disks] == [
        ("vda", "disk", "/srv/fresh.img"),
        ("sda", "cdrom", "/srv/iso"),
    ]
    assert [n.mac for n in vm.nics][0] == "52:54:00:aa:00:01"
    assert [n.network for n in vm.nics] == ["default", "br0"]
    assert vm.uuid in {v.uuid for v in mgr.list_vms()}
    mgr.perform(vm.uuid, A.START)
    assert _state(mgr, vm.uuid) is PowerState.RUNNING


def test_define_vm_errors(mgr):
    mgr.define_vm(SPEC)
    with pytest.raises(BackendError, match="fresh"):  # name taken
        mgr.define_vm(dataclasses.replace(SPEC, uuid="00000000-0000-4000-8000-0000000000aa"))
    with pytest.raises(InvalidSpec, match=r"VMSpec\.memory_mib: is required"):
        mgr.define_vm(VMSpec.from_mapping({"name": "x"}))
    with pytest.raises(InvalidSpec, match="a VMSpec is required, got dict"):
        mgr.define_vm({"name": "x", "memory_mib": 64})
    with pytest.raises(NotSupported, match="does not create disk images"):
        mgr.define_vm(VMSpec("y", 64, disks=[DiskSpec(capacity_bytes=1 << 30)]))
    assert len(mgr.list_vms()) == 7  # only the first one was defined


def test_define_autostart(mgr):
    vm = mgr.define_vm(VMSpec("auto", 64, autostart=True))
    assert vm.autostart is True
    assert mgr.define_vm(VMSpec("manual", 64)).autostart is False


def test_define_with_explicit_uuid_and_type_option(node):
    m = LibvirtManager("t", node[0], domain_type="test")
    u = "11111111-2222-4333-8444-555555555555"
    vm = m.define_vm(VMSpec("fixed", 64, uuid=u.upper()))
    assert vm.uuid == u


def test_modify_offline_vm(mgr, uuids):
    u = uuids["vm00001"]  # OFF: 2 vCPUs, 512 MiB, vda + one NIC
    before = mgr.get_vm(u)
    vm = mgr.modify_vm(
        u,
        VMChange(
            vcpus=4,
            memory_mib=2048,
            add_disks=[DiskSpec(source="/srv/data.img")],
            add_nics=[NicSpec(network="default", mac="52:54:00:bb:00:02")],
        ),
    )
    assert vm.vcpus == 4
    assert vm.memory_kib == vm.max_memory_kib == 2 * 1024 * 1024
    assert [d.device for d in vm.disks] == ["vda", "vdb"]
    assert "52:54:00:bb:00:02" in {n.mac for n in vm.nics}
    vm = mgr.modify_vm(u, VMChange(remove_disks=["vda"], remove_nics=[before.nics[0].mac.upper()]))
    assert [d.source for d in vm.disks] == ["/srv/data.img"]
    assert [n.mac for n in vm.nics] == ["52:54:00:bb:00:02"]
    vm = mgr.modify_vm(u, VMChange(vcpus=1, memory_mib=256, remove_disks=["/srv/data.img"]))
    assert (vm.vcpus, vm.memory_kib, vm.disks) == (1, 262144, [])


def test_modify_running_vm_live_and_config(mgr, uuids):
    u = uuids["vm00000"]  # RUNNING: 1 vCPU, 256 MiB
    vm = mgr.modify_vm(
        u, VMChange(vcpus=2, memory_mib=195, add_disks=[DiskSpec(source="/srv/hot.img")])
    )
    # vCPUs above the running maximum and the disk (the test driver has no hotplug)
    # wait for the next start; memory below the maximum changes live.
    assert vm.memory_kib == 195 * 1024
    assert [d.device for d in vm.disks] == ["vda"]
    mgr.perform(u, A.POWER_OFF)
    vm = mgr.get_vm(u)
    assert vm.vcpus == 2
    assert [d.device for d in vm.disks] == ["vda", "vdb"]


def test_modify_errors(mgr, uuids):
    u = uuids["vm00001"]
    before = mgr.get_vm(u)
    with pytest.raises(NotFound, match="no disk 'vdz'"):
        mgr.modify_vm(u, VMChange(remove_disks=["vdz"]))
    with pytest.raises(NotFound, match="no NIC"):
        mgr.modify_vm(u, VMChange(remove_nics=["52:54:00:00:00:99"]))
    with pytest.raises(BackendError, match="'vda' is already in use"):
        mgr.modify_vm(u, VMChange(add_disks=[DiskSpec(source="/srv/x.img", device="vda")]))
    with pytest.raises(InvalidSpec, match=r"VMChange\.vcpus: must be an integer >= 1, got 0"):
        mgr.modify_vm(u, VMChange.from_mapping({"vcpus": 0}))
    with pytest.raises(NotSupported, match="never deleted"):
        mgr.modify_vm(u, VMChange(remove_disks=["vda"], destroy_removed_disks=True))
    with pytest.raises(NotFound):
        mgr.modify_vm("00000000-0000-4000-8000-000000000000", VMChange(vcpus=1))

    def facts(vm):  # the test driver's cpu time moves on even for a shut-off domain
        return dataclasses.replace(vm, cpu_time_ns=None)

    assert facts(mgr.get_vm(u)) == facts(before)  # nothing changed
    assert facts(mgr.modify_vm(u, VMChange())) == facts(before)  # nothing asked


@pytest.mark.parametrize("name", sorted(EXPECTED_STATES))
def test_undefine_in_every_state(mgr, uuids, name):
    u = uuids[name]
    mgr.create_snapshot(u, "before-undefine")  # snapshot metadata must not block it
    mgr.undefine_vm(u)
    with pytest.raises(NotFound):
        mgr.get_vm(u)
    assert len(mgr.list_vms()) == 5
    with pytest.raises(NotFound):
        mgr.undefine_vm(u)


# -- snapshots ------------------------------------------------------------------------------
def test_snapshot_tree_revert_delete(mgr, uuids):
    u = uuids["vm00001"]  # OFF
    assert mgr.list_snapshots(u) == []
    t0 = datetime.now(UTC).replace(microsecond=0)
    assert mgr.create_snapshot(u, "base", "clean install") == "base"
    mgr.create_snapshot(u, "child-a", "first branch")
    mgr.revert_snapshot(u, "base")
    mgr.create_snapshot(u, "child-b")
    tree = mgr.list_snapshots(u)
    assert [s.id for s in tree] == ["base"]
    base = tree[0]
    assert base.name == "base" and base.description == "clean install"
    assert base.state is PowerState.OFF and base.current is False
    assert base.created.tzinfo is not None and base.created >= t0.replace(second=0)
    assert sorted(c.id for c in base.children) == ["child-a", "child-b"]
    current = {c.id: c.current for c in base.children}
    assert current == {"child-a": False, "child-b": True}

    mgr.delete_snapshot(u, "base")  # children move up
    assert sorted(s.id for s in mgr.list_snapshots(u)) == ["child-a", "child-b"]
    mgr.create_snapshot(u, "grandchild")  # below child-b (current)
    mgr.delete_snapshot(u, "child-b", remove_children=True)
    assert [s.id for s in mgr.list_snapshots(u)] == ["child-a"]


def test_snapshot_of_running_vm_and_revert_restores_state(mgr, uuids):
    u = uuids["vm00000"]  # RUNNING
    mgr.create_snapshot(u, "live", "with memory", memory=True)
    mgr.create_snapshot(u, "disks-only", memory=False)
    states = {s.id: s.state for s in _flatten(mgr.list_snapshots(u))}
    assert states == {"live": PowerState.RUNNING, "disks-only": PowerState.RUNNING}
    mgr.perform(u, A.POWER_OFF)
    mgr.revert_snapshot(u, "live")
    assert _state(mgr, u) is PowerState.RUNNING


def test_snapshot_errors(mgr, uuids):
    u = uuids["vm00001"]
    with pytest.raises(NotFound):
        mgr.revert_snapshot(u, "missing")
    with pytest.raises(NotFound):
        mgr.delete_snapshot(u, "missing")
    with pytest.raises(BackendError):
        mgr.create_snapshot(u, "")
    mgr.create_snapshot(u, "once")
    with pytest.raises(BackendError):
        mgr.create_snapshot(u, "once")
    with pytest.raises(NotFound):
        mgr.list_snapshots("00000000-0000-4000-8000-000000000000")


def _flatten(nodes):
    for n in nodes:
        yield n
        yield from _flatten(n.children)


# -- statistics ---------------------------------------------------------------------------
def test_bulk_stats_keyed_by_uuid(mgr, uuids):
    stats = mgr.bulk_stats()
    assert set(stats) == set(uuids.values())
    for name, u in uuids.items():
        state = int(stats[u]["state.state"])
        assert lv_manager._STATE[state] is EXPECTED_STATES[name] or (
            EXPECTED_STATES[name] is PowerState.SUSPENDED and state == libvirt.VIR_DOMAIN_SHUTOFF
        )
        assert all(isinstance(v, float) for v in stats[u].values())


def test_bulk_stats_subset(mgr, uuids):
    want = [uuids["vm00000"].upper(), uuids["vm00003"], "00000000-0000-4000-8000-000000000000"]
    stats = mgr.bulk_stats(want)
    assert set(stats) == {uuids["vm00000"], uuids["vm00003"]}


def test_bulk_stats_uses_one_call(mgr, monkeypatch):
    mgr.connect()
    calls = []
    conn = mgr._conn
    real = conn.getAllDomainStats

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(conn, "getAllDomainStats", counting)
    mgr.bulk_stats()
    assert len(calls) == 1


def test_metrics_from_qemu_style_record():
    record = {
        "state.state": 1,
        "cpu.time": 5_000_000,
        "balloon.current": 65536,
        "balloon.maximum": 65536,
        "balloon.rss": 40000,
        "vcpu.current": 2,
        "net.count": 2,
        "net.0.rx.bytes": 100,
        "net.0.tx.bytes": 10,
        "net.1.rx.bytes": 1,
        "block.count": 1,
        "block.0.name": "vda",
        "block.0.rd.bytes": 4096,
        "block.0.wr.bytes": 512,
    }
    m = lv_stats.metrics(record)
    assert m["net.rx.bytes"] == 101.0 and m["net.tx.bytes"] == 10.0
    assert m["block.rd.bytes"] == 4096.0 and m["block.wr.bytes"] == 512.0
    assert m["balloon.rss"] == 40000.0 and m["cpu.time"] == 5e6 and m["vcpu.current"] == 2.0
    assert "block.0.name" not in m


# -- connection -------------------------------------------------------------------------------
def test_dead_connection_reconnects(mgr):
    assert len(mgr.list_vms()) == 6
    old = mgr._conn
    old.close()  # behind the manager's back: the handle is now invalid
    assert len(mgr.list_vms()) == 6
    assert mgr._conn is not old
    assert mgr.host().hypervisor_type == "TEST"


def test_unreachable_uri(tmp_path):
    m = LibvirtManager("gone", node_uri(tmp_path / "missing.xml"))
    with pytest.raises(BackendUnavailable) as err:
        m.list_vms()
    assert err.value.backend_id == "gone"


def test_close_twice(mgr):
    mgr.list_vms()
    mgr.close()
    mgr.close()
    assert len(mgr.list_vms()) == 6  # reopens lazily


def test_config_options():
    with pytest.raises(ConfigError, match="bogus"):
        LibvirtManager("x", "test:///default", bogus=1)
    m = create_manager("x", "libvirt", uri="test:///default", domain_type="qemu")
    assert isinstance(m, LibvirtManager) and m.domain_type == "qemu"


@pytest.mark.parametrize(
    "uri,daemon",
    [
        ("test:///default", False),
        ("test:///tmp/x.xml", False),
        ("qemu:///system", True),
        ("qemu+ssh://root@host/system", True),
        ("xen:///system", True),
        ("lxc:///system", True),
    ],
)
def test_keepalive_only_for_daemon_uris(uri, daemon):
    assert lv_connection._uses_daemon(uri) is daemon


# -- type mapping and XML ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "driver,domain_type,expected",
    [
        ("QEMU", "kvm", "KVM"),
        ("QEMU", "qemu", "QEMU"),
        ("QEMU", None, "QEMU"),
        ("Xen", "xen", "Xen"),
        ("Xen", None, "Xen"),
        ("LXC", "lxc", "LXC"),
        ("LXC", None, "LXC"),
        ("TEST", "test", "Test"),
        ("TEST", None, "Test"),
        ("ESX", "vmware", "VMware"),
        ("VBOX", None, "VBOX"),
    ],
)
def test_virtual_system_type(driver, domain_type, expected):
    assert virtual_system_type(driver, domain_type) == expected


def test_build_domain_xml_qemu():
    from lxml import etree

    xml = build_domain_xml(
        VMSpec(
            name="q",
            memory_mib=64,
            disks=[
                DiskSpec(source="/dev/vg/q", format="raw"),
                DiskSpec(source="/x.qcow2", format="qcow2", bus="sata"),
            ],
            nics=[NicSpec(), NicSpec(network="default", model="e1000")],
            serial="null",
        ),
        "kvm",
    )
    root = etree.fromstring(xml)
    assert root.get("type") == "kvm"
    assert root.find("features/acpi") is not None
    disks = root.findall("devices/disk")
    assert disks[0].get("type") == "block" and disks[0].find("source").get("dev") == "/dev/vg/q"
    assert disks[1].find("target").get("dev") == "sda"
    assert disks[1].find("driver").get("type") == "qcow2"
    nics = root.findall("devices/interface")
    assert nics[0].get("type") == "user" and nics[0].find("model").get("type") == "virtio"
    assert nics[1].find("model").get("type") == "e1000"
    assert root.find("devices/serial").get("type") == "null"
    assert root.find("devices/graphics") is None


def test_build_domain_xml_lxc():
    from lxml import etree

    xml = build_domain_xml(
        VMSpec.from_mapping(
            {
                "name": "c",
                "memory_mib": 64,
                "init": "/bin/sh",
                "filesystems": [{"source": "/", "target": "/", "readonly": True}],
            }
        ),
        "lxc",
    )
    root = etree.fromstring(xml)
    assert root.findtext("os/type") == "exe" and root.findtext("os/init") == "/bin/sh"
    fs = root.find("devices/filesystem")
    assert fs.find("readonly") is not None and fs.find("source").get("dir") == "/"
    assert root.find("devices/console").get("type") == "pty"


def test_guest_agent_state_from_live_xml():
    base = (
        "<domain type='kvm'><name>g</name><os><type>hvm</type></os><devices>{}</devices></domain>"
    )
    chan = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'{}/></channel>"
    assert lv.parse_domain_xml(base.format(""))["guest_agent"] is None
    assert lv.parse_domain_xml(base.format(chan.format("")))["guest_agent"] is None  # inactive
    on = chan.format(" state='connected'")
    off = chan.format(" state='disconnected'")
    assert lv.parse_domain_xml(base.format(on))["guest_agent"] is True
    assert lv.parse_domain_xml(base.format(off))["guest_agent"] is False


def test_kvm_usable_by_the_qemu_user(tmp_path):
    from lxml import etree

    caps = etree.fromstring(
        "<capabilities><host><secmodel><model>dac</model><doi>0</doi>"
        "<baselabel type='kvm'>+64055:+64056</baselabel></secmodel></host></capabilities>"
    )
    dev = tmp_path / "kvm"
    dev.touch()
    os.chown(dev, 0, 0)
    os.chmod(dev, 0o600)
    assert lv_manager._kvm_usable_by(caps, str(dev)) is False  # root-only, as without udev
    os.chmod(dev, 0o666)
    assert lv_manager._kvm_usable_by(caps, str(dev)) is True
    os.chown(dev, 0, 64056)
    os.chmod(dev, 0o660)
    assert lv_manager._kvm_usable_by(caps, str(dev)) is True  # QEMU's group
    assert lv_manager._kvm_usable_by(caps, str(tmp_path / "missing")) is False
    no_dac = etree.fromstring("<capabilities><host/></capabilities>")
    os.chmod(dev, 0o600)
    assert lv_manager._kvm_usable_by(no_dac, str(dev)) is True  # QEMU runs as the daemon (root)


# -- features and slow actions ---------------------------------------------------------------
def test_features_of_the_test_driver(mgr):
    assert mgr.features() == {
        Feature.DEFINE,
        Feature.MODIFY,
        Feature.UNDEFINE,
        Feature.SNAPSHOTS,
        Feature.METRICS_SOURCE,
        Feature.PAUSE,
        Feature.SUSPEND,
        Feature.POOLS,  # list_pools: storage pools and networks
    }  # no MIGRATION (one in-process host), no guest agent
    mgr.list_vms()  # connected: the driver is known now, same answer
    assert Feature.MIGRATION not in mgr.features()
    assert not any(mgr.is_slow(a) for a in PowerAction)  # the test driver answers at once


@pytest.mark.parametrize(
    "uri,present,absent",
    [
        # MIGRATION: migrate_vm between two daemons (tests/test_migration_qemu.py)
        ("qemu:///system", {Feature.SNAPSHOTS, Feature.GUEST_AGENT, Feature.MIGRATION}, set()),
        ("lxc:///system", {Feature.DEFINE, Feature.PAUSE}, {Feature.SNAPSHOTS, Feature.SUSPEND}),
    ],
)
def test_features_by_uri_before_connecting(uri, present, absent):
    m = LibvirtManager("x", uri)  # not connected: the URI scheme names the driver
    assert present <= m.features() and not (absent & m.features())
    assert m.is_slow(A.SHUTDOWN) and m.is_slow(A.REBOOT) and not m.is_slow(A.POWER_OFF)


def test_cputune_from_spec_and_change_in_libvirts_xml():
    """CpuAllocation <-> <cputune> on the test driver (test:///default is shared by the
    process's connections, so libvirt's own XML can be read beside the manager's)."""
    import libvirt

    from vrmgmt.model import CpuAllocation

    m = create_manager("cpu", "libvirt", uri="test:///default")
    m.connect()
    raw = libvirt.open("test:///default")
    try:
        vm = m.define_vm(
            VMSpec(name="cputune", memory_mib=64, cpu=CpuAllocation("percent", limit=40, weight=99))
        )
        x = raw.lookupByUUIDString(vm.uuid).XMLDesc(0)
        assert "<shares>99</shares>" in x and "<quota>40000</quota>" in x
        assert m.get_vm(vm.uuid).cpu == CpuAllocation("percent", limit=40, weight=99)
        vm = m.modify_vm(vm.uuid, VMChange(cpu=CpuAllocation("percent", weight=5)))
        x = raw.lookupByUUIDString(vm.uuid).XMLDesc(0)
        assert "<quota>" not in x and "<shares>5</shares>" in x
        with pytest.raises(InvalidSpec, match="reservation"):
            m.modify_vm(vm.uuid, VMChange(cpu=CpuAllocation("percent", reservation=1)))
        with pytest.raises(InvalidSpec, match="unit"):
            m.modify_vm(vm.uuid, VMChange(cpu=CpuAllocation("MHz", limit=100)))
    finally:
        m.undefine_vm(vm.uuid)
        raw.close()
        m.close()
