"""What the page is told: the latest state document, its changes, the library, the device.

:class:`LiveState` is the daemon listener of the web adapter. The command loop hands
it every state document (``on_status``) and every catalogue change (``on_sounds``) on
the loop's thread; it only stores them and wakes the event streams, never blocking.
Each open page holds one stream (:meth:`LiveState.wait_change`) on its own server
thread, asleep until something changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sleepsound.sources.metadata import default_title

LAST_ERRORS: Final = 10


class LiveState:
    """The latest state document and catalogue, with a change counter to wait on."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._document: dict[str, Any] = {}
        self._version = 0
        self._sounds_version = 0
        self._closed = False
        self.sound_ids: tuple[str, ...] = ()
        """The playable ids in catalogue order, as last told (empty: not told yet)."""
        self.errors: deque[dict[str, str]] = deque(maxlen=LAST_ERRORS)
        """The last distinct ``last_error`` values, newest last, with when they came."""

    # -- the daemon's listener interface (the loop's thread) --

    def on_status(self, document: Mapping[str, Any]) -> None:
        """Keep the new document and wake the streams."""
        error = document.get("last_error")
        with self._cond:
            if error and error != self._document.get("last_error"):
                when = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                self.errors.append({"at": when, "error": str(error)})
            if dict(document) != self._document:
                self._document = dict(document)
                self._version += 1
                self._cond.notify_all()

    def on_event(self, event: Mapping[str, Any]) -> None:
        """Events are MQTT's business; the page follows the state."""

    def on_sounds(self, ids: Sequence[str]) -> None:
        """The catalogue changed: pages fetch the sounds list again."""
        with self._cond:
            self.sound_ids = tuple(ids)
            self._sounds_version += 1
            self._cond.notify_all()

    # -- the server's side --

    def document(self) -> dict[str, Any]:
        """The latest state document (a copy)."""
        with self._cond:
            return dict(self._document)

    def marks(self) -> tuple[int, int]:
        """The change counters now: (state, sounds)."""
        with self._cond:
            return self._version, self._sounds_version

    def wait_change(self, seen: tuple[int, int], timeout_s: float) -> tuple[int, int]:
        """Sleep until the counters differ from ``seen`` (or ``timeout_s``, or close)."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or (self._version, self._sounds_version) != seen, timeout_s
            )
            return self._version, self._sounds_version

    @property
    def closed(self) -> bool:
        """True once the adapter stops: streams end."""
        return self._closed

    def close(self) -> None:
        """Wake and end every stream."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def sounds_listing(ids: tuple[str, ...], entries: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The library for the page: id, title, category, triggers, kind, duration.

    ``entries`` are the catalogue's :class:`~sleepsound.library.catalog.SoundEntry`
    objects (what ``sleepsound sounds --json`` prints); an id without an entry is a
    bare generator (``pink-noise``).
    """
    rows = []
    for sound_id in dict.fromkeys((*ids, *entries)):
        entry = entries.get(sound_id)
        if entry is None:
            rows.append(
                {
                    "id": sound_id,
                    "kind": "generator",
                    "title": default_title(sound_id).title(),
                    "category": "noise",
                    "triggers": ["noise"],
                    "duration_s": None,
                    "editable": False,
                }
            )
            continue
        row = entry.to_json()
        row.pop("path", None)  # the page never sees (or sends) a path
        row["editable"] = entry.kind == "file"
        rows.append(row)
    return rows


def sse_message(event: str, data: object) -> bytes:
    """One Server-Sent Events message (``event:`` and a one-line JSON ``data:``)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


__all__ = ["LiveState", "sounds_listing", "sse_message"]
