"""The Python that cmpi-bindings' ``libpy3CmpiProvider.so`` embeds inside a CIMOM:
finding it (``ldd`` of the library), checking that it imports what vrmgmt needs
(``vrmgmt register --check``), and the site hook that makes vrmgmt importable there
(``vrmgmt register --print-site-hook`` / ``--install-site-hook``).

The library is found from ``--cmpi-library PATH``, else in the CIMOM's provider
directories (SFCB: ``providerDirs`` of its sfcb.cfg), else in the usual CMPI library
directories. Its ``libpython3.X.so`` (``ldd``) names the interpreter; the executable is
the ``bin/python3.X`` of that library's prefix (``/usr/lib/x86_64-linux-gnu/libpython3.11``
-> ``/usr/bin/python3.11``), never a ``python3`` that happens to be first on PATH (pyenv,
a virtual environment).

cmpi-bindings 1.0.5 starts that interpreter with an isolated configuration: PYTHONPATH
and the user site are ignored, ``.pth`` files in its site-packages are read. Its Python 3
build also registers no ``_cmpi`` extension and installs no ``_cmpi.so``, so ``import
cmpi`` (the SWIG module) fails with "No module named '_cmpi'" inside the CIMOM until a
link ``_cmpi.so -> libpy3CmpiProvider.so`` is put next to cmpi.py (dlopen then returns the
library the CIMOM already loaded).

The check runs that interpreter isolated (``-I``), as the CIMOM does, with
``VRMGMT_CMPI_CHECK=1`` (which the site hook treats like a CIMOM process), and imports
``cmpi``, ``cmpi_pywbem_bindings`` (it must be vrmgmt's, and import vrmgmt) and vrmgmt's
runtime dependencies, reporting each missing piece with its fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LIBRARY = "libpy3CmpiProvider.so"
SITE_HOOK_FILE = "vrmgmt-cmpi.pth"
#: executables of the processes that run providers (SFCB forks sfcbd; OpenPegasus runs
#: them in cimprovagt, or in cimserver with forceProviderProcesses=false)
CIMOM_EXECUTABLES = ("sfcbd", "cimserver", "cimprovagt", "cimprovagt32")
CHECK_VAR = "VRMGMT_CMPI_CHECK"
COMMON_LIBRARY_DIRS = (
    "/usr/lib64/cmpi",
    "/usr/lib/cmpi",
    "/usr/lib/x86_64-linux-gnu/cmpi",
    "/usr/lib/aarch64-linux-gnu/cmpi",
    "/usr/lib64/sfcb",
    "/usr/lib/sfcb",
    "/usr/lib64/Pegasus/providers",
    "/usr/lib/Pegasus/providers",
    "/usr/lib64",
    "/usr/lib",
)


class EmbeddedError(RuntimeError):
    """The library or its interpreter cannot be found."""


@dataclass
class Interpreter:
    library: Path
    libpython: str  # e.g. "libpython3.11.so.1.0 => /lib/x86_64-linux-gnu/libpython3.11.so.1.0"
    version: str  # "3.11"
    executable: Path | None


def find_library(explicit: Path | None, provider_dirs: Sequence[Path] = ()) -> Path:
    """libpy3CmpiProvider.so: the explicit path, else the first in the CIMOM's provider
    directories, else in the common CMPI library directories."""
    if explicit is not None:
        p = Path(explicit)
        if p.is_dir():
            p = p / LIBRARY
        if not p.is_file():
            raise EmbeddedError(f"{p} does not exist")
        return p
    searched = [Path(d) for d in provider_dirs] + [Path(d) for d in COMMON_LIBRARY_DIRS]
    for d in searched:
        if (d / LIBRARY).is_file():
            return d / LIBRARY
    raise EmbeddedError(
        f"{LIBRARY} not found in {', '.join(str(d) for d in dict.fromkeys(searched))}; "
        "install cmpi-bindings built for Python 3 (cmake -DBUILD_PYTHON3=YES) or name it "
        "with --cmpi-library PATH"
    )


def interpreter_of(library: Path) -> Interpreter:
    """The Python the library embeds, from ``ldd``."""
    if shutil.which("ldd") is None:
        raise EmbeddedError("ldd not found (package libc-bin)")
    res = subprocess.run(
        ["ldd", str(library)], capture_output=True, text=True, check=False, timeout=60
    )
    m = re.search(r"^\s*(libpython(3\.\d+)\S*)\s*=>\s*(\S+)", res.stdout, re.M)
    if not m:
        if "libpython" in res.stdout:
            raise EmbeddedError(f"ldd {library}: its libpython is not found:\n{res.stdout}")
        raise EmbeddedError(f"{library} links no libpython3 (ldd):\n{res.stdout}{res.stderr}")
    version = m.group(2)
    lib = Path(os.path.realpath(m.group(3)))
    exe = None
    for parent in lib.parents:
        cand = parent / "bin" / f"python{version}"
        if cand.is_file() and os.access(cand, os.X_OK):
            exe = cand
            break
    return Interpreter(library, f"{m.group(1)} => {m.group(3)}", version, exe)


# --------------------------------------------------------------------------------------
# The site hook
# --------------------------------------------------------------------------------------
def hook_paths(project_root: Path) -> tuple[list[str], list[str]]:
    """(paths put first on sys.path, site directories added): vrmgmt's src/, and the
    site-packages of the virtual environment this runs from (pywbem, lxml,
    libvirt-python), if any."""
    first = [str(Path(project_root).resolve() / "src")]
    sites: list[str] = []
    if sys.prefix != sys.base_prefix:
        for key in ("purelib", "platlib"):
            p = sysconfig.get_paths()[key]
            if p not in sites:
                sites.append(p)
    return first, sites


def site_hook_lines(project_root: Path, scoped: bool = True) -> list[str]:
    """A .pth file for the embedded interpreter's site-packages. The one code line acts
    only in a CIMOM process (CIMOM_EXECUTABLES, /proc/self/exe) or under
    ``vrmgmt register --check``; every other program of that Python is left alone."""
    first, sites = hook_paths(project_root)
    body = (
        f"sys.path[:0] = [p for p in {first!r} if p not in sys.path]\n"
        f" for p in {sites!r}: site.addsitedir(p)\n"
    )
    cond = (
        f"os.environ.get({CHECK_VAR!r}) == '1' or "
        f"os.path.basename(os.path.realpath('/proc/self/exe')) in {CIMOM_EXECUTABLES!r}"
    )
    code = f"if {cond}:\n {body}" if scoped else f"if True:\n {body}"
    return [
        "# vrmgmt (`vrmgmt register --print-site-hook`): cmpi_pywbem_bindings and vrmgmt",
        "# for cmpi-bindings' embedded Python, only in CIMOM processes "
        f"({', '.join(CIMOM_EXECUTABLES)}).",
        "# src/ goes first so that it wins over cmpi-bindings' own (Python 2)",
        "# cmpi_pywbem_bindings.py if that is installed too.",
        f"import os, sys, site; exec({code!r})",
    ]


def _probe(interp: Interpreter, code: str, env: dict[str, str] | None = None) -> dict:
    if interp.executable is None:
        raise EmbeddedError(
            f"no python{interp.version} executable found for {interp.libpython} "
            f"(looked for bin/python{interp.version} above it)"
        )
    env = dict(os.environ if env is None else env)
    env[CHECK_VAR] = "1"
    res = subprocess.run(
        [str(interp.executable), "-I", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )
    try:
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise EmbeddedError(
            f"{interp.executable} -I failed ({res.returncode}): {res.stderr.strip()[-2000:]}"
        ) from None


def site_packages(interp: Interpreter) -> Path:
    """Where the hook goes: the interpreter's first site-packages directory."""
    info = _probe(interp, "import json, site; print(json.dumps(site.getsitepackages()))")
    return Path(info[0])


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------
_CHECK = r"""
import importlib, importlib.util, json, os, sys, traceback
r = {"executable": sys.executable, "version": sys.version.split()[0], "path": sys.path}
def attempt(name):
    try:
        m = importlib.import_module(name)
        return None, getattr(m, "__file__", None)
    except BaseException as exc:
        return f"{type(exc).__name__}: {exc}", None
spec = importlib.util.find_spec("cmpi")
r["cmpi_spec"] = spec.origin if spec else None
r["cmpi"] = attempt("cmpi")
r["bindings"] = attempt("cmpi_pywbem_bindings")
m = sys.modules.get("cmpi_pywbem_bindings")
r["bindings_vrmgmt"] = m is not None and hasattr(m, "_IMPORT_ERROR")
r["bindings_error"] = getattr(m, "_IMPORT_ERROR", None) if m else None
r["vrmgmt"] = attempt("vrmgmt")
v = sys.modules.get("vrmgmt")
r["vrmgmt_version"] = getattr(v, "__version__", None)
r["deps"] = {n: attempt(n)[0] for n in DEPS}
r["optional"] = {n: attempt(n)[0] for n in OPTIONAL}
print(json.dumps(r))
"""

DEPENDENCIES = ("pywbem", "lxml", "libvirt", "vrmgmt.cmpi.proxy")
OPTIONAL_DEPENDENCIES = ("pyVmomi",)


@dataclass
class CheckResult:
    ok: bool
    lines: list[str] = field(default_factory=list)


def check(
    interp: Interpreter, project_root: Path, env: dict[str, str] | None = None
) -> CheckResult:
    """Import everything a provider needs in the embedded interpreter; each problem is
    reported with what fixes it."""
    code = f"DEPS = {DEPENDENCIES!r}\nOPTIONAL = {OPTIONAL_DEPENDENCIES!r}\n" + _CHECK
    lines = [
        f"library:     {interp.library}",
        f"embeds:      {interp.libpython}",
        f"interpreter: {interp.executable} (run isolated, as the CIMOM does)",
    ]
    r = _probe(interp, code, env)
    problems: list[str] = []
    hook = f"vrmgmt register --install-site-hook (or --print-site-hook) for {interp.executable}"
    err, path = r["cmpi"]
    if err is None:
        lines.append(f"cmpi:        {path}")
    elif "_cmpi" in err and r["cmpi_spec"]:
        d = Path(r["cmpi_spec"]).parent
        problems.append(
            f"import cmpi: {err}. cmpi-bindings' Python 3 build installs no _cmpi "
            f"extension; link it to the provider library: ln -s {interp.library} "
            f"{d / '_cmpi.so'}"
        )
    elif r["cmpi_spec"] is None:
        problems.append(
            f"import cmpi: {err}: cmpi-bindings' SWIG module cmpi.py is not installed for "
            f"{interp.executable} (cmake installs it into that Python's site-packages)"
        )
    else:
        problems.append(f"import cmpi: {err}")
    err, path = r["bindings"]
    if err is not None:
        problems.append(
            f"import cmpi_pywbem_bindings: {err}: vrmgmt's module is not on the embedded "
            f"interpreter's path; install the site hook: {hook}"
        )
    elif not r["bindings_vrmgmt"]:
        problems.append(
            f"cmpi_pywbem_bindings is {path}, cmpi-bindings' own Python 2 module, not "
            f"vrmgmt's: install the site hook ({hook}), which puts vrmgmt's src/ first"
        )
    else:
        lines.append(f"cmpi_pywbem_bindings: {path}")
        if r["bindings_error"]:
            problems.append(f"cmpi_pywbem_bindings cannot import vrmgmt: {r['bindings_error']}")
    err, path = r["vrmgmt"]
    if err is None:
        lines.append(f"vrmgmt:      {path} ({r['vrmgmt_version']})")
    elif r["bindings"][0] is None:
        problems.append(f"import vrmgmt: {err}")
    missing = {n: e for n, e in r["deps"].items() if e}
    for name, e in missing.items():
        if name.startswith("vrmgmt") and r["vrmgmt"][0]:
            continue
        problems.append(
            f"import {name}: {e}: install vrmgmt's requirements for {interp.executable} "
            f"(`{interp.executable} -m pip install pywbem lxml libvirt-python`), or run "
            "--install-site-hook from a virtual environment of the same Python "
            f"{interp.version} so that the hook adds its site-packages"
        )
    for name, e in r["optional"].items():
        if e:
            lines.append(f"optional:    {name} not importable (only the vSphere backend needs it)")
    if r["version"].rsplit(".", 1)[0] != interp.version:  # pragma: no cover - odd installs
        problems.append(f"{interp.executable} is Python {r['version']}, not {interp.version}")
    if problems:
        lines += [f"MISSING: {p}" for p in problems]
    else:
        lines.append("ok: the CIMOM's embedded Python imports cmpi, cmpi_pywbem_bindings, vrmgmt")
    return CheckResult(not problems, lines)
