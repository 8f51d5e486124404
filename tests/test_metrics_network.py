"""Several hosts (DESIGN.md "Metrics"): two real collectd instances on loopback, one
playing a hypervisor host (network plugin sending, `send_to`), one the management server
(network plugin receiving, `listen`, rrdtool writing the one tree); and an extra RRD root
(a second directory, as an NFS mount of another host's tree would be). vrmgmt then answers
every host's VMs the same way."""

from __future__ import annotations

import pytest
import rrdtool

from support import collectd, rrdsynth
from support.inproc import inproc_server
from support.server import free_port
from support.testdriver import write_node_xml


def _toml(d, backend, node, metrics: dict) -> str:
    lines = [f'[paths]\nstate_dir = "{d / "state"}"\n[metrics]\ncollect_interval = 1']
    lines += [
        f'{k} = "{v}"' if isinstance(v, str) else f'{k} = ["{v[0]}"]' for k, v in metrics.items()
    ]
    lines.append(f'[[backends]]\nid = "{backend}"\ntype = "libvirt"\nuri = "test://{node}"')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    d = tmp_path_factory.mktemp("net")
    root, extra = d / "rrd", d / "nfs-rrd"
    port = free_port()
    mg, hv = d / "mgmt", d / "hv2"
    mg.mkdir()
    hv.mkdir()
    mg_vms = write_node_xml(mg / "node.xml", 2, prefix="mg", seed=11)
    hv_vms = write_node_xml(hv / "node.xml", 3, prefix="hv", seed=12)
    nfs_vms = write_node_xml(d / "nfs-node.xml", 1, prefix="nfs", seed=13)
    (mg / "vrmgmt.toml").write_text(
        _toml(mg, "mgmt", mg / "node.xml", {"listen": f"127.0.0.1:{port}", "rrd_roots": [root]})
    )
    (hv / "vrmgmt.toml").write_text(
        _toml(hv, "hv2", hv / "node.xml", {"send_to": f"127.0.0.1:{port}"})
    )
    mg_text = collectd.generate(mg / "vrmgmt.toml", mg / "collectd.conf")
    hv_text = collectd.generate(hv / "vrmgmt.toml", hv / "collectd.conf")
    # another host's tree, read-only, in a second root
    rrdsynth.vm_tree(extra, "nfs3", nfs_vms[0][1])
    waits = [root / "hv2" / f"virt-{u}" / "memory-total.rrd" for _, u in hv_vms]
    waits += [root / "mgmt" / f"virt-{mg_vms[0][1]}" / "virt_cpu_total.rrd"]
    with collectd.Collectd(mg / "collectd.conf") as receiver:
        with collectd.Collectd(hv / "collectd.conf"):
            receiver.wait_for(
                waits + [root / "hv2" / f"virt-{hv_vms[0][1]}" / "virt_cpu_total.rrd"], updates=3
            )
    return {
        "d": d,
        "root": root,
        "extra": extra,
        "texts": (mg_text, hv_text),
        "vms": {"mgmt": mg_vms, "hv2": hv_vms, "nfs3": nfs_vms},
    }


def test_configs_send_and_receive(hosts):
    mg_text, hv_text = hosts["texts"]
    assert 'Listen "127.0.0.1"' in mg_text and "LoadPlugin rrdtool" in mg_text
    assert 'Server "127.0.0.1"' in hv_text and "LoadPlugin rrdtool" not in hv_text
    assert not (hosts["d"] / "hv2" / "state" / "rrd").exists()  # the sender writes nothing


def test_one_tree_for_both_hosts_and_cim_reads_all_roots(hosts):
    root, d = hosts["root"], hosts["d"]
    assert (root / "hv2" / "load" / "load.rrd").is_file()  # the sender's host plugins too
    backends = [
        {"id": "mgmt", "type": "libvirt", "uri": f"test://{d / 'mgmt' / 'node.xml'}"},
        {"id": "hv2", "type": "libvirt", "uri": f"test://{d / 'hv2' / 'node.xml'}"},
        {"id": "nfs3", "type": "libvirt", "uri": f"test://{d / 'nfs-node.xml'}"},
    ]
    sections = {"metrics": {"rrd_roots": [str(root), str(d / "missing"), str(hosts["extra"])]}}
    with inproc_server(d / "cim", backends, sections=sections) as conn:
        vals = {str(v["InstanceID"]): v for v in conn.EnumerateInstances("VRM_BaseMetricValue")}
    for _name, uuid in hosts["vms"]["hv2"]:
        lu = rrdtool.lastupdate(str(root / "hv2" / f"virt-{uuid}" / "memory-total.rrd"))
        assert float(vals[f"vm:MemoryAllocation@hv2/{uuid}"]["MetricValue"]) == lu["ds"]["value"]
    mg_uuid = hosts["vms"]["mgmt"][0][1]
    assert float(vals[f"vm:CPUUtilization@mgmt/{mg_uuid}"]["MetricValue"]) > 0
    nfs_uuid = hosts["vms"]["nfs3"][0][1]
    nfs_mem = hosts["extra"] / "nfs3" / f"virt-{nfs_uuid}" / "memory-total.rrd"
    lu = rrdtool.lastupdate(str(nfs_mem))
    assert float(vals[f"vm:MemoryAllocation@nfs3/{nfs_uuid}"]["MetricValue"]) == lu["ds"]["value"]
    assert "host:Users@hv2" in vals and "host:Users@mgmt" in vals
