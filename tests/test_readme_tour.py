"""The README's tours, run line by line against a real server with default
authentication (generated admin password): the first tour on the default backend
(test:///default), the jobs tour with a vCenter simulator as a second backend."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pywbem

from support.server import PROJECT, VrmServer
from support.vcsim import Vcsim


def tour_lines(name: str = "") -> list[str]:
    text = (PROJECT / "README.md").read_text()
    tag = f"tour:{name}:" if name else "tour:"
    block = re.search(rf"<!-- {tag}begin -->\s*```sh\n(.*?)```\s*<!-- {tag}end -->", text, re.S)
    assert block, f"README has no {tag} block"
    return block.group(1).splitlines()


def test_readme_tour_runs(tmp_path):
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    # Use the server's own first-start admin user, as a new installation would.
    (srv.state_dir / "users").unlink()
    with srv:
        pw_file = srv.state_dir / "admin-password"
        assert pw_file.exists() and oct(pw_file.stat().st_mode & 0o777) == "0o600"
        r = _run_tour(srv, "", tmp_path)
    out = r.stdout
    assert "6695eb01-f6a4-8304-79aa-97f2502e193f" in out
    assert "instance of VRM_HostSystem" in out
    assert "EnabledState = 9;" in out  # the get between pause and resume
    assert out.count("RequestStateChange: 0") == 2  # wbemcli cm, both
    audit = (srv.state_dir / "audit.log").read_text().splitlines()
    assert all('"user": "admin"' in line for line in audit)
    records = [json.loads(line) for line in audit]
    # the 4 RequestStateChange calls: recorded before (fail closed) and after, with the
    # client address
    host_records = [r for r in records if r.get("client")]
    assert [r["outcome"] for r in host_records] == ["attempted", "completed, return value 0"] * 4


def _run_tour(srv: VrmServer, name: str, tmp_path, **subst) -> subprocess.CompletedProcess:
    script = "\n".join(tour_lines(name))
    script = script.replace("127.0.0.1:5988", f"127.0.0.1:{srv.port}")
    script = script.replace("/var/lib/vrmgmt/admin-password", str(srv.state_dir / "admin-password"))
    script = script.replace("$PWD/.venv/bin", str(Path(sys.executable).parent))
    for old, new in subst.items():
        script = script.replace(old, new)
    r = subprocess.run(
        ["bash", "-e", "-x", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_readme_jobs_tour_runs(tmp_path):
    with Vcsim(hosts=1, vms=1, method_delay={"PowerOffVM_Task": 800}) as sim:
        backends = [
            {"id": "test", "type": "libvirt", "uri": "test:///default"},
            sim.backend_config(tmp_path),
        ]
        srv = VrmServer(tmp_path / "srv", backends)
        (srv.state_dir / "users").unlink()
        with srv:
            admin_pw = (srv.state_dir / "admin-password").read_text().strip()
            conn = pywbem.WBEMConnection(
                srv.url, ("admin", admin_pw), default_namespace="root/virt"
            )
            (vm,) = [
                i for i in conn.EnumerateInstances("VRM_ComputerSystem") if i["BackendID"] == "vc"
            ]
            r = _run_tour(srv, "jobs", tmp_path, **{"UUID-OF-A-VCENTER-VM": vm["Name"]})
            assert conn.GetInstance(vm.path)["EnabledState"] == 3  # off, as the job said
    out = r.stdout
    assert "ReturnValue=4096" in out, out
    assert "instance of VRM_ConcreteJob" in out and "JobState = 7;" in out, out
    assert "PercentComplete = 100;" in out
    assert "VRM_ConcreteJob.InstanceID=" in out  # the associator from the VM to its job


def test_readme_vsms_tour_runs(tmp_path):
    """The VSMS tour: define a VM with pywbem, look at its settings with pywbemcli,
    destroy it (the test driver's host `test`)."""
    srv = VrmServer(tmp_path / "srv", [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        r = _run_tour(srv, "vsms", tmp_path)
        admin_pw = (srv.state_dir / "admin-password").read_text().strip()
        conn = pywbem.WBEMConnection(srv.url, ("admin", admin_pw), default_namespace="root/virt")
        left = [i["ElementName"] for i in conn.EnumerateInstances("VRM_ComputerSystem")]
    out = r.stdout
    assert "DefineSystem: 0 " in out and "7f3c0a42-0d1e-4b7a-9c55-00000000701a" in out, out
    assert 'ElementName = "tour-vm";' in out and '"defined over CIM"' in out, out
    # the four resource settings, as the associators show them
    assert "instance of VRM_ProcessorAllocationSettingData" in out, out
    assert "instance of VRM_MemoryAllocationSettingData" in out and "VirtualQuantity = 1024;" in out
    assert '"/var/lib/libvirt/images/tour.qcow2"' in out, out
    assert 'Address = "52:54:00:00:70:1a";' in out, out
    assert "DestroySystem: 0" in out
    assert "tour-vm" not in left


def test_readme_groups_tour_runs(tmp_path):
    """The groups tour (issue 12), then a restart: the groups are still there."""
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        r = _run_tour(srv, "groups", tmp_path)
    out = r.stdout
    assert 'Descriptions="done (pause)"' in out, out
    assert "ReturnValue=4096" in out  # the start: a job (the pause's job went into $JOB)
    assert 'ElementName = "web";' in out and 'ElementName = "All";' in out
    wbemcli = r'^127\.0\.0\.1:\d+/root/virt:VRM_Group\.InstanceID="vrmgmt:group:root"$'
    assert re.search(wbemcli, out, re.M), out  # wbemcli ein lists the groups
    audit = [json.loads(line) for line in (srv.state_dir / "audit.log").read_text().splitlines()]
    actions = {a["action"] for a in audit if not a.get("client")}
    assert {"CreateGroup", "AddMembers(1)", "ModifyInstance", "DeleteGroup(Force=True)"} <= actions
    with srv:  # restarted: the edits were kept
        admin_pw = (srv.state_dir / "admin-password").read_text().strip()
        conn = pywbem.WBEMConnection(srv.url, ("admin", admin_pw), default_namespace="root/virt")
        names = sorted(i["ElementName"] for i in conn.EnumerateInstances("VRM_Group"))
        assert names == ["All", "servers"]
        (servers,) = [
            i for i in conn.EnumerateInstances("VRM_Group") if i["ElementName"] == "servers"
        ]
        got = conn.AssociatorNames(servers.path, AssocClass="VRM_MemberOfGroup", Role="Collection")
        assert [p["Name"] for p in got] == ["6695eb01-f6a4-8304-79aa-97f2502e193f"]
        # the VM was paused and started again by the group's jobs
        (vm,) = conn.EnumerateInstances("VRM_ComputerSystem")
        assert vm["EnabledState"] == 2


def test_readme_hostctl_tour_runs(tmp_path):
    """The host-control tour: a qemu:///system backend (support.libvirtd's daemon) whose
    reboot command is a harmless one that records it ran."""
    from support.libvirtd import LibvirtdForTests

    record = tmp_path / "reboot-record"
    cmd = [sys.executable, "-c", "import sys; open(sys.argv[1], 'a').write('reboot\\n')"]
    extra = (
        "\n[host_control]\nallow_power_actions = true\n"
        f"reboot_command = {json.dumps([*cmd, str(record)])}\n"
    )
    with LibvirtdForTests("qemu:///system"):
        srv = VrmServer(
            tmp_path / "srv",
            [{"id": "kvm", "type": "libvirt", "uri": "qemu:///system"}],
            extra_config=extra,
        )
        (srv.state_dir / "users").unlink()
        with srv:
            server_pid = srv.proc.pid
            r = _run_tour(srv, "hostctl", tmp_path)
    out = r.stdout
    assert "instance of VRM_OperatingSystem" in out, out
    assert f'Version = "{os.uname().release}";' in out
    # the server's own process: its PID, and this test as its parent
    assert re.search(rf'"{server_pid}"\s*\|[^\n]*\|\s*"{os.getpid()}"', out), out
    assert "AvailableRequestedStates = { 4, 10 };" in out
    assert "ReturnValue=0" in out
    assert record.read_text() == "reboot\n"  # ran exactly once


def test_readme_devices_tour_runs(tmp_path):
    """The devices tour: the test VM's devices, its memory's settings, its capabilities."""
    srv = VrmServer(tmp_path / "srv", [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        out = _run_tour(srv, "devices", tmp_path).stdout
    uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    for dev in ("proc/0", "proc/1", "mem", "disk/vda", "nic/aa:bb:cc:dd:ee:ff"):
        assert f"test:{uuid}/{dev}" in out, out
    assert "AABBCCDDEEFF" in out, out  # the NIC's PermanentAddress
    assert "instance of VRM_MemoryAllocationSettingData" in out, out
    assert f'InstanceID = "test:{uuid}/mem";' in out, out
    assert "RequestedStatesSupported = { 2, 3, 4, 6, 9, 10, 11 };" in out, out
    assert "ElementNameEditSupported = true;" in out, out


def test_readme_vsms2_tour_runs(tmp_path):
    """Requested states, a 4097, a copy of a VM defined with MOF settings (issue 9)."""
    srv = VrmServer(tmp_path / "srv", [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        r = _run_tour(srv, "vsms2", tmp_path)
        admin_pw = (srv.state_dir / "admin-password").read_text().strip()
        conn = pywbem.WBEMConnection(srv.url, ("admin", admin_pw), default_namespace="root/virt")
        vms = {i["ElementName"]: i for i in conn.EnumerateInstances("VRM_ComputerSystem")}
    out = r.stdout
    states = re.findall(r"EnabledState = (\d+);\s*RequestedState = (\d+);", out)
    assert states == [("2", "0"), ("2", "10"), ("9", "9")], out
    assert "ReturnValue=4097" in out.replace(" ", ""), out
    assert "DefineSystem: 0" in out and "copy: 4 vCPUs, weight 2048" in out, out
    assert vms["test-copy"]["NumberOfVirtualCPUs"] == 4
    assert vms["test"]["EnabledState"] == 2 and vms["test"]["RequestedState"] == 2


def test_readme_indications_tour_runs(tmp_path):
    """The indications tour (issue 15): pywbemcli subscribes a pywbemlistener, the
    pause and resume arrive as CIM_InstModification with the VM's new EnabledState, a
    new group as CIM_InstCreation of VRM_Group."""
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        r = _run_tour(srv, "indications", tmp_path)
    log = (tmp_path / "indications.log").read_text()
    mods = [line for line in log.splitlines() if "CIM_InstModification" in line]
    assert len(mods) == 2, log
    assert "EnabledState = 9" in mods[0] and "EnabledState = 2" in mods[1], log
    (made,) = [line for line in log.splitlines() if "CIM_InstCreation" in line]
    assert "instance of VRM_Group" in made and 'ElementName = \\"tour-group' in made, log
    assert "DeliveryRetryAttempts = 3;" in r.stdout
    assert "tour-filter" in r.stdout and "tour-dest" in r.stdout


def test_readme_snapshots_tour_runs(tmp_path):
    """The snapshots tour (issue 10): two snapshots of the test VM, their tree with
    pywbemcli, apply the first, destroy the second."""
    srv = VrmServer(tmp_path, [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        r = _run_tour(srv, "snapshots", tmp_path)
    out = r.stdout
    uuid = "6695eb01-f6a4-8304-79aa-97f2502e193f"
    assert f"CreateSnapshot: 0 test:{uuid}/snapshot/before-upgrade" in out, out
    assert f"CreateSnapshot: 0 test:{uuid}/snapshot/after-upgrade" in out, out
    assert 'ElementName = "before-upgrade";' in out and 'ElementName = "after-upgrade";' in out
    last = [line for line in out.splitlines() if "VRM_SnapshotSettingData.InstanceID" in line]
    # the parent of after-upgrade, the current snapshot before and after ApplySnapshot
    assert [line.rsplit("/", 1)[1] for line in last] == [
        'before-upgrade"',
        'after-upgrade"',
        'before-upgrade"',
    ], out
    assert "ReturnValue=0" in out
    assert "VRM_SnapshotSettingData" in out and re.search(r"VRM_SnapshotSettingData\s+1\b", out)


def test_readme_migration_tour_runs(tmp_path):
    """The migration tour (issue 10): the vCenter's migration capabilities, a check, a
    refused libvirt target, and a VM moved to the cluster's other ESXi host (pyVmomi
    confirms)."""
    from vrmgmt.backends import create_manager

    with Vcsim(hosts=2, vms=1) as sim:
        backends = [
            {"id": "test", "type": "libvirt", "uri": "test:///default"},
            sim.backend_config(tmp_path),
        ]
        srv = VrmServer(tmp_path / "srv", backends)
        (srv.state_dir / "users").unlink()
        mgr = create_manager("vc-check", "vsphere", **sim.manager_options())
        mgr.connect()
        try:
            with srv:
                admin_pw = (srv.state_dir / "admin-password").read_text().strip()
                conn = pywbem.WBEMConnection(
                    srv.url, ("admin", admin_pw), default_namespace="root/virt"
                )
                vm = next(
                    i
                    for i in conn.EnumerateInstances("VRM_ComputerSystem")
                    if i["BackendID"] == "vc"
                )
                ref = mgr._session.content.searchIndex.FindByUuid(None, vm["Name"], True, True)
                here = ref.runtime.host.name
                (there,) = [h.name for h in ref.runtime.host.parent.host if h.name != here]
                subst = {"UUID-OF-A-VCENTER-VM": vm["Name"], "ESXI-TARGET": there}
                r = _run_tour(srv, "migration", tmp_path, **subst)
                assert ref.runtime.host.name == there  # pyVmomi: it moved
        finally:
            mgr.close()
    out = r.stdout
    assert "AsynchronousMethodsSupported = { 2, 3 };" in out, out
    assert "Check: 0 IsMigratable: True" in out, out
    assert "to test: 7 " in out and "not supported" in out, out
    assert "Migrate: 4096" in out, out
    assert "JobState: 7 PercentComplete: 100" in out, out


def test_readme_pools_tour_runs(tmp_path):
    """The pools tour: the host's four pools, the memory templates, a refused DefineSystem."""
    srv = VrmServer(tmp_path / "srv", [{"id": "test", "type": "libvirt", "uri": "test:///default"}])
    (srv.state_dir / "users").unlink()
    with srv:
        out = _run_tour(srv, "pools", tmp_path).stdout
    for iid in ("test:pool/proc", "test:pool/mem", "test:pool/disk/default-pool"):
        assert f'InstanceID = "{iid}";' in out, out
    assert 'InstanceID = "test:pool/net/default";' in out, out
    assert f"Capacity = {100 << 30};" in out, out  # the test driver's default-pool
    assert 'AllocationUnits = "byte*2^20";' in out, out
    for role in ("Default", "Minimum", "Maximum", "Increment"):
        assert f'InstanceID = "test:pool/mem/template/{role}";' in out, out
    assert "VirtualQuantity = 3072;" in out, out  # the maximum: test:///default's memory
    assert "refused: 4 " in out and "test:pool/mem" in out and "3072 MiB" in out, out


def test_readme_metrics_tour_runs(tmp_path):
    """The metrics tour (issue 11): `vrmgmt serve` runs collectd (managed) over
    test:///default; the tour reads the VM's values, an hour of history, a PNG."""
    extra = '\n[metrics]\ncollect_interval = 1\ncollectd = "managed"\n'
    srv = VrmServer(
        tmp_path / "srv",
        [{"id": "test", "type": "libvirt", "uri": "test:///default"}],
        extra_config=extra,
    )
    (srv.state_dir / "users").unlink()
    with srv:
        cfg = f"--config {srv.config}"
        out = _run_tour(
            srv,
            "metrics",
            tmp_path,
            **{"sleep 25": "sleep 4", "collectd-config |": f"collectd-config {cfg} |"},
        ).stdout
    assert 'MetricNames="CPUUtilization", "HostCPUShare", "MemoryAllocation"' in out, out
    assert "instance of VRM_BaseMetricValue" in out, out
    assert "StepSeconds=1" in out, out  # collect_interval 1
    assert "PNG image data, 640 x 240" in out, out
    assert 'Hostname "test"' in out and "LoadPlugin cpu" in out, out
