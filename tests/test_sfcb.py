"""vrmgmt's providers inside a real SFCB 1.3.16 with cmpi-bindings 1.0.5 (issue 17), built
from ../shared/third-party by tests/support/sfcb.py (cached outside the clone).

The module deploys vrmgmt exactly as the README's SFCB block says (only the prefix, the
site directory, the port and the credentials are the test's), then runs the shared case
table (tests/support/parity.py) through SFCB with pywbem, wbemcli and pywbemcli with
property lists, the README tour's client lines, a broken MOF (fails naming file and
line, SFCB keeps serving the previous classes), `vrmgmt register --check` with and
without cmpi-bindings' missing `_cmpi` link, and idle cleanup cycles
(providerTimeoutInterval 2 s) without a provider crash.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cmpi_testkit as kit
import pytest
import pywbem

from support import cimoms
from support import sfcb as sfcb_support
from support.parity import ALL_UUIDS, SfcbHost, all_cases
from support.server import PROJECT
from vrmgmt.cmpi import register as reg

pytestmark = pytest.mark.sfcb

VENV_BIN = Path(sys.executable).parent
DEFAULT_VM = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # test:///default's domain
CASES = all_cases()


def readme_block(marker: str) -> str:
    text = (PROJECT / "README.md").read_text()
    m = re.search(rf"<!-- {marker}:begin -->\s*```sh\n(.*?)```\s*<!-- {marker}:end -->", text, re.S)
    assert m, f"README has no {marker} block"
    return m.group(1)


def run_script(srv: sfcb_support.Sfcb, script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-e", "-x", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=srv.env(),
        check=False,
    )


def write_config(path: Path, backends: list[tuple[str, str]]) -> Path:
    path.write_text(
        "".join(f'[[backends]]\nid = "{i}"\ntype = "libvirt"\nuri = "{u}"\n\n' for i, u in backends)
    )
    return path


@pytest.fixture(scope="module")
def build():
    cimoms.release()  # the per-class cases' CIMOMs: one daemon per build at a time
    try:
        return sfcb_support.build_sfcb()
    except sfcb_support.SfcbUnavailable as exc:
        pytest.fail(f"{exc} (scripts/dev setup test installs the build dependencies)")


@pytest.fixture(scope="module")
def deployed(build, tmp_path_factory):
    """SFCB with vrmgmt registered by the README's SFCB block, run as written."""
    d = tmp_path_factory.mktemp("sfcb")
    node = kit.write_node_xml(d / "node.xml")
    cfg = write_config(d / "vrmgmt.toml", [(kit.BACKEND, f"test://{node}")])
    srv = sfcb_support.Sfcb(
        build, d / "run", env={"VRMGMT_CONFIG": str(cfg)}, provider_timeout=2, trace_mask=2
    )
    with srv:
        script = readme_block("sfcb")
        script = script.replace("$PWD/.venv/bin", str(VENV_BIN))
        script = script.replace("--prefix /usr", f"--prefix {srv.prefix}")
        # the hook goes into this run's site directory, not into the machine's Python
        script = script.replace(
            "--install-site-hook", f"--install-site-hook --site-dir {srv.site_dir}"
        )
        script = script.replace("USER:PW@localhost:5988", f"127.0.0.1:{srv.port}")
        result = run_script(srv, script, d)
        srv.readme_result = result
        srv.vrm_config = cfg
        yield srv
    # after sfcbd stopped: the provider processes' shutdown (TargetCleanup) counts too
    crashes = srv.crashes()
    assert not crashes, "provider crashes in sfcbd's log:\n" + "\n".join(crashes)


def test_readme_sfcb_steps_run_as_written(deployed):
    r = deployed.readme_result
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    out = r.stdout
    assert f"# Save as {deployed.site_dir}/vrmgmt-cmpi.pth" not in out  # --site-dir only
    assert "# Save as /" in out and "vrmgmt-cmpi.pth" in out  # where the hook goes
    assert "embeds, ldd: libpython3" in out
    assert (deployed.site_dir / "vrmgmt-cmpi.pth").is_file()
    assert "ok: the CIMOM's embedded Python imports cmpi, cmpi_pywbem_bindings, vrmgmt" in out
    assert "--dry-run: nothing is changed" in out
    assert "installed the new repository" in out
    for uuid in ALL_UUIDS:  # wbemcli ein through SFCB
        assert f'Name="{uuid}"' in out, out[-3000:]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_table_through_sfcb(case, deployed):
    host = SfcbHost(deployed.conn())
    assert case.run(host) == case.expect


def wbemcli(srv, *args) -> str:
    r = srv.tool("wbemcli", *args, check=False, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_wbemcli_property_lists(deployed):
    base = f"http://127.0.0.1:{deployed.port}/root/virt"
    alpha = kit.VMS["alpha"][0]
    path = f'{base}:VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{alpha}"'
    out = wbemcli(deployed, "-nl", "gi", path, "EnabledState,ElementName")
    props = dict(re.findall(r"-(\w+)=(.*)", out))
    assert props["ElementName"] == '"alpha"' and props["EnabledState"] == "2"
    assert "NumberOfVirtualCPUs" not in props  # left out by the property list
    out = wbemcli(deployed, "-nl", "ei", f"{base}:VRM_ComputerSystem", "ElementName")
    assert sorted(re.findall(r'-ElementName="(\w+)"', out)) == sorted(kit.VMS)
    assert "-EnabledState" not in out and "-NumberOfVirtualCPUs" not in out
    out = wbemcli(deployed, "-nl", "ei", f"{base}:VRM_ComputerSystem")  # no list: everything
    assert out.count("-NumberOfVirtualCPUs=2") == 3


def test_pywbemcli_property_lists(deployed):
    cli = [str(VENV_BIN / "pywbemcli"), "-s", deployed.url, "-d", "root/virt", "--no-verify"]
    alpha = kit.VMS["alpha"][0]
    vm = f'VRM_ComputerSystem.CreationClassName="VRM_ComputerSystem",Name="{alpha}"'
    r = deployed.tool(*cli, "instance", "get", vm, "--pl", "EnabledState", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "EnabledState = 2;" in r.stdout and "ElementName" not in r.stdout
    r = deployed.tool(
        *cli, "instance", "enumerate", "VRM_ComputerSystem", "--pl", "ElementName", check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("instance of VRM_ComputerSystem") == 3
    assert 'ElementName = "beta";' in r.stdout and "EnabledState" not in r.stdout


def test_register_check_names_the_missing_cmpi_link(deployed):
    check = [str(VENV_BIN / "vrmgmt"), "register", "--cimom", "sfcb", "--prefix"]
    r = deployed.tool(*check, str(deployed.prefix), "--check", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.rstrip().endswith(
        "ok: the CIMOM's embedded Python imports cmpi, cmpi_pywbem_bindings, vrmgmt"
    )
    assert "interpreter: /usr/bin/python3.11" in r.stdout
    assert "WARNING" not in r.stdout  # the build has the cleanup patch: no Py_Finalize
    link = deployed.site_dir / "_cmpi.so"
    target = os.readlink(link)
    link.unlink()
    try:
        r = deployed.tool(*check, str(deployed.prefix), "--check", check=False)
    finally:
        link.symlink_to(target)
    assert r.returncode == 1
    assert "MISSING: import cmpi: ModuleNotFoundError: No module named '_cmpi'" in r.stdout
    lib = deployed.prefix / "lib/cmpi/libpy3CmpiProvider.so"
    assert f"ln -s {lib} {link}" in r.stdout
    assert "ok:" not in r.stdout


def test_broken_mof_fails_naming_file_and_line_and_sfcb_keeps_serving(deployed, tmp_path):
    project = tmp_path / "project"
    for d in ("mof", "registration", "providers"):
        shutil.copytree(PROJECT / d, project / d, symlinks=True)
    broken = project / "mof" / "VRM_System.mof"
    lines = broken.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if "string BackendType;" in line)
    lines[n] = "   string BackendType"  # the ';' is missing
    broken.write_text("\n".join(lines) + "\n")
    repo = deployed.registration_dir / "repository"
    before = sorted(p.name for p in (repo / "root" / "virt").iterdir())
    out = __import__("io").StringIO()
    rc = reg.register("sfcb", False, project, out, prefix=deployed.prefix, work_dir=tmp_path / "w")
    text = out.getvalue()
    assert rc != 0, text
    m = re.search(rf"{re.escape(str(broken))}:(\d+): .*syntax error", text)
    assert m and n + 1 <= int(m.group(1)) <= n + 3, text  # where sfcbmof notices
    assert "Nothing was changed" in text
    assert sorted(p.name for p in (repo / "root" / "virt").iterdir()) == before
    deployed.restart()  # SFCB reads the repository from disk again: still the old one
    conn = deployed.conn()
    assert "VRM_ComputerSystem" in conn.EnumerateClassNames(DeepInheritance=True)
    assert len(conn.EnumerateInstanceNames("VRM_ComputerSystem")) == 3


def test_idle_cleanup_keeps_the_provider_loaded_without_crashes(deployed):
    """providerTimeoutInterval is 2 s: SFCB asks the idle providers to unload every
    few seconds; they decline (CMPI_RC_DO_NOT_UNLOAD), keep their state and never
    crash (cmpi-bindings' TargetCleanup segfaults the provider process)."""
    conn = deployed.conn()
    alpha = pywbem.CIMInstanceName(
        "VRM_ComputerSystem",
        {"CreationClassName": "VRM_ComputerSystem", "Name": kit.VMS["alpha"][0]},
        namespace=kit.NS,
    )
    declined = re.compile(r"Cleanup rc: 50 \S*/providers/VMListProvider")
    log_start = len(deployed.log_text())
    before = len(declined.findall(deployed.log_text()))
    # VRMGMT_SFCB_IDLE_SECONDS=600 gives the long form (10 minutes of idle rounds)
    end = time.monotonic() + float(os.environ.get("VRMGMT_SFCB_IDLE_SECONDS", "14"))
    cycles = 0
    while cycles < 3 or time.monotonic() < end:
        state = 9 if cycles % 2 == 0 else 2
        rv, _ = conn.InvokeMethod("RequestStateChange", alpha, RequestedState=pywbem.Uint16(state))
        assert rv == 0
        time.sleep(4)  # > providerTimeoutInterval + the idle monitor's period
        # the provider kept its state (the test driver's VMs live in its process)
        assert conn.GetInstance(alpha, PropertyList=["EnabledState"])["EnabledState"] == state
        cycles += 1
    if state != 2:
        conn.InvokeMethod("RequestStateChange", alpha, RequestedState=pywbem.Uint16(2))
    # SFCB's trace (providerDrv.c): "--- Cleanup rc: 50 <provider>" per idle round
    rounds = len(declined.findall(deployed.log_text())) - before
    assert rounds >= 3, deployed.log_text()[-3000:]
    assert "Unloading provider /" not in deployed.log_text()
    assert deployed.crashes(since=log_start) == [], deployed.log_text()[log_start:][-6000:]


def test_readme_tour_client_lines_against_sfcb(deployed, tmp_path):
    """The README tour on SFCB over test:///default (SFCB runs without authentication
    here, so the tour's credentials are sent and ignored)."""
    write_config(deployed.vrm_config, [("test", "test:///default")])
    deployed.restart()
    try:
        pw = tmp_path / "admin-password"
        pw.write_text("unused\n")
        text = (PROJECT / "README.md").read_text()
        block = re.search(r"<!-- tour:begin -->\s*```sh\n(.*?)```\s*<!-- tour:end -->", text, re.S)
        assert block
        script = block.group(1)
        script = script.replace("127.0.0.1:5988", f"127.0.0.1:{deployed.port}")
        script = script.replace("/var/lib/vrmgmt/admin-password", str(pw))
        script = script.replace("$PWD/.venv/bin", str(VENV_BIN))
        r = run_script(deployed, script, tmp_path)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        out = r.stdout
        assert DEFAULT_VM in out
        assert "instance of VRM_HostSystem" in out
        assert "EnabledState = 9;" in out  # the get between pause and resume
        assert out.count("RequestStateChange: 0") == 2  # wbemcli cm, both
    finally:
        node = kit.write_node_xml(deployed.vrm_config.parent / "node.xml")
        write_config(deployed.vrm_config, [(kit.BACKEND, f"test://{node}")])
        deployed.restart()


def test_staged_mof_passes_sfcbmofpp_unchanged(build, tmp_path):
    """SFCB's preprocessor copies every line of what `register` stages (so sfcbmof's
    line numbers are the generated file's, which map to the sources)."""
    staging = reg.sfcb_staging(PROJECT, PROJECT / "providers")
    mof = tmp_path / "vrmgmt.mof"
    mof.write_text(staging.mof_text)
    r = subprocess.run(
        [str(build.prefix / "bin" / "sfcbmofpp"), str(mof)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == staging.mof_text
    assert "qemu:///system" in r.stdout


def test_scripts_dev_installs_the_build_dependencies():
    text = (PROJECT / "scripts" / "dev").read_text()
    apt = re.search(r"APT_SFCB=\((.*?)\)", text, re.S)
    assert apt and set(sfcb_support.DEBIAN_PACKAGES) <= set(apt.group(1).split()) | {
        "pkg-config",
        "python3-dev",  # in APT_SERVE
    }
    assert '"${APT_SFCB[@]}"' in text
