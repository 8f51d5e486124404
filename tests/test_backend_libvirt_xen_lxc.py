"""Xen and LXC through libvirt.

Xen (libxl) cannot run here: its domain XML, as libvirt prints it, is checked against
parse_domain_xml and the VirtualSystemType mapping. LXC runs against the real libvirtd
lxc driver: definitions always; containers only when the kernel/cgroup layout lets
libvirt_lxc start them (otherwise the test is skipped with libvirt's exact error).
"""

from __future__ import annotations

import os
import uuid as uuidlib
from pathlib import Path

import pytest

from support.libvirtd import LibvirtdForTests, remove_domain
from vrmgmt.backends.libvirt import LibvirtManager, parse_domain_xml, virtual_system_type
from vrmgmt.errors import BackendError, InvalidStateTransition, NotFound, NotSupported
from vrmgmt.model import NicSpec, PowerAction, PowerState, VMChange, VMSpec

DATA = Path(__file__).parent / "data" / "libvirt"
A = PowerAction


def _facts(name: str) -> dict:
    return parse_domain_xml((DATA / name).read_text())


# -- Xen (captured XML) ---------------------------------------------------------------------
def test_xen_pv_guest_xml():
    f = _facts("xen-pv-guest.xml")
    assert f["type"] == "xen"
    assert virtual_system_type("Xen", f["type"]) == "Xen"
    assert f["os_type"] == "linux"  # libxl prints PV guests as os type 'linux'
    assert [(d.device, d.bus, d.kind, d.source) for d in f["disks"]] == [
        ("xvda", "xen", "disk", "/var/lib/xen/images/debian-pv.img"),
        ("xvdb", "xen", "disk", "/dev/vg0/debian-pv-data"),
    ]
    assert [(n.mac, n.network, n.model, n.device) for n in f["nics"]] == [
        ("00:16:3e:5a:7c:01", "xenbr0", None, "vif3.0")
    ]


def test_xen_hvm_guest_xml():
    f = _facts("xen-hvm-guest.xml")
    assert f["type"] == "xen"
    assert virtual_system_type("Xen", f["type"]) == "Xen"
    assert f["os_type"] == "hvm"
    assert [(d.device, d.bus, d.kind) for d in f["disks"]] == [
        ("hda", "ide", "disk"),
        ("hdc", "ide", "cdrom"),
    ]
    assert f["disks"][1].source == "/srv/iso/virtio-win.iso"
    assert [(n.mac, n.network, n.model, n.device) for n in f["nics"]] == [
        ("00:16:3e:5a:7c:02", "xenbr0", "e1000", "vif4.0"),
        ("00:16:3e:5a:7c:03", "default", "netfront", "vif4.1"),  # MAC lower-cased
    ]


@pytest.mark.parametrize("driver", ["Xen", "XEN", "libxl"])
def test_xen_driver_without_domain_xml(driver):
    assert virtual_system_type(driver, None) == "Xen"


# -- LXC (captured XML) ---------------------------------------------------------------------
def test_lxc_captured_xml():
    f = _facts("lxc-web-container.xml")
    assert f["type"] == "lxc"
    assert virtual_system_type("LXC", f["type"]) == "LXC"
    assert virtual_system_type("LXC", None) == "LXC"
    assert f["os_type"] == "exe"
    assert f["disks"] == []
    assert [(n.mac, n.network) for n in f["nics"]] == [("52:54:00:3c:11:01", "br0")]


# -- LXC (real libvirtd) ------------------------------------------------------------------
@pytest.fixture(scope="session")
def lxc_daemon():
    with LibvirtdForTests("lxc:///system") as daemon:
        yield daemon


@pytest.fixture
def lxc(lxc_daemon):
    m = LibvirtManager("lxc", "lxc:///system")
    names: list[str] = []
    yield m, names
    conn = lxc_daemon.connect()
    try:
        for dom in conn.listAllDomains(0):
            if dom.name() in names:
                remove_domain(conn, dom.UUIDString())
    finally:
        conn.close()
        m.close()


def _container_spec(names: list[str], **extra) -> VMSpec:
    name = f"vrmgmt-test-{os.getpid()}-{uuidlib.uuid4().hex[:8]}"
    names.append(name)
    spec = {
        "name": name,
        "memory_mib": 64,
        "init": "/bin/sh",
        "filesystems": [{"source": "/", "target": "/", "readonly": True}],
    }
    spec.update(extra)
    return VMSpec.from_mapping(spec)


@pytest.mark.qemu  # needs the real libvirtd, like the QEMU tests
def test_lxc_define_modify_undefine(lxc):
    m, names = lxc
    host = m.host()
    assert (host.hypervisor_type, host.virtual_system_type) == ("LXC", "LXC")
    vm = m.define_vm(_container_spec(names))
    assert vm.virtual_system_type == "LXC" and vm.os_type == "exe"
    assert vm.state is PowerState.OFF
    assert m.supported_actions() == frozenset(PowerAction) - {A.SAVE, A.RESET}
    assert m.possible_actions(vm) == {A.START}
    assert vm.uuid in {v.uuid for v in m.list_vms()}

    vm = m.modify_vm(vm.uuid, VMChange(memory_mib=96, add_nics=[NicSpec(bridge="br0")]))
    assert vm.memory_kib == 96 * 1024
    assert [n.network for n in vm.nics] == ["br0"]
    vm = m.modify_vm(vm.uuid, VMChange(remove_nics=[vm.nics[0].mac]))
    assert vm.nics == []

    assert m.list_snapshots(vm.uuid) == []  # LXC has no snapshots
    with pytest.raises(NotSupported):
        m.create_snapshot(vm.uuid, "s1")
    with pytest.raises(NotSupported):
        m.perform(vm.uuid, A.SAVE)

    m.undefine_vm(vm.uuid)  # LXC takes no undefine flags: falls back to plain undefine
    with pytest.raises(NotFound):
        m.get_vm(vm.uuid)


@pytest.mark.qemu
def test_lxc_container_runs(lxc):
    m, names = lxc
    vm = m.define_vm(_container_spec(names))
    try:
        m.perform(vm.uuid, A.START)
    except BackendError as exc:
        pytest.skip(f"libvirt cannot start LXC containers here: {exc}")
    vm = m.get_vm(vm.uuid)
    assert vm.state is PowerState.RUNNING and vm.virtual_system_type == "LXC"
    assert m.bulk_stats([vm.uuid])[vm.uuid]["state.state"] == 1.0
    assert m.possible_actions(vm) == {A.POWER_OFF, A.SHUTDOWN, A.PAUSE, A.REBOOT}
    m.perform(vm.uuid, A.PAUSE)
    assert m.get_vm(vm.uuid).state is PowerState.PAUSED
    m.perform(vm.uuid, A.RESUME)
    with pytest.raises(InvalidStateTransition):
        m.perform(vm.uuid, A.START)
    m.perform(vm.uuid, A.POWER_OFF)
    assert m.get_vm(vm.uuid).state is PowerState.OFF
    m.undefine_vm(vm.uuid)
