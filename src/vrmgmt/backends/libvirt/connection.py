"""The libvirt connection of one LibvirtManager: opened lazily, shared by threads
(libvirt connections are thread-safe), re-opened once when libvirt reports it gone, and
libvirt errors translated to vrmgmt.errors.

Connections served by libvirtd (every URI but ``test:``) get libvirt keep-alive: the
default event loop is registered once per process and run by a daemon thread,
``setKeepAlive(5, 3)`` makes libvirt close a connection whose peer stops answering for
~20 s, and a close callback drops it so the next call reconnects.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import libvirt

from vrmgmt.errors import (
    BackendError,
    BackendUnavailable,
    InvalidStateTransition,
    NotFound,
    NotSupported,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# libvirt prints every error to stderr by default; we report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

# Errors that by themselves mean the connection is gone. Others (RPC or system errors
# included: a missing disk image is a VIR_ERR_SYSTEM_ERROR too) count as a lost
# connection only when the connection no longer answers isAlive().
_CONNECTION_LOST = {
    getattr(libvirt, name)
    for name in ("VIR_ERR_NO_CONNECT", "VIR_ERR_INVALID_CONN")
    if hasattr(libvirt, name)
}

# libvirt codes that mean "this driver (or this domain's configuration) cannot do that"
_UNSUPPORTED = {
    libvirt.VIR_ERR_NO_SUPPORT,
    libvirt.VIR_ERR_OPERATION_UNSUPPORTED,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
}


#: virConnectCloseReason, as the close callback reports it
_CLOSE_REASONS = {
    getattr(libvirt, name, -1 - i): text
    for i, (name, text) in enumerate(
        (
            ("VIR_CONNECT_CLOSE_REASON_ERROR", "error"),
            ("VIR_CONNECT_CLOSE_REASON_EOF", "end of file: the daemon went away"),
            ("VIR_CONNECT_CLOSE_REASON_KEEPALIVE", "keep-alive timeout"),
            ("VIR_CONNECT_CLOSE_REASON_CLIENT", "closed by the client"),
        )
    )
}


# -- keep-alive event loop (one per process) -----------------------------------------------
_event_lock = threading.Lock()
_event_thread: threading.Thread | None = None


def _ensure_event_loop() -> None:
    """Register libvirt's default event loop once per process and run it in a thread.

    Must happen before a connection opens for keep-alive and close callbacks to work
    on it.
    """
    global _event_thread
    with _event_lock:
        if _event_thread is not None:
            return
        if libvirt.virEventRegisterDefaultImpl() < 0:  # pragma: no cover - never seen
            log.warning("libvirt: cannot register the default event loop")
            return

        def run() -> None:
            while True:
                try:
                    libvirt.virEventRunDefaultImpl()
                except Exception:  # noqa: BLE001 - the loop must survive one bad callback
                    log.exception("libvirt event loop")
                    time.sleep(0.1)

        _event_thread = threading.Thread(target=run, name="libvirt-events", daemon=True)
        _event_thread.start()


def _uses_daemon(uri: str) -> bool:
    """True when the URI is served by libvirtd (through the remote driver)."""
    scheme = urllib.parse.urlsplit(uri).scheme
    return bool(scheme) and scheme.split("+")[0] != "test"


class LibvirtConnection:
    """Connection handling of LibvirtManager (a mixin: the manager sets ``backend_id``,
    ``uri``, ``keepalive`` and the credentials, then calls ``_init_connection``)."""

    backend_id: str
    uri: str
    keepalive: tuple[int, int]

    def _init_connection(self, username: str | None, password: str | None) -> None:
        self._username = username
        self._password = password
        self._conn: libvirt.virConnect | None = None
        self._lock = threading.Lock()
        self._driver: str | None = None
        self._dropped: list[libvirt.virConnect] = []  # dead connections still to close
        #: callback(up, why) when libvirt closes the connection (watch_connection)
        self._connection_watchers: list[Callable[[bool, str], None]] = []

    def _opened(self, conn: libvirt.virConnect) -> None:
        """Called (lock held) after a connection opened: drop caches of the old one."""

    # -- connection -----------------------------------------------------------------
    def connect(self) -> None:
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> libvirt.virConnect:
        if self._conn is not None:
            return self._conn
        while self._dropped:
            _close_quietly(self._dropped.pop())
        daemon = _uses_daemon(self.uri)
        if daemon:
            _ensure_event_loop()
        try:
            if self._username is not None:
                conn = libvirt.openAuth(self.uri, self._auth(), 0)
            else:
                conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise BackendUnavailable(self.backend_id, _message(exc)) from None
        if conn is None:
            raise BackendUnavailable(self.backend_id, f"cannot open {self.uri}")
        if daemon:
            self._watch(conn)
        self._conn = conn
        self._driver = conn.getType()
        self._opened(conn)
        log.info("backend %s: connected to %s (%s)", self.backend_id, self.uri, self._driver)
        return conn

    def _watch(self, conn: libvirt.virConnect) -> None:
        """Keep-alive and a close callback, so a dead peer is noticed and dropped."""
        interval, count = self.keepalive
        try:
            conn.setKeepAlive(interval, count)
        except libvirt.libvirtError as exc:
            log.info("backend %s: no keep-alive: %s", self.backend_id, _message(exc))

        def closed(c: libvirt.virConnect, reason: int, _opaque: object) -> None:
            log.warning(
                "backend %s: libvirt closed the connection (reason %d)", self.backend_id, reason
            )
            # No lock here (a caller may hold it while libvirt runs this callback), and
            # no virConnectClose inside the callback: drop it, the next call reopens.
            if self._conn is c:
                self._conn = None
                self._dropped.append(c)
                why = _CLOSE_REASONS.get(reason, f"reason {reason}")
                for cb in list(self._connection_watchers):
                    try:
                        cb(False, f"libvirt closed the connection to {self.uri} ({why})")
                    except Exception:  # noqa: BLE001 - a watcher must not break libvirt's loop
                        log.exception("connection watcher")

        with contextlib.suppress(libvirt.libvirtError):
            conn.registerCloseCallback(closed, None)

    def watch_connection(self, callback: Callable[[bool, str], None]) -> bool:
        """callback(False, why) when libvirt closes a daemon connection (its close
        callback: the daemon stopped, or keep-alive gave up); the inventory's reconnect
        probe tells when it is back. The test driver has no connection to lose."""
        if not _uses_daemon(self.uri):
            return False
        self._connection_watchers.append(callback)
        return True

    def _auth(self) -> list:
        user, password = self._username, self._password

        def callback(creds, _data):
            for cred in creds:
                if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                    cred[4] = user
                elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                    cred[4] = password
            return 0

        return [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], callback, None]

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            dropped, self._dropped = self._dropped, []
        for c in ([conn] if conn is not None else []) + dropped:
            _close_quietly(c)

    def _call(self, fn: Callable[[libvirt.virConnect], T]) -> T:
        """Run fn(conn), reconnecting once if the connection was lost.

        libvirt errors that fn lets through become vrmgmt errors: a vanished domain
        NotFound, an unsupported operation NotSupported, the rest BackendError.
        """
        for attempt in (1, 2):
            with self._lock:
                conn = self._open_locked()
            try:
                return fn(conn)
            except libvirt.libvirtError as exc:
                lost = exc.get_error_code() in _CONNECTION_LOST or not _alive(conn)
                if lost and attempt == 1:
                    log.warning(
                        "backend %s: connection lost (%s); reconnecting",
                        self.backend_id,
                        _message(exc),
                    )
                    with self._lock:
                        if self._conn is conn:
                            self._conn = None
                    _close_quietly(conn)
                    continue
                if lost:
                    raise BackendUnavailable(self.backend_id, _message(exc)) from None
                raise _translate(exc) from None
        raise AssertionError("unreachable")


def _message(exc: libvirt.libvirtError) -> str:
    return exc.get_error_message() or str(exc)


def _raise_failure(conn: libvirt.virConnect, exc: libvirt.libvirtError, what: str) -> None:
    """Re-raise a lost connection as it is (so _call reconnects); otherwise raise
    NotSupported or BackendError saying `what` failed and why."""
    code = exc.get_error_code()
    if code in _CONNECTION_LOST or not _alive(conn):
        raise exc
    if code in _UNSUPPORTED:
        raise NotSupported(f"{what}: {_message(exc)}") from None
    raise BackendError(f"{what}: {_message(exc)}") from None


def _translate(exc: libvirt.libvirtError) -> Exception:
    code = exc.get_error_code()
    if code in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT):
        return NotFound(_message(exc))
    if code in _UNSUPPORTED:
        return NotSupported(_message(exc))
    if code == libvirt.VIR_ERR_OPERATION_INVALID:
        return InvalidStateTransition(_message(exc))
    return BackendError(_message(exc))


def _close_quietly(conn: libvirt.virConnect) -> None:
    """Release a connection that may already be dead (or closed: _o is None)."""
    if getattr(conn, "_o", None) is None:
        return
    with contextlib.suppress(libvirt.libvirtError):
        conn.unregisterCloseCallback()
    with contextlib.suppress(libvirt.libvirtError):
        conn.close()


def _alive(conn: libvirt.virConnect) -> bool:
    try:
        return conn.isAlive() == 1
    except libvirt.libvirtError:
        return False
