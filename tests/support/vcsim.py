"""Build and run govmomi's vCenter simulator (vcsim) for vrmgmt's vSphere tests.

The simulator is the small Go program in ``tests/support/vcsim/main.go`` on top of
govmomi's ``simulator`` package as Debian ships it (golang-github-vmware-govmomi-dev,
govmomi 0.24.2), built offline in GOPATH mode::

    GO111MODULE=off GOPATH=<cache>/gopath:/usr/share/gocode go build -o BIN main.go

Debian packages it needs (see DEBIAN_PACKAGES; the setup script apt-installs them):

- golang-go                           the Go toolchain (``go``)
- golang-github-vmware-govmomi-dev    govmomi source under /usr/share/gocode
- golang-github-google-uuid-dev       github.com/google/uuid, the simulator's only
                                      non-govmomi Go dependency (govmomi-dev depends on it)

``build_vcsim()`` builds once and caches the binary under ``support.cache.cache_dir()``
(outside the clone), keyed by a hash of main.go, the govmomi package version and the
Go version, so any change rebuilds. ``Vcsim`` runs one simulator (context manager) on
127.0.0.1 with TLS (certificate written next to it, usable as ``ca_file``) and can be
stopped and started again on the same port, or frozen (SIGSTOP) to play a hung vCenter.

Measured on the Debian 12 dev machine (Go 1.19, govmomi 0.24.2): first build 28-41 s
with an empty Go build cache (GOCACHE defaults to ``<cache>/go-build``), ~1 s when only
main.go changed, ~20 ms to find the cached binary; a simulator with 2 hosts and 4 VMs
starts and answers in ~25 ms, and stops in a few ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import secrets
import selectors
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from support.cache import cache_dir

#: Debian packages needed to build the simulator (exact names, for apt-get install).
DEBIAN_PACKAGES: tuple[str, ...] = (
    "golang-go",
    "golang-github-vmware-govmomi-dev",
    "golang-github-google-uuid-dev",
)

SYSTEM_GOPATH = Path("/usr/share/gocode")
GOVMOMI_SRC = SYSTEM_GOPATH / "src/github.com/vmware/govmomi"
MAIN_GO = Path(__file__).resolve().parent / "vcsim" / "main.go"
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: seconds the last real (non-cached) build took; None when the cached binary was used
LAST_BUILD_SECONDS: float | None = None


class VcsimUnavailable(RuntimeError):
    """go or govmomi is not installed: tests needing vcsim should skip with this reason."""


class VcsimError(RuntimeError):
    """The simulator could not be built or did not start."""


def missing_prerequisites() -> str | None:
    """Why vcsim cannot be built here, or None when go and govmomi are both installed."""
    missing = []
    if shutil.which("go") is None:
        missing.append("`go` not found on PATH (Debian package golang-go)")
    if not (GOVMOMI_SRC / "simulator").is_dir():
        missing.append(
            f"govmomi source not found at {GOVMOMI_SRC} "
            "(Debian package golang-github-vmware-govmomi-dev)"
        )
    if not missing:
        return None
    return (
        "vcsim cannot be built: "
        + "; ".join(missing)
        + f" — install: apt-get install {' '.join(DEBIAN_PACKAGES)}"
    )


def _govmomi_version() -> str:
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "golang-github-vmware-govmomi-dev"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    # not installed from the Debian package: fall back to the source tree's state
    h = hashlib.sha256()
    for p in sorted((GOVMOMI_SRC / "simulator").glob("*.go")):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return "src-" + h.hexdigest()[:16]


def _go_version(env: dict[str, str]) -> str:
    out = subprocess.run(
        ["go", "version"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    return out.stdout.strip()


def _go_env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=f"{cache / 'gopath'}:{SYSTEM_GOPATH}",
        GOPROXY="off",
        GOFLAGS="",
        CGO_ENABLED="0",  # pure Go: no C compiler needed
    )
    env.setdefault("GOCACHE", str(cache / "go-build"))
    env.setdefault("HOME", str(cache))
    return env


def build_vcsim(*, force: bool = False) -> Path:
    """Return the path of the vcsim binary, building it first if needed (cached)."""
    global LAST_BUILD_SECONDS
    reason = missing_prerequisites()
    if reason:
        raise VcsimUnavailable(reason)
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "gopath").mkdir(exist_ok=True)
    env = _go_env(cache)
    key = hashlib.sha256()
    key.update(MAIN_GO.read_bytes())
    key.update(_govmomi_version().encode())
    key.update(_go_version(env).encode())
    binary = cache / f"vcsim-{key.hexdigest()[:16]}"
    if binary.is_file() and os.access(binary, os.X_OK) and not force:
        LAST_BUILD_SECONDS = None
        return binary
    with open(cache / "vcsim.lock", "w") as lock:  # one build at a time (parallel runs)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file() and os.access(binary, os.X_OK) and not force:
            LAST_BUILD_SECONDS = None
            return binary
        tmp = binary.with_name(binary.name + f".tmp{os.getpid()}")
        started = time.monotonic()
        try:
            proc = subprocess.run(
                ["go", "build", "-trimpath", "-o", str(tmp), str(MAIN_GO)],
                capture_output=True,
                text=True,
                env=env,
                timeout=900,
                check=False,
                cwd=str(MAIN_GO.parent),
            )
        except subprocess.TimeoutExpired as exc:
            raise VcsimError(f"building vcsim timed out after {exc.timeout} s") from None
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise VcsimError(
                f"building vcsim failed (exit {proc.returncode}); Debian packages needed: "
                f"{' '.join(DEBIAN_PACKAGES)}\n{proc.stderr.strip()}"
            )
        os.replace(tmp, binary)
        LAST_BUILD_SECONDS = time.monotonic() - started
        for old in cache.glob("vcsim-*"):  # drop binaries of older main.go/govmomi
            if old != binary and not old.name.endswith(".lock") and ".tmp" not in old.name:
                old.unlink(missing_ok=True)
    return binary


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGCONT)  # in case it was frozen
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class Vcsim:
    """One running simulator. ``with Vcsim(...) as sim:`` starts it and always kills it.

    Inventory (VPX model): ``dc`` datacenters, each with ``clusters`` clusters of ``hosts``
    ESXi hosts plus ``standalone_hosts`` standalone hosts; ``vms`` VMs per resource pool
    (one pool per cluster and per standalone host), so ``expected_vms`` =
    dc × (clusters + standalone_hosts) × vms. ``tools_running`` VMs (first by name, -1 =
    all) report VMware Tools running (vcsim itself never does).
    """

    def __init__(
        self,
        *,
        hosts: int = 2,
        clusters: int = 1,
        vms: int = 4,
        standalone_hosts: int = 0,
        dc: int = 1,
        tools_running: int = 0,
        method_delay: dict[str, int] | None = None,
        esx: bool = False,
        username: str = "vcsim-admin",
        password: str | None = None,
        start_timeout: float = 30.0,
    ):
        self.hosts, self.clusters, self.vms = hosts, clusters, vms
        self.standalone_hosts, self.dc, self.tools_running = standalone_hosts, dc, tools_running
        self.esx = esx
        #: SOAP method -> milliseconds the simulator waits before serving it
        self.method_delay = dict(method_delay or {})
        self.username = username
        self.password = password if password is not None else "pw-" + secrets.token_urlsafe(12)
        self.start_timeout = start_timeout
        self.host = "127.0.0.1"
        self.port: int | None = None  # fixed after the first start; restarts reuse it
        self.start_seconds: float | None = None  # how long the last start took
        self.binary: Path | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix="vrmgmt-vcsim-"))
        self._proc: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None
        self._workdir_finalizer = weakref.finalize(
            self, shutil.rmtree, str(self._workdir), ignore_errors=True
        )

    # -- facts ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/sdk"

    @property
    def ca_file(self) -> str:
        """PEM certificate the simulator serves (self-signed, for 127.0.0.1)."""
        return str(self._workdir / "cert.pem")

    @property
    def expected_vms(self) -> int:
        if self.esx:
            return self.vms
        return self.dc * (self.clusters + self.standalone_hosts) * self.vms

    @property
    def expected_hosts(self) -> int:
        if self.esx:
            return 1
        return self.dc * (self.clusters * self.hosts + self.standalone_hosts)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def manager_options(self, **overrides) -> dict:
        """Options for ``create_manager(id, "vsphere", **options)`` against this simulator."""
        opts = dict(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            verify_tls=True,
            ca_file=self.ca_file,
            timeout=5.0,
        )
        opts.update(overrides)
        return opts

    def backend_config(self, workdir: Path, backend_id: str = "vc", timeout: float = 10) -> dict:
        """A `[[backends]]` entry of vrmgmt's configuration for this simulator, with its
        credentials in a 0600 file under workdir (as an administrator would keep them)."""
        cred = Path(workdir) / f"{backend_id}.cred"
        cred.write_text(f'username = "{self.username}"\npassword = "{self.password}"\n')
        cred.chmod(0o600)
        return {
            "id": backend_id,
            "type": "vsphere",
            "host": self.host,
            "port": self.port,
            "credentials": str(cred),
            "verify_tls": True,
            "ca_file": self.ca_file,
            "timeout": timeout,
        }

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Vcsim {self.host}:{self.port} {state}>"

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> Vcsim:
        """Start the simulator (again on the same port after stop()); wait until it answers."""
        if self.running:
            return self
        if self.binary is None:
            self.binary = build_vcsim()
        started = time.monotonic()
        listen = f"{self.host}:{self.port or 0}"
        args = [
            str(self.binary),
            "-l",
            listen,
            "-username",
            self.username,
            "-tls-cert",
            self.ca_file,
            "-tls-key",
            str(self._workdir / "key.pem"),
            "-dc",
            str(self.dc),
            "-cluster",
            str(self.clusters),
            "-host",
            str(self.hosts),
            "-standalone-host",
            str(self.standalone_hosts),
            "-vm",
            str(self.vms),
            "-tools-running",
            str(self.tools_running),
        ]
        if self.esx:
            args.append("-esx")
        if self.method_delay:
            args += ["-method-delay", ",".join(f"{m}={ms}" for m, ms in self.method_delay.items())]
        tmp = self._workdir / "tmp"  # simulated datastores live here
        tmp.mkdir(exist_ok=True)
        env = dict(os.environ, TMPDIR=str(tmp), VCSIM_PASSWORD=self.password)
        stderr_path = self._workdir / "stderr.log"
        with open(stderr_path, "wb") as err:
            self._proc = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=tmp
            )
        self._finalizer = weakref.finalize(self, _kill, self._proc)
        try:
            url = self._read_url(started + self.start_timeout)
            port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
            if self.port is not None and port != self.port:
                raise VcsimError(f"vcsim listens on {port}, expected {self.port}")
            self.port = port
            self._wait_answering(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _stderr_tail(self) -> str:
        try:
            text = (self._workdir / "stderr.log").read_text(errors="replace")
        except OSError:
            return ""
        return text[-4000:].strip()

    def _read_url(self, deadline: float) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        buf = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VcsimError(
                        f"vcsim printed no URL within {self.start_timeout:g} s; "
                        f"stderr:\n{self._stderr_tail()}"
                    )
                if sel.select(min(left, 0.5)):
                    chunk = os.read(self._proc.stdout.fileno(), 4096)
                    if not chunk:
                        self._proc.wait(5)
                        raise VcsimError(
                            f"vcsim exited with status {self._proc.returncode} before "
                            f"it was ready; stderr:\n{self._stderr_tail()}"
                        )
                    buf += chunk
                    for line in buf.decode(errors="replace").splitlines():
                        if line.startswith("VCSIM_URL="):
                            return line.split("=", 1)[1].strip()
                elif self._proc.poll() is not None:
                    raise VcsimError(
                        f"vcsim exited with status {self._proc.returncode} before it was "
                        f"ready; stderr:\n{self._stderr_tail()}"
                    )
        finally:
            sel.close()

    def _wait_answering(self, deadline: float) -> None:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        last: Exception | None = None
        while time.monotonic() < deadline:
            conn = http.client.HTTPSConnection(self.host, self.port, context=ctx, timeout=2)
            try:
                conn.request("GET", "/sdk/vimServiceVersions.xml")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return
                last = VcsimError(f"HTTP {resp.status}")
            except (OSError, http.client.HTTPException) as exc:
                last = exc
            finally:
                conn.close()
            if self._proc is None or self._proc.poll() is not None:
                break
            time.sleep(0.05)
        raise VcsimError(
            f"vcsim at {self.url} did not answer within "
            f"{self.start_timeout:g} s ({last}); stderr:\n{self._stderr_tail()}"
        )

    def stop(self) -> None:
        """Stop the simulator (all its state is lost); start() brings up a fresh one."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout:
            proc.stdout.close()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        shutil.rmtree(self._workdir / "tmp", ignore_errors=True)

    def freeze(self) -> None:
        """SIGSTOP the simulator: it keeps its port but answers nothing (a hung vCenter)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop and remove the working directory (certificate, datastores)."""
        self.stop()
        self._workdir_finalizer()

    def __enter__(self) -> Vcsim:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc_info) -> None:
        self.close()


@contextlib.contextmanager
def served_vcsim(workdir: Path, *, vms: int) -> Iterator[tuple[object, object, Vcsim]]:
    """A vcsim of one host and `vms` VMs served by an in-process `vrmgmt serve` (backend
    "vc"), with a pyVmomi manager of its own for the test to check what vrmgmt did:
    (pywbem connection, manager, simulator). Skips when vcsim cannot be built."""
    import pytest

    from support.inproc import inproc_server
    from vrmgmt.backends import create_manager

    try:
        build_vcsim()
    except VcsimUnavailable as exc:
        pytest.skip(str(exc))
    with Vcsim(hosts=1, vms=vms) as sim:
        mgr = create_manager("vc-check", "vsphere", **sim.manager_options())
        mgr.connect()
        try:
            backend = sim.backend_config(workdir, "vc", timeout=20)
            with inproc_server(workdir / "state", [backend]) as conn:
                yield conn, mgr, sim
        finally:
            mgr.close()
