"""Login sessions of the web console (docs/console-web.md "Login and sessions").

The console logs in with a CIM-XML request to /cimom that carries HTTP Basic
credentials and the header `VRM-Console: login`; when the server accepts them it
answers the operation as usual and also sets a session cookie. Later console requests
send the cookie instead of a password. The cookie: a random 256-bit id, HttpOnly,
SameSite=Strict, Path=/, Secure on HTTPS, Max-Age the session's lifetime. A session
ends after `[console] session_idle_timeout` seconds without a request, at the latest
`session_max_age` seconds after its login, at logout (`VRM-Console: logout`), when its
user is removed from the users file, or when the server stops: the store is in memory
only (one server process; a restart logs everybody out). Requests authenticated by the
cookie must carry the `VRM-Console` header too (a cross-site page cannot add it without
a preflight, which is refused), besides the Origin / Sec-Fetch-Site check (guard.py).

The role of a session is the user's current role in the users file (a changed role
applies at the next request); with PAM it is the role found at login.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

COOKIE = "vrmgmt_session"
#: sessions kept at most (the least recently used is ended first)
MAX_SESSIONS = 10_000


@dataclass
class Session:
    user: str | None
    role: str
    created: float
    last: float


@dataclass(frozen=True)
class Lookup:
    """The outcome of reading a request's cookie: no cookie, a live session, or one that
    is unknown or ended (expired says which)."""

    present: bool
    session: Session | None = None
    reason: str = ""  # why there is no live session: "expired" | "unknown"


def _key(sid: str) -> str:
    # the store holds hashes: a memory dump or a log line does not give live cookies
    return hashlib.sha256(sid.encode("ascii", "replace")).hexdigest()


class SessionStore:
    def __init__(self, idle_timeout: float = 1800.0, max_age: float = 43200.0, role_of=None):
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._role_of = role_of  # user -> current role or None (no such user any more)
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        #: ids of sessions that ended by time, so the console can say "expired"
        self._ended: OrderedDict[str, None] = OrderedDict()

    def count(self) -> int:
        """Live sessions (not a __len__: an empty store must not be falsy)."""
        return len(self._sessions)

    @staticmethod
    def cookie_value(environ) -> str | None:
        raw = environ.get("HTTP_COOKIE", "")
        if not raw:
            return None
        try:
            jar = SimpleCookie(raw)
        except CookieError:
            return None
        m = jar.get(COOKIE)
        return m.value if m is not None and m.value else None

    def create(self, user: str | None, role: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._sessions[_key(sid)] = Session(user, role, now, now)
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return sid

    def _end(self, key: str, expired: bool) -> None:
        self._sessions.pop(key, None)
        if expired:
            self._ended[key] = None
            while len(self._ended) > MAX_SESSIONS:
                self._ended.popitem(last=False)

    def lookup(self, environ) -> Lookup:
        sid = self.cookie_value(environ)
        if sid is None:
            return Lookup(False)
        key = _key(sid)
        now = time.monotonic()
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                return Lookup(True, reason="expired" if key in self._ended else "unknown")
            if now - s.last > self.idle_timeout or now - s.created > self.max_age:
                self._end(key, expired=True)
                return Lookup(True, reason="expired")
            s.last = now
            self._sessions.move_to_end(key)
        if self._role_of is not None and s.user is not None:
            role = self._role_of(s.user)
            if role is None:  # removed from the users file
                with self._lock:
                    self._end(key, expired=True)
                return Lookup(True, reason="expired")
            s.role = role
        return Lookup(True, s)

    def end(self, environ) -> Session | None:
        """Log out: end the request's session; the session it was (None: there was none)."""
        sid = self.cookie_value(environ)
        if sid is None:
            return None
        with self._lock:
            return self._sessions.pop(_key(sid), None)

    def set_cookie(self, sid: str, environ) -> tuple[str, str]:
        secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
        return (
            "Set-Cookie",
            f"{COOKIE}={sid}; Path=/; Max-Age={int(self.max_age)}; HttpOnly; "
            f"SameSite=Strict{secure}",
        )

    @staticmethod
    def clear_cookie(environ) -> tuple[str, str]:
        secure = "; Secure" if environ.get("wsgi.url_scheme") == "https" else ""
        return ("Set-Cookie", f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
