"""Inventory's typed calls for VM definitions and jobs: features, is_slow, define_vm,
modify_vm, undefine_vm and perform(timeout=...), over the libvirt test driver and vcsim
(a real vSphere API server, frozen with SIGSTOP to play a hung vCenter)."""

from __future__ import annotations

import threading
import time

import pytest

from support.testdriver import node_uri, write_node_xml
from support.vcsim import Vcsim, VcsimUnavailable, build_vcsim
from vrmgmt.backends import create_manager
from vrmgmt.backends.base import Feature
from vrmgmt.errors import BackendUnavailable, InvalidSpec, NotFound, NotSupported
from vrmgmt.inventory import Inventory
from vrmgmt.model import DiskSpec, NicSpec, PowerAction, PowerState, VMChange, VMSpec

A = PowerAction


@pytest.fixture
def inv(tmp_path):
    path = tmp_path / "node.xml"
    write_node_xml(path, 2, running_every=2, paused_every=0, saved_every=0, seed=3)
    inventory = Inventory([create_manager("td", "libvirt", uri=node_uri(path), timeout=5)])
    yield inventory
    inventory.close()


def test_define_modify_undefine_through_the_inventory(inv):
    assert Feature.DEFINE in inv.features("td") and Feature.MIGRATION not in inv.features("td")
    assert inv.is_slow("td", A.SHUTDOWN) is False  # the test driver answers at once
    vm = inv.define_vm("td", VMSpec("made", 64, disks=[DiskSpec(source="/srv/made.img")]))
    assert (vm.name, vm.state, vm.memory_kib) == ("made", PowerState.OFF, 64 * 1024)
    assert inv.backend_of(vm.uuid) == "td"
    assert vm.uuid in {v.uuid for v in inv.vms_of("td")}

    vm = inv.modify_vm(vm.uuid.upper(), VMChange(vcpus=3, add_nics=[NicSpec(network="default")]))
    assert vm.vcpus == 3 and [n.network for n in vm.nics] == ["default"]
    with pytest.raises(InvalidSpec, match=r"VMChange.memory_mib: must be an integer >= 1"):
        inv.modify_vm(vm.uuid, VMChange.from_mapping({"memory_mib": -1}))

    inv.perform(vm.uuid, A.START, timeout=30)  # a job's bound instead of the request's
    assert inv.get_vm(vm.uuid).state is PowerState.RUNNING
    inv.undefine_vm(vm.uuid)
    with pytest.raises(NotFound):
        inv.get_vm(vm.uuid)
    with pytest.raises(NotFound):
        inv.undefine_vm(vm.uuid)


def test_unknown_backend_and_unsupported_change(inv):
    with pytest.raises(NotFound, match="no backend 'nope'"):
        inv.features("nope")
    with pytest.raises(NotFound, match="no backend 'nope'"):
        inv.define_vm("nope", VMSpec("x", 64))
    u = inv.vms_of("td")[0].uuid
    with pytest.raises(NotSupported, match="never deleted"):
        inv.modify_vm(u, VMChange(remove_disks=["vda"], destroy_removed_disks=True))


# -- vSphere: slow tasks and a hung vCenter ---------------------------------------------------
@pytest.fixture(scope="module")
def sim():
    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    with Vcsim(hosts=1, vms=2) as s:
        yield s


@pytest.mark.vcsim
def test_vsphere_jobs_bounds(sim, tmp_path):
    path = tmp_path / "node.xml"
    write_node_xml(path, 1, running_every=1, paused_every=0, saved_every=0, seed=1)
    vc = create_manager("vc", "vsphere", **sim.manager_options(timeout=2, task_timeout=20))
    td = create_manager("td", "libvirt", uri=node_uri(path), timeout=5)
    inv = Inventory([vc, td])
    try:
        assert inv.is_slow("vc", A.START) and not inv.is_slow("vc", A.SHUTDOWN)
        assert Feature.PAUSE not in inv.features("vc")
        assert inv.long_call_timeout("vc") == 20 + 2 * 2  # task wait + start and poll calls
        vm = inv.define_vm("vc", VMSpec("vrm-inv", 64, disks=[DiskSpec(capacity_bytes=1 << 30)]))
        assert inv.backend_of(vm.uuid) == "vc"
        inv.perform(vm.uuid, A.START, timeout=30)
        assert inv.get_vm(vm.uuid).state is PowerState.RUNNING

        sim.freeze()  # the port accepts, nothing answers
        try:
            t0 = time.monotonic()
            with pytest.raises(BackendUnavailable, match="no answer within 1 s"):
                inv.perform(vm.uuid, A.POWER_OFF, backend_id="vc", timeout=1)
            assert time.monotonic() - t0 < 1.8  # the job's bound, not the backend's
            # the other backend keeps answering meanwhile
            assert len(inv.vms_of("td")) == 1
            assert inv.health()["vc"] == "no answer within 1 s"
        finally:
            sim.thaw()
        # the bound abandons the wait, not the call: it ends by itself (answered after
        # the thaw, or failed by its socket timeout), leaving no thread behind
        deadline = time.monotonic() + 10
        while [t for t in threading.enumerate() if t.name == "backend-vc-long"]:
            assert time.monotonic() < deadline, "the abandoned call did not end"
            time.sleep(0.1)
        if inv.get_vm(vm.uuid).state is PowerState.RUNNING:
            inv.perform(vm.uuid, A.POWER_OFF, timeout=30)
        inv.undefine_vm(vm.uuid)
        with pytest.raises(NotFound):
            inv.get_vm(vm.uuid, backend_id="vc")
        assert inv.health()["vc"] == ""
    finally:
        inv.close()
