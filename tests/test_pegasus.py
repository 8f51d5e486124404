"""vrmgmt inside a real OpenPegasus 2.14.4 with cmpi-bindings 1.0.5 (issue 18), providers
out of process (cimprovagt, OpenPegasus's default), built from ../shared/third-party by
tests/support/pegasus.py (cached) and run on a free loopback port.

The README's OpenPegasus steps run as written (its site-packages directory and port
replaced by the test's own), then the behavioural case table of test_hosts_parity.py
runs through OpenPegasus with pywbem (property lists included) and pywbemcli, pywbem's
WBEMServer finds the profiles through root/PG_InterOp (DSP1033), registering twice is
idempotent, a broken MOF fails with file and line and leaves the registration serving,
wbemcli works on classes without embedded-instance properties, and the OpenPegasus log
shows no provider agent crash."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cmpi_testkit as kit
import pytest
import pywbem

from support import cimoms, pegasus
from support.parity import HD, HOST, VM, Case, ServerHost, all_cases, host, vm

PROJECT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PROFILES = {"System Virtualization", "Virtual System"}

pytestmark = pytest.mark.timeout(1200)  # the first run builds OpenPegasus (~4-6 min)


CASES = all_cases()


class PegasusHost(ServerHost):
    """OpenPegasus through pywbem: the same methods as test_hosts_parity's ServerHost,
    which drives `vrmgmt serve` through a pywbem connection too (so the table's cases
    run unchanged; a host method added there is here as well)."""

    name = "pegasus"


# -- pywbemcli ------------------------------------------------------------------------------
_XML_OBJECT = re.compile(
    r"<(VALUE\.INSTANCEWITHPATH|VALUE\.OBJECTWITHPATH|VALUE\.OBJECTWITHLOCALPATH|INSTANCE)\b"
    r".*?</\1>",
    re.S,
)


def _xml_instances(out: str) -> list[pywbem.CIMInstance]:
    """The instances in pywbemcli's CIM-XML output (-o xml), parsed by pywbem."""
    from pywbem._tupleparse import TupleParser
    from pywbem._tupletree import xml_to_tupletree_sax

    found = []
    for m in _XML_OBJECT.finditer(out):
        obj = TupleParser().parse_any(xml_to_tupletree_sax(m.group(0), "pywbemcli output"))
        found.append(obj[-1] if isinstance(obj, tuple) else obj)
    return found


class PywbemcliHost:
    """OpenPegasus through the pywbemcli command line (CIM-XML and WBEM URI output)."""

    name = "pywbemcli"

    def __init__(self, url: str, namespace: str = kit.NS):
        self.base = [str(VENV_BIN / "pywbemcli"), "-s", url, "-d", namespace, "-o", "xml"]

    def _run(self, *args) -> str:
        r = subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if r.returncode != 0:
            m = re.search(r"\((CIM_ERR_\w+)\)", r.stderr + r.stdout)
            if m:
                raise pywbem.CIMError(getattr(pywbem, m.group(1)), r.stderr)
            raise AssertionError(f"pywbemcli {args} failed: {r.stdout}{r.stderr}")
        return r.stdout

    @staticmethod
    def _uri(path: pywbem.CIMInstanceName) -> str:
        p = path.copy()
        p.namespace = None
        return p.to_wbem_uri()

    @staticmethod
    def _pl(plist) -> list[str]:
        return ["--pl", ",".join(plist)] if plist is not None else []

    @staticmethod
    def _names(out: str) -> list[pywbem.CIMInstanceName]:
        from pywbem._tupleparse import TupleParser
        from pywbem._tupletree import xml_to_tupletree_sax

        return [
            TupleParser().parse_any(xml_to_tupletree_sax(m.group(0), "pywbemcli output"))
            for m in re.finditer(r"<(INSTANCEPATH|LOCALINSTANCEPATH)\b.*?</\1>", out, re.S)
        ]

    def enum_names(self, cls):
        return self._names(self._run("instance", "enumerate", cls, "--names-only"))

    def enum(self, cls, plist=None):
        return _xml_instances(self._run("instance", "enumerate", cls, *self._pl(plist)))

    def get(self, path, plist=None):
        return _xml_instances(self._run("instance", "get", self._uri(path), *self._pl(plist)))[0]

    def assoc_names(self, path, assoc):
        out = self._run("instance", "associators", self._uri(path), "--ac", assoc, "--no")
        return self._names(out)

    def assocs(self, path, assoc, plist=None, result_class=None, role=None, result_role=None):
        filters = [
            a
            for opt, v in (("--rc", result_class), ("--role", role), ("--rr", result_role))
            if v is not None
            for a in (opt, v)
        ]
        out = self._run(
            "instance", "associators", self._uri(path), "--ac", assoc, *filters, *self._pl(plist)
        )
        return _xml_instances(out)

    def refs(self, path, result_class):
        return _xml_instances(
            self._run("instance", "references", self._uri(path), "--rc", result_class)
        )

    def query(self, query, lang="WQL", ns=None):
        # pywbemcli pulls (OpenQueryInstances); OpenPegasus 2.14.4's answer puts a
        # VALUE.REFERENCE into INSTANCEPATH, which pywbem rejects (CIMXMLParseError), and
        # pywbemtools 1.4 with --use-pull no fails on its own (TypeError)
        args = ["instance", "query", query, "--ql", lang] + (["-n", ns] if ns else [])
        return _xml_instances(self._run(*args))

    def invoke(self, path, method, **params):
        args = [a for k, v in params.items() for a in ("-p", f"{k}={v}")]
        out = self._run("instance", "invokemethod", self._uri(path), method, *args)
        return int(re.search(r"ReturnValue=(\d+)", out).group(1))


# -- the CIMOM, set up as the README says ---------------------------------------------------
def readme_pegasus_lines() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    block = re.search(
        r"<!-- pegasus:begin -->\s*```sh\n(.*?)```\s*<!-- pegasus:end -->", text, re.S
    )
    assert block, "README has no OpenPegasus block"
    return block.group(1).splitlines()


def tool_env(p: pegasus.Pegasus) -> dict[str, str]:
    env = p.env()
    env["PATH"] = f"{VENV_BIN}:{env['PATH']}"
    return env


def run_readme_steps(p: pegasus.Pegasus, cwd: Path) -> subprocess.CompletedProcess:
    script = "\n".join(readme_pegasus_lines())
    site = pegasus.embedded_site_packages()
    assert str(site) in script, f"the README saves the site hook elsewhere than {site}"
    script = script.replace(str(site), str(p.site_dir)).replace("localhost:5988", p.url[7:])
    script = script.replace(
        "/usr/lib/x86_64-linux-gnu/Pegasus/providers/libpy3CmpiProvider.so",
        str(p.build.provider_library),
    )
    assert str(p.build.provider_library) in script, "the README names no libpy3CmpiProvider.so"
    return subprocess.run(
        ["bash", "-e", "-x", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env=tool_env(p),
        check=False,
    )


def register(p: pegasus.Pegasus, project: Path = PROJECT) -> subprocess.CompletedProcess:
    """`vrmgmt register --cimom pegasus` for a project tree (the checkout, or a copy)."""
    code = (
        "import sys; from pathlib import Path; from vrmgmt.cmpi.register import register; "
        f"sys.exit(register('pegasus', False, Path({str(project)!r}), "
        f"providers_dir=Path({str(PROJECT / 'providers')!r})))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=tool_env(p),
        check=False,
    )


@pytest.fixture(scope="module")
def cimom(tmp_path_factory):
    cimoms.release()  # the per-class cases' CIMOMs: one daemon per build at a time
    reason = pegasus.missing_prerequisites()
    if reason:
        pytest.fail(reason)
    build, deps = pegasus.build_pegasus(), pegasus.build_python_deps()
    d = tmp_path_factory.mktemp("pegasus")
    node = kit.write_node_xml(d / "node.xml")
    cfg = d / "vrmgmt.toml"
    cfg.write_text(f'[[backends]]\nid = "{kit.BACKEND}"\ntype = "libvirt"\nuri = "test://{node}"\n')
    p = pegasus.Pegasus(d, env={"VRMGMT_CONFIG": str(cfg)}, build=build, deps=deps)
    with p:
        p.readme = run_readme_steps(p, d)
        yield p
    # cimserver has stopped (its agents unloaded vrmgmt): a crash at shutdown fails too
    crashes = p.crashes()
    assert not crashes, "provider agent crash in OpenPegasus's log/output:\n" + "\n".join(crashes)


def test_readme_steps_run_as_written(cimom):
    r = cimom.readme
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    for uuid, _ in kit.VMS.values():  # pywbemcli enumerate --names-only, wbemcli ein
        assert out.count(uuid) >= 2, out
    assert all(f'RegisteredName = "{name}";' in out for name in PROFILES), out
    hook = (cimom.site_dir / "vrmgmt-cmpi.pth").read_text()
    assert str(PROJECT / "src") in hook
    # the dry run changed nothing, the real one checked first, then compiled
    assert "# vrmgmt register --cimom pegasus --dry-run: nothing is changed." in out
    assert "# checking every file first with cimmofl" in out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_table_through_pegasus(case: Case, cimom):
    assert case.run(PegasusHost(cimom.conn())) == case.expect


# the state-changing cases ran above with pywbem; pywbemcli gets the read cases and one
# state change of its own, back and forth
# pywbemcli 1.4's query command fails client-side (pull answer, and --use-pull no crashes)
PYWBEMCLI_CASES = [
    c
    for c in CASES
    if not c.name.startswith(("pause", "already", "start")) and not c.name.startswith("query")
]


@pytest.mark.parametrize("case", PYWBEMCLI_CASES, ids=[c.name for c in PYWBEMCLI_CASES])
def test_case_table_through_pywbemcli(case: Case, cimom):
    assert case.run(PywbemcliHost(cimom.url)) == case.expect


def test_pywbemcli_state_change(cimom):
    h = PywbemcliHost(cimom.url)
    alpha = vm(kit.VMS["alpha"][0])
    assert h.invoke(alpha, "RequestStateChange", RequestedState=9) == 0
    assert h.get(alpha, ["EnabledState"])["EnabledState"] == 9
    assert h.invoke(alpha, "RequestStateChange", RequestedState=2) == 0
    assert h.get(alpha, ["EnabledState"])["EnabledState"] == 2


def test_pull_associator_names_use_the_assoc_class(cimom):
    """OpenPegasus 2.14.4 looked providers up by ResultClass here (patched in the build):
    every association provider - VRM_ElementConformsToProfile too - answered."""
    conn = cimom.conn()

    def pull(path):
        r = conn.OpenAssociatorInstancePaths(path, AssocClass=HD, MaxObjectCount=1)
        found = list(r.paths)
        while not r.eos:
            r = conn.PullInstancePaths(r.context, MaxObjectCount=1)
            found += r.paths
        return sorted((p.classname, p.keybindings["Name"]) for p in found)

    assert pull(vm(kit.VMS["alpha"][0])) == [(HOST, kit.BACKEND)]
    assert pull(host()) == sorted((VM, u) for u, _ in kit.VMS.values())


def test_wbemserver_finds_the_profiles_in_pg_interop(cimom):
    server = pywbem.WBEMServer(cimom.conn("root/PG_InterOp"))
    assert server.interop_ns == "root/PG_InterOp"
    assert server.brand == "OpenPegasus"
    assert "root/virt" in server.namespaces
    profiles = {
        (p["RegisteredOrganization"], p["RegisteredName"], p["RegisteredVersion"])
        for p in server.get_selected_profiles(registered_org="DMTF")
    }
    assert {(2, "System Virtualization", "1.0.0"), (2, "Virtual System", "1.0.0")} <= profiles
    # from a profile to the element that conforms to it, across namespaces (root/virt),
    # through vrmgmt's association class: with AssocClass CIM_ElementConformsToProfile
    # (what WBEMServer.get_central_instances asks) OpenPegasus's own interop provider
    # answers too and fails the request on a VRM_RegisteredProfile (README)
    sv = server.get_selected_profiles("DMTF", "System Virtualization")
    central = server.conn.AssociatorNames(sv[0].path, AssocClass="VRM_ElementConformsToProfile")
    assert [(p.classname, p.keybindings["Name"]) for p in central] == [(HOST, kit.BACKEND)]
    with pytest.raises(pywbem.CIMError, match="not supported by Interop Provider"):
        server.get_central_instances(sv[0].path, "CIM_System", "CIM_System")


def _registration_state(p: pegasus.Pegasus) -> tuple:
    c = p.conn("root/PG_InterOp")
    return (
        sorted(str(x) for x in c.EnumerateInstanceNames("PG_ProviderModule")),
        sorted(str(x) for x in c.EnumerateInstanceNames("PG_ProviderCapabilities")),
        sorted(str(x) for x in c.EnumerateClassNames(namespace="root/virt", DeepInheritance=True)),
    )


def test_register_twice_is_idempotent(cimom):
    before = _registration_state(cimom)
    r = register(cimom)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already exists" in r.stdout + r.stderr  # cimmof kept what was there
    assert _registration_state(cimom) == before
    assert len(PegasusHost(cimom.conn()).enum_names(VM)) == len(kit.VMS)


BROKEN = {
    # a syntax error: cimmofl names the line
    "syntax": ("uint16 NumberOfVirtualCPUs;", "uint16 NumberOfVirtualCPUs"),
    # a schema error (unknown superclass): the line declaring the class is looked up
    "superclass": ("VRM_ComputerSystem : CIM_ComputerSystem", "VRM_ComputerSystem : CIM_Nope"),
}


@pytest.mark.parametrize("mistake", BROKEN.values(), ids=BROKEN.keys())
def test_broken_mof_fails_with_file_and_line_and_changes_nothing(cimom, tmp_path, mistake):
    project = tmp_path / "proj"
    shutil.copytree(PROJECT / "mof", project / "mof")
    shutil.copytree(PROJECT / "registration", project / "registration")
    target = project / "mof" / "VRM_System.mof"
    text = target.read_text()
    old, new = mistake
    assert old in text
    target.write_text(text.replace(old, new, 1))
    lines = target.read_text().splitlines()
    hit = next(i for i, line in enumerate(lines, 1) if new in line)
    before = _registration_state(cimom)
    r = register(cimom, project)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    expected_lines = {hit, hit + 1}  # a missing ';' is reported on the next line
    m = re.search(r"VRM_System\.mof:(\d+)", out)
    assert m and int(m.group(1)) in expected_lines, out
    assert "nothing was changed" in out
    assert _registration_state(cimom) == before
    assert len(PegasusHost(cimom.conn()).enum_names(VM)) == len(kit.VMS)  # still serving


def _wbemcli(cimom, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["wbemcli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_wbemcli_on_classes_without_embedded_instances(cimom, wbemcli_bin):
    base = f"{cimom.url}/root/virt"
    host_uri = f'{base}:{HOST}.CreationClassName="{HOST}",Name="{kit.BACKEND}"'
    uuids = sorted(u for u, _ in kit.VMS.values())
    r = _wbemcli(cimom, "ein", f"{base}:{VM}")
    assert r.returncode == 0, r.stderr
    assert sorted(re.findall(r'Name="([0-9a-f-]{36})"', r.stdout)) == uuids
    r = _wbemcli(cimom, "ain", "-ac", HD, host_uri)
    assert r.returncode == 0, r.stderr
    assert sorted(re.findall(r'Name="([0-9a-f-]{36})"', r.stdout)) == uuids
    r = _wbemcli(cimom, "ei", f"{base}:{HD}")  # references only
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == len(uuids)
    r = _wbemcli(cimom, "ei", f"{cimom.url}/root/PG_InterOp:VRM_RegisteredProfile")
    assert r.returncode == 0, r.stderr
    assert all(f'RegisteredName="{name}"' in r.stdout for name in PROFILES)


def test_wbemcli_and_pegasus_embedded_object_attributes_clash(cimom, wbemcli_bin):
    """The documented incompatibility (README): VRM_HostSystem inherits CIM_System's
    embedded-instance AllocationState; OpenPegasus writes EmbeddedObject= and
    EMBEDDEDOBJECT= on it and wbemcli 1.6.3 rejects the PROPERTY."""
    base = f"{cimom.url}/root/virt"
    r = _wbemcli(cimom, "gi", f'{base}:{HOST}.CreationClassName="{HOST}",Name="{kit.BACKEND}"')
    assert r.returncode != 0
    assert "Unknown attribute in list for PROPERTY (EMBEDDEDOB" in r.stderr


def test_no_provider_agent_crash_over_the_run(cimom):
    """Runs last: nothing above made cimprovagt crash (cimserver's log and output)."""
    assert cimom.proc is not None and cimom.proc.poll() is None
    text = cimom.log_text()
    assert "Started CIM Server version 2.14.4" in text
    assert not cimom.crashes(), "\n".join(cimom.crashes())


def test_shutdown_unloads_the_providers_without_a_crash(cimom):
    """Runs after the check above: stopping cimserver unloads the providers with
    `terminating` set; stock cmpi-bindings 1.0.5's TargetCleanup aborted the agent there
    ("Fatal Python error: PyEval_AcquireLock"), the patched build (docs/cmpi.md) does not."""
    assert not cimom.crashes()
    rc = cimom.stop()
    assert rc == 0, cimom.log_text()[-4000:]
    text = cimom.log_text()
    assert not cimom.crashes(), "\n".join(cimom.crashes())
    assert "Fatal Python error" not in text


#: what a stock cmpi-bindings 1.0.5 left in cimserver's output and standard log at every
#: shutdown (this module asserted these substrings against the unpatched build), and the
#: shell's report of a segfault: the grep must see each of them
STOCK_SHUTDOWN_CRASH_LINES = (
    "Fatal Python error: PyEval_AcquireLock",
    "A failure was detected in provider module vrmgmt",
    "Segmentation fault (core dumped)",
)


@pytest.mark.parametrize("line", STOCK_SHUTDOWN_CRASH_LINES)
def test_the_crash_grep_sees_the_stock_shutdown_crash(line):
    assert any(p.search(line) for p in pegasus.CRASH_PATTERNS)


def test_swig_proxy_wraps_a_bare_swig_object():
    """vrmgmt.cmpi.proxy.swig_proxy with the real SWIG module (cmpi.py of the build) in
    Debian's python3: a bare SwigPyObject becomes a working proxy."""
    build, deps = pegasus.build_pegasus(), pegasus.build_python_deps()
    code = (
        "import cmpi; from vrmgmt.cmpi.proxy import swig_proxy; "
        "v = cmpi.CMPIValue(); bare = v.this; assert type(bare).__name__ == 'SwigPyObject'; "
        "w = swig_proxy(bare, 'CMPIValue'); w.uint16 = 7; assert v.uint16 == 7; "
        "assert swig_proxy(v, 'CMPIValue') is v; print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = f"{build.python_dir}:{PROJECT / 'src'}:{deps / 'site'}"
    r = subprocess.run(
        [pegasus.EMBEDDED_PYTHON, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert r.stdout.strip() == "ok", r.stderr
