"""Configuration: TOML file (`--config FILE`, else /etc/vrmgmt/vrmgmt.toml, else the
built-in default: one libvirt backend `test` = test:///default, HTTP on 127.0.0.1:5988).

Example::

    [server]
    http_port = 5988            # 0 disables HTTP
    http_bind = "127.0.0.1"
    https_port = 5989           # 0 disables HTTPS
    https_bind = "0.0.0.0"
    certificate = "/etc/vrmgmt/server.pem"   # default: self-signed in the state dir
    private_key = "/etc/vrmgmt/server.key"
    max_request_bytes = 4194304
    threads = 16

    [auth]
    mode = "basic"              # "basic" (users file) or "none"
    users_file = "/var/lib/vrmgmt/users"

    [paths]
    state_dir = "/var/lib/vrmgmt"
    schema_dir = ""             # a full DMTF schema directory instead of mof/dmtf

    [[backends]]
    id = "kvm1"
    type = "libvirt"
    uri = "qemu:///system"
    timeout = 10

    [[backends]]
    id = "vc"
    type = "vsphere"
    host = "vcenter.example.com"
    credentials = "/etc/vrmgmt/vc.cred"     # TOML: username, password; mode 0600
    verify_tls = true
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrmgmt.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("/etc/vrmgmt/vrmgmt.toml")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def default_state_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/vrmgmt")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "vrmgmt"


@dataclass
class BackendConfig:
    id: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0


@dataclass
class ServerConfig:
    http_port: int = 5988
    http_bind: str = "127.0.0.1"
    https_port: int = 0
    https_bind: str = "0.0.0.0"
    certificate: str | None = None
    private_key: str | None = None
    max_request_bytes: int = 4 * 1024 * 1024
    threads: int = 16


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    backends: list[BackendConfig] = field(default_factory=list)
    auth_mode: str = "basic"
    users_file: Path | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    schema_dir: Path | None = None
    allow_host_power: bool = False
    source: str = "built-in default"

    @property
    def users_path(self) -> Path:
        return self.users_file or (self.state_dir / "users")


def default_config() -> Config:
    return Config(
        backends=[BackendConfig(id="test", type="libvirt", options={"uri": "test:///default"})]
    )


_SERVER_KEYS = set(ServerConfig.__dataclass_fields__)
_BACKEND_KEYS = {"id", "type", "timeout", "credentials"}


def load_config(path: str | os.PathLike | None = None) -> Config:
    """Load the configuration named on the command line, else the system file, else
    the built-in default. Errors name the file and the offending key."""
    if path is None:
        if not DEFAULT_CONFIG_FILE.exists():
            return default_config()
        path = DEFAULT_CONFIG_FILE
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse_config(data, str(path))


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    cfg = Config(source=source)
    unknown = set(data) - {"server", "auth", "paths", "backends", "host_control"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s): {', '.join(sorted(unknown))}")
    server = dict(data.get("server", {}))
    bad = set(server) - _SERVER_KEYS
    if bad:
        raise ConfigError(f"{source}: [server]: unknown key(s): {', '.join(sorted(bad))}")
    cfg.server = ServerConfig(**server)
    for key in ("http_port", "https_port"):
        port = getattr(cfg.server, key)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"{source}: [server] {key} must be a port number, got {port!r}")
    if cfg.server.http_port and cfg.server.http_bind not in LOOPBACK:
        raise ConfigError(
            f"{source}: [server] plain HTTP may only listen on loopback "
            f"(http_bind={cfg.server.http_bind!r}); use https_port for remote clients"
        )
    auth = data.get("auth", {})
    cfg.auth_mode = auth.get("mode", "basic")
    if cfg.auth_mode not in ("basic", "none"):
        raise ConfigError(f"{source}: [auth] mode must be 'basic' or 'none'")
    if auth.get("users_file"):
        cfg.users_file = Path(auth["users_file"])
    paths = data.get("paths", {})
    if paths.get("state_dir"):
        cfg.state_dir = Path(paths["state_dir"])
    if paths.get("schema_dir"):
        cfg.schema_dir = Path(paths["schema_dir"])
    cfg.allow_host_power = bool(data.get("host_control", {}).get("allow_power_actions", False))
    backends = data.get("backends")
    if backends is None:
        cfg.backends = default_config().backends
    else:
        seen: set[str] = set()
        for i, entry in enumerate(backends):
            cfg.backends.append(_backend(entry, i, source, seen))
    return cfg


def _backend(entry: dict[str, Any], index: int, source: str, seen: set[str]) -> BackendConfig:
    where = f"{source}: backends[{index}]"
    if "id" not in entry or "type" not in entry:
        raise ConfigError(f"{where}: 'id' and 'type' are required")
    bid = str(entry["id"])
    if bid in seen:
        raise ConfigError(f"{where}: duplicate backend id {bid!r}")
    seen.add(bid)
    options = {k: v for k, v in entry.items() if k not in _BACKEND_KEYS}
    if "credentials" in entry:
        options.update(read_credentials(Path(entry["credentials"]), where))
    timeout = float(entry.get("timeout", 10.0))
    if timeout <= 0:
        raise ConfigError(f"{where}: timeout must be positive")
    return BackendConfig(id=bid, type=str(entry["type"]), options=options, timeout=timeout)


def read_credentials(path: Path, where: str) -> dict[str, str]:
    """A credentials file: TOML with `username` and `password`, readable by its owner
    only (0600). The error never includes the file's content."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"{where}: credentials file {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{where}: credentials file {path} must not be readable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}; run: chmod 600 {path})"
        )
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"{where}: credentials file {path} is not valid TOML") from None
    creds = {k: str(v) for k, v in data.items() if k in ("username", "password")}
    if "username" not in creds:
        raise ConfigError(f"{where}: credentials file {path} has no 'username'")
    return creds
