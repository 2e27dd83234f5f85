"""The library as an immutable snapshot: every playable sound by id.

Pure: built from presets and scanned files, diffed against the previous snapshot
when the folder changes, asked to resolve ids into source specs for the engine.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sleepsound.errors import UnknownSoundError
from sleepsound.sources.file_checks import readable_name
from sleepsound.sources.slug import slugify

if TYPE_CHECKING:
    # Types only: the model reads these objects' fields and never loads presets,
    # parses sidecars or probes files, so the core (the player) never imports the
    # scanner (soundfile) or the sidecar checker (jsonschema).
    from sleepsound.library.scan import FileSound
    from sleepsound.sources.metadata import SoundMeta
    from sleepsound.sources.presets import Preset

SoundKind = Literal["file", "texture", "generator"]


@dataclass(frozen=True)
class SoundEntry:
    """One playable sound."""

    id: str
    kind: SoundKind
    spec: str
    """What the engine opens: a generator name, a texture id or an absolute file path."""
    meta: SoundMeta
    duration_s: float | None = None
    """``None`` for generated sounds (endless)."""
    channels: int | None = None
    rate: int | None = None
    path: Path | None = None
    size: int | None = None
    mtime_ns: int | None = None

    @property
    def identity(self) -> tuple[object, ...]:
        """What changes when the sound changes (used by diffs and the loudness cache)."""
        return (self.kind, self.spec, self.size, self.mtime_ns, self.meta)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description (``sleepsound sounds --json``, MQTT attributes)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.meta.title,
            "category": self.meta.category,
            "triggers": list(self.meta.triggers),
            "voice": self.meta.voice,
            "spatial": self.meta.spatial,
            "loop": self.meta.loop,
            "licence": self.meta.licence,
            "author": self.meta.author,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "channels": self.channels,
            "path": None if self.path is None else readable_name(str(self.path)),
        }


@dataclass(frozen=True)
class CatalogDiff:
    """Ids that appeared, vanished or changed between two snapshots."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """True when anything changed."""
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class Catalog:
    """Every sound by id, plus the messages the scan produced."""

    entries: Mapping[str, SoundEntry] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def ids(self) -> list[str]:
        """All ids: built-ins first (in preset order), then user files by id."""
        return list(self.entries)

    def get(self, sound_id: str) -> SoundEntry:
        """The entry for ``sound_id``; raises :class:`UnknownSoundError` with suggestions."""
        entry = self.entries.get(sound_id)
        if entry is not None:
            return entry
        if "/" in sound_id or "\\" in sound_id or sound_id.startswith("."):
            raise UnknownSoundError(
                f"sounds are named by id, not by path ({sound_id!r}); "
                "run `sleepsound sounds` to list the ids"
            )
        guess = difflib.get_close_matches(sound_id, list(self.entries), n=3)
        hint = f"; did you mean {', '.join(guess)}?" if guess else "; run `sleepsound sounds`"
        raise UnknownSoundError(f"no sound called {sound_id!r}{hint}")

    def resolve(self, sound_id: str) -> str:
        """The source spec the engine opens for ``sound_id`` (the only way from id to file)."""
        return self.get(sound_id).spec

    def select(self, scope: str = "all") -> list[str]:
        """Ids within a rotation scope.

        ``all``; ``user`` (files only); ``builtin``; ``category:<name>``;
        ``trigger:<name>``. An unknown scope form raises :class:`UnknownSoundError`.
        """
        kind, _, value = scope.partition(":")
        entries = self.entries.values()
        if scope == "all":
            chosen: Iterable[SoundEntry] = entries
        elif scope == "user":
            chosen = (e for e in entries if e.kind == "file")
        elif scope == "builtin":
            chosen = (e for e in entries if e.kind != "file")
        elif kind == "category" and value:
            chosen = (e for e in entries if e.meta.category == value)
        elif kind == "trigger" and value:
            chosen = (e for e in entries if value in e.meta.triggers)
        else:
            raise UnknownSoundError(
                f"rotation scope {scope!r} not understood; use all, user, builtin, "
                "category:<name> or trigger:<name>"
            )
        return [e.id for e in chosen]


def preset_entry(preset: Preset) -> SoundEntry:
    """The catalog entry of a built-in preset."""
    return SoundEntry(id=preset.id, kind=preset.kind, spec=preset.spec, meta=preset.meta)


def file_entry(sound_id: str, sound: FileSound) -> SoundEntry:
    """The catalog entry of a scanned user file."""
    return SoundEntry(
        id=sound_id,
        kind="file",
        spec=str(sound.file.path),
        meta=sound.meta,
        duration_s=sound.info.duration_s,
        channels=sound.info.channels,
        rate=sound.info.rate,
        path=sound.file.path,
        size=sound.file.size,
        mtime_ns=sound.file.mtime_ns,
    )


def build_catalog(
    presets: Iterable[Preset],
    files: Iterable[FileSound],
    problems: Iterable[str] = (),
    notes: Iterable[str] = (),
) -> Catalog:
    """Assemble a snapshot; decide ids and settle duplicates deterministically.

    Built-in ids are reserved. Among user files with the same id, the one whose
    relative path sorts first (by code point) keeps it; each other is skipped with
    a message naming both files, so the outcome never depends on listing order.
    """
    entries: dict[str, SoundEntry] = {}
    messages = list(problems)
    for preset in presets:
        entries[preset.id] = preset_entry(preset)
    builtin_ids = set(entries)
    owners: dict[str, str] = {}
    user: dict[str, SoundEntry] = {}
    for sound in sorted(files, key=lambda s: s.file.rel):
        sound_id = slugify(Path(sound.file.rel).stem)
        if sound_id in builtin_ids:
            messages.append(
                f"{sound.file.rel}: id {sound_id!r} belongs to a built-in sound; skipped. "
                "Rename the file."
            )
        elif sound_id in owners:
            messages.append(
                f"{sound.file.rel}: id {sound_id!r} is already taken by {owners[sound_id]}; "
                "skipped. Rename one of them."
            )
        else:
            owners[sound_id] = sound.file.rel
            user[sound_id] = file_entry(sound_id, sound)
    for sound_id in sorted(user):
        entries[sound_id] = user[sound_id]
    return Catalog(entries=entries, problems=tuple(messages), notes=tuple(notes))


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """What changed between two snapshots (ids in sorted order)."""
    before, after = old.entries, new.entries
    return CatalogDiff(
        added=tuple(sorted(set(after) - set(before))),
        removed=tuple(sorted(set(before) - set(after))),
        changed=tuple(
            sorted(i for i in set(before) & set(after) if before[i].identity != after[i].identity)
        ),
    )
