"""Talking to a test daemon's phone page over real HTTP, headers and all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from library_helpers import material, write

TIMEOUT_S = 30.0


@dataclass
class Answer:
    """One HTTP response: status, headers, body (and the body as JSON when it is)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def http(
    port: int,
    method: str,
    path: str,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request to 127.0.0.1:``port``; a dict body is sent as JSON. ``Host`` defaults
    to ``localhost:<port>`` (an allowed name) unless ``headers`` give one."""
    sent = {"Host": f"localhost:{port}", **(headers or {})}
    if isinstance(body, dict):
        body = json.dumps(body)
        sent.setdefault("Content-Type", "application/json")
    connection = HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        data = body.encode() if isinstance(body, str) else body
        for name, value in sent.items():
            connection.putheader(name, value)
        if data is not None:
            connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def command(port: int, document: dict[str, Any], **headers: str) -> Answer:
    """``POST /api/command`` with ``document``."""
    return http(port, "POST", "/api/command", document, headers or None)


def upload(port: int, name: str, data: bytes, **headers: str) -> Answer:
    """``POST /api/sounds``: ``data`` as the body, ``name`` in X-Sound-Name."""
    return http(
        port,
        "POST",
        "/api/sounds",
        data,
        {"X-Sound-Name": name, "Content-Type": "application/octet-stream", **headers},
    )


def flac_bytes(folder: Path, seconds: float = 3.0, seed: int = 1) -> bytes:
    """A short stereo FLAC file's bytes (noise, 48 kHz)."""
    path = write(folder / f"made-{seed}.flac", 0.1 * material(seconds, 48000, seed=seed), 48000)
    return path.read_bytes()


def listed_ids(port: int) -> list[str]:
    """The ids ``GET /api/sounds`` lists now."""
    return [row["id"] for row in http(port, "GET", "/api/sounds").json()["sounds"]]


def serving(port: int) -> bool:
    """True once the page answers (the adapter starts just after READY)."""
    try:
        http(port, "GET", "/api/state")  # any answer (200, or 401 with a password) will do
        return True
    except OSError:
        return False
