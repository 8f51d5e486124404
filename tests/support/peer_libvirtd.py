"""A second libvirtd on this machine, the target of migration tests: a session daemon
(qemu:///session) run as the unprivileged user libvirt-qemu with its own run, config,
cache and home directories under a temporary directory, its own socket, and a
libvirtd.conf with a host_uuid of its own (libvirt refuses to migrate "to the same host"
when both daemons report the machine's UUID). A second *system* daemon is not possible:
a privileged libvirtd has its state directories (/run/libvirt/qemu,
/var/lib/libvirt/qemu) compiled in.

Usage (with the system daemon of support.libvirtd running)::

    with PeerLibvirtd() as peer:
        peer.uri   # qemu:///session?socket=<dir>/run/libvirt/libvirt-sock
        peer.stop(); peer.start()   # the daemon gone and back (same socket and state)

Measured here (libvirt 9.0.0, QEMU TCG): the peer answers within ~1 s; a 48 MiB tiny
guest migrates live system -> peer in ~5 s.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

USER = "libvirt-qemu"


class PeerUnavailable(RuntimeError):
    pass


class PeerLibvirtd:
    def __init__(self, start_timeout: float = 30.0):
        self.start_timeout = start_timeout
        self.dir = Path(tempfile.mkdtemp(prefix="vrmgmt-peer-", dir="/var/tmp"))
        self.host_uuid = str(uuidlib.uuid4())
        self.proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///session?socket={self.socket}"

    @property
    def log(self) -> Path:
        return self.dir / "libvirtd.log"

    def __enter__(self) -> PeerLibvirtd:
        return self.start()

    def start(self) -> PeerLibvirtd:
        """Start the daemon (again after stop(): same directories, socket and UUID)."""
        if os.geteuid() != 0:
            raise PeerUnavailable("the peer libvirtd needs root (it runs as libvirt-qemu)")
        try:
            pw = pwd.getpwnam(USER)
        except KeyError:
            raise PeerUnavailable(f"no user {USER} (support.libvirtd prepares it)") from None
        for sub in ("run", "config/libvirt", "home", "cache"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "config/libvirt/libvirtd.conf").write_text(f'host_uuid = "{self.host_uuid}"\n')
        for root, dirs, files in os.walk(self.dir):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, pw.pw_uid, pw.pw_gid)
        self.dir.chmod(0o755)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(self.dir / "home"),
            "XDG_RUNTIME_DIR": str(self.dir / "run"),
            "XDG_CONFIG_HOME": str(self.dir / "config"),
            "XDG_CACHE_HOME": str(self.dir / "cache"),
        }

        def demote() -> None:
            os.setgid(pw.pw_gid)
            os.setgroups([pw.pw_gid])
            os.setuid(pw.pw_uid)

        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                ["libvirtd", "--timeout", "0"],
                env=env,
                preexec_fn=demote,  # noqa: PLW1509 - a single-threaded moment in tests
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.socket.exists() and self._answers():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        tail = self.log.read_text()[-1500:]
        self.__exit__()
        raise PeerUnavailable(f"the peer libvirtd did not answer: {tail}")

    def _answers(self) -> bool:
        r = subprocess.run(
            ["virsh", "-c", self.uri, "version"], capture_output=True, text=True, timeout=10
        )
        return r.returncode == 0

    def stop(self) -> None:
        """Stop the daemon (SIGTERM, as systemd does; SIGKILL after 10 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *_exc) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
