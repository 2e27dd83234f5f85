"""The daemon's view of the sound library: ids in catalogue order, id -> spec, the opener.

A small adapter over :mod:`sleepsound.library`, kept apart so the daemon depends on
a few calls only: :meth:`DaemonSounds.ids`, :meth:`~DaemonSounds.specs`,
:meth:`~DaemonSounds.rotation`, :meth:`~DaemonSounds.entries`,
:attr:`~DaemonSounds.open_source` (the engine's source factory: textures,
generators and files at matched loudness) and ``on_change`` (files added to or
removed from ``[sounds] dir``). Loudness measurements are cached in
``loudness_cache`` so each sound is measured once; files that appear are measured
in the background straight away, so they play at their level from the start.
After each full scan of the folder, the cache forgets files that are gone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from sleepsound.engine import SourceFactory
from sleepsound.errors import UnknownSoundError
from sleepsound.library.catalog import Catalog, CatalogDiff, SoundEntry
from sleepsound.library.loudness import TARGET_LUFS
from sleepsound.library.opener import SoundOpener, SpecCheck, make_loudness_service, spec_checker
from sleepsound.library.segments import SEGMENT_S
from sleepsound.library.service import SoundLibrary
from sleepsound.library.watcher import PollingWatcher
from sleepsound.sources.generators import GENERATOR_NAMES
from sleepsound.sources.slug import slugify

if TYPE_CHECKING:
    from sleepsound.config import Config

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 3.0
"""How often the sounds folder is listed for new or removed files (``[sounds] rescan_s``)."""


class DaemonSounds:
    """Sound ids for ``next``/``previous``, their source specs, and the opener."""

    @classmethod
    def from_config(
        cls,
        config: Config,
        loudness_cache: Path | None,
        on_change: Callable[[], None] | None = None,
    ) -> DaemonSounds:
        """The library as ``config``'s ``[sounds]`` (and output layout) ask for: one
        mapping from config to library, for the daemon and for ``render``/``play``."""
        settings = config.sounds
        return cls(
            settings.dir,
            loudness_cache=loudness_cache,
            on_change=on_change,
            rescan_s=settings.rescan_s,
            loudness_lufs=settings.loudness_lufs,
            non_repeating=settings.non_repeating,
            segment_s=settings.segment_s,
            out_channels=config.audio.channels,
        )

    def __init__(
        self,
        directory: str | None,
        loudness_cache: Path | None = None,
        on_change: Callable[[], None] | None = None,
        *,
        rescan_s: float = WATCH_INTERVAL_S,
        loudness_lufs: float = TARGET_LUFS,
        non_repeating: bool = False,
        segment_s: float = SEGMENT_S,
        out_channels: int = 2,
    ) -> None:
        self._on_change = on_change
        self.rescan_s = rescan_s
        self.library = SoundLibrary(Path(directory) if directory else None, on_change=self._changed)
        # Measured in a worker process: pyloudnorm and scipy never stay in the daemon.
        self.loudness = make_loudness_service(
            self.library.presets,
            loudness_cache,
            loudness_lufs,
            out_channels=out_channels,
            isolate=True,
        )
        self._opener = SoundOpener(self.loudness, non_repeating=non_repeating, segment_s=segment_s)
        self._watcher: PollingWatcher | None = None
        self._logged: set[str] = set()
        self._log_lock = threading.Lock()

    def refresh(self) -> None:
        """Scan the folder now (at start-up and on reload)."""
        self.library.refresh()
        self.loudness.forget_missing_files()
        self._log_problems()

    def start(self) -> None:
        """Watch the folder for changes and measure loudness in the background."""
        # Queued before the worker starts, so every unmeasured file is one batch (one write).
        self.loudness.request_many(
            entry.spec for entry in self.library.catalog.entries.values() if entry.kind == "file"
        )
        self.loudness.start()
        if self._watcher is None and self.library.directory is not None:
            self._watcher = PollingWatcher(self._poll, self.rescan_s)
            self._watcher.start()

    def stop(self) -> None:
        """Stop the background threads; the loudness cache keeps what was measured."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
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

    def entries(self) -> Mapping[str, SoundEntry]:
        """Id -> library entry (what the player asks: is this bed binaural?)."""
        return self.library.catalog.entries

    def skipped(self) -> dict[str, str]:
        """Id a skipped file would have had -> the scan's message saying why.

        So ``play ocean-night`` can answer "skipped: truncated …", not "unknown sound".
        """
        found: dict[str, str] = {}
        for problem in self.library.catalog.problems:
            name, colon, _ = problem.partition(": ")
            if colon and "skipped" in problem:
                found.setdefault(slugify(PurePath(name).stem), problem)
        return found

    def spec_check(self) -> SpecCheck:
        """The player's check of ``id:key=value`` specs, from the presets parsed once."""
        return spec_checker(self.library.presets.presets)

    def rotation(self, scope: str) -> list[str]:
        """The ids ``next``/``previous`` step through for ``[sounds] rotation`` = ``scope``."""
        if scope == "all":
            return self.ids()
        try:
            return self.library.catalog.select(scope)
        except UnknownSoundError as error:
            log.warning("sounds: %s", error)
            return self.ids()

    @property
    def open_source(self) -> SourceFactory:
        """The engine's source factory for these specs."""
        return self._opener

    def _poll(self) -> None:
        """One watcher step; then report any new problem (a corrupt file changes no ids)."""
        if self.library.poll():
            self.loudness.forget_missing_files()
        self._log_problems()

    def _log_problems(self) -> None:
        """Log each scan problem once (every message names its file), again if it recurs."""
        catalog = self.library.catalog
        current = set(catalog.problems)
        with self._log_lock:
            for problem in catalog.problems:
                if problem not in self._logged:
                    log.warning("sounds: %s", problem)
            self._logged = current

    def _changed(self, catalog: Catalog, diff: CatalogDiff) -> None:
        entries = (catalog.entries.get(i) for i in (*diff.added, *diff.changed))
        # In the background, before anyone asks; all at once, so they make one batch.
        self.loudness.request_many(e.spec for e in entries if e is not None and e.kind == "file")
        if self._on_change is not None:
            self._on_change()
