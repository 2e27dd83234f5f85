"""What survives a reboot or a power cut: volume, sound, timer preset and layer.

Three small parts:

* :class:`SavedState` with :func:`dumps` / :func:`loads` (in the core module
  :mod:`sleepsound.saved_state`, re-exported here): pure (de)serialisation
  and validation. A field that is missing or invalid comes back as ``None`` ("use
  the default") with a warning; a corrupt file means all defaults and a warning.
  :func:`loads` never raises.
* :func:`write_atomic` / :func:`save` / :func:`load`: the I/O. A save writes a
  temporary file in the same directory, fsyncs it, renames it over the old file and
  fsyncs the directory, so a reader sees the old state or the new one, never half
  of either, even when the process is killed mid-write.
* :class:`Debouncer`: decides *when* to save. A knob sends a command per detent;
  writing each one would wear out an SD card, so the shell saves only after the
  changes have settled for ``delay_s`` (and at least every ``max_delay_s`` while
  they keep coming).

The shell's loop::

    saved, warning = statefile.load(path)          # at start-up; log the warning
    ...
    for effect in outcome.effects:
        if isinstance(effect, SaveState):
            pending = effect.saved
            debouncer.changed(now_s)
    if debouncer.due(now_s):
        statefile.save(path, pending)
        debouncer.saved()
    # sleep at most until debouncer.deadline(); on shutdown save if debouncer.pending
"""

from __future__ import annotations

import contextlib
import os
from typing import Final

# The model and its JSON form are core (the player builds SavedState); the names stay
# importable from here, where the shell has always found them.
from sleepsound.saved_state import FORMAT_VERSION, SavedState, dumps, loads


def load(path: str | os.PathLike[str]) -> tuple[SavedState, str | None]:
    """Read the state file; a missing or unreadable file means defaults and a warning."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return SavedState(), f"no saved state at {os.fspath(path)}; starting with defaults"
    except OSError as error:
        return SavedState(), f"cannot read saved state ({error}); starting with defaults"
    return loads(data)


def save(path: str | os.PathLike[str], state: SavedState) -> None:
    """Write ``state`` to ``path`` atomically (see :func:`write_atomic`)."""
    write_atomic(path, dumps(state).encode("utf-8"))


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` so that readers never see a partial file.

    Temp file in the same directory (a rename is only atomic within a filesystem),
    fsync the file (its data is on disk before the name points at it), rename over
    the target, fsync the directory (the rename itself survives a power cut). The
    temp name is fixed, so a writer killed mid-write leaves at most one stale temp
    file, which the next save overwrites. One writer at a time (the daemon).
    Raises :class:`OSError` when the directory is missing or not writable.
    """
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    temp = os.path.join(directory, f".{os.path.basename(target)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    os.close(fd)
    os.replace(temp, target)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


MAX_ASIDE: Final = 20
"""Damaged files kept set aside per store; older ones give way to the newest."""


def set_aside(path: str, suffix: str) -> str:
    """Move a damaged ``path`` aside without overwriting one set aside before; the new name.

    ``presets.json`` becomes ``presets.json.bad``, then ``.bad.1``, ``.bad.2``… (a second
    damage must not destroy the first one the user may still want), up to
    :data:`MAX_ASIDE`, where the last name is reused. Raises :class:`OSError`.
    """
    candidates = [path + suffix] + [f"{path}{suffix}.{n}" for n in range(1, MAX_ASIDE)]
    aside = next((name for name in candidates if not os.path.lexists(name)), candidates[-1])
    os.replace(path, aside)
    return aside


class Debouncer:
    """Decides when a burst of changes has settled enough to be written once.

    Pure: it reads no clock; the caller passes monotonic seconds. A save is due
    ``delay_s`` after the *last* change, or ``max_delay_s`` after the *first*
    unsaved one, whichever comes first, so a knob turned for minutes still gets
    saved now and then.
    """

    def __init__(self, delay_s: float, max_delay_s: float | None = None) -> None:
        if delay_s < 0:
            raise ValueError("delay_s must not be negative")
        self.delay_s = delay_s
        self.max_delay_s = max(delay_s, max_delay_s if max_delay_s is not None else 6 * delay_s)
        self._first: float | None = None
        self._last: float | None = None

    @property
    def pending(self) -> bool:
        """True while a change has not been saved yet (save it on shutdown)."""
        return self._last is not None

    def changed(self, now_s: float) -> None:
        """Note a change at ``now_s``."""
        if self._first is None:
            self._first = now_s
        self._last = now_s

    def deadline(self) -> float | None:
        """The monotonic time at which a save becomes due, or ``None`` if nothing is pending."""
        if self._first is None or self._last is None:
            return None
        return min(self._last + self.delay_s, self._first + self.max_delay_s)

    def due(self, now_s: float) -> bool:
        """True when the pending change should be written now (does not clear it)."""
        deadline = self.deadline()
        return deadline is not None and now_s >= deadline

    def saved(self) -> None:
        """Note that the pending change has been written."""
        self._first = self._last = None


__all__ = [
    "FORMAT_VERSION",
    "Debouncer",
    "SavedState",
    "dumps",
    "load",
    "loads",
    "save",
    "set_aside",
    "write_atomic",
]
