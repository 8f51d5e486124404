"""The console's static files (package data in static/) at /console/, GET and HEAD only,
with the security headers of guard.py, an ETag and `Cache-Control: no-cache` (a browser
revalidates, so an upgraded server's files are used at once). Only regular files inside
static/ whose path has no hidden component are served; anything else is 404."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from vrmgmt.webconsole.guard import SECURITY_HEADERS

STATIC_DIR = Path(__file__).resolve().parent / "static"
PREFIX = "/console"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


class StaticFiles:
    def __init__(self, root: Path = STATIC_DIR, server_header: str = "vrmgmt"):
        self.root = root.resolve()
        self.server_header = server_header
        self._cache: dict[Path, tuple[int, int, bytes, str]] = {}

    def _file(self, rel: str) -> Path | None:
        parts = [p for p in rel.split("/") if p]
        if any(p.startswith(".") or "\\" in p or "\0" in p for p in parts):
            return None
        path = (self.root.joinpath(*parts) if parts else self.root / "index.html").resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def _read(self, path: Path) -> tuple[bytes, str]:
        st = path.stat()
        hit = self._cache.get(path)
        if hit is not None and hit[:2] == (st.st_mtime_ns, st.st_size):
            return hit[2], hit[3]
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        self._cache[path] = (st.st_mtime_ns, st.st_size, data, etag)
        return data, etag

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "")
        path = environ.get("PATH_INFO", "")
        base = [("Server", self.server_header), *SECURITY_HEADERS]
        if path == PREFIX:  # /console -> /console/ (relative module URLs need the slash)
            return self._plain(
                start_response,
                "308 Permanent Redirect",
                "see /console/",
                [*base, ("Location", PREFIX + "/")],
            )
        if method not in ("GET", "HEAD"):
            return self._plain(
                start_response,
                "405 Method Not Allowed",
                f"{method} is not supported on {PREFIX}/ (GET, HEAD)",
                [*base, ("Allow", "GET, HEAD")],
            )
        f = self._file(path[len(PREFIX) + 1 :])
        if f is None:
            return self._plain(start_response, "404 Not Found", f"no console file {path}", base)
        data, etag = self._read(f)
        ctype = (
            _TYPES.get(f.suffix) or mimetypes.guess_type(f.name)[0] or "application/octet-stream"
        )
        headers = [*base, ("Content-Type", ctype), ("ETag", etag), ("Cache-Control", "no-cache")]
        if etag in [t.strip() for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]:
            start_response("304 Not Modified", [*headers, ("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
        return [b""] if method == "HEAD" else [data]

    @staticmethod
    def _plain(start_response, status: str, message: str, headers) -> list[bytes]:
        body = (message + "\n").encode()
        start_response(
            status,
            [
                *headers,
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]
