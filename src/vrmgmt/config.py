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
    threads = 16                # worker threads (requests being processed at once)
    header_timeout = 10         # seconds for a client to send its request headers
    body_timeout = 30           # seconds for a client to send its request body
    idle_timeout = 30           # seconds a keep-alive connection may stay idle
    max_connections = 4096      # open client connections in total
    max_connections_per_client = 64   # open connections per client address

    [auth]
    mode = "basic"              # "basic" (users file), "pam", or "none" (loopback only)
    users_file = "/var/lib/vrmgmt/users"
    default_role = "admin"      # role of users-file lines without a role column
    pam_service = "vrmgmt"      # mode = "pam": /etc/pam.d/vrmgmt

    [auth.pam_groups]           # mode = "pam": Unix group -> role (highest one wins;
    vrmgmt-admins = "admin"     # users in no mapped group are refused)
    vrmgmt-operators = "operator"
    vrmgmt-readers = "reader"

    [paths]
    state_dir = "/var/lib/vrmgmt"
    schema_dir = ""             # a full DMTF schema directory instead of mof/dmtf

    [host_control]              # all off by default; admin role only
    allow_power_actions = false # RequestStateChange 4/10 on hosts, OS Reboot()/Shutdown()
    allow_process_control = false   # RequestStateChange 3/4 on VRM_UnixProcess
    reboot_command = ["systemctl", "reboot"]       # local libvirt hosts
    shutdown_command = ["systemctl", "poweroff"]
    kill_grace_seconds = 5      # SIGTERM -> SIGKILL (RequestedState 4)
    force_power_actions = false # vSphere: skip maintenance mode, force=True

    [metrics]                   # collectd -> RRD -> CIM (docs/metrics.md)
    rrd_roots = ["/var/lib/vrmgmt/rrd", "/mnt/host2/rrd"]   # first: collectd writes it;
                                # more: read-only trees (NFS). Default: <state_dir>/rrd
    rrdcached = ""              # e.g. "unix:/run/rrdcached.sock": write/flush through it
    collect_interval = 10       # seconds between samples
    collectd = "off"            # "managed": `vrmgmt serve` runs collectd with the
                                # generated config ("auto" = managed when collectd is
                                # installed; the built-in default uses "auto")
    collectd_binary = "/usr/sbin/collectd"
    host_id = ""                # backend id the local host's own metrics belong to
                                # (default: the first libvirt backend on this machine)
    send_to = ""                # "mgmt.example.com:25826": hypervisor host, network plugin
                                # sends to the management server (no local RRDs)
    listen = ""                 # "0.0.0.0:25826": management server, receives and writes
    vsphere_collector = false   # `vrmgmt serve` writes vSphere VMs' QueryPerf samples as RRDs

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

Everything is checked once by `validate()`, after the command line has overridden the
file: type and range of every [server] value, plain HTTP and `mode = "none"` on loopback
only; the certificate and key are checked when the server loads them (errors name the
file).
"""

from __future__ import annotations

import ipaddress
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
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 30.0
    max_connections: int = 4096
    max_connections_per_client: int = 64


@dataclass
class HostControlConfig:
    """[host_control]: host power and process control, both off by default (DESIGN.md
    "Host control"); allowed to the admin role only."""

    allow_power_actions: bool = False
    allow_process_control: bool = False
    #: local libvirt hosts: the commands RequestStateChange 10 / 4 run
    reboot_command: list[str] = field(default_factory=lambda: ["systemctl", "reboot"])
    shutdown_command: list[str] = field(default_factory=lambda: ["systemctl", "poweroff"])
    #: RequestStateChange 4 on a process: seconds between SIGTERM and SIGKILL
    kill_grace_seconds: float = 5.0
    #: vSphere: reboot/shut down without entering maintenance mode first (force=True)
    force_power_actions: bool = False


_HOST_CONTROL_RULES: dict[str, type | tuple[type, ...]] = {
    "allow_power_actions": bool,
    "allow_process_control": bool,
    "reboot_command": list,
    "shutdown_command": list,
    "kill_grace_seconds": (int, float),
    "force_power_actions": bool,
}


@dataclass
class MetricsConfig:
    """[metrics]: where RRD trees are and how collectd is run (DESIGN.md "Metrics")."""

    rrd_roots: list[str] = field(default_factory=list)  # empty: <state_dir>/rrd
    rrdcached: str = ""
    collect_interval: float = 10.0
    collectd: str = "off"  # off | managed | auto
    collectd_binary: str = "/usr/sbin/collectd"
    host_id: str = ""
    send_to: str = ""
    listen: str = ""
    vsphere_collector: bool = False


_METRICS_RULES: dict[str, type | tuple[type, ...]] = {
    "rrd_roots": list,
    "rrdcached": str,
    "collect_interval": (int, float),
    "collectd": str,
    "collectd_binary": str,
    "host_id": str,
    "send_to": str,
    "listen": str,
    "vsphere_collector": bool,
}
COLLECTD_MODES = ("off", "managed", "auto")


@dataclass
class ConsoleConfig:
    """[console]: the web console at /console/ (docs/console-web.md) and its login
    sessions (kept in the server's memory: a restart logs everybody out)."""

    enabled: bool = True
    #: a session ends after this many seconds without a request
    session_idle_timeout: float = 1800.0
    #: and at the latest this many seconds after its login
    session_max_age: float = 43200.0


#: [console] key -> (accepted types, minimum, maximum); None: no bound
_CONSOLE_RULES: dict[str, tuple[tuple[type, ...], float | None, float | None]] = {
    "enabled": ((bool,), None, None),
    "session_idle_timeout": ((int, float), 1, 7 * 86400),
    "session_max_age": ((int, float), 1, 30 * 86400),
}


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    backends: list[BackendConfig] = field(default_factory=list)
    auth_mode: str = "basic"
    users_file: Path | None = None
    default_role: str = "admin"
    pam_service: str = "vrmgmt"
    pam_groups: dict[str, str] = field(default_factory=dict)
    state_dir: Path = field(default_factory=default_state_dir)
    schema_dir: Path | None = None
    host_control: HostControlConfig = field(default_factory=HostControlConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    source: str = "built-in default"

    @property
    def allow_host_power(self) -> bool:
        return self.host_control.allow_power_actions

    @property
    def users_path(self) -> Path:
        return self.users_file or (self.state_dir / "users")

    @property
    def rrd_roots(self) -> list[Path]:
        """The RRD trees read, the one collectd writes first."""
        return [Path(r) for r in self.metrics.rrd_roots] or [self.state_dir / "rrd"]


def default_config() -> Config:
    return Config(
        backends=[BackendConfig(id="test", type="libvirt", options={"uri": "test:///default"})],
        metrics=MetricsConfig(collectd="auto"),
    )


_SERVER_KEYS = set(ServerConfig.__dataclass_fields__)
_BACKEND_KEYS = {"id", "type", "timeout", "credentials"}


def load_config(path: str | os.PathLike | None = None, check: bool = True) -> Config:
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
    return parse_config(data, str(path), check)


#: [server] key -> (accepted types, minimum, maximum); None: no bound
_SERVER_RULES: dict[str, tuple[tuple[type, ...], float | None, float | None]] = {
    "http_port": ((int,), 0, 65535),
    "https_port": ((int,), 0, 65535),
    "http_bind": ((str,), None, None),
    "https_bind": ((str,), None, None),
    "certificate": ((str,), None, None),
    "private_key": ((str,), None, None),
    "max_request_bytes": ((int,), 1024, 1 << 30),
    "threads": ((int,), 1, 1024),
    "header_timeout": ((int, float), 0.1, 3600),
    "body_timeout": ((int, float), 0.1, 3600),
    "idle_timeout": ((int, float), 0.1, 86400),
    "max_connections": ((int,), 1, 1_000_000),
    "max_connections_per_client": ((int,), 1, 1_000_000),
}
_AUTH_KEYS = {"mode", "users_file", "default_role", "pam_service", "pam_groups"}


def parse_config(data: dict[str, Any], source: str = "<config>", check: bool = True) -> Config:
    """The configuration from parsed TOML; check=False leaves validate() to the caller
    (the command line validates once, after its overrides)."""
    cfg = Config(source=source)
    unknown = set(data) - {
        "server",
        "auth",
        "paths",
        "backends",
        "host_control",
        "metrics",
        "console",
    }
    if unknown:
        raise ConfigError(f"{source}: unknown section(s): {', '.join(sorted(unknown))}")
    server = dict(data.get("server", {}))
    bad = set(server) - _SERVER_KEYS
    if bad:
        raise ConfigError(f"{source}: [server]: unknown key(s): {', '.join(sorted(bad))}")
    cfg.server = ServerConfig(**server)
    auth = data.get("auth", {})
    bad = set(auth) - _AUTH_KEYS
    if bad:
        raise ConfigError(f"{source}: [auth]: unknown key(s): {', '.join(sorted(bad))}")
    cfg.auth_mode = auth.get("mode", "basic")
    if auth.get("users_file"):
        cfg.users_file = Path(auth["users_file"])
    cfg.default_role = auth.get("default_role", "admin")
    cfg.pam_service = auth.get("pam_service", "vrmgmt")
    cfg.pam_groups = auth.get("pam_groups", {})
    paths = data.get("paths", {})
    if paths.get("state_dir"):
        cfg.state_dir = Path(paths["state_dir"])
    if paths.get("schema_dir"):
        cfg.schema_dir = Path(paths["schema_dir"])
    cfg.host_control = _host_control(data.get("host_control", {}), source)
    cfg.metrics = _metrics(data.get("metrics", {}), source)
    cfg.console = _console(data.get("console", {}), source)
    backends = data.get("backends")
    if backends is None:
        cfg.backends = default_config().backends
    else:
        seen: set[str] = set()
        for i, entry in enumerate(backends):
            cfg.backends.append(_backend(entry, i, source, seen))
    if check:
        validate(cfg)
    return cfg


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate(cfg: Config) -> None:
    """Check the whole configuration, after the command line has overridden the file:
    raise ConfigError naming the source and the offending value."""
    from vrmgmt.roles import ROLES

    src = cfg.source
    sc = cfg.server
    for key, (types, lo, hi) in _SERVER_RULES.items():
        v = getattr(sc, key)
        if v is None and key in ("certificate", "private_key"):
            continue
        if isinstance(v, bool) or not isinstance(v, types):
            want = " or ".join("number" if t is float else t.__name__ for t in types)
            raise ConfigError(f"{src}: [server] {key} must be of type {want}, got {v!r}")
        if lo is not None and not lo <= v <= hi:
            raise ConfigError(f"{src}: [server] {key} must be between {lo:g} and {hi:g}, got {v!r}")
        if isinstance(v, str) and key.endswith("_bind") and not v.strip():
            raise ConfigError(f"{src}: [server] {key} must not be empty")
    if not sc.http_port and not sc.https_port:
        raise ConfigError(f"{src}: [server] http_port and https_port are both 0: nothing to serve")
    if sc.http_port and not is_loopback(sc.http_bind):
        raise ConfigError(
            f"{src}: plain HTTP may only listen on loopback (http_bind={sc.http_bind!r}, "
            f"http_port={sc.http_port}); use https_port for remote clients"
        )
    if bool(sc.certificate) != bool(sc.private_key):
        raise ConfigError(f"{src}: [server] certificate and private_key must be given together")
    if cfg.auth_mode not in ("basic", "none", "pam"):
        raise ConfigError(
            f"{src}: [auth] mode must be 'basic', 'pam' or 'none', got {cfg.auth_mode!r}"
        )
    if cfg.auth_mode == "pam":
        _validate_pam(cfg, ROLES)
    if cfg.auth_mode == "none" and sc.https_port and not is_loopback(sc.https_bind):
        raise ConfigError(
            f'{src}: [auth] mode = "none" is only allowed on loopback, but HTTPS listens on '
            f'{sc.https_bind!r}; use mode = "basic" or https_bind = "127.0.0.1"'
        )
    if cfg.default_role not in ROLES:
        raise ConfigError(
            f"{src}: [auth] default_role must be one of {', '.join(ROLES)}, "
            f"got {cfg.default_role!r}"
        )


def _validate_pam(cfg: Config, roles: tuple[str, ...]) -> None:
    """[auth] mode = "pam": python-pam importable, the service file there, and a
    non-empty group -> role table with known roles."""
    import importlib

    from vrmgmt.auth import PAM_DIRS, pam_service_file

    src = cfg.source
    try:
        pam = importlib.import_module("pam")
    except ImportError:
        pam = None
    if pam is None or not hasattr(pam, "PamAuthenticator"):
        raise ConfigError(
            f'{src}: [auth] mode = "pam" needs the Python package python-pam (module pam); '
            "install it with: pip install 'vrmgmt[pam]'"
        )
    svc = cfg.pam_service
    if not isinstance(svc, str) or not svc or "/" in svc or svc.startswith("."):
        raise ConfigError(f"{src}: [auth] pam_service must be a PAM service name, got {svc!r}")
    if pam_service_file(svc) is None:
        raise ConfigError(
            f"{src}: [auth] pam_service {svc!r}: no PAM service file "
            f"{' or '.join(str(d / svc) for d in PAM_DIRS)} (a sample is installed with "
            "the package: vrmgmt/data/pam/vrmgmt)"
        )
    groups = cfg.pam_groups
    if not isinstance(groups, dict) or not groups:
        raise ConfigError(
            f'{src}: [auth] mode = "pam" needs [auth.pam_groups], a table of Unix group = '
            f'role (e.g. wheel = "admin"): without it nobody could log in'
        )
    for group, role in groups.items():
        if role not in roles:
            raise ConfigError(
                f"{src}: [auth.pam_groups] {group}: unknown role {role!r} (use {', '.join(roles)})"
            )


def _host_control(section: dict[str, Any], source: str) -> HostControlConfig:
    """[host_control], every key checked for its type (errors name the key)."""
    bad = set(section) - set(_HOST_CONTROL_RULES)
    if bad:
        raise ConfigError(f"{source}: [host_control]: unknown key(s): {', '.join(sorted(bad))}")
    for key, types in _HOST_CONTROL_RULES.items():
        if key not in section:
            continue
        v = section[key]
        wrong = not isinstance(v, types) or (isinstance(v, bool) and types is not bool)
        if key.endswith("_command") and not wrong:
            wrong = not v or not all(isinstance(a, str) and a for a in v)
        if wrong:
            want = (
                "true or false"
                if types is bool
                else "a non-empty list of strings"
                if types is list
                else "a number"
            )
            raise ConfigError(f"{source}: [host_control] {key} must be {want}, got {v!r}")
        if key == "kill_grace_seconds" and not 0 <= v <= 3600:
            raise ConfigError(
                f"{source}: [host_control] kill_grace_seconds must be between 0 and 3600, got {v!r}"
            )
    return HostControlConfig(**section)


def _metrics(section: dict[str, Any], source: str) -> MetricsConfig:
    """[metrics], every key checked for its type and range (errors name the key)."""
    where = f"{source}: [metrics]"
    bad = set(section) - set(_METRICS_RULES)
    if bad:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(bad))}")
    for key, types in _METRICS_RULES.items():
        if key not in section:
            continue
        v = section[key]
        if not isinstance(v, types) or (isinstance(v, bool) and types is not bool):
            want = (
                "a list of directories"
                if types is list
                else "a string"
                if types is str
                else "true or false"
                if types is bool
                else "a number"
            )
            raise ConfigError(f"{where} {key} must be {want}, got {v!r}")
    roots = section.get("rrd_roots", [])
    if not all(isinstance(r, str) and r for r in roots):
        raise ConfigError(f"{where} rrd_roots must be a list of directories, got {roots!r}")
    interval = section.get("collect_interval", 10)
    if not 1 <= interval <= 3600:
        raise ConfigError(f"{where} collect_interval must be between 1 and 3600, got {interval!r}")
    mode = section.get("collectd", "off")
    if mode not in COLLECTD_MODES:
        raise ConfigError(
            f"{where} collectd must be one of {', '.join(COLLECTD_MODES)}, got {mode!r}"
        )
    for key in ("send_to", "listen"):
        v = section.get(key, "")
        if v and (":" not in v or not v.rsplit(":", 1)[1].isdigit()):
            raise ConfigError(f"{where} {key} must be HOST:PORT, got {v!r}")
    return MetricsConfig(**{**section, "collect_interval": float(interval)})


def _console(section: dict[str, Any], source: str) -> ConsoleConfig:
    """[console], every key checked for its type and range (errors name the key)."""
    where = f"{source}: [console]"
    bad = set(section) - set(_CONSOLE_RULES)
    if bad:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(bad))}")
    for key, (types, lo, hi) in _CONSOLE_RULES.items():
        if key not in section:
            continue
        v = section[key]
        if types == (bool,):
            if not isinstance(v, bool):
                raise ConfigError(f"{where} {key} must be true or false, got {v!r}")
            continue
        if isinstance(v, bool) or not isinstance(v, types):
            raise ConfigError(f"{where} {key} must be a number of seconds, got {v!r}")
        if not lo <= v <= hi:
            raise ConfigError(f"{where} {key} must be between {lo:g} and {hi:g}, got {v!r}")
    out = ConsoleConfig(**section)
    out.session_idle_timeout = float(out.session_idle_timeout)
    out.session_max_age = float(out.session_max_age)
    return out


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
