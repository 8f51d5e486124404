"""collectd writing through a real rrdcached (Debian `rrdcached`, long write timeout): the
files on disk stay stale, and vrmgmt's reader, given `[metrics] rrdcached`, flushes them
(`flushcached --daemon`) before reading, so CIM shows current values (DESIGN.md "Metrics")."""

from __future__ import annotations

import shutil
import subprocess
import time

import cmpi_testkit as kit
import pytest
import rrdtool

from support import collectd
from support.inproc import inproc_server

ALPHA = kit.VMS["alpha"][0]


@pytest.fixture
def cached(tmp_path):
    exe = shutil.which("rrdcached")
    if exe is None:
        pytest.fail("rrdcached is not installed (scripts/dev setup test installs it)")
    sock = tmp_path / "rrdcached.sock"
    (tmp_path / "journal").mkdir()
    proc = subprocess.Popen(
        [exe, "-g", "-l", f"unix:{sock}", "-w", "3600", "-z", "0", "-f", "7200",
         "-j", str(tmp_path / "journal"), "-p", str(tmp_path / "rrdcached.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sock.exists(), "rrdcached did not open its socket"
        yield f"unix:{sock}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_reads_flush_rrdcached(tmp_path, cached):
    node = kit.write_node_xml(tmp_path / "node.xml")
    root = tmp_path / "rrd"
    (tmp_path / "vrmgmt.toml").write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[metrics]\nrrd_roots = ["{root}"]\ncollect_interval = 1\nrrdcached = "{cached}"\n'
        f'[[backends]]\nid = "{kit.BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\n'
    )
    text = collectd.generate(tmp_path / "vrmgmt.toml", tmp_path / "collectd.conf")
    assert "LoadPlugin rrdcached" in text and f'DaemonAddress "{cached}"' in text
    mem = root / kit.BACKEND / f"virt-{ALPHA}" / "memory-total.rrd"
    with collectd.Collectd(tmp_path / "collectd.conf"):
        deadline = time.monotonic() + 30
        while not mem.is_file() and time.monotonic() < deadline:
            time.sleep(0.3)
        assert mem.is_file()
        time.sleep(4)  # updates now wait in rrdcached (write timeout 3600 s)
        on_disk = rrdtool.lastupdate(str(mem))["date"].timestamp()
        backends = [{"id": kit.BACKEND, "type": "libvirt", "uri": f"test://{node}"}]
        sections = {"metrics": {"rrd_roots": [str(root)], "rrdcached": cached}}
        with inproc_server(tmp_path / "cim", backends, sections=sections) as conn:
            vals = {str(v["InstanceID"]): v for v in conn.EnumerateInstances("VRM_BaseMetricValue")}
        got = vals[f"vm:MemoryAllocation@{kit.BACKEND}/{ALPHA}"]
        # the reader flushed: newer than the file on disk was
        assert got["TimeStamp"].datetime.timestamp() > on_disk + 1
        # and the same as rrdcached answers the command line
        out = subprocess.run(
            ["rrdtool", "lastupdate", str(mem), "--daemon", cached],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        stamp, value = out.strip().splitlines()[-1].split(":")
        assert float(got["MetricValue"]) == float(value)
        assert int(stamp) >= got["TimeStamp"].datetime.timestamp()
