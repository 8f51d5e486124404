"""Build and run a real OpenPegasus 2.14.4 CIMOM with cmpi-bindings' Python 3 provider
library for vrmgmt's tests (issue 18).

Sources: ``../shared/third-party/openpegasus-2.14.4-min.tar.xz`` (the OpenPegasus
``pegasus/`` tree trimmed to what a build needs) and ``cmpi-bindings-1.0.5.tar.xz``
(``$VRMGMT_THIRD_PARTY`` names another folder). ``build_pegasus()`` builds, once per
machine, into ``support.cache.cache_dir()/pegasus-<hash of the inputs>`` (outside the
clone; a lock keeps parallel runs from building twice):

* OpenPegasus with the CMPI provider manager and the interop provider, no SSL, no PAM,
  no WS-Man, no web server, an XML repository (``make -j2`` + ``make repository``: CIM
  2.41 and OpenPegasus's schema in root/cimv2, root/PG_InterOp and root/PG_Internal),
  ``PEGASUS_FLAVOR=vrmgmt``, and two source changes:

  - OpenAssociatorInstancePaths (pull AssociatorNames) looks the association providers
    up by ResultClass instead of AssocClass (CIMOperationRequestDispatcher.cpp,
    handleOpenAssociatorInstancePathsRequest), so every association provider answered;
    one line fixes it (``PULL_ASSOCIATOR_NAMES_FIX``).
  - ``-DPEGASUS_USE_SYSLOGS`` is dropped from mak/config-linux.mak so that the standard
    log goes to ``$PEGASUS_HOME/logs`` instead of a syslog that is absent here.

* cmpi-bindings' ``libpy3CmpiProvider.so`` (SWIG, cmake) against OpenPegasus's own CMPI
  headers (``src/Pegasus/Provider/CMPI``) and Debian's ``/usr/bin/python3``, the
  interpreter it then embeds; its ``cmpi.py`` with the missing ``_cmpi.so`` symlink.

* vrmgmt's runtime dependencies for that interpreter (``pip install --target``), keyed
  by the dependencies in pyproject.toml (``build_python_deps()``).

``Pegasus`` runs one cimserver (context manager) in the foreground on a free loopback
port with its own ``PEGASUS_HOME`` (bin/ and lib/ link to the cache, a copy of the
repository, logs/, trace/). A development build compiles in ``/var/tmp/cimxml<flavor>.socket``
and ``/var/tmp/cimserver<flavor>_start.conf``, which cimmof/cimconfig use to find the
server, so one cimserver of a flavor can run per machine: ``Pegasus`` holds a machine-wide
lock (``/var/tmp/vrmgmt-cimserver<flavor>.lock``) while it runs; a second run waits.

The embedded interpreter runs with an isolated configuration (PYTHONPATH ignored) but
reads ``.pth`` files in its site-packages. ``install_site_switch()`` writes one small
file there, ``vrmgmt-test-site.pth``, that does nothing unless ``$VRMGMT_TEST_SITE_DIR``
is set, and then adds that directory as a site directory (its ``.pth`` files are read):
each test run puts the site hook the README tells users to save into its own directory
and sets the variable for its own cimserver, so runs from different clones do not see
each other's vrmgmt.

Debian packages the build needs: ``DEBIAN_PACKAGES`` (scripts/dev installs them).
Measured on the 2-core Debian 12 machine, shared with other jobs (load 5-6): a first
build from an empty cache 465 s (OpenPegasus 458 s, cmpi-bindings 7 s), vrmgmt's
dependencies 10 s (from pip's cache); finding the cached builds ~20 ms; cimserver
starts in ~0.3 s and stops in ~1 s; the first request to vrmgmt starts cimprovagt and
its Python (~0.4 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from support.cache import cache_dir, exclusive, first_line, sha256_file
from support.cmpi_bindings import apply_patches, patches_key

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Debian packages needed to build OpenPegasus and cmpi-bindings (apt-get install names)
DEBIAN_PACKAGES: tuple[str, ...] = (
    "build-essential",
    "libcrypt-dev",
    "cmake",
    "swig",
    "python3-dev",
    "python3-pip",
    "xz-utils",
    "libvirt-dev",
    "pkg-config",
)

#: the interpreter libpy3CmpiProvider.so is built for and embeds
EMBEDDED_PYTHON = "/usr/bin/python3"
FLAVOR = "vrmgmt"
PEGASUS_TARBALL = "openpegasus-2.14.4-min.tar.xz"
CMPI_BINDINGS_TARBALL = "cmpi-bindings-1.0.5.tar.xz"
SITE_SWITCH_FILE = "vrmgmt-test-site.pth"
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SITE_SWITCH_VAR = "VRMGMT_TEST_SITE_DIR"

#: (file, function, wrong line, right line): pull AssociatorNames looked up association
#: providers by ResultClass instead of AssocClass (OpenPegasus 2.14.4)
PULL_ASSOCIATOR_NAMES_FIX = (
    "src/Pegasus/Server/CIMOperationRequestDispatcher.cpp",
    "handleOpenAssociatorInstancePathsRequest",
    "            request->objectName,\n"
    "            request->resultClass,\n"
    "            String::EMPTY);",
    "            request->objectName,\n"
    "            request->assocClass,\n"
    "            String::EMPTY);",
)
SYSLOG_DEFINE = ("mak/config-linux.mak", "DEFINES += -DPEGASUS_USE_SYSLOGS\n")

#: make variables of the build (README of ../shared/third-party); unset ones stay unset,
#: since the makefiles test PEGASUS_HAS_SSL and friends with ifdef
BUILD_ENV = {
    "PEGASUS_PLATFORM": "LINUX_X86_64_GNU",
    "PEGASUS_FLAVOR": FLAVOR,
    "PEGASUS_ENABLE_CMPI_PROVIDER_MANAGER": "true",
    "PEGASUS_ENABLE_INTEROP_PROVIDER": "true",
    "PEGASUS_SKIP_MOST_TEST_DIRS": "true",
    "PEGASUS_ENABLE_PROTOCOL_WEB": "false",
    "PEGASUS_ENABLE_PROTOCOL_WSMAN": "false",
    "PEGASUS_ENABLE_PRIVILEGE_SEPARATION": "false",
    "PEGASUS_DISABLE_PROV_USERCTXT": "1",
    "PEGASUS_REPOSITORY_MODE": "XML",
    "PEGASUS_DEBUG": "1",
    # ExecQuery is compiled out unless asked for (mak/config.mak: PEGASUS_DISABLE_EXECQUERY)
    "PEGASUS_ENABLE_EXECQUERY": "true",
}
_BUILD_UNSET = ("PEGASUS_HAS_SSL", "PEGASUS_PAM_AUTHENTICATION", "PEGASUS_USE_RELEASE_DIRS")
CMPI_HEADERS = ("cmpidt.h", "cmpift.h", "cmpimacs.h", "cmpios.h", "cmpipl.h")

#: seconds the last real build took (None: the cached one was used)
LAST_BUILD_SECONDS: float | None = None


class PegasusUnavailable(RuntimeError):
    """A prerequisite (tarball, compiler, Debian's python3) is missing."""


class PegasusError(RuntimeError):
    """The build failed, or cimserver did not start."""


def third_party_dir() -> Path:
    env = os.environ.get("VRMGMT_THIRD_PARTY")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "third-party"


def missing_prerequisites() -> str | None:
    """Why OpenPegasus cannot be built here, or None."""
    missing = []
    for name in (PEGASUS_TARBALL, CMPI_BINDINGS_TARBALL):
        if not (third_party_dir() / name).is_file():
            missing.append(f"{third_party_dir() / name} not found (set $VRMGMT_THIRD_PARTY)")
    for tool in ("g++", "make", "cmake", "swig"):
        if shutil.which(tool) is None:
            missing.append(f"`{tool}` not found")
    if not Path(EMBEDDED_PYTHON).is_file():
        missing.append(f"{EMBEDDED_PYTHON} (Debian's python3) not found")
    if not missing:
        return None
    return (
        "OpenPegasus cannot be built: "
        + "; ".join(missing)
        + f" — install: apt-get install {' '.join(DEBIAN_PACKAGES)}"
    )


def build_key() -> str:
    """Hash of everything the build depends on."""
    h = hashlib.sha256()
    for name in (PEGASUS_TARBALL, CMPI_BINDINGS_TARBALL):
        h.update(f"{name}:{sha256_file(third_party_dir() / name)}\n".encode())
    h.update(repr((PULL_ASSOCIATOR_NAMES_FIX, SYSLOG_DEFINE, sorted(BUILD_ENV.items()))).encode())
    h.update(repr((CMPI_HEADERS, _BUILD_RECIPE_VERSION)).encode())
    h.update(first_line(["g++", "--version"]).encode())
    h.update(first_line([EMBEDDED_PYTHON, "--version"]).encode())
    return h.hexdigest()[:16]


#: bump when the build steps below change in a way the inputs above do not show
_BUILD_RECIPE_VERSION = 1


def _flock(path: Path, timeout: float = 1800.0, what: str = "lock"):
    """An exclusive flock on path, waiting up to timeout seconds (PegasusError else)."""
    return exclusive(path, timeout, what, PegasusError)


def _run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path, what: str) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}  (in {cwd})\n")
        out.flush()
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-40:])
        raise PegasusError(f"{what} failed (exit {rc}); last lines of {log}:\n{tail}")


def _patch_file(path: Path, old: str, new: str, *, within: str | None = None) -> None:
    """Replace the one occurrence of `old` (after the first line mentioning `within`)."""
    src = path.read_text()
    start = src.index(within) if within else 0
    end = src.find("\n}\n", start) if within else len(src)
    pos = src.find(old, start, end)
    if pos < 0 or src.find(old, pos + len(old), end) >= 0:
        raise PegasusError(f"{path}: expected exactly one {old.strip()!r} to change")
    path.write_text(src[:pos] + new + src[pos + len(old) :])


@dataclass(frozen=True)
class PegasusBuild:
    """A finished build in the cache."""

    root: Path  # <cache>/pegasus-<key>

    @property
    def pegasus_root(self) -> Path:  # the source tree (PEGASUS_ROOT)
        return self.root / "pegasus"

    @property
    def home(self) -> Path:  # PEGASUS_HOME of the build: bin/, lib/, repository/
        return self.root / "home"

    @property
    def bin_dir(self) -> Path:
        return self.home / "bin"

    @property
    def lib_dir(self) -> Path:
        return self.home / "lib"

    @property
    def provider_dir(self) -> Path:  # holds libpy3CmpiProvider.so
        return self.root / "cmpi"

    @property
    def python_dir(self) -> Path:  # cmpi.py and _cmpi.so for the embedded interpreter
        return self.root / "python"

    @property
    def provider_library(self) -> Path:
        return self.provider_dir / "libpy3CmpiProvider.so"


def build_pegasus(*, force: bool = False) -> PegasusBuild:
    """The cached OpenPegasus + libpy3CmpiProvider.so build, building it first if needed."""
    global LAST_BUILD_SECONDS
    reason = missing_prerequisites()
    if reason:
        raise PegasusUnavailable(reason)
    build = PegasusBuild(cache_dir() / f"pegasus-{build_key()}")
    ready = build.root / "READY"
    # the cmpi-bindings stage has its own key (its patches' hash) recorded in READY: a
    # changed patch rebuilds libpy3CmpiProvider.so (5 s), not OpenPegasus (minutes)
    cmpi_key = f"cmpi-bindings {patches_key()}"

    def is_ready() -> bool:
        return ready.is_file() and cmpi_key in ready.read_text().splitlines()

    if is_ready() and not force:
        return build
    with _flock(build.root.with_suffix(".lock"), what="the OpenPegasus build lock"):
        if is_ready() and not force:
            return build  # another run built it while we waited
        t0 = time.monotonic()
        # two stages, each with its marker: a failed cmpi-bindings build does not
        # rebuild OpenPegasus; a failed stage leaves its log but never a marker
        stage1 = build.root / "PEGASUS_READY"
        if force or not stage1.is_file():
            if build.root.exists():
                shutil.rmtree(build.root)
            build.root.mkdir(parents=True)
            _build_openpegasus(build, build.root / "build.log")
            stage1.write_text(f"built in {time.monotonic() - t0:.0f} s\n")
        for d in ("cmpi-bindings-src", "cmpi-bindings-build", "include", "cmpi", "python"):
            shutil.rmtree(build.root / d, ignore_errors=True)
        _build_cmpi_bindings(build, build.root / "build.log")
        ready.write_text(f"{cmpi_key}\nbuilt in {time.monotonic() - t0:.0f} s\n")
        LAST_BUILD_SECONDS = time.monotonic() - t0
    return build


def pegasus_env(build: PegasusBuild, home: Path) -> dict[str, str]:
    """Environment for OpenPegasus's programs (cimserver, cimmof, cimmofl, cimprovider)
    with PEGASUS_HOME = home."""
    env = {k: v for k, v in os.environ.items() if k not in _BUILD_UNSET}
    env.update(BUILD_ENV)
    env["PEGASUS_ROOT"] = str(build.pegasus_root)
    env["PEGASUS_HOME"] = str(home)
    # a service's PATH (systemd's default): a venv's or pyenv's python3 first on PATH
    # would become the embedded interpreter's sys.executable, and with its pyvenv.cfg
    # bring another Python's standard library into Debian's libpython
    env["PATH"] = f"{build.bin_dir}:{SERVICE_PATH}"
    env["LD_LIBRARY_PATH"] = str(build.lib_dir)
    return env


def _build_openpegasus(build: PegasusBuild, log: Path) -> None:
    with tarfile.open(third_party_dir() / PEGASUS_TARBALL) as tar:
        tar.extractall(build.root, filter="tar")
    root = build.pegasus_root
    fname, func, old, new = PULL_ASSOCIATOR_NAMES_FIX
    _patch_file(root / fname, old, new, within=f"::{func}(")
    _patch_file(root / SYSLOG_DEFINE[0], SYSLOG_DEFINE[1], "")
    build.home.mkdir()
    env = pegasus_env(build, build.home)
    jobs = str(max(2, min(4, os.cpu_count() or 2)))
    _run(["make", f"-j{jobs}"], root, env, log, "OpenPegasus make")
    _run(["make"], root, env, log, "OpenPegasus make (serial pass)")
    _run(["make", "repository"], root, env, log, "OpenPegasus make repository")
    for prog in ("cimserver", "cimprovagt", "cimmof", "cimmofl", "cimprovider"):
        if not (build.bin_dir / prog).is_file():
            raise PegasusError(f"the OpenPegasus build has no {build.bin_dir / prog} (see {log})")


def _build_cmpi_bindings(build: PegasusBuild, log: Path) -> None:
    src_root = build.root / "cmpi-bindings-src"
    src_root.mkdir()
    with tarfile.open(third_party_dir() / CMPI_BINDINGS_TARBALL) as tar:
        tar.extractall(src_root, filter="tar")
    (src,) = [p for p in src_root.iterdir() if p.is_dir()]
    apply_patches(src, log)  # TargetCleanup keeps the interpreter (cmpi_bindings.py)
    # cmpi.i includes <cmpi/cmpi*.h>: OpenPegasus's CMPI headers under include/cmpi/
    inc = build.root / "include"
    (inc / "cmpi").mkdir(parents=True)
    for h in CMPI_HEADERS:
        shutil.copy2(build.pegasus_root / "src/Pegasus/Provider/CMPI" / h, inc / "cmpi" / h)
    # swig runs with -I/usr/include only: add the CMPI include directory
    _patch_file(
        src / "swig/python/CMakeLists.txt",
        " -I/usr/include ",
        " -I${CMPI_INCLUDE_DIR} -I/usr/include ",
    )
    bld = build.root / "cmpi-bindings-build"
    bld.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")  # Debian's python3 first
    _run(
        [
            "cmake",
            str(src),
            "-DBUILD_PYTHON3=YES",
            f"-DCMPI_INCLUDE_DIR={inc}",
            f"-DPython3_EXECUTABLE={EMBEDDED_PYTHON}",
            "-DPython3_ROOT_DIR=/usr",
            "-DPython3_FIND_STRATEGY=LOCATION",
            f"-DCMAKE_INSTALL_PREFIX={build.root / 'cmpi-install'}",
        ],
        bld,
        env,
        log,
        "cmpi-bindings cmake",
    )
    # only the Python 3 provider library (the perl/ruby bindings need more packages)
    _run(["make", "-j2", "py3CmpiProvider"], bld, env, log, "cmpi-bindings make")
    built = list(bld.rglob("libpy3CmpiProvider.so"))
    wrapper = list(bld.rglob("cmpi.py"))
    if not built or not wrapper:
        raise PegasusError(f"cmpi-bindings built no libpy3CmpiProvider.so/cmpi.py (see {log})")
    build.provider_dir.mkdir()
    shutil.copy2(built[0], build.provider_library)
    ldd = subprocess.run(
        ["ldd", str(build.provider_library)], capture_output=True, text=True, check=False
    ).stdout
    if "libpython3" not in ldd:
        raise PegasusError(f"{build.provider_library} does not link libpython3:\n{ldd}")
    # the Python 3 build installs no _cmpi extension: cmpi.py's `from . import _cmpi` /
    # `import _cmpi` must find the already loaded provider library under that name
    build.python_dir.mkdir()
    shutil.copy2(wrapper[0], build.python_dir / "cmpi.py")
    (build.python_dir / "_cmpi.so").symlink_to(build.provider_library)


# --------------------------------------------------------------------------------------
# vrmgmt's dependencies for the embedded interpreter
# --------------------------------------------------------------------------------------
def runtime_requirements() -> list[str]:
    """vrmgmt's dependencies with the extras its providers use at run time (vSphere
    backends, PAM)."""
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    extras = data["project"]["optional-dependencies"]
    return [*data["project"]["dependencies"], *extras["vsphere"], *extras["pam"]]


def build_python_deps() -> Path:
    """A directory with vrmgmt's runtime dependencies installed for Debian's python3
    (``pip install --target``; cached, keyed by the requirements and the interpreter)."""
    reqs = runtime_requirements()
    key = hashlib.sha256(
        repr((reqs, first_line([EMBEDDED_PYTHON, "--version"]))).encode()
    ).hexdigest()[:16]
    target = cache_dir() / f"embedded-py-deps-{key}"
    if (target / "READY").is_file():
        return target
    with _flock(target.with_suffix(".lock"), what="the dependency install lock"):
        if (target / "READY").is_file():
            return target
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        log = target / "pip.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        _run(
            [EMBEDDED_PYTHON, "-m", "pip", "install", "-q", "--no-warn-script-location"]
            + ["--target", str(target / "site"), *reqs],
            target,
            env,
            log,
            "pip install of vrmgmt's dependencies for Debian's python3",
        )
        (target / "READY").write_text("ok\n")
    return target


# --------------------------------------------------------------------------------------
# The embedded interpreter's site directory switch
# --------------------------------------------------------------------------------------
def embedded_site_packages() -> Path:
    """The first site-packages directory of Debian's python3 (where .pth files go)."""
    out = subprocess.run(
        [EMBEDDED_PYTHON, "-I", "-c", "import site; print(site.getsitepackages()[0])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return Path(out.stdout.strip())


SITE_SWITCH = (
    "# vrmgmt's test suite (tests/support/pegasus.py): with $VRMGMT_TEST_SITE_DIR set, that\n"
    "# directory is a site directory too (its .pth files are read). Inert otherwise.\n"
    "import os, site; d = os.environ.get('VRMGMT_TEST_SITE_DIR'); "
    "d and os.path.isdir(d) and site.addsitedir(d)\n"
)


def install_site_switch() -> Path:
    """Write (once per machine) the inert .pth switch into Debian python3's
    site-packages; each run then names its own site directory in its environment."""
    target = embedded_site_packages() / SITE_SWITCH_FILE
    if not target.is_file() or target.read_text() != SITE_SWITCH:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(SITE_SWITCH)
        tmp.replace(target)
    return target


# --------------------------------------------------------------------------------------
# A running cimserver
# --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: OpenPegasus messages that mean a provider agent died (cimserver's standard log)
CRASH_PATTERNS = (
    # cimserver's standard log when an agent's pipe closes without its clean-exit notice
    re.compile(r"A failure was detected in provider module"),
    # the agents' stderr (cimserver's output): Python's abort, a signal
    re.compile(r"Fatal Python error"),
    re.compile(r"(Segmentation fault|SIGSEGV|core dumped)", re.I),
    re.compile(r"cimprovagt.*(crash|signal|died|abnormal)", re.I),
)


class Pegasus:
    """One cimserver (daemon=false) on 127.0.0.1:<free port>, PEGASUS_HOME in workdir.

    ``env`` is added to cimserver's environment (which its provider agents inherit),
    ``config`` to its configuration properties. ``site_dir`` is the embedded
    interpreter's extra site directory (see install_site_switch); it starts with a
    ``00-vrmgmt-test.pth`` naming cmpi-bindings' cmpi.py and vrmgmt's dependencies."""

    def __init__(
        self,
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        config: dict[str, str] | None = None,
        build: PegasusBuild | None = None,
        deps: Path | None = None,
        start_timeout: float = 60.0,
    ):
        self.build = build or build_pegasus()
        self.deps = deps or build_python_deps()
        self.workdir = Path(workdir)
        self.home = self.workdir / "pegasus-home"
        self.site_dir = self.workdir / "embedded-site"
        self.port = 0
        self.extra_env = dict(env or {})
        self.extra_config = dict(config or {})
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self._lock_cm = None
        self._prepare()

    # -- setup ---------------------------------------------------------------------------
    def _prepare(self) -> None:
        install_site_switch()
        self.home.mkdir(parents=True, exist_ok=True)
        for name in ("bin", "lib", "msg"):
            link = self.home / name
            if not link.exists() and (self.build.home / name).exists():
                link.symlink_to(self.build.home / name)
        if not (self.home / "repository").exists():
            shutil.copytree(self.build.home / "repository", self.home / "repository", symlinks=True)
        for d in ("logs", "trace"):
            (self.home / d).mkdir(exist_ok=True)
        self.site_dir.mkdir(parents=True, exist_ok=True)
        (self.site_dir / "00-vrmgmt-test.pth").write_text(
            "# cmpi-bindings' SWIG module and vrmgmt's dependencies for Debian's python3\n"
            f"{self.build.python_dir}\n{self.deps / 'site'}\n"
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment for cimserver and OpenPegasus's client tools of this run."""
        env = pegasus_env(self.build, self.home)
        env[SITE_SWITCH_VAR] = str(self.site_dir)
        env.update(self.extra_env)
        return env

    def config(self) -> dict[str, str]:
        cfg = {
            "daemon": "false",
            "enableHttpConnection": "true",
            "httpPort": str(self.port),
            "enableHttpsConnection": "false",
            "enableAuthentication": "false",
            "listenAddress": "127.0.0.1",
            "providerDir": f"lib:{self.build.provider_dir}",
            "logLevel": "INFORMATION",
            "traceLevel": "1",
            "traceComponents": "ProviderManager,ProviderAgent",
            "traceFilePath": str(self.home / "trace" / "cimserver.trc"),
        }
        cfg.update(self.extra_config)
        return cfg

    # -- running -------------------------------------------------------------------------
    def start(self) -> Pegasus:
        if self.proc is not None:
            return self
        lock = Path("/var/tmp") / f"vrmgmt-cimserver{FLAVOR}.lock"
        self._lock_cm = _flock(lock, timeout=900, what="the one-cimserver-per-flavor lock")
        self._lock_cm.__enter__()
        try:
            self.port = free_port()
            args = [str(self.build.bin_dir / "cimserver")]
            args += [f"{k}={v}" for k, v in self.config().items()]
            self.stdout_path = self.home / "logs" / "cimserver.out"
            out = self.stdout_path.open("ab")
            self.proc = subprocess.Popen(
                args,
                cwd=self.home,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            out.close()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import pywbem

        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise PegasusError(
                    f"cimserver exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}"
                )
            try:
                conn = pywbem.WBEMConnection(self.url, default_namespace="root/PG_InterOp")
                conn.timeout = 10
                conn.EnumerateInstanceNames("PG_ProviderModule")
                return
            except Exception as exc:  # noqa: BLE001 - not up yet
                last = exc
                time.sleep(0.3)
        raise PegasusError(f"cimserver did not answer within {self.start_timeout} s: {last}")

    def stop(self, timeout: float = 60.0) -> int | None:
        """Stop cimserver (SIGTERM, then SIGKILL of its process group); return its exit code."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                # the orderly way: `cimserver -s` (through the local socket) stops the
                # provider agents first; SIGTERM if that does not work
                with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                    subprocess.run(
                        [str(self.build.bin_dir / "cimserver"), "-s", f"shutdownTimeout={30}"],
                        env=self.env(),
                        cwd=self.home,
                        capture_output=True,
                        timeout=timeout,
                        check=False,
                    )
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(10)
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # provider agents left behind
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            rc = self.proc.returncode
            self.proc = None
        if self._lock_cm is not None:
            self._lock_cm.__exit__(None, None, None)
            self._lock_cm = None
        return rc

    def __enter__(self) -> Pegasus:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- clients -------------------------------------------------------------------------
    def conn(self, namespace: str = "root/virt", timeout: float = 60):
        import pywbem

        c = pywbem.WBEMConnection(self.url, default_namespace=namespace)
        c.timeout = timeout
        return c

    def tool(self, *argv: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        """Run one of OpenPegasus's programs (cimmof, cimprovider, ...) against this run."""
        return subprocess.run(
            list(argv),
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    # -- logs ----------------------------------------------------------------------------
    def log_files(self) -> list[Path]:
        return sorted((self.home / "logs").glob("*")) + sorted((self.home / "trace").glob("*"))

    def log_text(self) -> str:
        parts = []
        for f in self.log_files():
            if f.is_file():
                parts.append(f"==== {f.name} ====\n" + f.read_text(errors="replace"))
        return "\n".join(parts)

    def crashes(self) -> list[str]:
        """Lines of the logs that report a provider agent crash."""
        out = []
        for line in self.log_text().splitlines():
            if any(p.search(line) for p in CRASH_PATTERNS):
                out.append(line)
        return out


def install_vrmgmt(p: Pegasus) -> subprocess.CompletedProcess:
    """The site hook (vrmgmt's src/ for the embedded interpreter) into p's site
    directory, then `vrmgmt register --cimom pegasus` against p (for the benchmarks;
    tests/test_pegasus.py does the same through the README's steps)."""
    src = str(PROJECT_ROOT / "src")
    (p.site_dir / "vrmgmt-cmpi.pth").write_text(f"import sys; sys.path[:0] = [{src!r}]\n")
    env = p.env()
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(
        [sys.executable, "-m", "vrmgmt.cli", "register", "--cimom", "pegasus"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
