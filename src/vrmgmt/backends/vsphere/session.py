"""The vSphere Web Services session of one VSphereManager: login (with a bounded API
version probe), re-login when vCenter forgets the session, one retry of a dropped
connection, and pyVmomi faults translated to vrmgmt.errors. Also the small
PropertyCollector helpers every other module of this package uses.

Every network operation is bounded by the manager's ``timeout`` (socket timeout of each
HTTPS connection, including the API version probe, which pyVim's SmartConnect would do
without any timeout: that is why this module builds its SoapStubAdapter itself).
Credentials are kept out of repr(), logs and exception messages (even the user name).
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pyVmomi import SoapStubAdapter, vim, vmodl
from pyVmomi.VmomiSupport import GetServiceVersions, versionIdMap

from vrmgmt.errors import BackendError, BackendUnavailable, NotFound, NotSupported

log = logging.getLogger(__name__)

T = TypeVar("T")
PC = vmodl.query.PropertyCollector

#: pooled HTTPS connections idle longer than this are closed before reuse; below the idle
#: timeouts of vCenter's reverse proxy, so a pooled connection is rarely found dead
POOL_IDLE_SECONDS = 50


class _Secret:
    """Holds a password; its repr never shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _Session:
    """One logged-in connection: ServiceInstance, content and per-session caches."""

    def __init__(self, si: Any, content: Any, stub: Any):
        self.si = si
        self.content = content
        self.stub = stub
        self.lock = threading.Lock()
        self.views: dict[str, Any] = {}
        self.counters: dict[str, Any] | None = None

    def view(self, kind: type) -> Any:
        """A ContainerView over the whole inventory for one managed object type (cached)."""
        name = kind.__name__
        with self.lock:
            view = self.views.get(name)
            if view is None:
                view = self.content.viewManager.CreateContainerView(
                    self.content.rootFolder, [kind], True
                )
                self.views[name] = view
            return view

    def ref(self, kind: type, moid: str) -> Any:
        """A managed object reference bound to this session's stub."""
        return kind(moid, self.stub)


def _is_vcenter(about: Any) -> bool:
    return getattr(about, "apiType", "") == "VirtualCenter"


def _fault_name(fault: BaseException) -> str:
    return getattr(fault, "_wsdlName", None) or type(fault).__name__


#: fault fields that say what a fault is about when it carries no message
_FAULT_DETAILS = ("name", "file", "invalidProperty", "property", "deviceIndex", "existingState")


def _fault_text(fault: BaseException) -> str:
    msg = getattr(fault, "msg", None)
    if not msg:
        for lm in getattr(fault, "faultMessage", None) or []:
            if getattr(lm, "message", None):
                msg = lm.message
                break
    name = _fault_name(fault)
    if msg and msg.lstrip("*").removeprefix("types.") == name:
        msg = None  # vcsim's task faults carry only their Go type name ("*types.X")
    if not msg:
        details = []
        for field in _FAULT_DETAILS:
            value = getattr(fault, field, None)
            if value is not None and value != "" and not isinstance(value, bool):
                details.append(f"{field} {value!r}")
        msg = ", ".join(details)
    return f"{name}: {msg}" if msg else name


def _view_spec(view: Any, kind: type, paths: list[str]) -> Any:
    traverse = PC.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths)],
    )


def _object_spec(obj: Any, kind: type, paths: list[str]) -> Any:
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=obj, skip=False)],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths)],
    )


def _props(oc: Any) -> dict[str, Any]:
    return {p.name: p.val for p in (oc.propSet or [])}


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def _canonical_uuid(value: str) -> str | None:
    try:
        return str(uuidlib.UUID(str(value).strip()))
    except (ValueError, AttributeError, TypeError):
        return None


def _view_filter(view: Any, props: dict[type, list[str]]) -> Any:
    """Like _view_spec, for several managed object types at once."""
    traverse = PC.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
    return PC.FilterSpec(
        objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
        propSet=[PC.PropertySpec(type=kind, pathSet=paths) for kind, paths in props.items()],
    )


class SessionMixin:
    """Session handling of VSphereManager (which sets backend_id, timeout, _host, _port,
    _username, _password, _verify_tls, _ca_file, _lock, _session, _login_error and
    _login_failed_at in its __init__)."""

    backend_id: str
    timeout: float
    url: str

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        """Log in (again); BackendUnavailable when unreachable or the login is refused."""
        with self._lock:
            old, self._session = self._session, None
            if old is not None:
                self._logout(old)
            self._login_locked(float("inf"))  # always a fresh attempt

    def close(self) -> None:
        with self._lock:
            old, self._session = self._session, None
        if old is not None:
            self._logout(old)

    @property
    def connected(self) -> bool:
        return self._session is not None

    def _ssl_context(self) -> ssl.SSLContext:
        if not self._verify_tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        try:
            return ssl.create_default_context(cafile=self._ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BackendUnavailable(
                self.backend_id, f"cannot load ca_file {self._ca_file!r}: {exc}"
            ) from None

    def _scrub(self, text: str) -> str:
        secret = self._password.reveal()
        if len(secret) >= 3:
            text = text.replace(secret, "***")
        return text

    def _unavailable(self, exc: BaseException, doing: str = "") -> BackendUnavailable:
        if isinstance(exc, ssl.SSLCertVerificationError):
            detail = (
                f"TLS certificate verification failed ({exc.verify_message}); "
                "configure ca_file or verify_tls = false"
            )
        elif isinstance(exc, TimeoutError):
            detail = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            detail = "connection refused"
        elif isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
            detail = f"connection lost ({type(exc).__name__})"
        elif isinstance(exc, ssl.SSLError):
            detail = f"TLS error: {exc.reason or exc}"
        elif isinstance(exc, http.client.HTTPException):
            detail = f"HTTP error: {exc or type(exc).__name__}"
        else:
            detail = str(exc) or type(exc).__name__
        prefix = f"{self.url}: " + (f"{doing}: " if doing else "")
        return BackendUnavailable(self.backend_id, self._scrub(prefix + detail))

    def _negotiate_version(self, ctx: ssl.SSLContext) -> str:
        """The newest vim25 API version both pyVmomi and the server speak (bounded)."""
        conn = http.client.HTTPSConnection(
            self._host, self._port, context=ctx, timeout=self.timeout
        )
        try:
            conn.request("GET", "/sdk/vimServiceVersions.xml")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise BackendUnavailable(
                self.backend_id,
                f"{self.url}: not a vSphere API endpoint (vimServiceVersions.xml: HTTP "
                f"{resp.status})",
            )
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise BackendUnavailable(
                self.backend_id, f"{self.url}: unreadable vimServiceVersions.xml"
            ) from None
        offered: set[str] = set()
        for ns in root.findall("namespace"):
            name = ns.findtext("name")
            if name and name != "urn:vim25":
                continue
            offered.update(v.text.strip() for v in ns.findall("version") if v.text)
            offered.update(v.text.strip() for v in ns.findall("priorVersions/version") if v.text)
        for version in GetServiceVersions("vim25"):
            if versionIdMap.get(version) in offered:
                return version
        raise BackendUnavailable(
            self.backend_id,
            f"{self.url}: no API version in common (server offers {sorted(offered)})",
        )

    def _login(self) -> _Session:
        """Open a new session. Caller holds self._lock."""
        started = time.monotonic()
        ctx = self._ssl_context()
        try:
            version = self._negotiate_version(ctx)
            stub = SoapStubAdapter(
                host=self._host,
                port=self._port,
                path="/sdk",
                version=version,
                sslContext=ctx,
                httpConnectionTimeout=self.timeout,
                connectionPoolTimeout=POOL_IDLE_SECONDS,
            )
            si = vim.ServiceInstance("ServiceInstance", stub)
            content = si.RetrieveContent()
        except (OSError, http.client.HTTPException) as exc:
            raise self._unavailable(exc) from None
        except vmodl.MethodFault as fault:
            raise BackendUnavailable(
                self.backend_id, self._scrub(f"{self.url}: {_fault_text(fault)}")
            ) from None
        try:
            content.sessionManager.Login(self._username.reveal(), self._password.reveal(), None)
        except vim.fault.InvalidLogin:
            stub.DropConnections()
            raise BackendUnavailable(
                self.backend_id,
                f"login refused: incorrect user name or password for {self.url}",
            ) from None
        except vmodl.MethodFault as fault:
            stub.DropConnections()
            raise BackendUnavailable(
                self.backend_id, self._scrub(f"login refused by {self.url}: {_fault_text(fault)}")
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            stub.DropConnections()
            raise self._unavailable(exc, "login") from None
        about = content.about
        log.info(
            "vsphere backend %s: logged in to %s (%s %s, API %s) in %.2f s",
            self.backend_id,
            self.url,
            about.name,
            about.version,
            version,
            time.monotonic() - started,
        )
        return _Session(si, content, stub)

    def _logout(self, session: _Session) -> None:
        try:
            session.content.sessionManager.Logout()
        except Exception as exc:  # best effort: the server may be gone
            log.debug("vsphere backend %s: logout failed: %s", self.backend_id, type(exc).__name__)
        finally:
            session.stub.DropConnections()

    def _login_locked(self, since: float) -> _Session:
        """Log in; caller holds self._lock. ``since`` is when the caller began to wait for
        the lock: if a login failed after that, fail the same way at once instead of
        queueing another full timeout behind it."""
        if self._login_error is not None and self._login_failed_at >= since:
            raise BackendUnavailable(self.backend_id, self._login_error.detail)
        try:
            self._session = self._login()
        except BackendUnavailable as exc:
            self._login_error, self._login_failed_at = exc, time.monotonic()
            raise
        self._login_error = None
        return self._session

    def _get_session(self) -> _Session:
        session = self._session
        if session is not None:
            return session
        since = time.monotonic()
        with self._lock:
            if self._session is not None:
                return self._session
            return self._login_locked(since)

    def _relogin(self, failed: _Session) -> _Session:
        """Replace a session the server no longer knows (once, whichever thread comes first)."""
        since = time.monotonic()
        with self._lock:
            if self._session is failed:
                self._session = None
                failed.stub.DropConnections()
                log.warning("vsphere backend %s: session gone, logging in again", self.backend_id)
            if self._session is not None:
                return self._session
            return self._login_locked(since)

    def _call(self, fn: Callable[[_Session], T], *, idempotent: bool = True) -> T:
        """Run fn with a live session, translating library errors.

        An expired/unknown session leads to one re-login and one retry (the server refused
        the call, so this is safe for any call). A dropped connection is retried once only
        when ``idempotent``; a timeout or a certificate rejection is never retried (the
        backend hangs or is misconfigured: fail fast).
        """
        session = self._get_session()
        relogins, retries = 1, (1 if idempotent else 0)
        while True:
            try:
                return fn(session)
            except (vim.fault.NotAuthenticated, vmodl.fault.ManagedObjectNotFound) as fault:
                if isinstance(fault, vmodl.fault.ManagedObjectNotFound) and not isinstance(
                    getattr(fault, "obj", None), vim.view.View
                ):
                    raise NotFound(
                        f"backend {self.backend_id!r}: object vanished: {_fault_text(fault)}"
                    ) from None
                # Our session is gone. (A ContainerView is session-scoped: when it has
                # vanished, so has the session; vcsim answers property reads of a session
                # it does not know that way instead of with NotAuthenticated.)
                if relogins == 0:
                    raise BackendUnavailable(
                        self.backend_id, f"{self.url}: session refused right after login"
                    ) from None
                relogins -= 1
                session = self._relogin(session)
            except (OSError, http.client.HTTPException) as exc:
                if retries == 0 or isinstance(exc, TimeoutError | ssl.SSLCertVerificationError):
                    raise self._unavailable(exc) from None
                retries -= 1
                log.info(
                    "vsphere backend %s: %s, retrying once", self.backend_id, type(exc).__name__
                )
            except (vmodl.fault.MethodNotFound, vmodl.fault.NotImplemented) as fault:
                raise NotSupported(f"backend {self.backend_id!r}: {_fault_text(fault)}") from None
            except vmodl.MethodFault as fault:
                raise BackendError(
                    f"backend {self.backend_id!r}: {self._scrub(_fault_text(fault))}"
                ) from None

    # -- property reads ------------------------------------------------------------------
    def _retrieve(self, session: _Session, specs: list[Any]) -> list[Any]:
        return session.content.propertyCollector.RetrieveContents(specs) or []
