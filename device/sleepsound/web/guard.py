"""Who may use the phone page: allowed Host and Origin, the password, the login limit.

A browser on the home network is not automatically trusted. Every request must name
an allowed ``Host`` (a page on another site that rebinds its DNS name to the device's
address still sends its own name: refused), and a request that carries an ``Origin``
must come from an allowed host too (a page on another site posting to the device:
refused). With a password, a session cookie (HttpOnly, SameSite=Strict) is needed,
got by logging in; failed logins are limited per client address, and the password is
compared in constant time and never logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import secrets
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from sleepsound.errors import ConfigError

COOKIE_NAME: Final = "sleepsound_session"
SESSION_S: Final = 30 * 24 * 3600.0
"""A phone logged in stays logged in for a month (the cookie and the server agree)."""
MAX_SESSIONS: Final = 64
LOGIN_FAILURES: Final = 5
"""Wrong passwords one address may try in :data:`LOGIN_WINDOW_S` before it must wait."""
LOGIN_WINDOW_S: Final = 60.0
ADDRESSES_REFRESH_S: Final = 30.0
"""How stale the device's own address list may be (DHCP may hand out a new one)."""
_SIOCGIFADDR: Final = 0x8915


def host_name_of(header: str) -> str:
    """The name in a ``Host`` header or an origin's netloc, lower case, without the port."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        return header.split(":", 1)[0]
    return header


def device_addresses() -> set[str]:
    """This machine's own IP addresses (every interface, IPv4 and IPv6)."""
    found = {"127.0.0.1", "::1"}
    with contextlib.suppress(OSError):
        for _, name in socket.if_nameindex():
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe,
                contextlib.suppress(OSError),  # an interface without an IPv4 address
            ):
                packed = struct.pack("256s", name.encode()[:15])
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, packed)
                found.add(socket.inet_ntoa(answer[20:24]))
    with contextlib.suppress(OSError), open("/proc/net/if_inet6", encoding="ascii") as table:
        for line in table:
            raw = line.split()[0]
            found.add(str(ipaddress.IPv6Address(int(raw, 16))))
    with contextlib.suppress(OSError):
        for *_, address in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(address[0]).split("%")[0])
    return found


class HostRule:
    """The names a request may use in ``Host`` and ``Origin``."""

    def __init__(
        self,
        extra: Iterable[str] = (),
        *,
        addresses: Callable[[], set[str]] = device_addresses,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        hostname = socket.gethostname().lower()
        self.names = {"localhost", hostname, f"{hostname}.local", *(n.lower() for n in extra)}
        self._addresses = addresses
        self._clock = clock
        self._known: set[str] = addresses()
        self._checked = clock()
        self._lock = threading.Lock()

    def allows(self, host: str) -> bool:
        """True when ``host`` (a name or an address, no port) is one of the device's."""
        host = host.lower().rstrip(".")
        if host in self.names:
            return True
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            return False
        with self._lock:
            if address not in self._known and self._clock() - self._checked > ADDRESSES_REFRESH_S:
                self._known, self._checked = self._addresses(), self._clock()
            return address in self._known

    def allows_host_header(self, header: str | None) -> bool:
        """The ``Host`` header names the device (HTTP/1.1 requires one)."""
        return bool(header) and self.allows(host_name_of(header or ""))

    def allows_origin(self, origin: str | None) -> bool:
        """No ``Origin`` (not a cross-site browser request), or one naming the device."""
        if origin is None:
            return True
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed or file: page) is nobody we know
        return self.allows(host_name_of(parts.netloc))


def read_password(path: str) -> str:
    """The password in ``path`` (its first line); :class:`ConfigError` naming the fix."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            [f"web.password_file: cannot read {path} ({error}); fix it or remove the key"]
        ) from error
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise ConfigError([f"web.password_file: {path} is empty; put the password in it"])
    return password


class Sessions:
    """The password check, the login limit and the session tokens of logged-in browsers."""

    def __init__(self, password: str, clock: Callable[[], float] = time.monotonic) -> None:
        # Digests of equal length: compare_digest then leaks nothing, not even the length.
        self._digest = hashlib.sha256(password.encode()).digest()
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: it may try now)."""
        now = self._clock()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < LOGIN_WINDOW_S]
            self._failures[client] = recent
            if len(recent) < LOGIN_FAILURES:
                return 0.0
            return max(0.0, LOGIN_WINDOW_S - (now - recent[0]))

    def login(self, client: str, password: str) -> str | None:
        """A new session token when ``password`` is right, else ``None`` (counted)."""
        given = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        now = self._clock()
        with self._lock:
            if not hmac.compare_digest(given, self._digest):
                self._failures.setdefault(client, []).append(now)
                if len(self._failures) > 1024:  # a flood of addresses: keep the newest
                    self._failures.pop(next(iter(self._failures)))
                return None
            self._failures.pop(client, None)
            token = secrets.token_urlsafe(32)
            self._tokens = {t: until for t, until in self._tokens.items() if until > now}
            while len(self._tokens) >= MAX_SESSIONS:
                self._tokens.pop(next(iter(self._tokens)))
            self._tokens[token] = now + SESSION_S
            return token

    def valid(self, token: str | None) -> bool:
        """True when ``token`` is a live session."""
        if not token:
            return False
        with self._lock:
            until = self._tokens.get(token)
            return until is not None and until > self._clock()

    def logout(self, token: str | None) -> None:
        """Forget ``token``."""
        with self._lock:
            self._tokens.pop(token or "", None)


def cookie_token(header: str | None) -> str | None:
    """The session token in a ``Cookie`` header, if any."""
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME:
            return value
    return None


def session_cookie(token: str) -> str:
    """The ``Set-Cookie`` value for a new session."""
    return f"{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={int(SESSION_S)}"


__all__ = [
    "COOKIE_NAME",
    "HostRule",
    "Sessions",
    "cookie_token",
    "device_addresses",
    "host_name_of",
    "read_password",
    "session_cookie",
]
