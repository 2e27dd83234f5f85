"""The ``[web]`` config section: the phone page's server, who may reach it, upload caps.

Registered in :data:`sleepsound.config.SECTIONS` as ``"sleepsound.web.settings:WEB_SECTION"``;
read back with ``config.section("web")`` (a :class:`WebConfig`)::

    [web]
    enabled = true
    listen = "0.0.0.0:8080"
    # password_file = "/etc/sleepsound/web-password"
    allowed_hosts = []        # names on top of the host name, <host>.local, addresses, localhost
    max_upload_mb = 200
    max_files = 500
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.config import SectionSpec, integer_schema, number_schema

DEFAULT_LISTEN: Final = "0.0.0.0:8080"


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: the phone page."""

    enabled: bool = True
    """false: no web server at all."""
    listen: str = DEFAULT_LISTEN
    """``address:port`` to serve on (``127.0.0.1:8080`` for this machine only,
    ``[::]:8080`` for IPv6)."""
    password_file: str | None = None
    """A file holding only the page's password; unset: no password (anyone on the
    home network who can reach the device may use the page)."""
    allowed_hosts: tuple[str, ...] = ()
    """Names the page may also be reached by (``sleep.example.lan``), on top of the
    host name, ``<host>.local``, the device's addresses and ``localhost``."""
    max_upload_mb: float = 200.0
    """The largest sound file the page accepts (megabytes, 10^6 bytes)."""
    max_files: int = 500
    """Uploads are refused once the sounds folder holds this many sound files."""


_HOST_NAME: Final = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9.:_-]{1,253}$",
    "x-means": "a host name or address (letters, digits, '.', ':', '-' and '_')",
}

WEB_PROPERTIES: Final = {
    "enabled": {"type": "boolean"},
    "listen": {
        "type": "string",
        "pattern": r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):[0-9]{1,5}$",
        "x-means": "address:port, such as '0.0.0.0:8080' or '[::]:8080'",
    },
    "password_file": {"type": "string", "minLength": 1},
    "allowed_hosts": {"type": "array", "items": _HOST_NAME, "maxItems": 32},
    "max_upload_mb": number_schema(1, 4096),
    "max_files": integer_schema(1, 100_000),
}
"""JSON schema of each ``[web]`` key."""


def _check_web(table: Mapping[str, Any]) -> list[str]:
    listen = table.get("listen")
    if isinstance(listen, str) and ":" in listen:
        port = listen.rsplit(":", 1)[1]
        if port.isdigit() and not 1 <= int(port) <= 65535:
            return [f"web.listen: port {port} is not from 1 to 65535"]
    return []


WEB_SECTION: Final = SectionSpec(WEB_PROPERTIES, WebConfig, _check_web)
"""The ``[web]`` section for :data:`sleepsound.config.SECTIONS`."""


def split_listen(listen: str) -> tuple[str, int]:
    """``"0.0.0.0:8080"`` -> ``("0.0.0.0", 8080)``; ``"[::]:80"`` -> ``("::", 80)``."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


__all__ = ["WEB_SECTION", "WebConfig", "split_listen"]
