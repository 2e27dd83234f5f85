"""Finding user sound files in ``[sounds] dir``: listing, probing, sidecars.

The adapters here touch the file system and hold no policy; what to make of what
they found (ids, duplicates, which file wins) is decided in :mod:`catalog`.

Bad input never stops a scan: a file that cannot be used is skipped with a message
naming it, and everything else loads.
"""

from __future__ import annotations

import os
import shlex
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import soundfile as sf

from sleepsound.errors import SoundFileError, UnknownSoundError
from sleepsound.sources.file_checks import (
    mpeg_vbr_without_length,
    not_readable_message,
    readable_name,
    unsupported_message,
)
from sleepsound.sources.metadata import SoundMeta, default_title, parse_sidecar
from sleepsound.sources.soundfiles import decoded_end, open_sound_file, read_start

AUDIO_SUFFIXES: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"}
)
"""Files libsndfile decodes for us."""

UNSUPPORTED_AUDIO: frozenset[str] = frozenset({".m4a", ".aac", ".wma", ".mp4", ".ape", ".webm"})
SIDECAR_SUFFIX = ".toml"
_PROBE_FRAMES = 1024


@dataclass(frozen=True)
class FileStat:
    """One regular file found in the sounds folder."""

    rel: str
    """Path relative to the sounds folder, with ``/`` separators."""
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Listing:
    """What a walk of the sounds folder found."""

    audio: tuple[FileStat, ...]
    sidecars: dict[str, FileStat]
    """Sidecars keyed by their rel path without suffix (``sub/Soft Whispers``)."""
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    """Harmless things worth knowing (ignored non-audio files)."""

    def snapshot(self) -> frozenset[tuple[str, int, int]]:
        """(name, size, mtime_ns) of every file that matters: the watcher compares these."""
        files = list(self.audio) + list(self.sidecars.values())
        return frozenset((f.rel, f.size, f.mtime_ns) for f in files)


@dataclass(frozen=True)
class AudioInfo:
    """What a quick probe of an audio file tells."""

    frames: int
    rate: int
    channels: int
    format: str

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.rate


@dataclass(frozen=True)
class FileSound:
    """A user file that probed fine, with its metadata (id not yet decided)."""

    file: FileStat
    info: AudioInfo
    meta: SoundMeta
    sidecar: FileStat | None = None


def list_directory(root: Path) -> Listing:
    """Walk ``root`` (recursively, not following linked folders) and classify every file."""
    audio: list[FileStat] = []
    sidecars: dict[str, FileStat] = {}
    problems: list[str] = []
    notes: list[str] = []
    try:
        real_root = root.resolve(strict=True)
    except FileNotFoundError:
        message = f"{root}: sounds folder does not exist; create it or fix [sounds] dir"
        return Listing((), {}, (message,), ())
    except OSError as error:
        return Listing((), {}, (f"{root}: sounds folder not readable ({error})",), ())
    if not real_root.is_dir():
        return Listing((), {}, (f"{root}: sounds folder is not a folder",), ())

    def on_error(error: OSError) -> None:
        folder = readable_name(str(error.filename))
        problems.append(f"{folder}: cannot list folder ({error.strerror}); skipped")

    for dirpath, dirnames, filenames in os.walk(real_root, onerror=on_error):
        folder = Path(dirpath)
        for name in sorted(dirnames):
            if (folder / name).is_symlink():
                rel = readable_name((folder / name).relative_to(real_root).as_posix())
                notes.append(f"{rel}: linked folder not followed")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue  # hidden files, partial downloads, editor droppings
            path = folder / name
            # Names shown and turned into ids are proper text even when the bytes are
            # not UTF-8 (Latin-1 from an old share); ``path`` keeps the real name.
            rel = readable_name(path.relative_to(real_root).as_posix())
            suffix = path.suffix.lower()
            if suffix not in AUDIO_SUFFIXES and suffix != SIDECAR_SUFFIX:
                if suffix in UNSUPPORTED_AUDIO:
                    problems.append(unsupported_message(rel, suffix))
                else:
                    notes.append(f"{rel}: not a sound file, ignored")
                continue
            found = _stat_inside(path, rel, real_root)
            if isinstance(found, str):
                problems.append(found)
                continue
            if suffix == SIDECAR_SUFFIX:
                sidecars[rel[: -len(SIDECAR_SUFFIX)]] = found
            else:
                audio.append(found)
    return Listing(tuple(audio), sidecars, tuple(problems), tuple(notes))


def _stat_inside(path: Path, rel: str, real_root: Path) -> FileStat | str:
    """Stat a file, refusing links that leave the folder; a message when it is unusable."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return f"{rel}: broken link; skipped (remove it or point it at a file)"
        if not target.is_relative_to(real_root):
            return (
                f"{rel}: link points outside the sounds folder ({readable_name(str(target))}); "
                "skipped. "
                "Copy the file into the folder instead."
            )
    try:
        st = path.stat()
    except OSError as error:
        return f"{rel}: cannot read ({error.strerror}); skipped"
    if not stat.S_ISREG(st.st_mode):
        return f"{rel}: not a regular file; skipped"
    if not os.access(path, os.R_OK):
        return f"{rel}: no permission to read; skipped (chmod a+r it)"
    return FileStat(rel=rel, path=path, size=st.st_size, mtime_ns=st.st_mtime_ns)


def probe_audio(path: Path, name: str) -> AudioInfo:
    """Open an audio file and check that its first and last frames decode.

    Raises :class:`SoundFileError` with the reason when the file is empty, not
    audio, in a format that is not played, outside the bounds of what plays,
    corrupt or truncated; the message names the file as ``name``. An MP3's frame
    count is corrected to where its audio really ends (see :func:`decoded_end`).
    """
    try:
        start_bytes = read_start(path)
        with open_sound_file(str(path), name) as f:
            frames, rate, channels = f.frames, f.samplerate, f.channels
            fmt = f"{f.format}/{f.subtype}"
            head = f.read(min(frames, _PROBE_FRAMES), dtype="float32")
            if len(head) == 0:
                raise SoundFileError(f"{name}: contains no audio (zero length)")
            end = decoded_end(f, start_bytes)
            if end is None:
                # A truncated file has an intact header but cannot reach its end.
                raise SoundFileError(f"{name}: truncated (its end cannot be decoded)")
    except SoundFileError:
        raise
    except UnknownSoundError as error:  # vanished since the listing
        raise SoundFileError(f"{name}: gone while being read") from error
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        reason = str(error).split(":")[-1].strip() or type(error).__name__
        raise SoundFileError(not_readable_message(name, reason)) from error
    return AudioInfo(frames=end, rate=rate, channels=channels, format=fmt)


def read_sound(file: FileStat, sidecar: FileStat | None) -> tuple[FileSound, tuple[str, ...]]:
    """Probe ``file`` and read its sidecar; raises :class:`SoundFileError` if unusable.

    Sidecar trouble never raises: it degrades to defaults with messages.
    """
    info = probe_audio(file.path, file.rel)
    notes: tuple[str, ...] = ()
    if info.format.startswith("MP3/") and mpeg_vbr_without_length(read_start(file.path)):
        notes = (
            f"{file.rel}: a VBR MP3 without a length header: only its first "
            f"{info.duration_s:.0f} s can be decoded; re-encode it, e.g. "
            f"`ffmpeg -i {shlex.quote(file.rel)} out.flac`",
        )
    stem = Path(file.rel).stem
    defaults = SoundMeta(
        title=default_title(stem),
        spatial="stereo" if info.channels >= 2 else "mono_safe",
    )
    meta, problems = defaults, ()
    if sidecar is not None:
        try:
            text = sidecar.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems = (f"{sidecar.rel}: cannot read sidecar ({error}); using defaults",)
        else:
            parsed = parse_sidecar(text, sidecar.rel, defaults)
            meta, problems = parsed.meta, parsed.problems
    if meta.spatial in ("binaural", "stereo") and info.channels < 2:
        problems = (
            *problems,
            f"{file.rel}: spatial {meta.spatial!r} but the file is mono; using 'mono_safe'",
        )
        meta = replace(meta, spatial="mono_safe")
    return FileSound(file=file, info=info, meta=meta, sidecar=sidecar), (*notes, *problems)


class Scanner:
    """Scans the sounds folder, re-probing only files whose size or mtime changed.

    Holds a cache of earlier probes so a rescan of a large library costs a folder
    walk, not a decode of every file.
    """

    def __init__(self, root: Path) -> None:
        """Prepare to scan ``root``."""
        self.root = Path(root)
        self._cache: dict[tuple[object, ...], tuple[FileSound | None, tuple[str, ...]]] = {}

    def scan(self) -> tuple[Listing, list[FileSound], list[str]]:
        """Walk and probe; return the listing, the usable sounds and every message."""
        listing = list_directory(self.root)
        sounds: list[FileSound] = []
        problems = list(listing.problems)
        fresh: dict[tuple[object, ...], tuple[FileSound | None, tuple[str, ...]]] = {}
        for file in listing.audio:
            stem_rel = file.rel[: -len(Path(file.rel).suffix)]
            sidecar = listing.sidecars.get(stem_rel)
            key = (file, sidecar)
            if key in self._cache:
                result = self._cache[key]
            else:
                if file.size == 0:
                    result = (None, (f"{file.rel}: empty file (zero bytes); skipped",))
                else:
                    try:
                        sound, found = read_sound(file, sidecar)
                        result = (sound, found)
                    except SoundFileError as error:
                        result = (None, (f"{error}; skipped",))
            fresh[key] = result
            if result[0] is not None:
                sounds.append(result[0])
            problems.extend(result[1])
        self._cache = fresh
        audio_stems = {f.rel[: -len(Path(f.rel).suffix)] for f in listing.audio}
        for stem_rel, sidecar in sorted(listing.sidecars.items()):
            if stem_rel not in audio_stems:
                listing = replace(
                    listing, notes=(*listing.notes, f"{sidecar.rel}: no sound file of that name")
                )
        return listing, sounds, problems
