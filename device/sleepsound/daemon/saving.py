"""The saved state file: read at start-up, written (atomically) when the debounce is due.

Settings survive a restart through it; nothing here may stop the sound, so every
failure is one log line that says what to change.
"""

from __future__ import annotations

import logging
import os

from sleepsound import favourites, favourites_store, statefile
from sleepsound.player import PlayerState

log = logging.getLogger("sleepsound.daemon")


class StateFile:
    """The file at ``path`` (``[state] file``, resolved)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> statefile.SavedState:
        """What was saved (defaults when nothing usable was); make sure the folder exists."""
        saved, warning = statefile.load(self.path)
        if warning:
            log.warning("%s", warning)
        directory = os.path.dirname(self.path) or "."
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as error:
            log.warning(
                "cannot create %s for the saved state: %s; settings will not survive a restart",
                directory,
                error.strerror,
            )
        return saved

    def save(self, saved: statefile.SavedState) -> None:
        """Write ``saved``; a failure is logged with the fix, never raised."""
        try:
            statefile.save(self.path, saved)
        except OSError as error:
            log.error(
                "cannot save the state to %s: %s; set [state] file to a writable place",
                self.path,
                error.strerror or error,
            )
        else:
            log.debug("state saved to %s", self.path)


class PresetFile:
    """``presets.json`` beside the state file: the presets saved at runtime."""

    def __init__(self, state_path: str) -> None:
        self.path = favourites_store.path_beside(state_path)

    def load(self) -> favourites.Presets:
        """The stored presets (none when the file is missing or damaged: logged)."""
        presets, warnings = favourites_store.load(self.path)
        for warning in warnings:
            log.warning("%s", warning)
        return presets

    def save(self, presets: favourites.Presets) -> None:
        """Write ``presets``; a failure is logged with the fix, never raised."""
        try:
            favourites_store.save(self.path, presets)
        except OSError as error:
            log.error(
                "cannot save the presets to %s: %s; set [state] file to a writable place",
                self.path,
                error.strerror or error,
            )
        else:
            log.info("presets saved to %s", self.path)


def log_forgotten(saved: statefile.SavedState, state: PlayerState) -> None:
    """Say so when a saved sound is not in the library (renamed, removed, skipped)."""
    for what, wanted, got in (
        ("sound", saved.sound, state.sound),
        ("layer sound", saved.layer_sound, state.layer.sound),
    ):
        if wanted is not None and wanted != got:
            log.warning(
                "saved %s %r is not in the library (renamed, removed or skipped: see "
                "`sleepsound sounds`); using %s",
                what,
                wanted,
                repr(got) if got else "none",
            )
