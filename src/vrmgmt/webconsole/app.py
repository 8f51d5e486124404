"""The WSGI application of `vrmgmt serve` with the console: /console and /console/...
are the console's static files, a browser's GET of / is sent to /console/, everything
else goes to the CIM-XML application (vrmgmt.server.app.CIMApp), which also answers the
console's own requests on /cimom."""

from __future__ import annotations

from vrmgmt.webconsole.guard import SECURITY_HEADERS
from vrmgmt.webconsole.static import PREFIX, StaticFiles


class ConsoleRouter:
    def __init__(self, cim_app, static: StaticFiles):
        self.cim_app = cim_app
        self.static = static

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.static(environ, start_response)
        if path == "/" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            body = b"the web console is at /console/\n"
            start_response(
                "302 Found",
                [
                    ("Location", PREFIX + "/"),
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    *SECURITY_HEADERS,
                ],
            )
            return [body]
        return self.cim_app(environ, start_response)
