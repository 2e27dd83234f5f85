"""``presets.json``: the presets saved at runtime, beside the state file. The I/O only.

The format and its checks are :mod:`sleepsound.favourites` (pure); this reads the file
at start-up and writes it with the state file's atomic write whenever a preset is
saved or removed (rare, so not debounced). A damaged file (or one over 1 MiB, never
read whole) is set aside as ``presets.json.bad`` (then ``.bad.1``…, never over an
earlier one) with a warning and the presets start empty: never a crash, and the
user's file is kept for a look.
"""

from __future__ import annotations

import os
from typing import Final

from sleepsound import favourites, statefile

FILE_NAME: Final = "presets.json"
MAX_BYTES: Final = 1024 * 1024
"""A presets file larger than this is damaged (a thousand presets take about 200 KiB)."""


def path_beside(state_path: str) -> str:
    """Where the presets live: ``presets.json`` in the state file's folder."""
    return os.path.join(os.path.dirname(state_path) or ".", FILE_NAME)


def load(path: str) -> tuple[favourites.Presets, list[str]]:
    """The stored presets and warnings (a missing file is no warning); never raises."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)  # never a 100 MB file into a 512 MB Pi
    except FileNotFoundError:
        return (), []
    except OSError as error:
        return (), [f"cannot read the saved presets at {path} ({error.strerror or error})"]
    if len(data) > MAX_BYTES:
        presets, warnings = (), [f"it is over {MAX_BYTES // 1024} KiB, far more than presets take"]
    else:
        presets, warnings = favourites.loads(data)
    if warnings and not presets and data.strip():
        try:
            aside = statefile.set_aside(path, ".bad")
        except OSError as error:
            aside = f"nowhere ({error.strerror or error})"
        return (), [f"the saved presets at {path} are damaged ({warnings[0]}); moved to {aside}"]
    return presets, [f"{path}: {warning}" for warning in warnings]


def save(path: str, presets: favourites.Presets) -> None:
    """Write ``presets`` atomically; raises :class:`OSError` (the caller logs it)."""
    statefile.write_atomic(path, favourites.dumps(presets).encode("utf-8"))


__all__ = ["FILE_NAME", "load", "path_beside", "save"]
