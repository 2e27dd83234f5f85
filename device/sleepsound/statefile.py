"""What survives a reboot or a power cut: volume, sound, timer preset and layer.

Three small parts:

* :class:`SavedState` with :func:`dumps` / :func:`loads`: pure (de)serialisation
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
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.commands import MIN_SLEEP_TIMER_MIN, check_sound_name
from sleepsound.errors import CommandError

FORMAT_VERSION: Final = 1


@dataclass(frozen=True)
class SavedState:
    """The settings worth keeping across restarts; ``None`` means "use the default"."""

    volume: float | None = None
    """The user's volume 0–100 (never the sleep fade's momentary level)."""
    sound: str | None = None
    """The selected sound id."""
    sleep_timer: float | None = None
    """The timer preset in minutes (0 = off)."""
    layer_sound: str | None = None
    layer_volume: float | None = None
    layer_on: bool = False


def dumps(state: SavedState) -> str:
    """Serialise ``state`` as a small, human-readable JSON document."""
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "volume": state.volume,
        "sound": state.sound,
        "sleep_timer": state.sleep_timer,
        "layer": {
            "sound": state.layer_sound,
            "volume": state.layer_volume,
            "on": state.layer_on,
        },
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def loads(text: str | bytes) -> tuple[SavedState, str | None]:
    """Parse a saved document; return the state and a warning (``None`` when all was well).

    Never raises: unreadable JSON gives all defaults, an invalid field gives that
    field's default, and the warning says which.
    """
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        return SavedState(), f"saved state is corrupt ({error}); starting with defaults"
    except RecursionError:  # deep brackets: "never raises" holds for any file
        return SavedState(), "saved state is corrupt (nested too deeply); starting with defaults"
    if not isinstance(document, dict):
        return SavedState(), "saved state is not a JSON object; starting with defaults"
    problems: list[str] = []
    if document.get("version") != FORMAT_VERSION:
        problems.append(f"unknown version {document.get('version')!r}")
    volume = _number(document, "volume", 0.0, 100.0, problems)
    sound = _name(document, "sound", problems)
    sleep_timer = _number(document, "sleep_timer", 0.0, 720.0, problems)
    if sleep_timer is not None and 0 < sleep_timer < MIN_SLEEP_TIMER_MIN:
        # Restored, a timer of 1e-300 minutes would end every later play at once.
        problems.append(f"sleep_timer {sleep_timer:g} is below {MIN_SLEEP_TIMER_MIN:g} minute")
        sleep_timer = None
    layer = document.get("layer")
    layer_sound = layer_volume = None
    layer_on = False
    if isinstance(layer, dict):
        layer_sound = _name(layer, "sound", problems, "layer.")
        layer_volume = _number(layer, "volume", 0.0, 100.0, problems, "layer.")
        on = layer.get("on", False)
        if isinstance(on, bool):
            layer_on = on and layer_sound is not None
        else:
            problems.append("layer.on is not true or false")
    elif layer is not None:
        problems.append("layer is not an object")
    state = SavedState(volume, sound, sleep_timer, layer_sound, layer_volume, layer_on)
    if problems:
        return state, "saved state has problems (defaults used): " + "; ".join(problems)
    return state, None


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


# -- helpers ---------------------------------------------------------------------------


def _number(
    document: dict[str, Any],
    key: str,
    low: float,
    high: float,
    problems: list[str],
    prefix: str = "",
) -> float | None:
    value = document.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        problems.append(f"{prefix}{key} {value!r} is not a number from {low:g} to {high:g}")
        return None
    return float(value)


def _name(document: dict[str, Any], key: str, problems: list[str], prefix: str = "") -> str | None:
    value = document.get(key)
    if value is None:
        return None
    try:
        return check_sound_name(value, prefix + key)
    except CommandError:
        problems.append(f"{prefix}{key} {value!r} is not a sound id")
        return None
