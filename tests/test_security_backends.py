"""Issue 14 finding 3: a hung backend exhausts only its own call pool; enumerations wait
for the slowest live backend at most; a backend that timed out is marked down, answered
without waiting from its last known state (host Lost Communication, its VMs marked
stale) and reconnected by a background probe."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml
from vrmgmt.backends.libvirt import LibvirtManager
from vrmgmt.classes.system.computer_system import change_state
from vrmgmt.errors import BackendUnavailable, StaleVM
from vrmgmt.inventory import Inventory
from vrmgmt.model import HostStatus, PowerAction


class FreezableLibvirt(LibvirtManager):
    """The real libvirt manager (test driver) whose daemon can stop answering: while
    frozen, every call blocks as a call to a hung libvirtd does, until thawed."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.thawed = threading.Event()
        self.thawed.set()

    def _wait(self):
        self.thawed.wait()

    def host(self):
        self._wait()
        return super().host()

    def list_vms(self):
        self._wait()
        return super().list_vms()

    def iter_vms(self):
        self._wait()
        return super().iter_vms()

    def get_vm(self, uuid):
        self._wait()
        return super().get_vm(uuid)


def _inventory(tmp_path, hung: int, timeout: float = 1.0):
    write_node_xml(tmp_path / "ok.xml", 3, seed=2)
    ok = LibvirtManager("ok", uri=node_uri(tmp_path / "ok.xml"), timeout=5)
    frozen = []
    for i in range(hung):
        write_node_xml(tmp_path / f"h{i}.xml", 2, seed=10 + i, prefix=f"h{i}")
        m = FreezableLibvirt(f"hung{i}", uri=node_uri(tmp_path / f"h{i}.xml"), timeout=timeout)
        frozen.append(m)
    inv = Inventory([ok, *frozen])
    inv.probe_interval = 0.2
    return inv, frozen


def test_hung_backends_cost_the_slowest_timeout_once_and_come_back(tmp_path):
    inv, frozen = _inventory(tmp_path, hung=3, timeout=1.0)
    try:
        t_listed = datetime.now(UTC)
        healthy = {vm.uuid: vm for vm in inv.list_vms()[0]}
        assert len(healthy) == 3 + 3 * 2  # all known while healthy
        assert not any(vm.stale for vm in healthy.values())
        for m in frozen:
            m.thawed.clear()
        t0 = time.monotonic()
        vms, failures = inv.list_vms()
        first = time.monotonic() - t0
        assert 0.9 < first < 1.8, first  # the slowest, not the sum of 3 timeouts
        assert set(failures) == {"hung0", "hung1", "hung2"}
        # the dead backends' VMs are still there: as last known, marked stale
        assert {vm.uuid for vm in vms} == set(healthy)
        for vm in vms:
            if vm.backend_id == "ok":
                assert not vm.stale
                continue
            assert vm.stale and "no answer within 1 s" in vm.stale_reason, vm
            assert t_listed <= vm.stale_since <= datetime.now(UTC)
            assert (vm.name, vm.state) == (healthy[vm.uuid].name, healthy[vm.uuid].state)
        for _ in range(5):  # later enumerations do not wait for the dead ones
            t0 = time.monotonic()
            hosts = {h.backend_id: h for h in inv.hosts()}
            streamed = list(inv.iter_vms())
            one = inv.get_vm(streamed[-1].uuid)
            of_one = inv.vms_with_devices_of("hung1")
            assert time.monotonic() - t0 < 0.2
            assert len(streamed) == 9
            assert sum(vm.stale for vm in streamed) == 6
            assert one.stale and one.backend_id == "hung2"
            assert len(of_one) == 2 and all(vm.stale for vm in of_one)
            assert "marked down" in one.stale_reason
            assert hosts["hung0"].status is HostStatus.LOST_COMMUNICATION
            assert hosts["hung0"].hostname  # last known state
            assert "no answer within 1 s" in hosts["hung0"].status_detail
            assert hosts["ok"].status is HostStatus.OK
        # changes on a stale VM are refused at once, never queued behind the hang
        stale = inv.get_vm(streamed[-1].uuid)
        t0 = time.monotonic()
        with pytest.raises(StaleVM, match="backend 'hung2' is down"):
            inv.check_fresh(stale, "RequestStateChange(9)")
        with pytest.raises(BackendUnavailable, match="marked down"):  # a job's long call
            inv.perform(stale.uuid, PowerAction.PAUSE, "hung2", timeout=30)
        with pytest.raises(BackendUnavailable, match="marked down"):
            inv.undefine_vm(stale.uuid, timeout=30)
        rc, desc = change_state(inv, stale, 9)  # a group's RequestStateChangeOfMembers
        assert rc == 4 and "not performed: backend 'hung2' is down" in desc, desc
        assert time.monotonic() - t0 < 0.2
        assert inv.backend_of(stale.uuid) == "hung2"  # still known where it is
        for m in frozen:
            m.thawed.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(inv.is_down(m.backend_id) for m in frozen):
            time.sleep(0.05)
        assert not any(inv.is_down(m.backend_id) for m in frozen)  # back on their own
        back = inv.list_vms()[0]
        assert len(back) == 9 and not any(vm.stale for vm in back)  # the mark is gone
        assert all(h.status is HostStatus.OK for h in inv.hosts())
    finally:
        for m in frozen:
            m.thawed.set()
        inv.close()


def test_parallel_iter_vms_waits_for_the_slowest_only(tmp_path):
    inv, frozen = _inventory(tmp_path, hung=2, timeout=1.0)
    try:
        for m in frozen:
            m.thawed.clear()
        t0 = time.monotonic()
        assert len(list(inv.iter_vms())) == 3  # never listed: nothing known of them
        assert time.monotonic() - t0 < 1.8
    finally:
        for m in frozen:
            m.thawed.set()
        inv.close()


def test_hung_backend_and_200_concurrent_requests(tmp_path):
    """The healthy backend's VMs stay readable and controllable throughout; no
    enumeration is ever an empty 200."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(256)
    port = silent.getsockname()[1]
    write_node_xml(tmp_path / "ok.xml", 3, seed=2, running_every=1)
    backends = [
        {"id": "ok", "type": "libvirt", "uri": node_uri(tmp_path / "ok.xml")},
        {
            "id": "silent",
            "type": "libvirt",
            "uri": f"qemu+tcp://127.0.0.1:{port}/system",
            "timeout": 2,
        },  # fmt: skip
    ]
    try:
        with VrmServer(tmp_path, backends) as s:
            vms = s.conn().EnumerateInstances("VRM_ComputerSystem")
            assert len(vms) == 3
            paths = [v.path for v in vms]
            errors: list[str] = []
            times: list[float] = []

            def one(i: int) -> None:
                conn = s.conn(timeout=60)
                t0 = time.monotonic()
                try:
                    kind = i % 4
                    if kind == 0:
                        got = conn.EnumerateInstances("VRM_ComputerSystem")
                        if len(got) != 3:
                            errors.append(f"enumeration returned {len(got)} VMs")
                    elif kind == 1:
                        conn.GetInstance(paths[i % 3])
                    elif kind == 2:
                        state = 9 if (i // 4) % 2 == 0 else 2
                        rv, _ = conn.InvokeMethod(
                            "RequestStateChange", paths[i % 3], RequestedState=pywbem.Uint16(state)
                        )
                        if rv not in (0, 4097):
                            errors.append(f"RequestStateChange returned {rv}")
                    else:
                        hosts = {h["Name"]: h for h in conn.EnumerateInstances("VRM_HostSystem")}
                        if list(hosts["ok"]["OperationalStatus"]) != [2]:
                            errors.append("healthy host not OK")
                except pywbem.Error as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                times.append(time.monotonic() - t0)

            with ThreadPoolExecutor(24) as ex:
                list(ex.map(one, range(200)))
            assert not errors, errors[:5]
            # once marked down, the dead backend costs nothing
            conn = s.conn()
            t0 = time.monotonic()
            hosts = {h["Name"]: h for h in conn.EnumerateInstances("VRM_HostSystem")}
            assert len(conn.EnumerateInstances("VRM_ComputerSystem")) == 3
            assert time.monotonic() - t0 < 0.2 * 2 + 0.2  # two requests, < 200 ms each
            assert list(hosts["silent"]["OperationalStatus"]) == [13]
            for p in paths:
                conn.InvokeMethod("RequestStateChange", p, RequestedState=pywbem.Uint16(2))
                assert conn.GetInstance(p)["EnabledState"] == 2
    finally:
        silent.close()


def test_a_backend_over_the_known_limit_is_not_remembered(tmp_path, monkeypatch):
    """Remembering is bounded (KNOWN_LIMIT VMs per backend): a bigger backend's listing
    streams lazily and is not kept, so while it hangs its VMs are absent, as before;
    within the limit they are there, stale."""
    import vrmgmt.inventory as inventory

    inv, frozen = _inventory(tmp_path, hung=2, timeout=1.0)  # 2 VMs on each hung one
    try:
        monkeypatch.setattr(inventory, "KNOWN_LIMIT", 1)
        assert len(list(inv.iter_vms())) == 7  # hung0 listed over the limit
        monkeypatch.setattr(inventory, "KNOWN_LIMIT", 2)
        assert len(inv.vms_of("hung1")) == 2  # hung1 listed within it
        for m in frozen:
            m.thawed.clear()
        vms = list(inv.iter_vms())
        by = {b: [vm for vm in vms if vm.backend_id == b] for b in ("ok", "hung0", "hung1")}
        assert len(by["ok"]) == 3 and not any(vm.stale for vm in by["ok"])
        assert by["hung0"] == []  # not remembered
        assert len(by["hung1"]) == 2 and all(vm.stale for vm in by["hung1"])
    finally:
        for m in frozen:
            m.thawed.set()
        inv.close()
