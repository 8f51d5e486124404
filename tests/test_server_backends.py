"""Several backends in one server; a 1,000-domain test-driver host enumerates whole."""

from __future__ import annotations

import pywbem

from support.server import VrmServer
from support.testdriver import node_uri, write_node_xml


def test_two_backends_enumerate_together_with_the_right_host(tmp_path):
    a = write_node_xml(tmp_path / "a.xml", 4, prefix="alpha", seed=10)
    b = write_node_xml(tmp_path / "b.xml", 3, prefix="beta", seed=20, running_every=0)
    backends = [
        {"id": "host-a", "type": "libvirt", "uri": node_uri(tmp_path / "a.xml")},
        {"id": "host-b", "type": "libvirt", "uri": node_uri(tmp_path / "b.xml")},
    ]
    with VrmServer(tmp_path, backends) as srv:
        conn = srv.conn()
        vms = conn.EnumerateInstances("VRM_ComputerSystem")
        by_uuid = {vm["Name"]: vm for vm in vms}
        assert set(by_uuid) == {u for _, u in a} | {u for _, u in b}
        for _, uuid in a:
            assert by_uuid[uuid]["BackendID"] == "host-a"
            assert by_uuid[uuid]["EnabledState"] == 2
        for _, uuid in b:
            assert by_uuid[uuid]["BackendID"] == "host-b"
            assert by_uuid[uuid]["EnabledState"] == 3

        hosts = {h["Name"]: h for h in conn.EnumerateInstances("VRM_HostSystem")}
        assert set(hosts) == {"host-a", "host-b"}
        # Each VM's associated host is its own backend's host.
        for _, uuid in [a[0], b[0]]:
            path = by_uuid[uuid].path
            assoc = conn.Associators(path, AssocClass="VRM_HostedDependency")
            assert [h["Name"] for h in assoc] == [by_uuid[uuid]["BackendID"]]
        # And from a host: exactly its VMs.
        names = conn.AssociatorNames(hosts["host-b"].path, ResultClass="VRM_ComputerSystem")
        assert {n["Name"] for n in names} == {u for _, u in b}
        refs = conn.References(hosts["host-a"].path, ResultClass="VRM_HostedDependency")
        assert {r["Dependent"]["Name"] for r in refs} == {u for _, u in a}

        # Power actions go to the backend that owns the VM.
        _, off_uuid = b[0]
        rv, _ = conn.InvokeMethod(
            "RequestStateChange", by_uuid[off_uuid].path, RequestedState=pywbem.Uint16(2)
        )
        assert rv == 0
        assert conn.GetInstance(by_uuid[off_uuid].path)["EnabledState"] == 2


def test_thousand_domains_enumerate(tmp_path):
    doms = write_node_xml(tmp_path / "big.xml", 1000, seed=3, running_every=3)
    backends = [{"id": "big", "type": "libvirt", "uri": node_uri(tmp_path / "big.xml")}]
    with VrmServer(tmp_path, backends) as srv:
        conn = srv.conn()
        insts = conn.EnumerateInstances("VRM_ComputerSystem")
        assert len(insts) == 1000
        assert {i["Name"] for i in insts} == {u for _, u in doms}
        running = sum(1 for i in insts if i["EnabledState"] == 2)
        assert running == len(range(0, 1000, 3))
        names = conn.EnumerateInstanceNames("CIM_ComputerSystem")
        assert len(names) == 1001  # the VMs and the host, through the DMTF superclass
        # DeepInheritance=False limits properties to those of the requested class.
        shallow = conn.EnumerateInstances(
            "CIM_ComputerSystem",
            DeepInheritance=False,
            PropertyList=["Name", "EnabledState", "MemoryKiB"],
        )
        assert len(shallow) == 1001
        assert all(set(i.keys()) <= {"Name", "EnabledState"} for i in shallow)
