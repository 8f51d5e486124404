"""LibvirtManager against a real libvirtd + QEMU (qemu:///system), tiny diskless guests
under TCG. Needs root and the packages in support.libvirtd.APT_PACKAGES."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
import uuid as uuidlib

import pytest

from support.libvirtd import (
    LIBVIRTD_PID,
    LibvirtdForTests,
    _pid_from,
    _running,
    remove_domain,
)
from vrmgmt.backends.libvirt import LibvirtManager
from vrmgmt.backends.libvirt import connection as lv_connection
from vrmgmt.backends.libvirt import manager as lv_manager
from vrmgmt.errors import InvalidStateTransition, NotFound, NotSupported
from vrmgmt.model import NicSpec, PowerAction, PowerState, VMChange, VMSpec

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(120)]

A = PowerAction
URI = "qemu:///system"


@pytest.fixture(scope="session")
def libvirtd():
    with LibvirtdForTests(URI) as daemon:
        yield daemon


@pytest.fixture
def mgr(libvirtd):
    m = LibvirtManager("qemu", URI)
    yield m
    m.close()


@pytest.fixture
def spec(libvirtd):
    """A tiny diskless TCG guest spec; whatever it becomes is removed afterwards."""
    name = f"vrmgmt-test-{os.getpid()}-{uuidlib.uuid4().hex[:8]}"
    s = VMSpec(
        name=name,
        memory_mib=48,
        vcpus=1,
        serial="null",
        domain_type="qemu",
        description="vrmgmt test guest",
    )
    yield s
    conn = libvirtd.connect()
    try:
        for dom in conn.listAllDomains(0):
            if dom.name() == name:
                remove_domain(conn, dom.UUIDString())
    finally:
        conn.close()


def test_lifecycle_of_a_tiny_guest(mgr, spec):
    t0 = time.monotonic()
    vm = mgr.define_vm(spec)
    u = vm.uuid
    assert vm.state is PowerState.OFF
    assert vm.virtual_system_type == "QEMU"
    assert vm.disks == [] and vm.nics == []
    assert mgr.possible_actions(vm) == {A.START}

    # configuration changes through the real device/vcpu APIs while it is off
    vm = mgr.modify_vm(
        u, VMChange(vcpus=2, memory_mib=64, add_nics=[NicSpec(mac="52:54:00:00:be:ef")])
    )
    assert (vm.vcpus, vm.memory_kib) == (2, 64 * 1024)
    assert [(n.mac, n.model) for n in vm.nics] == [("52:54:00:00:be:ef", "virtio")]
    vm = mgr.modify_vm(u, VMChange(remove_nics=["52:54:00:00:be:ef"], vcpus=1))
    assert vm.nics == [] and vm.vcpus == 1

    with pytest.raises(InvalidStateTransition):
        mgr.perform(u, A.PAUSE)

    mgr.perform(u, A.START)
    vm = mgr.get_vm(u)
    assert vm.state is PowerState.RUNNING
    assert vm.uptime_s is not None and 0 <= vm.uptime_s < 60
    assert vm.cpu_time_ns and vm.cpu_time_ns > 0

    stats = mgr.bulk_stats([u])
    assert set(stats) == {u}
    s = stats[u]
    assert s["state.state"] == 1.0
    assert s["cpu.time"] > 0
    assert s["balloon.maximum"] == 64 * 1024.0
    assert s["vcpu.current"] == 1.0
    assert "balloon.rss" in s
    assert u in mgr.bulk_stats()  # all domains, still one call

    listed = {v.uuid: v for v in mgr.list_vms()}
    assert listed[u].state is PowerState.RUNNING
    assert listed[u].virtual_system_type == "QEMU"

    mgr.perform(u, A.PAUSE)
    assert mgr.get_vm(u).state is PowerState.PAUSED
    mgr.perform(u, A.RESUME)
    assert mgr.get_vm(u).state is PowerState.RUNNING
    mgr.perform(u, A.RESET)
    assert mgr.get_vm(u).state is PowerState.RUNNING

    mgr.perform(u, A.SAVE)  # managed save
    vm = mgr.get_vm(u)
    assert vm.state is PowerState.SUSPENDED
    assert mgr.possible_actions(vm) == {A.START, A.POWER_OFF}
    assert next(v for v in mgr.list_vms() if v.uuid == u).state is PowerState.SUSPENDED

    mgr.perform(u, A.START)  # restores the saved image
    assert mgr.get_vm(u).state is PowerState.RUNNING

    mgr.perform(u, A.POWER_OFF)
    vm = mgr.get_vm(u)
    assert vm.state is PowerState.OFF and vm.uptime_s is None

    mgr.undefine_vm(u)
    with pytest.raises(NotFound):
        mgr.get_vm(u)
    assert time.monotonic() - t0 < 90


def test_undefine_running_and_saved_guests(mgr, spec):
    u = mgr.define_vm(spec).uuid
    mgr.perform(u, A.START)
    mgr.perform(u, A.SAVE)
    mgr.undefine_vm(u)  # drops the managed save image too
    with pytest.raises(NotFound):
        mgr.get_vm(u)

    u = mgr.define_vm(spec).uuid
    mgr.perform(u, A.START)
    mgr.undefine_vm(u)  # powers it off first
    assert u not in {v.uuid for v in mgr.list_vms()}


def test_discard_saved_state(mgr, spec):
    u = mgr.define_vm(spec).uuid
    mgr.perform(u, A.START)
    mgr.perform(u, A.SAVE)
    mgr.perform(u, A.POWER_OFF)
    assert mgr.get_vm(u).state is PowerState.OFF


def test_diskless_guest_has_no_snapshots(mgr, spec):
    u = mgr.define_vm(spec).uuid
    with pytest.raises(NotSupported, match="nothing selected for snapshot"):
        mgr.create_snapshot(u, "s1")
    assert mgr.list_snapshots(u) == []


def test_domain_type_auto_follows_kvm_access(mgr, spec):
    spec = dataclasses.replace(spec, domain_type=None)  # manager default: auto
    vm = mgr.define_vm(spec)
    mgr.connect()
    caps = mgr._capabilities(mgr._conn)
    expected = "KVM" if lv_manager._kvm_usable_by(caps) else "QEMU"
    assert vm.virtual_system_type == expected


def test_tiny_vm_helper(libvirtd, mgr):
    with libvirtd.tiny_vm(nic=True) as tiny:
        vm = mgr.get_vm(tiny.uuid)
        assert vm.name == tiny.name and vm.virtual_system_type == "QEMU"
        assert len(vm.nics) == 1
        mgr.perform(tiny.uuid, A.START)
        stats = mgr.bulk_stats([tiny.uuid])[tiny.uuid]
        assert stats["state.state"] == 1.0
    with pytest.raises(NotFound):
        mgr.get_vm(tiny.uuid)


def test_keepalive_and_reconnect_after_daemon_restart(libvirtd, mgr):
    """Kill libvirtd under an open connection: the close callback drops it and the next
    call reconnects to the restarted daemon. Only when this session started libvirtd."""
    mine = dict(libvirtd.started).get("libvirtd")
    if mine is None:
        pytest.skip("libvirtd was started by someone else; not restarting it")
    mgr.host()
    assert lv_connection._event_thread is not None and lv_connection._event_thread.is_alive()
    old = mgr._conn
    os.kill(mine, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _running(mine, "libvirtd") and time.monotonic() < deadline:
        time.sleep(0.05)
    libvirtd.started.remove(("libvirtd", mine))
    deadline = time.monotonic() + 5
    while mgr._conn is old and time.monotonic() < deadline:
        time.sleep(0.05)  # the close callback runs on the event thread
    assert mgr._conn is None, "close callback did not drop the dead connection"
    libvirtd.start()  # restarts libvirtd (ours again)
    assert _pid_from(LIBVIRTD_PID) != mine
    assert mgr.host().hypervisor_type == "QEMU"
    assert mgr._conn is not old
