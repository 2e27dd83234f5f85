"""Who this device is on the broker and in Home Assistant.

Two ids, for two jobs:

* ``device_id`` names the topics (``sleepsound/bedroom/state``). The user may set
  it; by default it is a slug of the host name.
* ``node_id`` names the device and its entities in Home Assistant (unique ids,
  discovery topics). It must never collide between two devices and must not
  change when someone renames things, so it is a hash of the machine id
  (``/etc/machine-id``) together with the ``device_id``: two Pis both called
  ``raspberrypi`` still differ, and two daemons on one machine differ by their
  ``device_id``.

:func:`node_id` and :func:`hostname_slug` are pure; :func:`read_machine_id` reads
the files.
"""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Final

MACHINE_ID_FILES: Final = ("/etc/machine-id", "/var/lib/dbus/machine-id")
NODE_PREFIX: Final = "sleepsound_"
_NOT_ID = re.compile(r"[^a-z0-9_-]+")
MAX_DEVICE_ID_CHARS: Final = 64


def node_id(machine_id: str, device_id: str) -> str:
    """The stable Home Assistant id of one device: ``sleepsound_<12 hex digits>``."""
    digest = hashlib.sha256(f"{machine_id.strip()}/{device_id}".encode()).hexdigest()
    return NODE_PREFIX + digest[:12]


def hostname_slug(hostname: str) -> str:
    """A ``device_id`` from a host name: ``Bedroom-Pi.local`` -> ``bedroom-pi``."""
    short = hostname.split(".")[0].lower()
    slug = _NOT_ID.sub("-", short).strip("-_")[:MAX_DEVICE_ID_CHARS]
    return slug or "sleepsound"


def read_machine_id(paths: Sequence[str | Path] = MACHINE_ID_FILES) -> str:
    """The machine's id from systemd/dbus; failing those, the host name and MAC address.

    The fallback is stable on one machine as long as its network card stays.
    """
    for path in paths:
        try:
            text = Path(path).read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if text:
            return text
    return f"{socket.gethostname()}-{uuid.getnode():012x}"


def default_device_id() -> str:
    """The ``device_id`` when the config leaves it empty: a slug of this host's name."""
    return hostname_slug(socket.gethostname())
