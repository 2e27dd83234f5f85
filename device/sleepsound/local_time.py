"""The time zone programs keep: ``[schedule] timezone``, else the system's local time.

An adapter (it reads ``$TZ`` and ``/etc/localtime``), holding no policy. Linux's own
order is followed: ``$TZ`` when set (``Europe/London`` or ``:Europe/London``), else
``/etc/localtime`` (what ``timedatectl set-timezone`` writes), else UTC.
"""

from __future__ import annotations

import logging
import os
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, tzinfo

log = logging.getLogger(__name__)

LOCALTIME_PATH = "/etc/localtime"


def zone(configured: str | None, environ: Mapping[str, str] | None = None) -> tzinfo:
    """The zone named by the config (already checked), else the system's local zone."""
    if configured:
        return zoneinfo.ZoneInfo(configured)
    return system_zone(os.environ if environ is None else environ)


def system_zone(environ: Mapping[str, str], localtime_path: str = LOCALTIME_PATH) -> tzinfo:
    """The system's local zone: ``$TZ`` if it names a zone, else ``/etc/localtime``, else UTC."""
    name = environ.get("TZ")
    if name:
        key = name.removeprefix(":")
        if key.startswith("/"):
            zone_file = _from_file(key)
            if zone_file is not None:
                return zone_file
        else:
            try:
                return zoneinfo.ZoneInfo(key)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                # A POSIX rule string ("CET-1CEST,M3.5.0,M10.5.0/3") zoneinfo cannot read.
                log.warning(
                    "TZ=%r is not a zone name zoneinfo knows; programs use %s instead "
                    '(set [schedule] timezone = "Area/City" to choose)',
                    name,
                    localtime_path,
                )
    zone_file = _from_file(localtime_path)
    return zone_file if zone_file is not None else UTC


def _from_file(path: str) -> tzinfo | None:
    try:
        with open(path, "rb") as file:
            return zoneinfo.ZoneInfo.from_file(file, key=_key_of(path))
    except (OSError, ValueError):
        return None


def _key_of(path: str) -> str:
    # /etc/localtime -> /usr/share/zoneinfo/Europe/London: name it for the logs.
    real = os.path.realpath(path)
    marker = "/zoneinfo/"
    return real.split(marker, 1)[1] if marker in real else os.path.basename(real)


__all__ = ["system_zone", "zone"]
