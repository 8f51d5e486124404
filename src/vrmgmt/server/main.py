"""`vrmgmt serve`: assemble configuration, class repository, inventory, providers and the
HTTP(S) listeners (server/http.py, DSP0200 over HTTP on 5988 and HTTPS on 5989), and run
until SIGINT/SIGTERM."""

from __future__ import annotations

import datetime
import gc
import logging
import os
import signal
import ssl
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vrmgmt import __version__
from vrmgmt.audit import AuditLog
from vrmgmt.auth import Authenticator, PamAuthenticator, ensure_initial_user, missing_groups
from vrmgmt.cim.loader import ProviderTable
from vrmgmt.cim.provider import ProviderContext, ProviderEnv
from vrmgmt.config import Config, validate
from vrmgmt.errors import ConfigError
from vrmgmt.inventory import Inventory
from vrmgmt.jobs import JobStore
from vrmgmt.registration import load_registration
from vrmgmt.server.app import SERVER_HEADER, CIMApp
from vrmgmt.server.dispatcher import Dispatcher
from vrmgmt.server.http import FrontEnd, Limits
from vrmgmt.server.indications.service import IndicationService
from vrmgmt.server.indications.subscriptions import SubscriptionStore
from vrmgmt.server.repository import ClassRepository, default_mof_dir, load_classes
from vrmgmt.webconsole.app import ConsoleRouter
from vrmgmt.webconsole.sessions import SessionStore
from vrmgmt.webconsole.static import StaticFiles

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 5  # seconds


@dataclass
class Server:
    config: Config
    inventory: Inventory
    providers: ProviderTable
    app: CIMApp
    frontend: FrontEnd

    def start(self) -> None:
        # the providers' event sources (class modules' watch, as CMPI's
        # EnableIndications starts them under SFCB/OpenPegasus)
        self.providers.enable_indications(ProviderContext(namespace=self.providers.env.namespace))
        self.frontend.start()
        for name, host, port in self.frontend.addresses():
            log.info("listening on %s://%s:%d/cimom", name, host, port)
            if self.app.sessions is not None:
                log.info("web console at %s://%s:%d/console/", name, host, port)

    def stop(self) -> None:
        self.frontend.stop()
        if isinstance(self.app.auth, PamAuthenticator):
            self.app.auth.close()
        self.providers.cleanup()
        if self.providers.env.indication_service is not None:
            self.providers.env.indication_service.close()
        if self.providers.env.jobs is not None:
            self.providers.env.jobs.close(timeout=2)
        self.inventory.close()

    def ports(self) -> dict[str, int]:
        return {name: port for name, _host, port in self.frontend.addresses()}


def build_server(
    config: Config,
    mof_dir: Path | None = None,
    registration: Path | None = None,
    providers_dir: Path | None = None,
) -> Server:
    """Everything `vrmgmt serve` runs, not started yet. mof_dir, registration and
    providers_dir replace the project's mof/, registration/vrmgmt.reg and providers/
    (tests serve a tree of their own)."""
    t0 = time.monotonic()
    validate(config)  # also when called without the command line (tests, embedding)
    state = config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    classes = load_classes(mof_dir or default_mof_dir(), config.schema_dir, state / "schema-cache")
    repo = ClassRepository(classes)
    inventory = Inventory.from_config(config.backends)
    audit = AuditLog(state / "audit.log")
    # Providers add detail records after a change; the dispatcher's records (written
    # before the change, fail closed) are the authoritative ones.
    env = ProviderEnv(
        inventory=inventory, config=config, audit=audit.best_effort, jobs=JobStore(state)
    )
    indications = IndicationService(SubscriptionStore(state), repo.is_subclass, env.namespace)
    env.indications = env.indication_service = indications
    regs = load_registration(registration) if registration is not None else None
    providers = ProviderTable(env, regs, providers_dir)
    dispatcher = Dispatcher(repo, providers, audit=audit)
    env.namespaces = list(repo.namespaces)
    env.hostname = dispatcher.hostname
    authenticator = None
    if config.auth_mode == "basic":
        created = ensure_initial_user(config.users_path, state)
        if created:
            log.warning("created user 'admin'; its password is in %s", created)
        authenticator = Authenticator(config.users_path, config.default_role)
    elif config.auth_mode == "pam":
        authenticator = PamAuthenticator(
            config.pam_service,
            config.pam_groups,
            max_waiting=max(1, config.server.threads // 2),
        )
        for g in missing_groups(config.pam_groups):
            log.warning("[auth.pam_groups]: the system knows no group %r (nobody gets its role)", g)
        log.info("authentication by PAM service %r", config.pam_service)
    else:
        log.warning('authentication is OFF ([auth] mode = "none")')
    sessions = None
    if config.console.enabled:
        sessions = SessionStore(
            config.console.session_idle_timeout,
            config.console.session_max_age,
            role_of=authenticator.role_of if isinstance(authenticator, Authenticator) else None,
        )
    app = CIMApp(
        dispatcher, authenticator, config.server.max_request_bytes, audit=audit, sessions=sessions
    )
    sc = config.server
    # /console/ (the web console's files) beside /cimom on the same listeners
    wsgi = (
        ConsoleRouter(app, StaticFiles(server_header=SERVER_HEADER))
        if sessions is not None
        else app
    )
    frontend = FrontEnd(
        wsgi,
        Limits(
            header_timeout=sc.header_timeout,
            body_timeout=sc.body_timeout,
            idle_timeout=sc.idle_timeout,
            max_connections=sc.max_connections,
            max_connections_per_client=sc.max_connections_per_client,
            max_request_bytes=sc.max_request_bytes,
            threads=sc.threads,
        ),
    )
    tls = None
    if sc.https_port:  # before any socket listens: clients may connect at once
        cert, key = _certificate(config)
        check_certificate(cert, key)
        tls = tls_context(cert, key)
    try:
        if sc.http_port:
            frontend.listen("http", sc.http_bind, sc.http_port, None)
        if tls is not None:
            frontend.listen("https", sc.https_bind, sc.https_port, tls)
    except OSError as exc:
        raise ConfigError(f"[server] {exc.strerror}") from None
    log.info(
        "vrmgmt %s ready to listen (%d classes, backends: %s) in %.2f s",
        __version__,
        repo.class_count,
        ", ".join(inventory.managers),
        time.monotonic() - t0,
    )
    return Server(config, inventory, providers, app, frontend)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2 and 1.3 only, forward-secret AEAD suites, no compression or
    renegotiation."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20")
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION | ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _certificate(config: Config) -> tuple[Path, Path]:
    sc = config.server
    if sc.certificate and sc.private_key:
        return Path(sc.certificate), Path(sc.private_key)
    cert = config.state_dir / "server.pem"
    key = config.state_dir / "server.key"
    if not (cert.exists() and key.exists()):
        _self_signed(cert, key)
        log.warning("generated a self-signed certificate %s", cert)
    return cert, key


def check_certificate(cert: Path, key: Path) -> None:
    """ConfigError naming the file if the certificate or key is missing, unreadable,
    not PEM, or if they do not belong together."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    for what, path in (("certificate", cert), ("private key", key)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"[server] {what} {path}: {exc.strerror}") from None
        try:
            if what == "certificate":
                x509.load_pem_x509_certificate(data)
            else:
                serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"[server] {what} {path} is not a usable PEM {what} "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        raise ConfigError(
            f"[server] certificate {cert} and private key {key} do not match ({exc.reason})"
        ) from None


def _self_signed(cert_path: Path, key_path: Path) -> None:
    import socket

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(host),
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def run(config: Config) -> int:
    server = build_server(config)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %d: shutting down", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    # [metrics] collectd = "managed" (the built-in default: "auto", managed when collectd
    # is installed and accepts the generated config): collectd children write the RRDs.
    from vrmgmt.metrics.collectd import ManagedCollectd

    collector = ManagedCollectd(config)
    if collector.start():
        log.info("collectd managed: RRDs in %s", config.rrd_roots[0])
    from vrmgmt.metrics.vsphere_perf import VSphereCollector

    vsphere = VSphereCollector(server.providers.env.inventory, config.rrd_roots[0])
    if config.metrics.vsphere_collector and vsphere.start():
        log.info("vSphere metrics collected into %s", config.rrd_roots[0])
    # What start-up loaded for good (the class repository: tens of thousands of pywbem
    # objects, providers, modules) leaves the collector's generations: a request that
    # allocates many objects (an enumeration of 4,000 settings) no longer makes each
    # full collection walk all of it again.
    gc.freeze()
    print(
        f"vrmgmt {__version__} serving CIM-XML: "
        + ", ".join(f"{n}://{h}:{p}/cimom" for n, h, p in server.frontend.addresses()),
        flush=True,
    )
    if server.app.sessions is not None:
        print(
            "web console: "
            + ", ".join(f"{n}://{h}:{p}/console/" for n, h, p in server.frontend.addresses()),
            flush=True,
        )
    stop.wait()
    collector.stop()
    vsphere.stop()
    # Closing a backend that is stuck in a call (e.g. a libvirt handshake with a silent
    # peer) would block: stop in a helper thread and give it a bounded time.
    stopper = threading.Thread(target=server.stop, name="shutdown", daemon=True)
    stopper.start()
    stopper.join(SHUTDOWN_GRACE)
    if stopper.is_alive():
        log.warning("shutdown: a backend did not close within %d s; exiting anyway", SHUTDOWN_GRACE)
    log.info("stopped")
    # A call into a hung backend (e.g. a libvirt handshake with a silent peer) cannot be
    # interrupted; its worker thread must not keep the process alive after shutdown.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)
