"""Same-origin guard of /cimom for browsers, and the HTTP header vocabulary of the web
console (docs/console-web.md "Security").

Browsers send `Sec-Fetch-Site` (Fetch Metadata) and `Origin` with every POST; a request
another site's page makes is refused with 403 before authentication, so a logged-in
console's cookie cannot be used from elsewhere (CSRF) and another page cannot use the
browser's remembered Basic credentials either. Clients that are not browsers (pywbem,
wbemcli, pywbemcli) send neither header and are not affected. vrmgmt sends no CORS
headers, so a cross-origin page can never read a response.
"""

from __future__ import annotations

import urllib.parse

#: request header every console request carries: "login", "logout" or "1"; a custom
#: header cannot be sent cross-origin without a CORS preflight, which vrmgmt refuses
CONSOLE_HEADER = "HTTP_VRM_CONSOLE"
#: response headers of console requests: who is logged in, with which role
USER_HEADER = "VRM-Console-User"
ROLE_HEADER = "VRM-Console-Role"
#: why a console request was answered 401: bad-credentials | expired | no-session
REASON_HEADER = "VRM-Console-Reason"

#: Sec-Fetch-Site values of requests the console itself makes (or a user typed)
_SAME = {"same-origin", "none"}

#: headers of every console response (static files and the console's /cimom answers)
SECURITY_HEADERS: list[tuple[str, str]] = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'",
    ),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]


def own_origin(environ) -> str:
    """scheme://host[:port] of this server as the client addressed it (Host header)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    )
    host = host.strip().lower()
    default = ":443" if scheme == "https" else ":80"
    if host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def _normal_origin(origin: str) -> str:
    try:
        u = urllib.parse.urlsplit(origin.strip().lower())
    except ValueError:
        return origin
    netloc = u.netloc
    default = ":443" if u.scheme == "https" else ":80"
    if netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{u.scheme}://{netloc}"


def cross_site_refusal(environ) -> str | None:
    """Why this request must be refused as coming from another site's page (None: it
    comes from the console itself, or from a client that is not a browser)."""
    site = environ.get("HTTP_SEC_FETCH_SITE", "").strip().lower()
    if site and site not in _SAME:
        return (
            f"cross-site request refused (Sec-Fetch-Site: {site}): /cimom accepts "
            "browser requests only from pages of this server (its /console/)"
        )
    origin = environ.get("HTTP_ORIGIN", "").strip()
    if origin and _normal_origin(origin) != own_origin(environ):
        return (
            f"cross-origin request refused (Origin {origin} is not {own_origin(environ)}): "
            "/cimom accepts browser requests only from pages of this server (its /console/)"
        )
    return None
