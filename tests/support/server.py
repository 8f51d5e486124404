"""Start a real `vrmgmt serve` process for tests: its own config, state dir, free port,
user credentials; stopped (SIGTERM, then kill) when the test is done."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pywbem

from vrmgmt.auth import set_password

PROJECT = Path(__file__).resolve().parents[2]
USER = "tester"
PASSWORD = "s3cret-pass-word"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path,
    state_dir: Path,
    http_port: int,
    backends: list[dict],
    auth: bool = True,
    https_port: int = 0,
    extra: str = "",
) -> None:
    lines = [
        "[server]",
        f"http_port = {http_port}",
        f"https_port = {https_port}",
        'https_bind = "127.0.0.1"',
        "",
        "[auth]",
        f'mode = "{"basic" if auth else "none"}"',
        "",
        "[paths]",
        f"state_dir = {_toml_value(str(state_dir))}",
        "",
    ]
    for b in backends:
        lines.append("[[backends]]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in b.items())
        lines.append("")
    path.write_text("\n".join(lines) + extra)


class VrmServer:
    """A `vrmgmt serve` subprocess."""

    def __init__(
        self,
        workdir: Path,
        backends: list[dict],
        auth: bool = True,
        https: bool = False,
        extra_config: str = "",
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.workdir / "state"
        self.port = free_port()
        self.https_port = free_port() if https else 0
        self.config = self.workdir / "vrmgmt.toml"
        self.auth = auth
        write_config(
            self.config, self.state_dir, self.port, backends, auth, self.https_port, extra_config
        )
        if auth:
            set_password(self.state_dir / "users", USER, PASSWORD)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def creds(self) -> tuple[str, str] | None:
        return (USER, PASSWORD) if self.auth else None

    def start(self, timeout: float = 60.0) -> VrmServer:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vrmgmt",
                "--log-level",
                "debug",
                "serve",
                "--config",
                str(self.config),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vrmgmt serve exited with {self.proc.returncode}:\n" + self.log()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"vrmgmt serve did not listen within {timeout} s:\n" + self.log())

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        self._log.close()
        return rc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def conn(
        self, namespace: str = "root/virt", timeout: float = 120, **kwargs
    ) -> pywbem.WBEMConnection:
        return pywbem.WBEMConnection(
            self.url, self.creds, default_namespace=namespace, timeout=timeout, **kwargs
        )

    def pywbemcli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [
            str(Path(sys.executable).with_name("pywbemcli")),
            "-s",
            self.url,
            "-d",
            "root/virt",
            "-C",
            str(self.workdir / "pywbemcli_connections.yaml"),
        ]
        if self.auth:
            cmd += ["-u", USER, "-p", PASSWORD]
        return subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=timeout, cwd=self.workdir
        )

    def wbemcli_url(self, obj: str = "") -> str:
        cred = f"{USER}:{PASSWORD}@" if self.auth else ""
        return f"http://{cred}127.0.0.1:{self.port}/root/virt{':' + obj if obj else ''}"

    def __enter__(self) -> VrmServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wbemcli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["wbemcli", *args], capture_output=True, text=True, timeout=timeout)
