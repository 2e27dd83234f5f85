"""The loudness cache: measurements kept in a JSON file, tied to what was measured.

Results are keyed by spec, then by output layout (the output's channel count: a mono
output plays a downmix that can be far louder or quieter than the stereo pair), and
cached against the file's identity (size, mtime_ns) or, for built-in sounds, the
preset's content and the renderer version; the file is written atomically, and a cache
that cannot be read starts afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sleepsound.library.loudness import Measurement

log = logging.getLogger(__name__)

CACHE_VERSION = 2
"""2: one measurement per output layout, of the mapped signal (1 measured the front pair)."""
RENDER_VERSION = 1
"""Bump when the built-in renderers change so their cached loudness is remeasured."""


def file_identity(path: Path) -> str:
    """What ties a measurement to one version of a file: size and mtime_ns."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def builtin_identity(preset_path: Path | None, spec: str) -> str:
    """Identity of a built-in sound: its preset file's content and the renderer version."""
    content = preset_path.read_bytes() if preset_path and preset_path.is_file() else b""
    digest = hashlib.sha1(content + spec.encode()).hexdigest()[:16]
    return f"builtin:{RENDER_VERSION}:{digest}"


CacheWriter = Callable[[Path, dict[str, Any]], None]
"""Writes a cache document to a path (the file system boundary of :class:`LoudnessCache`)."""


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON to ``path``: temporary file, fsync, rename.

    A power cut leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".loudness-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class LoudnessCache:
    """Measurements keyed by spec (file path or built-in spec) and identity.

    The file is JSON, rewritten atomically (:func:`write_json_atomically`). A cache
    that cannot be read is started afresh with a warning. :meth:`put` writes at
    once unless told ``save=False``; then :meth:`save` writes everything pending
    in one go.
    """

    def __init__(self, path: Path | None, writer: CacheWriter = write_json_atomically) -> None:
        """Load the cache at ``path``; ``None`` keeps it in memory only.

        ``writer`` writes the file (tests wrap it to count the writes).
        """
        self.path = path
        self._writer = writer
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                if document.get("version") == CACHE_VERSION:
                    self._entries = dict(document.get("entries", {}))
            except (OSError, ValueError, AttributeError) as error:
                log.warning("loudness cache %s unreadable (%s); measuring afresh", path, error)

    def get(self, key: str, identity: str, out_channels: int = 2) -> Measurement | None:
        """The measurement of ``key`` on ``out_channels`` outputs, if taken of ``identity``."""
        entry = self._entries.get(key)
        if not isinstance(entry, dict) or entry.get("identity") != identity:
            return None
        try:
            return Measurement.from_json(entry["layouts"][str(out_channels)])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    @property
    def dirty(self) -> bool:
        """True while something is stored that the file does not have yet."""
        return self._dirty

    def put(self, key: str, identity: str, measurement: Measurement, *, save: bool = True) -> None:
        """Store a measurement (for its layout); write the file now unless ``save`` is False.

        Other layouts' measurements of the same ``identity`` are kept; a new identity
        (the file changed) drops them.
        """
        with self._lock:
            entry = self._entries.get(key)
            layouts = {}
            if isinstance(entry, dict) and entry.get("identity") == identity:
                layouts = dict(entry.get("layouts") or {})
            layouts[str(measurement.out_channels)] = measurement.to_json()
            self._entries[key] = {"identity": identity, "layouts": layouts}
            self._dirty = True
            if save:
                self._save()

    def prune(self, keep: Callable[[str], bool]) -> list[str]:
        """Forget every entry whose key ``keep`` rejects; return those keys.

        The file is written at the next :meth:`save` (or :meth:`put`).
        """
        with self._lock:
            gone = [key for key in self._entries if not keep(key)]
            for key in gone:
                del self._entries[key]
            self._dirty = self._dirty or bool(gone)
        return gone

    def save(self) -> bool:
        """Write the file if anything changed since the last write; True if it wrote.

        Raises :class:`OSError` when the file cannot be written (it stays pending).
        """
        with self._lock:
            if not self._dirty:
                return False
            self._save()
            return self.path is not None

    def _save(self) -> None:
        """Write the file (the lock is held); memory-only caches just stay clean."""
        if self.path is not None:
            self._writer(self.path, {"version": CACHE_VERSION, "entries": dict(self._entries)})
        self._dirty = False


# ---------------------------------------------------------------- the service
