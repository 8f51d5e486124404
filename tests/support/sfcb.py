"""Build and run a real SFCB 1.3.16 with cmpi-bindings' Python 3 provider library for
vrmgmt's tests (issue 17).

Sources: ``../shared/third-party/sblim-sfcb-1.3.16-el7.tar.xz`` (SFCB's release tree
with RHEL 7's patches) and ``cmpi-bindings-1.0.5.tar.xz`` (``$VRMGMT_THIRD_PARTY`` names
another folder), plus the DMTF CIM schema 2.49 (``../shared/cim-schema-2.49``,
``$VRMGMT_CIM_SCHEMA``) that sfcbrepos compiles into every namespace. ``build_sfcb()``
runs ``tests/support/sfcb_build.sh`` once per machine into
``support.cache.cache_dir()/sfcb-<hash of the tarballs, the build script, the compiler
and the embedded Python>`` (outside the clone; a lock keeps parallel runs from building
twice): SFCB without SSL/PAM/IPv6, its CMPI headers, the schema, and
``lib/cmpi/libpy3CmpiProvider.so`` built against Debian's ``/usr/bin/python3`` (which it
then embeds) with its SWIG module ``lib/cmpi-python/cmpi.py`` and the missing
``_cmpi.so`` link.

``Sfcb`` is one running sfcbd (context manager) with a prefix of its own: ``<run>/prefix``
links ``bin sbin lib share include`` to the build and has real ``etc/sfcb/sfcb.cfg``
(loopback-only HTTP on a free port, no authentication, interop on, a short
``providerTimeoutInterval`` when asked) and ``var/lib/sfcb/{stage,registration}`` (the
staging area and repository a package install would create, made with ``sfcbrepos``), so
``vrmgmt register --cimom sfcb --prefix <run>/prefix`` works on it exactly as with
``--prefix /usr`` on a real machine. The embedded interpreter finds cmpi-bindings'
``cmpi.py`` (a copy, and its own ``_cmpi.so`` link) and the site hook in ``<run>/site``
through the switch in tests/support/embedded.py. ``<run>/systemctl`` restarts this sfcbd
the way ``systemctl restart sfcb`` does on a real machine (the README's steps call it).

sfcbd keys its SysV semaphores with ``ftok()`` of its compiled-in binary path and
removes existing ones at start, so two sfcbd of one build must not run at the same time:
``Sfcb`` holds a machine-wide lock (``<cache>/sfcb-<hash>.run.lock``) while it runs; a
second run waits.

Debian packages the build needs: ``DEBIAN_PACKAGES`` (scripts/dev installs them).
Measured on the 2-core Debian 12 machine: build ~70 s, cached ~10 ms; sfcbd starts
in ~1 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pywbem

from support.cache import cache_dir, exclusive, first_line, sha256_file
from support.cmpi_bindings import patches_key
from support.embedded import EMBEDDED_PYTHON, SITE_SWITCH_VAR, install_site_switch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = Path(__file__).resolve().parent / "sfcb_build.sh"
SFCB_TARBALL = "sblim-sfcb-1.3.16-el7.tar.xz"
CMPI_BINDINGS_TARBALL = "cmpi-bindings-1.0.5.tar.xz"

#: Debian packages needed to build SFCB and cmpi-bindings (exact names, for apt-get).
DEBIAN_PACKAGES: tuple[str, ...] = (
    "build-essential",
    "autoconf",
    "automake",
    "libtool",
    "flex",
    "bison",
    "pkg-config",
    "libcurl4-openssl-dev",
    "libssl-dev",
    "libpam0g-dev",
    "zlib1g-dev",
    "swig",
    "cmake",
    "python3-dev",
    "unzip",
    "patch",
)

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: lines of sfcbd's output that mean a provider process crashed
CRASH_MARKERS = (
    "SIGSEGV",
    "SIGABRT",
    "SIGBUS",
    "provider exiting due to",
    "Fatal Python error",
    "Segmentation fault",
)

#: seconds the last real (non-cached) build took; None when the cached build was used
LAST_BUILD_SECONDS: float | None = None


class SfcbUnavailable(RuntimeError):
    """A build prerequisite is missing."""


class SfcbError(RuntimeError):
    """SFCB could not be built or did not start."""


def third_party_dir() -> Path:
    env = os.environ.get("VRMGMT_THIRD_PARTY")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "third-party"


def schema_dir() -> Path:
    env = os.environ.get("VRMGMT_CIM_SCHEMA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "cim-schema-2.49"


def missing_prerequisites() -> str | None:
    """Why SFCB cannot be built here, or None."""
    missing = []
    for name in (SFCB_TARBALL, CMPI_BINDINGS_TARBALL):
        if not (third_party_dir() / name).is_file():
            missing.append(f"{third_party_dir() / name} not found (set $VRMGMT_THIRD_PARTY)")
    if not (schema_dir() / "cim_schema_2.49.0.mof").is_file():
        missing.append(f"{schema_dir()}/cim_schema_2.49.0.mof not found ($VRMGMT_CIM_SCHEMA)")
    for tool in ("gcc", "make", "cmake", "swig", "flex", "bison", "patch"):
        if shutil.which(tool) is None:
            missing.append(f"`{tool}` not found")
    if not Path(EMBEDDED_PYTHON).is_file():
        missing.append(f"{EMBEDDED_PYTHON} (Debian's python3) not found")
    if not missing:
        return None
    return (
        "SFCB cannot be built: "
        + "; ".join(missing)
        + f" — install: apt-get install {' '.join(DEBIAN_PACKAGES)}"
    )


def build_key() -> str:
    """Hash of everything the build depends on."""
    h = hashlib.sha256()
    for name in (SFCB_TARBALL, CMPI_BINDINGS_TARBALL):
        h.update(f"{name}:{sha256_file(third_party_dir() / name)}\n".encode())
    h.update(sha256_file(BUILD_SCRIPT).encode())
    h.update(patches_key().encode())  # cmpi-bindings patches (cmpi_bindings.py)
    h.update(sha256_file(schema_dir() / "cim_schema_2.49.0.mof").encode())
    for cmd in (["gcc", "--version"], ["swig", "-version"], [EMBEDDED_PYTHON, "--version"]):
        h.update(first_line(cmd).encode())
    return h.hexdigest()[:16]


def _flock(path: Path, timeout: float, what: str):
    """An exclusive flock on path, waiting up to timeout seconds (SfcbError else)."""
    return exclusive(path, timeout, what, SfcbError)


def _kill_orphans(binary: Path) -> None:
    """Kill sfcbd processes of this build left over by a test run that was killed (they
    keep its SysV semaphores, and a new sfcbd of the build then cannot start). Called
    with the build's run lock held, so none of them belongs to a live run."""
    target = str(binary.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "exe") == target:
                found.append(int(entry.name))
        except OSError:
            continue
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while found and time.monotonic() < deadline:
        found = [p for p in found if Path(f"/proc/{p}").exists()]
        time.sleep(0.05)


@dataclass(frozen=True)
class SfcbBuild:
    prefix: Path
    key: str

    @property
    def provider_library(self) -> Path:
        return self.prefix / "lib" / "cmpi" / "libpy3CmpiProvider.so"

    @property
    def python_dir(self) -> Path:  # cmpi.py (and _cmpi.so) for the embedded interpreter
        return self.prefix / "lib" / "cmpi-python"

    @property
    def run_lock(self) -> Path:
        # machine-wide, not per build: sfcbd refuses to start while any process whose
        # executable path contains "sfcbd" runs (sfcb_is_running, sfcBroker.c), so two
        # builds (e.g. before and after a cmpi-bindings patch change) must not overlap
        return self.prefix.with_name("sfcb.run.lock")


def build_sfcb(*, force: bool = False) -> SfcbBuild:
    """The cached build, building it first if needed."""
    global LAST_BUILD_SECONDS
    reason = missing_prerequisites()
    if reason:
        raise SfcbUnavailable(reason)
    key = build_key()
    build = SfcbBuild(cache_dir() / f"sfcb-{key}", key)
    ready = build.prefix / "READY"
    LAST_BUILD_SECONDS = None
    if ready.is_file() and not force:
        return build
    with _flock(build.prefix.with_name(build.prefix.name + ".lock"), 1800, "the SFCB build"):
        if ready.is_file() and not force:
            return build
        if build.prefix.exists():
            shutil.rmtree(build.prefix)
        log = build.prefix.with_name(build.prefix.name + ".log")
        started = time.monotonic()
        with log.open("w") as out:
            rc = subprocess.run(
                [
                    "bash",
                    str(BUILD_SCRIPT),
                    str(third_party_dir()),
                    str(schema_dir()),
                    str(build.prefix),
                    EMBEDDED_PYTHON,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=1800,
                check=False,
            ).returncode
        if rc != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(True)[-40:])
            raise SfcbError(f"building SFCB failed (exit {rc}); end of {log}:\n{tail}")
        ready.write_text(build.key + "\n")
        LAST_BUILD_SECONDS = time.monotonic() - started
    return build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The stand-in for `systemctl restart sfcb` that a run's prefix gets (same pid file and
# start command as Sfcb.start/stop).
_SYSTEMCTL = """#!/bin/bash
# Test stand-in for `systemctl (start|stop|restart) sfcb` of this SFCB run only.
set -u
RUN={run}
stop() {{
  [ -f "$RUN/sfcbd.pid" ] || return 0
  pid=$(cat "$RUN/sfcbd.pid")
  kill -TERM -- "-$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$RUN/sfcbd.pid"
}}
start() {{
  # a clean environment, as systemd gives a service (Environment= lines: {env_names})
  env -i {env} setsid {sfcbd} -c {cfg} >>"$RUN/sfcbd.log" 2>&1 < /dev/null &
  echo $! >"$RUN/sfcbd.pid"
  for _ in $(seq 300); do
    (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "sfcbd did not open port {port}" >&2; return 1
}}
case "${{1:-}} ${{2:-}}" in
  "start sfcb") start ;;
  "stop sfcb") stop ;;
  "restart sfcb") stop; start ;;
  *) echo "usage: systemctl start|stop|restart sfcb" >&2; exit 2 ;;
esac
"""


class Sfcb:
    """One sfcbd with its own prefix, configuration, repository and site directory."""

    def __init__(
        self,
        build: SfcbBuild,
        run_dir: Path,
        *,
        env: dict[str, str] | None = None,
        provider_timeout: int | None = None,
        trace_mask: int | None = None,
        config: dict[str, str] | None = None,
        lock_timeout: float = 900.0,
    ):
        self.build = build
        self.run = Path(run_dir)
        self.prefix = self.run / "prefix"
        self.site_dir = self.run / "site"
        self.port = free_port()
        self.extra_env = dict(env or {})
        self.provider_timeout = provider_timeout
        self.trace_mask = trace_mask
        self.config = dict(config or {})
        self.lock_timeout = lock_timeout
        self._lock_cm = None
        self._prepared = False

    # -- layout ---------------------------------------------------------------------------
    @property
    def cfg(self) -> Path:
        return self.prefix / "etc" / "sfcb" / "sfcb.cfg"

    @property
    def stage_dir(self) -> Path:
        return self.prefix / "var" / "lib" / "sfcb" / "stage"

    @property
    def registration_dir(self) -> Path:
        return self.prefix / "var" / "lib" / "sfcb" / "registration"

    @property
    def log(self) -> Path:
        return self.run / "sfcbd.log"

    @property
    def systemctl(self) -> Path:
        return self.run / "bin" / "systemctl"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment of sfcbd and of the commands a test runs against it."""
        env = dict(os.environ)
        env.update(self.extra_env)
        env[SITE_SWITCH_VAR] = str(self.site_dir)
        env["PATH"] = f"{self.run / 'bin'}:{self.prefix / 'bin'}:{self.prefix / 'sbin'}:" + env.get(
            "PATH", ""
        )
        return env

    def daemon_env(self) -> dict[str, str]:
        """sfcbd's environment: what a systemd service has (a system PATH - a python3 of
        a virtual environment or pyenv first on PATH would become the embedded
        interpreter's sys.executable, and with its pyvenv.cfg its standard library) plus
        the run's VRMGMT_* settings and the site switch."""
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": os.environ.get("HOME", "/root")}
        env.update(self.extra_env)
        env[SITE_SWITCH_VAR] = str(self.site_dir)
        return env

    def _prepare(self) -> None:
        if self._prepared:
            return
        b = self.build.prefix
        self.run.mkdir(parents=True, exist_ok=True)
        self.prefix.mkdir()
        for d in ("bin", "sbin", "lib", "share", "include"):
            (self.prefix / d).symlink_to(b / d)
        self.cfg.parent.mkdir(parents=True)
        self.registration_dir.mkdir(parents=True)
        shutil.copytree(b / "var" / "lib" / "sfcb" / "stage", self.stage_dir, symlinks=True)
        lines = {
            "enableHttp": "true",
            "httpPort": str(self.port),
            "httpLocalOnly": "true",
            "httpProcs": "8",
            "enableHttps": "false",
            "doBasicAuth": "false",
            "enableInterOp": "true",
            "provProcs": "16",
            "useChunking": "true",
            "keepaliveTimeout": "1",
            "sfcbCustomLib": "sfcCustomLib",
            "basicAuthLib": "sfcBasicAuthentication",
            "basicAuthEntry": "_sfcBasicAuthenticate",
            "registrationDir": str(self.registration_dir),
            "providerDirs": f"{self.prefix / 'lib/sfcb'} {self.prefix / 'lib'} "
            f"{self.prefix / 'lib/cmpi'}",
            "localSocketPath": str(self.run / "sfcbLocalSocket"),
            "httpSocketPath": str(self.run / "sfcbHttpSocket"),
        }
        if self.provider_timeout is not None:  # and check for idle providers every second
            lines["providerTimeoutInterval"] = str(self.provider_timeout)
            lines["providerSampleInterval"] = "1"
        if self.trace_mask is not None:  # SFCB's trace (tracing.c) into sfcbd's log
            lines.update(traceMask=str(self.trace_mask), traceLevel="1", traceFile="stderr")
        lines.update(self.config)
        self.cfg.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
        # the repository a package install creates (SFCB's own classes only)
        self.tool(
            "sfcbrepos",
            "-f",
            "-s",
            str(self.stage_dir),
            "-r",
            str(self.registration_dir),
            "-c",
            str(self.prefix / "share/sfcb/CIM"),
        )
        # cmpi-bindings "installed" for the embedded Python: its cmpi.py and _cmpi.so
        self.site_dir.mkdir()
        shutil.copy2(self.build.python_dir / "cmpi.py", self.site_dir / "cmpi.py")
        (self.site_dir / "_cmpi.so").symlink_to(self.build.provider_library)
        install_site_switch()
        (self.run / "bin").mkdir()
        self.systemctl.write_text(
            _SYSTEMCTL.format(
                run=self.run,
                sfcbd=self.prefix / "sbin" / "sfcbd",
                cfg=self.cfg,
                port=self.port,
                env=" ".join(shlex.quote(f"{k}={v}") for k, v in self.daemon_env().items()),
                env_names=", ".join(self.daemon_env()),
            )
        )
        self.systemctl.chmod(0o755)
        self._prepared = True

    # -- running --------------------------------------------------------------------------
    def tool(self, *argv: str, timeout: float = 300, check: bool = True, **kw):
        """Run a command (an SFCB tool, wbemcli, vrmgmt, ...) in this run's environment."""
        r = subprocess.run(
            list(argv),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )
        if check and r.returncode != 0:
            raise SfcbError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def _ctl(self, action: str) -> None:
        r = subprocess.run(
            [str(self.systemctl), action, "sfcb"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if r.returncode != 0:
            raise SfcbError(f"sfcbd {action} failed: {r.stderr}\n{self.log_text()[-3000:]}")

    def start(self) -> Sfcb:
        if self._lock_cm is None:
            cm = _flock(self.build.run_lock, self.lock_timeout, "another sfcbd on this machine")
            cm.__enter__()
            self._lock_cm = cm
            _kill_orphans(self.build.prefix / "sbin" / "sfcbd")
        try:
            self._prepare()
            self._ctl("start")
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self) -> None:
        self._ctl("restart")

    def stop(self) -> None:
        try:
            if self._prepared and (self.run / "sfcbd.pid").is_file():
                self._ctl("stop")
        finally:
            if self._lock_cm is not None:
                cm, self._lock_cm = self._lock_cm, None
                cm.__exit__(None, None, None)

    def __enter__(self) -> Sfcb:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def pid(self) -> int | None:
        try:
            return int((self.run / "sfcbd.pid").read_text())
        except (OSError, ValueError):
            return None

    def conn(self, namespace: str = "root/virt", timeout: float = 60) -> pywbem.WBEMConnection:
        return pywbem.WBEMConnection(self.url, default_namespace=namespace, timeout=timeout)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def crashes(self, since: int = 0) -> list[str]:
        """Lines of sfcbd's output that report a crashed provider process (after the
        first `since` characters of the log)."""
        text = self.log_text()[since:]
        return [ln for ln in text.splitlines() if any(m in ln for m in CRASH_MARKERS)]

    def signal(self, sig: int = signal.SIGTERM) -> None:  # pragma: no cover - debugging aid
        pid = self.pid()
        if pid:
            os.killpg(pid, sig)
