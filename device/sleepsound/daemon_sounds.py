"""The daemon's view of the sound library: ids in catalogue order, id -> spec, the opener.

A small adapter over :mod:`sleepsound.library`, kept apart so the daemon depends on
four calls only: :meth:`DaemonSounds.ids`, :meth:`~DaemonSounds.specs`,
:attr:`~DaemonSounds.open_source` (the engine's source factory: textures,
generators and files at matched loudness) and ``on_change`` (files added to or
removed from ``[sounds] dir``). Loudness measurements are cached in
``loudness_cache`` so each sound is measured once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sleepsound.engine import SourceFactory
from sleepsound.library.loudness import LoudnessCache, LoudnessService
from sleepsound.library.opener import SoundOpener, open_builtin
from sleepsound.library.service import SoundLibrary
from sleepsound.sources.generators import GENERATOR_NAMES

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 5.0
"""How often the sounds folder is listed for new or removed files."""


class DaemonSounds:
    """Sound ids for ``next``/``previous``, their source specs, and the opener."""

    def __init__(
        self,
        directory: str | None,
        loudness_cache: Path | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._on_change = on_change
        self.library = SoundLibrary(
            Path(directory) if directory else None,
            on_change=(lambda catalog, diff: self._changed()) if on_change else None,
        )
        builtins = {preset.spec: preset.path for preset in self.library.presets.presets}
        self.loudness = LoudnessService(
            LoudnessCache(loudness_cache), open_builtin=open_builtin, builtin_presets=builtins
        )
        self._opener = SoundOpener(self.loudness)

    def refresh(self) -> None:
        """Scan the folder now (at start-up and on reload)."""
        self.library.refresh()
        for problem in self.library.catalog.problems:
            log.warning("sounds: %s", problem)

    def start(self) -> None:
        """Watch the folder for changes and measure loudness in the background."""
        self.loudness.start()
        self.library.start_watching(WATCH_INTERVAL_S)

    def stop(self) -> None:
        """Stop the background threads."""
        self.library.stop()
        self.loudness.stop()

    def ids(self) -> list[str]:
        """Every playable id in catalogue order (generators first if no preset lists them)."""
        entries = self.library.catalog.entries
        return [name for name in GENERATOR_NAMES if name not in entries] + list(entries)

    def specs(self) -> dict[str, str]:
        """Id -> source spec, for the ids whose spec is not the id itself."""
        return {
            sound_id: entry.spec
            for sound_id, entry in self.library.catalog.entries.items()
            if entry.spec != sound_id
        }

    @property
    def open_source(self) -> SourceFactory:
        """The engine's source factory for these specs."""
        return self._opener

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
