"""The live library: the current catalog, kept up to date with the sounds folder.

Thread-safe: the watcher thread replaces the catalog snapshot; readers (the
command loop, MQTT, the CLI) take whichever snapshot is current. Snapshots are
immutable, so a reader never sees half a rescan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sleepsound.library.catalog import Catalog, CatalogDiff, build_catalog, diff_catalogs
from sleepsound.library.scan import Scanner, list_directory
from sleepsound.library.watcher import WatchState, next_poll
from sleepsound.sources.presets import PresetSet, load_presets

log = logging.getLogger(__name__)
ChangeCallback = Callable[[Catalog, CatalogDiff], None]


class SoundLibrary:
    """Built-in sounds plus the user's folder, rescanned when it changes.

    ``directory`` may be ``None`` (built-ins only) or not exist yet (it is picked
    up once created). Call :meth:`refresh` once at start-up, then :meth:`poll`
    now and then (a :class:`~sleepsound.library.watcher.PollingWatcher` does it).
    """

    def __init__(
        self,
        directory: Path | None,
        presets: PresetSet | None = None,
        on_change: ChangeCallback | None = None,
    ) -> None:
        """Set up the library; nothing is scanned until :meth:`refresh`."""
        self.directory = None if directory is None else Path(directory).expanduser()
        self.presets = presets if presets is not None else load_presets()
        self.on_change = on_change
        self._scanner = None if self.directory is None else Scanner(self.directory)
        self._lock = threading.Lock()
        self._catalog = build_catalog(self.presets.presets, (), self.presets.problems)
        self._watch = WatchState()

    @property
    def catalog(self) -> Catalog:
        """The current snapshot."""
        return self._catalog

    def resolve(self, sound_id: str) -> str:
        """The engine's source spec for a library id or generator name."""
        return self._catalog.resolve(sound_id)

    def refresh(self) -> CatalogDiff:
        """Rescan the folder now; return what changed (and tell ``on_change`` if anything)."""
        with self._lock:
            problems = list(self.presets.problems)
            notes: list[str] = []
            files = []
            if self._scanner is not None:
                listing, files, found = self._scanner.scan()
                problems.extend(found)
                notes.extend(listing.notes)
                self._watch = WatchState(listing.snapshot(), listing.snapshot())
            new = build_catalog(self.presets.presets, files, problems, notes)
            diff = diff_catalogs(self._catalog, new)
            self._catalog = new
        for message in new.problems:
            log.debug("library: %s", message)
        if diff:
            log.info(
                "library: %d added, %d removed, %d changed",
                len(diff.added),
                len(diff.removed),
                len(diff.changed),
            )
            if self.on_change is not None:
                self.on_change(new, diff)
        return diff

    def poll(self) -> CatalogDiff:
        """One watcher step: list the folder and rescan once a change has settled."""
        if self.directory is None:
            return CatalogDiff()
        snapshot = list_directory(self.directory).snapshot()
        with self._lock:
            self._watch, rescan = next_poll(self._watch, snapshot)
        return self.refresh() if rescan else CatalogDiff()
