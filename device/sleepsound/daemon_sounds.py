"""The daemon's view of the sound library: ids in catalogue order, id -> source spec.

A small adapter, kept apart so it can be swapped for the library's own service in
one place. It offers the built-in generators plus whatever
:class:`~sleepsound.library.service.SoundLibrary` finds (presets and the files in
``[sounds] dir``), and reports changes of the folder through ``on_change``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sleepsound.engine import SourceFactory
from sleepsound.library.service import SoundLibrary
from sleepsound.sources import open_source
from sleepsound.sources.generators import GENERATOR_NAMES

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 5.0
"""How often the sounds folder is listed for new or removed files."""


class DaemonSounds:
    """Sound ids for ``next``/``previous`` and the specs the engine opens."""

    def __init__(self, directory: str | None, on_change: Callable[[], None] | None = None) -> None:
        self._on_change = on_change
        self.library = SoundLibrary(
            Path(directory) if directory else None,
            on_change=(lambda catalog, diff: self._changed()) if on_change else None,
        )

    def refresh(self) -> None:
        """Scan the folder now (at start-up and on reload)."""
        self.library.refresh()
        for problem in self.library.catalog.problems:
            log.warning("sounds: %s", problem)

    def start_watching(self) -> None:
        """Rescan when files are added or removed (a background thread)."""
        self.library.start_watching(WATCH_INTERVAL_S)

    def stop(self) -> None:
        """Stop watching the folder."""
        self.library.stop()

    def ids(self) -> list[str]:
        """Every playable id: generators not listed by the library, then the library's."""
        entries = self.library.catalog.entries
        # Texture presets need the library's own source opener, which the daemon does not
        # use yet; offering them would only produce playback errors.
        playable = [sound_id for sound_id, entry in entries.items() if entry.kind != "texture"]
        return [name for name in GENERATOR_NAMES if name not in entries] + playable

    def resolve(self, sound_id: str) -> str:
        """The source spec for ``sound_id`` (a file path or a generator name)."""
        entry = self.library.catalog.entries.get(sound_id)
        return entry.spec if entry is not None else sound_id

    def specs(self) -> dict[str, str]:
        """Id -> spec for every id whose spec differs from the id (files)."""
        specs = {}
        for sound_id in self.ids():
            spec = self.resolve(sound_id)
            if spec != sound_id:
                specs[sound_id] = spec
        return specs

    @property
    def open_source(self) -> SourceFactory:
        """The engine's source factory for these specs."""
        return open_source

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
