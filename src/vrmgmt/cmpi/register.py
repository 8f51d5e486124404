"""``vrmgmt register --cimom sfcb|pegasus [--dry-run]``: install vrmgmt's classes and
provider registration into SFCB or OpenPegasus, for cmpi-bindings' py3CmpiProvider.

Sources: registration/vrmgmt.reg (SFCB providerRegister syntax, the single source of
truth; stanzas of group ``vrmgmt-cimom`` are skipped - the CIMOM's own interop provider
serves CIM_ObjectManager and CIM_Namespace), mof/dmtf/dmtf.mof (the project's DMTF CIM
2.49 subset) and mof/vrmgmt.mof (the VRM_ classes; mof/VRM_*.mof when it is absent).

The CMPI miname of a provider is its registration's ``provider:`` value, and
cmpi-bindings' adapter loads ``<miname>.py``; so both CIMOMs get the absolute path of
the provider module (without ".py") as provider name.

SFCB: the .reg file with absolute provider paths and the VRM classes flattened into one
MOF file (sfcbstage copies single files, so ``#pragma include`` cannot be resolved later)
are staged per namespace with ``sfcbstage -n <ns> [-r <reg>] <mof>``, then
``sfcbrepos -f`` rebuilds the repository (it compiles SFCB's own DMTF schema into every
namespace, which is why the DMTF subset is not staged unless asked; its experimental
files - classes SFCB's Final schema lacks, DSP1081's migration classes - always are).

OpenPegasus: the DMTF subset and all VRM classes go into the implementation namespaces
(root/virt); into the interop namespace (root/PG_InterOp, and root/interop where the
CIMOM has one) only the files declaring the classes registered there (VRM_Interop.mof:
VRM_RegisteredProfile, VRM_ReferencedProfile, VRM_ElementConformsToProfile), on top of
OpenPegasus's own interop schema, which has their CIM_ bases and nothing else (the rest
of vrmgmt.mof fails there with CIM_ERR_INVALID_SUPERCLASS). Registration instances of
PG_ProviderModule (InterfaceType "CMPI", InterfaceVersion "2.0.0", Location
"py3CmpiProvider"), PG_Provider (Name = absolute provider path) and
PG_ProviderCapabilities (ProviderType 2 instance, 3 association, 4 indication,
5 method, and 7 InstanceQuery with every instance provider) are compiled into
root/PG_InterOp last, with ``cimmof``.

Before anything changes, every file is compiled with ``cimmofl`` into a scratch
repository under the work directory: the implementation namespaces from nothing, the
interop namespaces from a copy of the live repository's classes (its directory from
``cimconfig -g repositoryDir -c``). cimmof itself has no usable check mode: ``-E``
checks syntax only, and creates missing namespaces on the server. A failing check stops
the registration with the file and line (cimmofl names the line of syntax errors; for
schema errors, which it reports by class name, the line declaring that class is
looked up), and the previous registration keeps serving. Registering again is
idempotent: cimmof keeps existing classes and instances ("already exists" warnings).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from vrmgmt import BRAND, __version__
from vrmgmt.cmpi import elfsyms, embedded, sfcb
from vrmgmt.errors import ConfigError
from vrmgmt.registration import Registration, load_registration

CIMOMS = ("sfcb", "pegasus")
SKIP_GROUPS = frozenset({"vrmgmt-cimom"})
PROVIDER_TYPES = {"instance": 2, "association": 3, "indication": 4, "method": 5}
PEGASUS_INSTANCE_QUERY = 7  # PG_ProviderCapabilities.ProviderType "InstanceQuery"
INTEROP_ALIASES = frozenset({"root/interop", "interop", "root/pg_interop"})
SFCB_INTEROP = "root/interop"
PEGASUS_INTEROP = "root/PG_InterOp"
MODULE_NAME = "vrmgmt"
SITE_HOOK_FILE = embedded.SITE_HOOK_FILE
SITE_HOOK_NOTE = (
    "The CIMOM's embedded Python must import cmpi, cmpi_pywbem_bindings and vrmgmt: "
    "`vrmgmt register --check` says whether it does (site hook: docs/cmpi.md)."
)

_INCLUDE = re.compile(r'^\s*#pragma\s+include\s*\(\s*"([^"]+)"\s*\)\s*;?\s*$', re.IGNORECASE)


@dataclass
class Plan:
    """What registering does: files to write into work_dir, then commands to run."""

    cimom: str
    work_dir: Path
    files: dict[str, str] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    show: list[str] = field(default_factory=list)  # files printed in full by --dry-run
    checks: list[list[str]] = field(default_factory=list)  # run first; change nothing
    check_copies: list[tuple[Path, str]] = field(default_factory=list)  # (live ns dir, ns)

    def path(self, name: str) -> Path:
        return self.work_dir / name


# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------
def project_registrations(project_root: Path) -> list[Registration]:
    """registration/vrmgmt.reg without the stanzas only the embedded server serves."""
    regs = load_registration(Path(project_root) / "registration" / "vrmgmt.reg")
    return [r for r in regs if (r.group or "") not in SKIP_GROUPS]


def mof_files(project_root: Path) -> tuple[Path, list[Path]]:
    """(DMTF subset entry point, VRM class files)."""
    mof = Path(project_root) / "mof"
    dmtf = mof / "dmtf" / "dmtf.mof"
    vrm = [mof / "vrmgmt.mof"] if (mof / "vrmgmt.mof").is_file() else sorted(mof.glob("VRM_*.mof"))
    if not dmtf.is_file():
        raise ConfigError(f"{dmtf}: the DMTF subset entry point is missing")
    if not vrm:
        raise ConfigError(f"{mof}: neither vrmgmt.mof nor VRM_*.mof found")
    return dmtf, vrm


#: files of mof/dmtf/ holding only Experimental DMTF classes, which the Final MOFs of
#: CIM Schema 2.49 (and so SFCB's own schema) lack: staged for SFCB in any case
EXPERIMENTAL_DMTF = ("migration.mof",)


def sfcb_mof_parts(project_root: Path, include_dmtf: bool) -> list[Path]:
    """The MOF files staged into SFCB: the DMTF subset when asked, else its experimental
    files only; then the VRM classes."""
    dmtf, vrm = mof_files(project_root)
    experimental = [dmtf.parent / f for f in EXPERIMENTAL_DMTF]
    extra = [dmtf] if include_dmtf else [f for f in experimental if f.is_file()]
    return [*extra, *vrm]


def flatten_mof(path: Path, _stack: tuple[Path, ...] = ()) -> str:
    """The MOF file with every ``#pragma include ("x")`` replaced by x's content
    (resolved relative to the including file)."""
    path = Path(path).resolve()
    if path in _stack:
        raise ConfigError(f"{path}: circular #pragma include")
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = _INCLUDE.match(line)
        if not m:
            out.append(line)
            continue
        inc = path.parent / m.group(1)
        if not inc.is_file():
            raise ConfigError(f"{path}:{lineno}: included file {inc} does not exist")
        out.append(f"// ---- {inc.name} (included by {path.name}) ----")
        out.append(flatten_mof(inc, (*_stack, path)))
    return "\n".join(out) + "\n"


def provider_path(reg: Registration, providers_dir: Path) -> str:
    """Absolute provider path (the miname), without ".py"."""
    p = Path(reg.provider)
    if not p.is_absolute():
        p = Path(providers_dir).resolve() / p
    s = str(p)
    return s[:-3] if s.endswith(".py") else s


def _namespaces(reg: Registration, interop: str) -> list[str]:
    out: list[str] = []
    for ns in reg.namespaces:
        ns = interop if ns.lower() in INTEROP_ALIASES else ns
        if ns not in out:
            out.append(ns)
    return out


def _all_namespaces(regs: Sequence[Registration], interop: str) -> list[str]:
    out: list[str] = []
    for r in regs:
        for ns in _namespaces(r, interop):
            if ns not in out:
                out.append(ns)
    return out


# --------------------------------------------------------------------------------------
# SFCB
# --------------------------------------------------------------------------------------
def sfcb_registration(
    regs: Sequence[Registration], providers_dir: Path, source: str = "registration/vrmgmt.reg"
) -> str:
    lines = [
        f"# Generated by `vrmgmt register --cimom sfcb` from {source}:",
        "# provider paths made absolute (the CMPI miname; cmpi-bindings loads <path>.py).",
    ]
    for r in regs:
        lines += [
            "",
            f"[{r.class_name}]",
            f"   provider: {provider_path(r, providers_dir)}",
            f"   location: {r.location}",
            f"   type: {' '.join(r.types)}",
            f"   namespace: {' '.join(_namespaces(r, SFCB_INTEROP))}",
        ]
        if r.group:
            lines.append(f"   group: {r.group}")
        if r.unload:
            lines.append(f"   unload: {r.unload}")
    return "\n".join(lines) + "\n"


def sfcb_staging(
    project_root: Path, providers_dir: Path, include_dmtf: bool = False
) -> sfcb.Staging:
    """The registration and the MOF (made safe for sfcbmofpp, with line origins)."""
    regs = project_registrations(project_root)
    mof_text, origins = sfcb.sfcb_mof(sfcb_mof_parts(project_root, include_dmtf))
    return sfcb.Staging(
        reg_text=sfcb_registration(regs, providers_dir),
        mof_text=mof_text,
        origins=origins,
        namespaces=_all_namespaces(regs, SFCB_INTEROP),
    )


def sfcb_plan(
    project_root: Path,
    providers_dir: Path,
    work_dir: Path,
    include_dmtf: bool = False,
    layout: sfcb.SfcbLayout | None = None,
) -> Plan:
    """What `register --cimom sfcb` does, for --dry-run (register_sfcb runs it)."""
    layout = layout or sfcb.sfcb_layout()
    staging = sfcb_staging(project_root, providers_dir, include_dmtf)
    parts = sfcb_mof_parts(project_root, include_dmtf)
    plan = Plan("sfcb", Path(work_dir))
    plan.files["vrmgmt.reg"] = staging.reg_text
    plan.files["vrmgmt.mof"] = staging.mof_text
    plan.show.append("vrmgmt.reg")
    check = plan.work_dir / "check"
    plan.commands += [
        ["cp", "-a", str(layout.stage_dir), str(check / "stage")],
        ["cp", "-a", str(layout.registration_dir), str(check / "registration")],
    ]
    plan.commands += sfcb.stage_commands(layout, check / "stage", plan.work_dir, staging.namespaces)
    plan.commands.append(sfcb.repos_command(layout, check / "stage", check / "registration"))
    plan.commands += sfcb.stage_commands(
        layout, layout.stage_dir, plan.work_dir, staging.namespaces
    )
    for n in ("repository", "providerRegister"):
        live = layout.registration_dir / n
        plan.commands.append(["mv", str(live), f"{live}.previous"])
        plan.commands.append(["mv", str(check / "registration" / n), str(live)])
    plan.notes += [
        f"vrmgmt.mof holds {', '.join(str(p) for p in parts)} with #pragma includes "
        "resolved, comments removed and strings holding '//' starting their line (SFCB's "
        "preprocessor sfcbmofpp cuts them otherwise); sfcbrepos adds SFCB's own DMTF "
        "schema to every namespace.",
        f"The classes are compiled first in {check}: if that fails, nothing live is "
        "changed and the error names the source file and line.",
        "Restart sfcbd afterwards: systemctl restart sfcb",
    ]
    return plan


# --------------------------------------------------------------------------------------
# OpenPegasus
# --------------------------------------------------------------------------------------
def _mof_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _mof_array(items: Sequence[str | int]) -> str:
    return "{ " + ", ".join(_mof_string(i) if isinstance(i, str) else str(i) for i in items) + " }"


def pegasus_registration_mof(
    regs: Sequence[Registration],
    providers_dir: Path,
    interop_namespace: str = PEGASUS_INTEROP,
    module_name: str = MODULE_NAME,
    vendor: str = BRAND,
    version: str = __version__,
    source: str = "registration/vrmgmt.reg",
) -> str:
    """PG_ProviderModule / PG_Provider / PG_ProviderCapabilities instances
    (OpenPegasus pegasus/Schemas/Pegasus/InterOp/VER20/PG_ProviderModule20.mof)."""
    out = [
        f"// Generated by `vrmgmt register --cimom pegasus` from {source}.",
        f"// Load with: cimmof -n {interop_namespace} <this file>",
        "// Provider Name = absolute path of the provider module (the CMPI miname;",
        "// cmpi-bindings' py3CmpiProvider loads <Name>.py).",
    ]
    locations: list[str] = []
    for r in regs:
        if r.location not in locations:
            locations.append(r.location)
    for loc in locations:
        mod = module_name if loc == locations[0] else f"{module_name}_{loc}"
        mregs = [r for r in regs if r.location == loc]
        groups = [r.group for r in mregs if r.group]
        out += [
            "",
            "instance of PG_ProviderModule",
            "{",
            f"    Name = {_mof_string(mod)};",
            f"    Vendor = {_mof_string(vendor)};",
            f"    Version = {_mof_string(version)};",
            '    InterfaceType = "CMPI";',
            '    InterfaceVersion = "2.0.0";',
            f"    Location = {_mof_string(loc)};",
        ]
        if groups:
            out.append(f"    ModuleGroupName = {_mof_string(max(set(groups), key=groups.count))};")
        out.append("};")
        providers: list[str] = []
        for r in mregs:
            p = provider_path(r, providers_dir)
            if p not in providers:
                providers.append(p)
                out += [
                    "",
                    "instance of PG_Provider",
                    "{",
                    f"    ProviderModuleName = {_mof_string(mod)};",
                    f"    Name = {_mof_string(p)};",
                    "};",
                ]
        for r in mregs:
            types = [PROVIDER_TYPES[t] for t in r.types if t in PROVIDER_TYPES]
            if PROVIDER_TYPES["instance"] in types:
                # InstanceQuery: ExecQuery goes to the adapter's WQL engine (as under
                # `vrmgmt serve`), not to OpenPegasus's own evaluation of an enumeration
                types.append(PEGASUS_INSTANCE_QUERY)
            out += [
                "",
                "instance of PG_ProviderCapabilities",
                "{",
                f"    ProviderModuleName = {_mof_string(mod)};",
                f"    ProviderName = {_mof_string(provider_path(r, providers_dir))};",
                f"    CapabilityID = {_mof_string(r.class_name)};",
                f"    ClassName = {_mof_string(r.class_name)};",
                f"    Namespaces = {_mof_array(_namespaces(r, interop_namespace))};",
                f"    ProviderType = {_mof_array(sorted(set(types)))};",
                "    SupportedProperties = NULL;",
                "    SupportedMethods = NULL;",
                "};",
            ]
    return "\n".join(out) + "\n"


def _included_files(path: Path) -> list[Path]:
    """The files a MOF entry point includes (recursively, in order), else itself."""
    path = Path(path).resolve()
    out: list[Path] = []
    for line in path.read_text().splitlines():
        m = _INCLUDE.match(line)
        if m:
            out += _included_files(path.parent / m.group(1))
    return out or [path]


_CLASS_DECL = re.compile(r"^\s*class\s+(\w+)", re.IGNORECASE | re.MULTILINE)


def declared_classes(path: Path) -> list[str]:
    return _CLASS_DECL.findall(Path(path).read_text())


def pegasus_interop_mof(project_root: Path, regs: Sequence[Registration]) -> list[Path]:
    """The VRM MOF files declaring the classes registered in the interop namespace
    (nothing else of vrmgmt belongs there)."""
    wanted = {
        r.class_name.lower()
        for r in regs
        if any(ns.lower() in INTEROP_ALIASES for ns in r.namespaces)
    }
    _, vrm = mof_files(project_root)
    files = [f for entry in vrm for f in _included_files(entry)]
    return [f for f in files if wanted & {c.lower() for c in declared_classes(f)}]


def repository_namespace_dir(repository: Path, namespace: str) -> Path:
    """Directory of a namespace in an OpenPegasus repository ("/" becomes "#")."""
    return Path(repository) / namespace.replace("/", "#")


def pegasus_plan(
    project_root: Path,
    providers_dir: Path,
    work_dir: Path,
    interop_namespace: str = PEGASUS_INTEROP,
    extra_interop: Sequence[str] = (),
    repository: Path | None = None,
) -> Plan:
    """Files, check commands (cimmofl into the scratch repository work_dir/check) and
    cimmof commands. `extra_interop`: further interop namespaces the CIMOM has (e.g.
    root/interop); `repository`: the live repository whose interop namespaces the
    check copies (None: the check of the interop namespaces is left out)."""
    regs = project_registrations(project_root)
    dmtf, vrm = mof_files(project_root)
    plan = Plan("pegasus", Path(work_dir))
    interops = [interop_namespace, *[n for n in extra_interop if n != interop_namespace]]
    plan.files["vrmgmt-pegasus.mof"] = pegasus_registration_mof(
        regs, providers_dir, interop_namespace
    )
    if interops[1:]:
        plan.files["vrmgmt-pegasus.mof"] = plan.files["vrmgmt-pegasus.mof"].replace(
            f"    Namespaces = {{ {_mof_string(interop_namespace)}",
            "    Namespaces = { " + ", ".join(_mof_string(n) for n in interops),
        )
    plan.show.append("vrmgmt-pegasus.mof")
    interop_files = pegasus_interop_mof(project_root, regs)
    impl = [ns for ns in _all_namespaces(regs, interop_namespace) if ns != interop_namespace]

    def compile_cmds(tool: list[str]) -> list[list[str]]:
        cmds = []
        for ns in impl:
            # -aE: the subset holds Experimental classes (DSP1081's migration service and
            # capabilities), which OpenPegasus's compilers skip with a warning otherwise
            cmds.append([*tool, "-aE", "-I", str(dmtf.parent), "-n", ns, str(dmtf)])
            cmds += [[*tool, "-I", str(f.parent), "-n", ns, str(f)] for f in vrm]
        for ns in interops:
            cmds += [[*tool, "-I", str(f.parent), "-n", ns, str(f)] for f in interop_files]
        cmds.append([*tool, "-n", interop_namespace, str(plan.path("vrmgmt-pegasus.mof"))])
        return cmds

    scratch = plan.path("check")
    checks = compile_cmds(["cimmofl", "-R", str(scratch)])
    plan.checks = checks if repository is not None else checks[: len(impl) * (1 + len(vrm))]
    plan.check_copies = (
        [(repository_namespace_dir(repository, ns), ns) for ns in interops] if repository else []
    )
    plan.commands = compile_cmds(["cimmof"])
    plan.notes += [
        f"Into {', '.join(impl)}: the DMTF subset ({dmtf}) and the VRM classes; into "
        f"{', '.join(interops)}: only {', '.join(f.name for f in interop_files)} "
        "(OpenPegasus's interop schema has the CIM_ bases).",
        "Everything is compiled first with cimmofl into a scratch repository "
        f"({scratch}): nothing changes unless that passes.",
        "OpenPegasus loads new registrations at once; no restart is needed.",
    ]
    if repository is None:
        plan.notes.append(
            "The live repository is unknown (cimserver not running?): the interop "
            "namespaces are not checked in advance."
        )
    return plan


def pegasus_repository(
    query: Callable[[list[str]], tuple[int, str]], pegasus_home: str | None
) -> Path | None:
    """The running cimserver's repository directory (cimconfig -g repositoryDir -c,
    relative values are relative to PEGASUS_HOME), or None."""
    try:
        rc, text_out = query(["cimconfig", "-g", "repositoryDir", "-c"])
    except OSError:
        return None
    m = re.search(r"Current value:\s*(\S.*)", text_out)
    if rc != 0 or not m:
        return None
    path = Path(m.group(1).strip())
    if not path.is_absolute():
        path = Path(pegasus_home or ".") / path
    return path if path.is_dir() else None


def pegasus_extra_interop(repository: Path | None, interop_namespace: str) -> list[str]:
    """root/interop (or interop) when the repository has it besides root/PG_InterOp."""
    if repository is None:
        return []
    return [
        ns
        for ns in ("root/interop", "interop")
        if ns.lower() != interop_namespace.lower()
        and repository_namespace_dir(repository, ns).is_dir()
    ]


def _prepare_check_repository(plan: Plan) -> None:
    """work_dir/check/repository with the classes and qualifiers of the live interop
    namespaces (their instances are not needed)."""
    scratch = plan.path("check")
    if scratch.exists():
        shutil.rmtree(scratch)
    repo = scratch / "repository"
    repo.mkdir(parents=True)
    for src, ns in plan.check_copies:
        dst = repository_namespace_dir(repo, ns)
        for part in ("classes", "qualifiers"):
            if (src / part).is_dir():
                shutil.copytree(src / part, dst / part)
        (dst / "instances").mkdir(parents=True, exist_ok=True)
        conf = src.parent / "repository.conf"
        if conf.is_file() and not (repo / "repository.conf").exists():
            shutil.copy2(conf, repo / "repository.conf")


_MOF_LINE = re.compile(r"(\S+\.mof):(\d+):")
_NAMED = re.compile(r"(?:class|instance of|CIM_ERR_\w+:)\s+(\w+)", re.IGNORECASE)


def locate_mof_error(message: str, files: Sequence[Path]) -> str | None:
    """file:line for a cimmof(l) error message: its own when it has one, else the
    line declaring the class it names."""
    m = _MOF_LINE.search(message)
    if m:
        return f"{m.group(1)}:{m.group(2)}"
    for name in _NAMED.findall(message):
        decl = re.compile(rf"^\s*class\s+{re.escape(name)}\b", re.IGNORECASE)
        for f in files:
            for lineno, line in enumerate(Path(f).read_text().splitlines(), 1):
                if decl.match(line):
                    return f"{f}:{lineno}"
    return None


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------
def _default_project_root() -> Path:
    return Path(__file__).resolve().parents[3]


def register(
    cimom: str,
    dry_run: bool,
    project_root: Path,
    out: TextIO | None = None,
    providers_dir: Path | None = None,
    *,
    work_dir: Path | None = None,
    include_dmtf: bool = False,
    interop_namespace: str | None = None,
    runner: Callable[[list[str]], int] | None = None,
    prefix: Path | None = None,
    stage_dir: Path | None = None,
    repository: Path | None = None,
    query: Callable[[list[str]], tuple[int, str]] | None = None,
) -> int:
    """Register vrmgmt with SFCB or OpenPegasus; with dry_run print what would be done.
    Returns a process exit code (0 ok, 2 bad input, else the failing command's code).
    `out` defaults to sys.stdout (looked up at call time); work_dir defaults to a fresh
    temporary directory (dry run: /tmp/vrmgmt-register, not created); include_dmtf also
    stages the DMTF subset for SFCB; runner(cmd) -> exit code replaces subprocess;
    query(cmd) -> (exit code, output) replaces it for commands whose output is read
    (OpenPegasus: cimconfig, the cimmofl checks). SFCB: prefix, stage_dir and repository
    (its registration directory) locate the installation (vrmgmt.cmpi.sfcb.sfcb_layout)."""
    out = out or sys.stdout
    project_root = Path(project_root).resolve()
    providers_dir = Path(providers_dir or project_root / "providers").resolve()
    if cimom not in CIMOMS:
        out.write(f"vrmgmt register: unknown CIMOM {cimom!r} (choose {' or '.join(CIMOMS)})\n")
        return 2
    if work_dir is None:
        work_dir = (
            Path(tempfile.gettempdir()) / "vrmgmt-register"
            if dry_run
            else Path(tempfile.mkdtemp(prefix="vrmgmt-register-"))
        )
    layout = sfcb.sfcb_layout(prefix, stage_dir, repository) if cimom == "sfcb" else None
    try:
        if cimom == "sfcb":
            plan = sfcb_plan(project_root, providers_dir, work_dir, include_dmtf, layout)
        else:
            interop = interop_namespace or PEGASUS_INTEROP
            if query is None and runner is None:
                query = _query
            pg_repo = pegasus_repository(query, os.environ.get("PEGASUS_HOME")) if query else None
            plan = pegasus_plan(
                project_root,
                providers_dir,
                work_dir,
                interop,
                pegasus_extra_interop(pg_repo, interop),
                pg_repo,
            )
    except (ConfigError, OSError) as exc:
        out.write(f"vrmgmt register: {exc}\n")
        return 2
    missing = [
        p
        for r in project_registrations(project_root)
        if not Path((p := provider_path(r, providers_dir)) + ".py").is_file()
    ]
    for p in dict.fromkeys(missing):
        out.write(f"# warning: provider module {p}.py does not exist\n")

    if dry_run:
        _print_plan(plan, out)
        return 0
    if layout is not None:  # SFCB: dry compile, then install (vrmgmt.cmpi.sfcb)
        staging = sfcb_staging(project_root, providers_dir, include_dmtf)
        rc = sfcb.register_sfcb(
            staging,
            layout,
            out,
            plan.work_dir,
            None if runner is None else (lambda cmd, env: (runner(cmd), "")),
        )
        if rc == 0:
            out.write(f"# {SITE_HOOK_NOTE}\n")
        return rc

    plan.work_dir.mkdir(parents=True, exist_ok=True)
    for name, content in plan.files.items():
        plan.path(name).write_text(content)
        out.write(f"wrote {plan.path(name)}\n")
    run = runner or _run
    if plan.checks:
        rc = _run_checks(plan, out, run, query)
        if rc != 0:
            return rc
    for cmd in plan.commands:
        out.write(f"$ {shlex.join(cmd)}\n")
        if runner is None and shutil.which(cmd[0]) is None:
            out.write(f"vrmgmt register: {cmd[0]} not found; is {cimom} installed?\n")
            return 127
        rc = run(cmd)
        if rc != 0:
            out.write(f"vrmgmt register: {cmd[0]} failed with exit code {rc}\n")
            return rc
    for note in plan.notes:
        out.write(f"# {note}\n")
    out.write(f"# {SITE_HOOK_NOTE}\n")
    return 0


def _run(cmd: list[str]) -> int:
    return subprocess.run(cmd, check=False).returncode


def _query(cmd: list[str]) -> tuple[int, str]:
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    return res.returncode, res.stdout + res.stderr


_CIMMOFL_NOISE = re.compile(
    r"^\s*(Warning: Use of cimmofl can corrupt.*|cimmofl should only be used.*|"
    r"cimmof is the recommended OpenPegasus MOF compiler\.)\s*$"
)


def _run_checks(plan: Plan, out: TextIO, run, query) -> int:
    """The dry compile: every file into the scratch repository, nothing live changes."""
    out.write(f"# checking every file first with cimmofl in {plan.path('check')}\n")
    try:
        _prepare_check_repository(plan)
    except OSError as exc:
        out.write(f"vrmgmt register: cannot prepare the check repository: {exc}\n")
        return 1
    for cmd in plan.checks:
        out.write(f"$ {shlex.join(cmd)}\n")
        if query is None:
            rc, text_out = run(cmd), ""
        elif query is _query and shutil.which(cmd[0]) is None:
            out.write(f"vrmgmt register: {cmd[0]} not found; is pegasus installed?\n")
            return 127
        else:
            rc, text_out = query(cmd)
        text_out = "\n".join(
            line
            for line in text_out.splitlines()
            if line.strip() and not _CIMMOFL_NOISE.match(line)
        )
        if rc == 0:
            continue
        files = [Path(a) for a in cmd if a.endswith(".mof")]
        sources = [f for src in files for f in (_included_files(src) if src.is_file() else [src])]
        where = locate_mof_error(text_out, sources) or " ".join(str(f) for f in files)
        detail = text_out.strip() or f"exit code {rc}"
        out.write(
            f"vrmgmt register: {where}: {detail}\n"
            "vrmgmt register: the check compile failed; nothing was changed (the previous "
            "registration keeps serving)\n"
        )
        return rc if rc > 0 else 1
    return 0


def _print_plan(plan: Plan, out: TextIO) -> None:
    out.write(f"# vrmgmt register --cimom {plan.cimom} --dry-run: nothing is changed.\n")
    out.write(f"# Files that would be written to {plan.work_dir}:\n")
    for name, content in plan.files.items():
        if name in plan.show:
            out.write(f"# ---- {plan.path(name)} ----\n")
            out.write(content)
            out.write(f"# ---- end of {plan.path(name)} ----\n")
        else:
            out.write(f"#   {plan.path(name)} ({content.count(chr(10))} lines)\n")
    if plan.checks:
        out.write("# Check (compiles everything into a scratch repository first):\n")
        for cmd in plan.checks:
            out.write(shlex.join(cmd) + "\n")
    out.write("# Commands that would run:\n")
    for cmd in plan.commands:
        out.write(shlex.join(cmd) + "\n")
    for note in plan.notes:
        out.write(f"# {note}\n")


# --------------------------------------------------------------------------------------
# The CIMOM's embedded Python: site hook and check (vrmgmt.cmpi.embedded)
# --------------------------------------------------------------------------------------
def site_hook_lines(project_root: Path | None = None, scoped: bool = True) -> list[str]:
    """The .pth file that makes cmpi_pywbem_bindings and vrmgmt importable by the
    Python libpy3CmpiProvider.so embeds (active in CIMOM processes only)."""
    return embedded.site_hook_lines(Path(project_root or _default_project_root()), scoped)


def _interpreter(cimom: str | None, library: Path | None, layout: sfcb.SfcbLayout | None):
    dirs = layout.provider_dirs() if layout is not None else []
    return embedded.interpreter_of(embedded.find_library(library, dirs))


def site_hook(
    out: TextIO | None = None,
    project_root: Path | None = None,
    *,
    cimom: str | None = None,
    library: Path | None = None,
    layout: sfcb.SfcbLayout | None = None,
    site_dir: Path | None = None,
    install: bool = False,
) -> int:
    """--print-site-hook / --install-site-hook: the hook for the interpreter the CIMOM's
    libpy3CmpiProvider.so embeds, and the file it goes in (site_dir, else that
    interpreter's site-packages)."""
    out = out or sys.stdout
    try:
        interp = _interpreter(cimom, library, layout)
        target_dir = Path(site_dir) if site_dir else embedded.site_packages(interp)
    except embedded.EmbeddedError as exc:
        out.write(f"vrmgmt register: {exc}\n")
        return 1
    target = target_dir / SITE_HOOK_FILE
    lines = site_hook_lines(project_root)
    if install:
        target_dir.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
        out.write(f"wrote {target} (for {interp.executable}, embedded by {interp.library})\n")
        return 0
    out.write(f"# Save as {target}\n")
    out.write(
        f"# ({interp.executable}: the interpreter {interp.library} embeds, ldd: "
        f"{interp.libpython})\n"
    )
    for line in lines:
        out.write(line + "\n")
    return 0


def check_embedded(
    out: TextIO | None = None,
    project_root: Path | None = None,
    *,
    cimom: str | None = None,
    library: Path | None = None,
    layout: sfcb.SfcbLayout | None = None,
) -> int:
    """--check: 0 when the embedded interpreter imports everything, else 1."""
    out = out or sys.stdout
    try:
        interp = _interpreter(cimom, library, layout)
        result = embedded.check(interp, Path(project_root or _default_project_root()))
    except embedded.EmbeddedError as exc:
        out.write(f"vrmgmt register --check: {exc}\n")
        return 1
    for line in result.lines:
        out.write(line + "\n")
    for line in cleanup_warning(interp.library):
        out.write(line + "\n")
    return 0 if result.ok else 1


#: where the fix for a stock libpy3CmpiProvider.so is (a checkout's path, and the doc)
CLEANUP_PATCH = "tests/support/patches/cmpi-bindings-1.0.5-cleanup-keep-interpreter.patch"


def cleanup_warning(library: Path) -> list[str]:
    """A warning when library is a stock cmpi-bindings build: its TargetCleanup imports
    Py_Finalize/Py_FinalizeEx, which only the crashing interpreter finalization calls
    (docs/cmpi.md, "The cmpi-bindings cleanup patch"); [] for a patched build."""
    try:
        found = elfsyms.finalize_imports(library)
    except (OSError, elfsyms.ElfError) as exc:
        return [f"warning: cannot tell whether {library} has the cleanup fix: {exc}"]
    if not found:
        return []
    return [
        f"WARNING: {library} imports {', '.join(found)}: it is a stock cmpi-bindings build "
        "whose TargetCleanup finalizes the interpreter without a thread state, and the "
        "provider process (cimprovagt, SFCB's provider process; in process cimserver "
        "itself) crashes at every shutdown or unload.",
        f"  fix: rebuild cmpi-bindings 1.0.5 with {CLEANUP_PATCH} (patch -p1 in its "
        "source tree) and reinstall libpy3CmpiProvider.so; see docs/cmpi.md.",
    ]
