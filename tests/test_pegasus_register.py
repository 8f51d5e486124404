"""vrmgmt.cmpi.register for OpenPegasus without a CIMOM: which namespaces get which
files, the interop namespaces found in the live repository, the cimmofl check against a
copy of it, and file:line for cimmof(l) errors; and cmpi_pywbem_bindings' report when
cmpi-bindings' SWIG module is missing. tests/test_pegasus.py runs the same against a
real OpenPegasus."""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import cmpi

import cmpi_pywbem_bindings
from vrmgmt.cmpi import register as reg
from vrmgmt.cmpi.proxy import query_and_language

PROJECT = Path(__file__).resolve().parents[1]


def fake_repository(tmp_path: Path, *namespaces: str) -> Path:
    repo = tmp_path / "live" / "repository"
    for ns in namespaces:
        d = reg.repository_namespace_dir(repo, ns)
        for part in ("classes", "qualifiers", "instances"):
            (d / part).mkdir(parents=True)
        (d / "classes" / "CIM_ManagedElement.#").write_text("<CLASS/>")
        (d / "instances" / "PG_ProviderModule.instances").write_text("x")
    (repo / "repository.conf").write_text("storeCompleteClasses=false\n")
    return repo


def test_interop_files_are_only_those_declaring_interop_classes():
    files = reg.pegasus_interop_mof(PROJECT, reg.project_registrations(PROJECT))
    assert [f.name for f in files] == ["VRM_Interop.mof"]
    assert set(reg.declared_classes(files[0])) == {
        "VRM_RegisteredProfile",
        "VRM_ElementConformsToProfile",
        "VRM_ReferencedProfile",
        "VRM_IndicationService",
        "VRM_IndicationServiceCapabilities",
    }


def test_root_interop_is_registered_too_when_the_repository_has_it(tmp_path):
    repo = fake_repository(tmp_path, "root/PG_InterOp", "root/interop", "root/cimv2")
    assert reg.pegasus_extra_interop(repo, reg.PEGASUS_INTEROP) == ["root/interop"]
    assert reg.pegasus_extra_interop(fake_repository(tmp_path / "b", "root/PG_InterOp"), "x") == []
    plan = reg.pegasus_plan(
        PROJECT,
        PROJECT / "providers",
        tmp_path / "w",
        extra_interop=["root/interop"],
        repository=repo,
    )
    interop_mof = str(PROJECT / "mof" / "VRM_Interop.mof")
    assert [c[-2] for c in plan.commands if c[-1] == interop_mof] == [
        "root/PG_InterOp",
        "root/interop",
    ]
    assert (
        '    Namespaces = { "root/PG_InterOp", "root/interop" };'
        in plan.files["vrmgmt-pegasus.mof"]
    )
    assert '    Namespaces = { "root/virt" };' in plan.files["vrmgmt-pegasus.mof"]
    # the check compiles the same files with cimmofl into the scratch repository
    assert [c[:3] for c in plan.checks] == [["cimmofl", "-R", str(tmp_path / "w" / "check")]] * len(
        plan.commands
    )
    assert [c[3:] for c in plan.checks] == [c[1:] for c in plan.commands]


def test_the_check_repository_copies_classes_not_instances(tmp_path):
    repo = fake_repository(tmp_path, "root/PG_InterOp")
    plan = reg.pegasus_plan(PROJECT, PROJECT / "providers", tmp_path / "w", repository=repo)
    reg._prepare_check_repository(plan)
    copy = reg.repository_namespace_dir(tmp_path / "w" / "check" / "repository", "root/PG_InterOp")
    assert (copy / "classes" / "CIM_ManagedElement.#").read_text() == "<CLASS/>"
    assert list((copy / "instances").iterdir()) == []
    assert (tmp_path / "w" / "check" / "repository" / "repository.conf").is_file()
    assert not (repo.parent / "check").exists()  # the live repository is only read


def test_repository_from_cimconfig(tmp_path):
    repo = fake_repository(tmp_path, "root/PG_InterOp")

    def answer(text, rc=0):
        return lambda cmd: (rc, text)

    assert reg.pegasus_repository(answer(f"Current value: {repo}\n"), None) == repo
    rel = reg.pegasus_repository(answer("Current value: repository\n"), str(repo.parent))
    assert rel == repo
    down = "Current value can not be determined because the CIM server is not running.\n"
    assert reg.pegasus_repository(answer(down, 1), None) is None

    def missing(cmd):
        raise FileNotFoundError(cmd[0])

    assert reg.pegasus_repository(missing, None) is None


def test_mof_errors_are_located(tmp_path):
    mof = tmp_path / "VRM_X.mof"
    mof.write_text('// x\n\n   [Description ("x")]\nclass VRM_X : CIM_Nope {\n};\n')
    assert reg.locate_mof_error(f"Parsing error: {mof}:7: syntax error", [mof]) == f"{mof}:7"
    msg = "Error adding class VRM_X to the repository: CIM_ERR_INVALID_SUPERCLASS: CIM_Nope"
    assert reg.locate_mof_error(msg, [mof]) == f"{mof}:4"
    assert reg.locate_mof_error("something else", [mof]) is None


def test_a_failing_check_changes_nothing_and_names_the_file(tmp_path):
    out = io.StringIO()
    ran = []
    broken = PROJECT / "mof" / "VRM_System.mof"

    def query(cmd):
        ran.append(cmd[0])
        if cmd[0] == "cimconfig":
            return 1, "not running"
        if cmd[-1].endswith("vrmgmt.mof"):
            return 250, f"Parsing error: {broken}:64: syntax error before '}}'"
        return 0, ""

    rc = reg.register(
        "pegasus",
        False,
        PROJECT,
        out,
        work_dir=tmp_path / "w",
        runner=lambda cmd: ran.append(cmd[0]) or 0,
        query=query,
    )
    assert rc == 250
    assert ran == ["cimconfig", "cimmofl", "cimmofl"]  # no cimmof ran
    text = out.getvalue()
    assert f"vrmgmt register: {broken}:64: Parsing error" in text
    assert "nothing was changed" in text


def test_bindings_report_a_missing_swig_module(monkeypatch):
    """Without cmpi-bindings' cmpi.py (or its _cmpi.so link) every call says so."""
    monkeypatch.setitem(sys.modules, "cmpi", None)  # import cmpi -> ImportError
    try:
        mod = importlib.reload(cmpi_pywbem_bindings)
        assert mod._CMPI_IMPORT_ERROR and mod._IMPORT_ERROR is None
        proxy = mod.get_cmpi_proxy_provider("/x/Y", object(), None)
        rc, msg = proxy.get_instance(None, None, None, None)
        assert rc == cmpi.CMPI_RC_ERR_FAILED
        assert b"SWIG module cmpi cannot be imported" in msg and b"_cmpi.so" in msg
    finally:
        monkeypatch.undo()
        importlib.reload(cmpi_pywbem_bindings)
    assert cmpi_pywbem_bindings._CMPI_IMPORT_ERROR is None


def test_exec_query_arguments_in_either_order():
    """OpenPegasus 2.14.4 hands execQuery (language, query); CMPI says (query, language)."""
    q = "SELECT * FROM VRM_ComputerSystem WHERE EnabledState = 2"
    assert query_and_language(q, "WQL") == (q, "WQL")
    assert query_and_language("WQL", q) == (q, "WQL")
    assert query_and_language(b"DMTF:CQL", q.encode()) == (q, "DMTF:CQL")
    assert query_and_language(None, "WQL") == (None, "WQL")
