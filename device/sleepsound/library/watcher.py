"""Noticing files dropped into (or removed from) the sounds folder, by polling.

Polling compares (name, size, mtime_ns) listings every few seconds: it works on any
file system (SD cards, network shares, FAT USB sticks) and needs no inotify. A rescan
happens only once a changed listing has stayed the same for one whole interval, so a
file still being copied is not probed half-written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

Snapshot = frozenset[tuple[str, int, int]]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchState:
    """What the watcher remembers between polls."""

    scanned: Snapshot | None = None
    """The listing the current catalog was built from."""
    seen: Snapshot | None = None
    """The listing seen at the previous poll."""


def next_poll(state: WatchState, current: Snapshot) -> tuple[WatchState, bool]:
    """Fold one poll's listing into ``state``; the bool says "rescan now".

    Pure. A listing that differs from the scanned one triggers a rescan only when
    it equals the previous poll's (it has settled).
    """
    if current == state.scanned:
        return WatchState(state.scanned, current), False
    if current == state.seen:
        return WatchState(current, current), True
    return WatchState(state.scanned, current), False


class PollingWatcher:
    """A daemon thread that calls ``poll()`` every ``interval_s`` until stopped.

    Holds no policy: ``poll`` does the work (see :meth:`SoundLibrary.poll`). An
    exception in ``poll`` is logged and the watcher carries on.
    """

    def __init__(self, poll: Callable[[], object], interval_s: float = 3.0) -> None:
        """Prepare a watcher; nothing runs until :meth:`start`."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self._poll = poll
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start polling in the background."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sound-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop polling and wait for the thread to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._poll()
            except Exception:  # the watcher must outlive any one bad scan
                log.exception("sound library rescan failed; will try again")
