"""The CIM-XML over HTTP front end (DSP0200 §6-7) as a WSGI application.

POST and M-POST (DSP0200 §6.1.2, `Man:` header with `NN-` prefixed extension headers)
on /cimom; CIMOperation / CIMMethod / CIMObject headers checked against the body
(CIMObject may arrive URL-escaped, as wbemcli sends it); HTTP Basic authentication;
request body limit; HTTP-level errors answered with the DSP0200 §7.5 `CIMError` header.

Browser requests (Origin / Sec-Fetch-Site headers) from another site's page are refused
with 403 (vrmgmt.webconsole.guard); the web console logs in and out on /cimom too and
then authenticates by a session cookie (vrmgmt.webconsole.sessions).
"""

from __future__ import annotations

import base64
import logging
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator

import pywbem

from vrmgmt import __version__
from vrmgmt.auth import Authenticator, Login
from vrmgmt.roles import ADMIN
from vrmgmt.server import cimxml_writer as xw
from vrmgmt.server.cimxml_request import RequestError, parse_request
from vrmgmt.server.dispatcher import Dispatcher
from vrmgmt.webconsole import guard
from vrmgmt.webconsole.sessions import SessionStore

log = logging.getLogger(__name__)
_MAN_NS = re.compile(r"mapping\.http#;\s*ns=(\d+)", re.I)
SERVER_HEADER = f"vrmgmt/{__version__}"


def _key_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, pywbem.CIMInstanceName):
        return str(sorted(((k or "").lower(), _key_text(x)) for k, x in v.keybindings.items()))
    return str(v)


def _check_object_header(obj: str, target, namespace: str) -> str | None:
    """DSP0200 §7.3.1.4: the CIMObject header of a method call is the object path of the
    target (namespace:class[.keys]); it must name the same object as the body."""
    ns, sep, rest = obj.partition(":")
    if not sep or not rest:
        return f"CIMObject header {obj!r} is not an object path (namespace:class[.keys])"
    if ns.strip("/").lower() != namespace.strip("/").lower():
        return f"CIMObject header {obj!r} does not match the namespace {namespace!r}"
    cls = rest.split(".", 1)[0]
    if cls.lower() != target.classname.lower():
        return f"CIMObject header {obj!r} does not match the class {target.classname!r}"
    if not isinstance(target, pywbem.CIMInstanceName):
        return None if "." not in rest else f"CIMObject header {obj!r} names an instance"
    if "." not in rest:
        return f"CIMObject header {obj!r} names a class, the request an instance"
    try:
        hdr = pywbem.CIMInstanceName.from_wbem_uri("/" + ns.strip("/") + ":" + rest)
    except (ValueError, TypeError) as exc:
        return f"CIMObject header {obj!r} is not a valid object path ({exc})"
    want = {(k or "").lower(): _key_text(v) for k, v in target.keybindings.items()}
    got = {(k or "").lower(): _key_text(v) for k, v in hdr.keybindings.items()}
    if want != got:
        return f"CIMObject header {obj!r} does not match the target path in the request"
    return None


class CIMApp:
    def __init__(
        self,
        dispatcher: Dispatcher,
        authenticator: Authenticator | None,
        max_request_bytes: int = 4 * 1024 * 1024,
        audit=None,
        sessions: SessionStore | None = None,
    ):
        self.dispatcher = dispatcher
        self.auth = authenticator
        self.max_request_bytes = max_request_bytes
        self.audit = audit  # AuditLog: failed logins (best effort)
        self.sessions = sessions  # the web console's login sessions (None: no console)

    # -- helpers -----------------------------------------------------------------------
    @staticmethod
    def _headers(environ) -> dict[str, str]:
        """CIM headers by lower-case name, M-POST `NN-` prefixes removed."""
        raw = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("REQUEST_METHOD") == "M-POST":
            m = _MAN_NS.search(raw.get("man", ""))
            if m:
                prefix = f"{m.group(1)}-"
                for k in list(raw):
                    if k.startswith(prefix):
                        raw[k[len(prefix) :]] = raw.pop(k)
        return raw

    def _error(
        self,
        start_response,
        status: str,
        cim_error: str | None,
        message: str,
        extra: list[tuple[str, str]] | None = None,
        close=None,
    ) -> list[bytes]:
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Server", SERVER_HEADER)]
        if cim_error:
            headers.append(("CIMError", cim_error))
        headers.extend(extra or [])
        if close is not None:  # the request body was not read: do not drain it
            close()
        body = (message + "\n").encode()
        headers.append(("Content-Length", str(len(body))))
        log.info("HTTP %s: %s", status, message)
        start_response(status, headers)
        return [body]

    def _authenticate(self, environ) -> Login:
        """The login of this request. Without authentication ([auth] mode = "none",
        loopback only) every client is admin."""
        if self.auth is None:
            return Login(True, None, ADMIN)
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.strip():
            if self.sessions is not None and environ.get(guard.CONSOLE_HEADER):
                found = self.sessions.lookup(environ)
                if found.session is not None:
                    return Login(True, found.session.user, found.session.role)
                if found.present:
                    return Login(False, None, reason=f"console session {found.reason}")
            return Login(False, None, reason="no credentials")
        if not header.lower().startswith("basic "):
            return Login(False, None, reason="not HTTP Basic credentials")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return Login(False, None, reason="malformed Basic credentials")
        user, sep, password = decoded.partition(":")
        if not sep:
            return Login(False, None, reason="malformed Basic credentials")
        return self.auth.authenticate(user, password, environ.get("REMOTE_ADDR", ""))

    def _refuse_login(self, environ, login: Login) -> None:
        client = environ.get("REMOTE_ADDR", "")
        log.warning("401 for user %s from %s: %s", login.user or "-", client or "-", login.reason)
        if self.audit is not None:
            self.audit.best_effort(
                user=login.user,
                client=client,
                action="login",
                target=environ.get("PATH_INFO", ""),
                outcome=f"refused: {login.reason}",
            )

    def _audit(self, environ, user, action: str, outcome: str) -> None:
        if self.audit is not None:
            self.audit.best_effort(
                user=user,
                client=environ.get("REMOTE_ADDR", ""),
                action=action,
                target=environ.get("PATH_INFO", ""),
                outcome=outcome,
            )

    def _console_refusal(self, environ, login: Login) -> tuple[str, list[tuple[str, str]]]:
        """The message and headers of a 401 to the console: no Basic challenge (a
        browser would pop up its own login dialog), the reason for the console."""
        why = login.reason
        if why.startswith("console session expired"):
            reason, message = "expired", "your session has expired; log in again"
        elif why.startswith("console session") or why == "no credentials":
            reason, message = "no-session", "not logged in"
        elif why.startswith("locked"):
            reason, message = "locked", "too many failed logins; wait a minute and try again"
        else:
            reason, message = "bad-credentials", "wrong user name or password"
        headers = [
            ("WWW-Authenticate", 'VrmConsole realm="vrmgmt"'),
            (guard.REASON_HEADER, reason),
            ("Cache-Control", "no-store"),
            *guard.SECURITY_HEADERS,
        ]
        if reason == "expired" and self.sessions is not None:
            headers.append(self.sessions.clear_cookie(environ))
        return message, headers

    def _logout(self, environ, start_response) -> list[bytes]:
        """`VRM-Console: logout`: end the request's session (idempotent)."""
        ended = self.sessions.end(environ) if self.sessions is not None else None
        if ended is not None:
            self._audit(environ, ended.user, "console logout", "completed")
        body = b"logged out\n"
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Server", SERVER_HEADER),
            ("Cache-Control", "no-store"),
            *guard.SECURITY_HEADERS,
            SessionStore.clear_cookie(environ),
            ("Content-Length", str(len(body))),
        ]
        start_response("200 OK", headers)
        return [body]

    # -- WSGI ----------------------------------------------------------------------------
    def __call__(self, environ, start_response) -> Iterable[bytes]:
        close = environ.get("vrmgmt.close_connection")

        def fail(status, cim_error, message, extra=None, unread=True):
            return self._error(
                start_response, status, cim_error, message, extra, close if unread else None
            )

        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        # The declared size first: nothing else is worth doing for an oversized body.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return fail("400 Bad Request", "request-not-well-formed", "invalid Content-Length")
        if length < 0:
            return fail("400 Bad Request", "request-not-well-formed", "invalid Content-Length")
        if length > self.max_request_bytes:
            return fail(
                "413 Payload Too Large",
                None,
                f"request body of {length} bytes exceeds the limit of {self.max_request_bytes}",
            )
        if method not in ("POST", "M-POST"):
            return fail(
                "405 Method Not Allowed",
                None,
                f"{method} is not supported; CIM-XML uses POST or M-POST",
                [("Allow", "POST, M-POST")],
            )
        if path.rstrip("/") not in ("/cimom", ""):
            return fail("404 Not Found", None, f"no CIM service at {path}; use /cimom")
        refusal = guard.cross_site_refusal(environ)
        if refusal is not None:
            self._audit(environ, None, "request", f"refused: {refusal}")
            return fail("403 Forbidden", None, refusal)
        # the web console's requests (ignored when the console is off: [console] enabled)
        console = environ.get(guard.CONSOLE_HEADER, "").strip().lower()
        if self.sessions is None:
            console = ""
        if console == "logout":
            if close is not None:
                close()
            return self._logout(environ, start_response)
        login = self._authenticate(environ)
        user = login.user
        if not login.ok:
            if console and login.reason == "no credentials":
                # the console asking whether it has a session (no cookie yet): nobody
                # claimed to be anyone, so this is no failed login for the audit log
                log.info("console request without a session from %s", environ.get("REMOTE_ADDR"))
            else:
                self._refuse_login(environ, login)
            if console:
                message, extra = self._console_refusal(environ, login)
                return fail("401 Unauthorized", None, message, extra)
            return fail(
                "401 Unauthorized",
                None,
                "authentication required",
                [("WWW-Authenticate", 'Basic realm="vrmgmt"')],
            )
        extra_headers: list[tuple[str, str]] = []
        if console:
            if console == "login" and self.sessions is not None:
                self.sessions.end(environ)  # a session this browser had before: over
                sid = self.sessions.create(user, login.role or ADMIN)
                extra_headers.append(self.sessions.set_cookie(sid, environ))
                self._audit(environ, user, "console login", f"completed, role {login.role}")
            extra_headers += [
                (guard.USER_HEADER, user or ""),
                (guard.ROLE_HEADER, login.role or ""),
                ("Cache-Control", "no-store"),
                *guard.SECURITY_HEADERS,
            ]
        h = self._headers(environ)
        if method == "M-POST" and not _MAN_NS.search(environ.get("HTTP_MAN", "")):
            return fail(
                "400 Bad Request",
                "header-mismatch",
                "M-POST needs a Man header naming the CIM mapping "
                "(http://www.dmtf.org/cim/mapping.http#;ns=NN)",
            )
        op = h.get("cimoperation")
        if op is None or op.strip().lower() != "methodcall":
            return fail(
                "400 Bad Request", "unsupported-operation", "CIMOperation header must be MethodCall"
            )
        ctype = environ.get("CONTENT_TYPE", "")
        if ctype and not re.match(r"\s*(application|text)/xml\b", ctype, re.I):
            return fail(
                "415 Unsupported Media Type", None, f"Content-Type {ctype!r} is not application/xml"
            )
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length == 0 and not chunked:
            return fail("411 Length Required", None, "Content-Length is required")
        try:
            body = environ["wsgi.input"].read(length if length else self.max_request_bytes + 1)
        except TimeoutError:
            return fail("408 Request Timeout", None, "the request body did not arrive in time")
        except OSError as exc:
            if "too large" in str(exc).lower():
                return fail(
                    "413 Payload Too Large",
                    None,
                    f"request body exceeds the limit of {self.max_request_bytes}",
                )
            return fail(
                "400 Bad Request", "request-not-well-formed", f"unreadable request body: {exc}"
            )
        except (ValueError, OverflowError, MemoryError) as exc:
            return fail(
                "400 Bad Request",
                "request-not-well-formed",
                f"unreadable request body: {type(exc).__name__}",
            )
        if len(body) > self.max_request_bytes:
            return fail(
                "413 Payload Too Large",
                None,
                f"request body exceeds the limit of {self.max_request_bytes}",
            )
        try:
            req = parse_request(body)
        except RequestError as exc:
            status = "400 Bad Request" if exc.http_status == 400 else f"{exc.http_status} Error"
            return fail(status, exc.cim_error, exc.message, unread=False)
        except Exception as exc:  # noqa: BLE001 - a parser corner case is still a 400
            log.warning("request parsing failed: %s: %s", type(exc).__name__, exc)
            return fail(
                "400 Bad Request",
                "request-not-valid",
                f"invalid CIM-XML ({type(exc).__name__})",
                unread=False,
            )
        mismatch = self._check_headers(h, req)
        if mismatch:
            return fail("400 Bad Request", "header-mismatch", mismatch, unread=False)
        t0 = time.perf_counter()
        # A client that accepts trailers gets provider output streamed, with late errors
        # in the CIMStatusCode trailer; others get it materialised first.
        trailers = environ.get("vrmgmt.trailers")
        streaming = trailers is not None and "trailers" in environ.get("HTTP_TE", "").lower()
        result = self.dispatcher.dispatch(
            req, user, streaming=streaming, role=login.role, client=environ.get("REMOTE_ADDR")
        )
        chunks = xw.response(
            req.message_id,
            result.method,
            result.intrinsic,
            result.body,
            result.error,
            req.protocol_version,
            result.cache_key,
        )
        return self._stream(
            start_response,
            chunks,
            req,
            result,
            t0,
            trailers if streaming else None,
            extra_headers,
        )

    def _check_headers(self, h: dict[str, str], req) -> str | None:
        cim_method = h.get("cimmethod")
        if cim_method is None:
            return "CIMMethod header is missing"
        if cim_method.strip().lower() != req.name.lower():
            return f"CIMMethod header {cim_method!r} does not match the request ({req.name})"
        cim_object = h.get("cimobject")
        if cim_object is None:
            return "CIMObject header is missing"
        obj = urllib.parse.unquote(cim_object).strip()
        if req.kind == "imethod":
            if obj.strip("/").lower() != req.namespace.strip("/").lower():
                return f"CIMObject header {obj!r} does not match the namespace {req.namespace!r}"
            return None
        return _check_object_header(obj, req.target, req.namespace)

    def _stream(
        self,
        start_response,
        chunks: Iterator[bytes],
        req,
        result,
        t0,
        trailers: list | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> Iterator[bytes]:
        # Produce the first chunk before the status line so that errors raised while
        # encoding a small response still become a proper CIM error.
        try:
            first = next(chunks)
        except Exception as exc:  # noqa: BLE001
            log.exception("encoding %s failed", req.name)
            from vrmgmt.cim.errors import to_cim_error

            chunks = xw.response(
                req.message_id,
                result.method,
                result.intrinsic,
                None,
                to_cim_error(exc),
                req.protocol_version,
            )
            first = next(chunks)
        headers = [
            ("Content-Type", 'application/xml; charset="utf-8"'),
            ("CIMOperation", "MethodResponse"),
            ("Server", SERVER_HEADER),
            *(extra_headers or []),
        ]
        if trailers is not None:
            headers.append(("Trailer", "CIMStatusCode, CIMStatusCodeDescription"))
        start_response("200 OK", headers)
        status = f"error {result.error.status_code}" if result.error else "ok"

        def gen() -> Iterator[bytes]:
            size = len(first)
            yield first
            try:
                for c in chunks:
                    size += len(c)
                    yield c
            except Exception as exc:  # noqa: BLE001 - cannot change the status any more
                log.exception("%s: failed while streaming the response", req.name)
                if trailers is not None:
                    from vrmgmt.cim.errors import to_cim_error

                    err = to_cim_error(exc)
                    trailers.extend(
                        [
                            ("CIMStatusCode", str(err.status_code)),
                            (
                                "CIMStatusCodeDescription",
                                urllib.parse.quote(err.status_description or ""),
                            ),
                        ]
                    )
                return
            if trailers is not None:
                code = result.error.status_code if result.error else 0
                trailers.append(("CIMStatusCode", str(code)))
            log.debug(
                "%s %s %s -> %s, %d bytes in %.1f ms",
                req.kind,
                req.name,
                req.namespace,
                status,
                size,
                (time.perf_counter() - t0) * 1000,
            )

        return gen()
