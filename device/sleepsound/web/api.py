"""The phone page's API, apart from HTTP: each call takes parsed input, returns (status, JSON).

Commands go through the decoder every adapter shares and the daemon's queue, so
``POST /api/command`` gets exactly the reply the control socket and MQTT give. The
library and the device facts are read from what the host hands the adapter; the
sounds folder is written only through :class:`~sleepsound.web.uploads.SoundsFolder`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import sleepsound
from sleepsound.adapter_host import AdapterHost
from sleepsound.command_decoder import decode_command, decode_value, error_reply
from sleepsound.commands import reply_error
from sleepsound.errors import CommandError
from sleepsound.web.state import LiveState, sounds_listing
from sleepsound.web.uploads import Body, SoundsFolder, UploadError

REPLY_TIMEOUT_S: Final = 10.0
"""How long a command waits for the daemon's answer before the page is told so."""
ACTION_ALIASES: Final = {"get": "status"}
"""As on the control socket: ``{"action": "get"}`` asks for the state document."""

Answer = tuple[int, dict[str, Any]]


class WebApi:
    """What each route does, given the adapter's host, live state and sounds folder."""

    def __init__(
        self, host: AdapterHost, live: LiveState, folder: SoundsFolder, *, password: bool = False
    ) -> None:
        self.host = host
        self.password = password
        """Whether the page needs a password (it shows a log-out button)."""
        self.live = live
        self.folder = folder

    def state(self) -> Answer:
        """``GET /api/state``: the status document."""
        return 200, self.live.document()

    def command(self, body: bytes) -> Answer:
        """``POST /api/command``: one JSON command, the daemon's reply (400 when refused)."""
        try:
            command = decode_command(body, action_aliases=ACTION_ALIASES)
        except CommandError as error:
            return 400, error_reply(error)
        done = threading.Event()
        answer: dict[str, Any] = {}

        def reply(document: Mapping[str, Any]) -> None:
            answer.update(document)
            done.set()

        try:
            self.host.submit(command, reply)
        except Exception:  # the daemon is shutting down
            return 503, reply_error("the daemon cannot take commands now; see the log")
        if not done.wait(REPLY_TIMEOUT_S):
            return 504, reply_error("the daemon did not answer in time; try again")
        return (200 if answer.get("status") == "ok" else 400), answer

    def sounds(self) -> Answer:
        """``GET /api/sounds``: the library, in catalogue order."""
        ids = self.live.sound_ids or self.host.sound_ids
        return 200, {"sounds": sounds_listing(tuple(ids), self.host.sound_entries())}

    def device(self) -> Answer:
        """``GET /api/device``: version, uptime, MQTT, disk space, the last errors."""
        usage = _disk(self.folder.directory)
        mqtt = self.host.config.mqtt
        return 200, {
            "version": sleepsound.__version__,
            "uptime_s": _uptime_s(),
            "mqtt": {
                "configured": bool(mqtt.host),
                "broker": mqtt.host or None,
                "connected": self.host.links().get("MQTT"),
            },
            "disk": usage,
            "sounds_dir": str(self.folder.directory),
            "max_upload_bytes": self.folder.max_bytes,
            "password": self.password,
            "last_errors": list(self.live.errors),
        }

    def upload(self, client_name: str, length: int, body: Body) -> Answer:
        """``POST /api/sounds``: a sound file streamed in, checked, put in place."""
        try:
            saved = self.folder.save(client_name, length, body)
        except UploadError as error:
            return error.status, reply_error(error.message)
        return 201, {"status": "ok", "id": saved.id, "name": saved.name}

    def edit(self, sound_id: str, body: bytes) -> Answer:
        """``POST /api/sounds/<id>/meta``: title, category, triggers into the sidecar."""
        try:
            fields = decode_value(body)
            if not isinstance(fields, dict):
                raise UploadError(400, 'send an object such as {"title": "Rain"}')
            self.folder.edit(self._file_of(sound_id), fields)
        except CommandError as error:
            return 400, error_reply(error)
        except UploadError as error:
            return error.status, reply_error(error.message)
        return 200, {"status": "ok", "id": sound_id}

    def delete(self, sound_id: str) -> Answer:
        """``POST /api/sounds/<id>/delete``: the file and its sidecar removed."""
        try:
            self.folder.delete(self._file_of(sound_id))
        except UploadError as error:
            return error.status, reply_error(error.message)
        return 200, {"status": "ok", "id": sound_id}

    def _file_of(self, sound_id: str) -> Path:
        entry = self.host.sound_entries().get(sound_id)
        if entry is None:
            raise UploadError(404, f"no sound {sound_id!r} in the library")
        if entry.kind != "file" or entry.path is None:
            raise UploadError(403, f"{sound_id} is built in; only your own files can change")
        return Path(entry.path)


def _disk(directory: Path) -> dict[str, int] | None:
    try:
        stats = os.statvfs(directory)
    except OSError:
        return None
    return {
        "free_bytes": stats.f_bavail * stats.f_frsize,
        "total_bytes": stats.f_blocks * stats.f_frsize,
    }


def _uptime_s() -> float | None:
    """Seconds since the daemon process started (from /proc; ``None`` elsewhere).

    The boot clock, not ``/proc/uptime``: the service's ``ProcSubset=pid`` hides that file.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            started_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        since_boot_s = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return round(since_boot_s - started_ticks / os.sysconf("SC_CLK_TCK"), 1)


__all__ = ["ACTION_ALIASES", "REPLY_TIMEOUT_S", "WebApi"]
