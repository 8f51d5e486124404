"""Durability of the group store through a real `vrmgmt serve` (issue 12, "Done when"):
8 clients make up to 1,000 concurrent edits while a second writer process (the group
store of another process, as a CMPI provider inside SFCB/OpenPegasus has) edits the same
file; the server is killed with SIGKILL at a random moment and restarted. groups.xml
must validate, and every edit that was acknowledged (by the server or by the other
writer) must be there."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import pywbem

from support.server import VrmServer
from vrmgmt.groups import GroupStore
from vrmgmt.groups import store as gstore

CLIENTS, EDITS = 8, 1000

OTHER_WRITER = textwrap.dedent(
    """
    import sys
    from vrmgmt.groups import GroupStore
    s = GroupStore(sys.argv[1])
    for i in range(int(sys.argv[2])):
        s.edit(lambda t: t.create(f"other-{i}"))
        print(i, flush=True)
    """
)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_edit(tmp_path):
    rng = random.Random()
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    with srv:
        svc = pywbem.WBEMConnection(srv.url, srv.creds, default_namespace="root/virt")
        (svc_path,) = svc.EnumerateInstanceNames("VRM_GroupManagementService")
        other = subprocess.Popen(
            [sys.executable, "-c", OTHER_WRITER, str(srv.state_dir), "100000"],
            stdout=subprocess.PIPE,
            text=True,
        )
        other_acked = []
        reader = threading.Thread(
            target=lambda: other_acked.extend(int(x) for x in other.stdout), daemon=True
        )
        reader.start()

        def client(n: int) -> None:
            conn = pywbem.WBEMConnection(srv.url, srv.creds, default_namespace="root/virt")
            for i in range(EDITS // CLIENTS):
                if stop.is_set():
                    return
                name = f"c{n}-{i}"
                try:
                    rc, _ = conn.InvokeMethod("CreateGroup", svc_path, GroupName=name)
                except (pywbem.Error, OSError):
                    return  # the server is gone: this edit was not acknowledged
                assert rc == 0
                with lock:
                    acked.append(name)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        kill_after = rng.randint(100, 700)
        while len(acked) < kill_after and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait()
        stop.set()
        for t in threads:
            t.join(60)
        other.send_signal(signal.SIGKILL)
        other.wait()
        reader.join(10)
    assert len(acked) >= 100
    data = (srv.state_dir / "groups.xml").read_bytes()
    groups = gstore.parse(data)  # validates (XSD + checks)
    names = {g.name for g in groups.values()}
    missing = [n for n in acked if n not in names]
    assert not missing, f"{len(missing)} acknowledged edits lost: {missing[:5]}"
    other_missing = [i for i in other_acked if f"other-{i}" not in names]
    assert not other_missing and other_acked, (len(other_acked), other_missing[:5])
    assert not list(srv.state_dir.glob("groups.xml.corrupt-*"))
    # restarted, the server serves exactly that file
    with srv:
        conn = pywbem.WBEMConnection(srv.url, srv.creds, default_namespace="root/virt")
        served = {i["ElementName"] for i in conn.EnumerateInstances("VRM_Group")}
        assert set(acked) <= served
        assert GroupStore(srv.state_dir).health().ok
