"""The phone page's HTTP server: the standard library's ThreadingHTTPServer, no framework.

Chosen for a Pi Zero 2 W: no dependency, a few MB of memory, and no CPU while nobody
has the page open (the serving thread sleeps in ``select``; each open page is one
thread asleep on a condition until the state changes). Routes (docs/web.md)::

    GET  /                       the page (the login page first, with a password)
    GET  /<file>                 the page's static files (sleepsound/web/static)
    GET  /api/state              the status document
    GET  /api/events             Server-Sent Events: "state" documents, "sounds" changes
    GET  /api/sounds             the library
    GET  /api/device             version, uptime, MQTT, disk space, last errors
    POST /api/command            one JSON command (the MQTT / control socket vocabulary)
    POST /api/sounds             an upload: the raw file, its name in X-Sound-Name
    POST /api/sounds/<id>/meta   title, category, triggers (JSON)
    POST /api/sounds/<id>/delete remove a file and its sidecar
    POST /api/login, /api/logout with a password_file

Every request must name an allowed Host; a POST with an Origin must come from an
allowed host; state changes only by POST with a JSON body (or an upload's custom
header, which a cross-site form cannot send): see :mod:`~sleepsound.web.guard`.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import logging
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from sleepsound.web.api import WebApi
from sleepsound.web.guard import HostRule, Sessions, cookie_token, session_cookie
from sleepsound.web.state import sse_message

log = logging.getLogger("sleepsound.web")

MAX_JSON_BYTES: Final = 16 * 1024
MAX_STREAMS: Final = 16
"""Open pages followed at once (each holds a thread); more get 503 and retry."""
MAX_CONNECTIONS: Final = 64
"""Connections served at once (each is a thread); the open pages' streams count too."""
KEEPALIVE_S: Final = 15.0
"""A comment line this often on an idle event stream, so a dead phone is noticed."""
IDLE_TIMEOUT_S: Final = 60.0
STATIC_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
PUBLIC: Final = frozenset(
    {"/login.html", "/style.css", "/login.js", "/icon.svg", "/manifest.webmanifest", "/api/login"}
)
"""What a browser without a session may fetch when there is a password."""
HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}
MAX_SKIP_BYTES: Final = 16 * 1024 * 1024
"""The rest of a refused upload up to this size is read and dropped before answering."""
_SOUND_ROUTE: Final = re.compile(r"^/api/sounds/([a-z0-9-]{1,64})/(meta|delete)$")


def load_static() -> dict[str, bytes]:
    """Every file of the page, by URL path, read once at start (they are small)."""
    folder = importlib.resources.files("sleepsound.web").joinpath("static")
    return {f"/{item.name}": item.read_bytes() for item in folder.iterdir() if item.is_file()}


class CountingReader:
    """A request body that counts what was read from it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes."""
        data: bytes = self._raw.read(size)
        self.count += len(data)
        return data


class WebServer(ThreadingHTTPServer):
    """The listening server; binds in the constructor (an ``OSError`` if it cannot)."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], api: WebApi, rule: HostRule, sessions: Sessions | None
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        self.api = api
        self.rule = rule
        self.sessions = sessions
        self.static = load_static()
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on a thread of its own, unless all places are taken (then
        it is closed at once: a flood of connections never grows the threads without end)."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """One connection's thread; gives its place back when it ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Handler(BaseHTTPRequestHandler):
    """One request: the guard first, then the route."""

    server: WebServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed ACK
    timeout = IDLE_TIMEOUT_S
    server_version = "sleepsound"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are logged at debug level only (never a body, so never a password)."""
        log.debug("%s %s", self.address_string(), format % args)

    # -- guard ------------------------------------------------------------------------

    def _allowed(self, path: str, changing: bool) -> bool:
        rule = self.server.rule
        if not rule.allows_host_header(self.headers.get("Host")):
            self._json(
                403,
                {
                    "status": "error",
                    "error": "this host name is not allowed; add it to [web] allowed_hosts",
                },
            )
            return False
        if changing and not rule.allows_origin(self.headers.get("Origin")):
            self._json(403, {"status": "error", "error": "requests from other sites are refused"})
            return False
        sessions = self.server.sessions
        if sessions is None or path in PUBLIC or sessions.valid(self._token()):
            return True
        if path.startswith("/api/"):
            self._json(401, {"status": "error", "error": "log in first"})
        else:
            self._send(303, b"", "text/plain", {"Location": "/login.html"})
        return False

    def _token(self) -> str | None:
        return cookie_token(self.headers.get("Cookie"))

    # -- GET ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        """Pages and reads; nothing here changes anything."""
        path = urlsplit(self.path).path
        if not self._allowed(path, changing=False):
            return
        api = self.server.api
        if path == "/api/events":
            self._events()
        elif path == "/api/state":
            self._json(*api.state())
        elif path == "/api/sounds":
            self._json(*api.sounds())
        elif path == "/api/device":
            self._json(*api.device())
        else:
            self._static("/index.html" if path == "/" else path)

    def do_HEAD(self) -> None:
        """Refused: nothing needs it, and a bodiless GET is one more path to guard."""
        self._send(405, b"", "text/plain", {"Allow": "GET, POST"})

    def _static(self, path: str) -> None:
        body = self.server.static.get(path)
        if body is None or path.startswith("/api/"):
            self._json(404, {"status": "error", "error": f"nothing at {path[:80]}"})
            return
        kind = STATIC_TYPES.get(path[path.rfind(".") :], "application/octet-stream")
        self._send(200, body, kind, {"Cache-Control": "no-cache"})

    def _events(self) -> None:
        streams = self.server.streams
        if not streams.acquire(blocking=False):
            self._json(503, {"status": "error", "error": "too many open pages"})
            return
        live = self.server.api.live
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            seen = live.marks()
            self.wfile.write(b"retry: 1000\n" + sse_message("state", live.document()))
            self.wfile.flush()
            while not live.closed:
                marks = live.wait_change(seen, KEEPALIVE_S)
                if live.closed:
                    break
                out = b": idle\n\n" if marks == seen else b""
                if marks[0] != seen[0]:
                    out += sse_message("state", live.document())
                if marks[1] != seen[1]:
                    out += sse_message("sounds", {})
                seen = marks
                self.wfile.write(out)
                self.wfile.flush()
        except OSError:
            pass  # the page went away
        finally:
            streams.release()

    # -- POST -------------------------------------------------------------------------

    def do_POST(self) -> None:
        """Every change: commands, uploads, edits, deletes, login."""
        path = urlsplit(self.path).path
        if not self._allowed(path, changing=True):
            self._drain()
            return
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._json(411, {"status": "error", "error": "send a Content-Length"})
            return
        length = self._length()
        if length is None:
            return
        if path == "/api/sounds":
            name = unquote(self.headers.get("X-Sound-Name", ""))
            if not name:
                self._drain()
                self._json(400, {"status": "error", "error": "name the file in X-Sound-Name"})
                return
            body = CountingReader(self.rfile)
            status, answer = self.server.api.upload(name, length, body)
            if status >= 400:
                self._skip(length - body.count)
            self._json(status, answer)
            return
        body = self._json_body(length)
        if body is None:
            return
        api = self.server.api
        matched = _SOUND_ROUTE.match(path)
        if path == "/api/command":
            self._json(*api.command(body))
        elif path == "/api/login":
            self._login(body)
        elif path == "/api/logout":
            if self.server.sessions is not None:
                self.server.sessions.logout(self._token())
            self._json(200, {"status": "ok"})
        elif matched and matched.group(2) == "meta":
            self._json(*api.edit(matched.group(1), body))
        elif matched:
            self._json(*api.delete(matched.group(1)))
        else:
            self._json(404, {"status": "error", "error": f"nothing at {path[:80]}"})

    def _length(self) -> int | None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._json(411, {"status": "error", "error": "send a Content-Length"})
            return None
        return length

    def _json_body(self, length: int) -> bytes | None:
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            self.close_connection = True
            self._json(
                415, {"status": "error", "error": "send JSON (Content-Type: application/json)"}
            )
            return None
        if length > MAX_JSON_BYTES:
            self.close_connection = True
            self._json(413, {"status": "error", "error": "the request is too large"})
            return None
        return self.rfile.read(length)

    def _drain(self) -> None:
        self.close_connection = True  # a refused body is never read

    def _skip(self, left: int) -> None:
        """Read and drop the rest of a refused upload when it is small, so the browser gets
        the answer rather than a reset connection; a large rest closes the connection."""
        self.close_connection = True
        if left > MAX_SKIP_BYTES:
            return
        with contextlib.suppress(OSError):
            while left > 0 and (chunk := self.rfile.read(min(left, 64 * 1024))):
                left -= len(chunk)

    def _login(self, body: bytes) -> None:
        sessions = self.server.sessions
        if sessions is None:
            self._json(200, {"status": "ok"})
            return
        client = self.client_address[0]
        wait_s = sessions.wait_s(client)
        if wait_s > 0:
            self._json(
                429,
                {"status": "error", "error": f"too many tries; wait {wait_s:.0f} s"},
                {"Retry-After": str(int(wait_s) + 1)},
            )
            return
        try:
            password = json.loads(body).get("password", "")
        except (ValueError, AttributeError):
            password = ""
        token = sessions.login(client, password if isinstance(password, str) else "")
        if token is None:
            self._json(403, {"status": "error", "error": "wrong password"})
            return
        self._json(200, {"status": "ok"}, {"Set-Cookie": session_cookie(token)})

    # -- replies ------------------------------------------------------------------------

    def _json(self, status: int, document: object, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(document, ensure_ascii=False).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store", **(extra or {})})

    def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str]) -> None:
        with contextlib.suppress(OSError):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in {**HEADERS, **extra}.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)


__all__ = ["Handler", "WebServer", "load_static"]
