"""The sounds folder as the phone page changes it: upload, sidecar edit, delete.

An upload is streamed into a hidden file in the sounds folder (the library scan skips
dot files), capped in size while it arrives, checked with the library's own probe
(:func:`~sleepsound.library.scan.probe_audio`: the first and last frames decode), then
linked into place under a name made by the library's slug rules: atomically, never
over an existing file and never through a symlink. Whatever goes wrong (too big, not
audio, the disk full) removes the hidden file: nothing half-written is ever left.
The client's file name only gives the stem and the extension; no path is taken from it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from sleepsound.errors import SleepsoundError, SoundFileError
from sleepsound.library.scan import AUDIO_SUFFIXES, SIDECAR_SUFFIX, probe_audio
from sleepsound.sources.metadata import SoundMeta, apply_fields, default_title
from sleepsound.sources.slug import slugify

CHUNK_BYTES: Final = 64 * 1024
EDITABLE: Final = ("title", "category", "triggers")
"""What the page's editor writes into a sidecar; other sidecar keys are kept."""


MAX_TITLE_CHARS: Final = 200


def upload_title(client_name: str) -> str:
    """The title a file name given by a browser makes: its stem, ``_`` as spaces, without
    control, format or undecodable characters (``a%00b``, ``\\ufffd``), at most
    :data:`MAX_TITLE_CHARS` characters. Empty when nothing readable is left."""
    stem = client_name.replace("\\", "/").rsplit("/", 1)[-1].rpartition(".")[0]
    readable = "".join(
        char
        for char in default_title(stem)
        if unicodedata.category(char)[0] != "C" and char != "\ufffd"
    )
    return " ".join(readable.split())[:MAX_TITLE_CHARS].strip()


class Body(Protocol):
    """Where an upload's bytes come from (the request body)."""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; fewer, or none, at the end."""
        ...


class UploadError(SleepsoundError):
    """An upload or edit refused; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Saved:
    """An uploaded sound, in place: its library id and file name."""

    id: str
    name: str


def safe_name(client_name: str) -> str:
    """The folder name for a client's file name: the slug of its stem plus its suffix.

    Only the last path component counts (``../../x.flac`` is ``x.flac``); a suffix
    that is not a sound file the library plays is refused.
    """
    base = client_name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in AUDIO_SUFFIXES:
        kinds = ", ".join(sorted(s.lstrip(".") for s in AUDIO_SUFFIXES))
        raise UploadError(415, f"{base or 'the file'}: not a sound file name; send {kinds}")
    return slugify(stem or "sound") + suffix


class SoundsFolder:
    """Writes into the sounds folder for the page, within the configured caps."""

    def __init__(self, directory: str | Path, max_bytes: int, max_files: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files

    def count(self) -> int:
        """How many sound files the folder (and its sub-folders) holds."""
        total = 0
        for _, _, files in os.walk(self.directory):
            total += sum(1 for f in files if Path(f).suffix.lower() in AUDIO_SUFFIXES)
        return total

    def free_bytes(self) -> int | None:
        """Free space where sounds are kept (``None`` when the folder is missing)."""
        try:
            return shutil.disk_usage(self.directory).free
        except OSError:
            return None

    def save(self, client_name: str, length: int, body: Body) -> Saved:
        """Stream ``length`` bytes of ``body`` into the folder as ``client_name``."""
        name = safe_name(client_name)
        if length > self.max_bytes:
            raise UploadError(413, f"{name}: {_mb(length)} is over the {_mb(self.max_bytes)} cap")
        if not self.directory.is_dir() or self.directory.is_symlink():
            raise UploadError(500, f"{self.directory}: the sounds folder is missing; create it")
        final = self.directory / name
        if os.path.lexists(final):
            raise UploadError(409, f"{name} is already there; delete it first or rename the file")
        if self.count() >= self.max_files:
            raise UploadError(
                507, f"the sounds folder already holds {self.max_files} sounds; delete some first"
            )
        hidden = self.directory / f".upload-{secrets.token_hex(8)}{final.suffix}"
        try:
            self._receive(hidden, length, body, name)
            try:
                probe_audio(hidden, client_name)
            except SoundFileError as error:
                raise UploadError(422, str(error)) from error
            titled = self._title_sidecar(final, client_name)
            try:
                os.link(hidden, final, follow_symlinks=False)  # never over an existing file
            except FileExistsError as error:
                if titled:
                    os.unlink(final.with_suffix(SIDECAR_SUFFIX))
                raise UploadError(409, f"{name} is already there; delete it first") from error
            _sync_folder(self.directory)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(hidden)
        return Saved(slugify(final.stem), name)

    def _title_sidecar(self, final: Path, client_name: str) -> bool:
        """Keep the name the person gave as the title ("Soft Rain" for soft-rain.flac),
        in a sidecar written before the sound appears; True if one was written."""
        title = upload_title(client_name)
        sidecar = final.with_suffix(SIDECAR_SUFFIX)
        if not title or title == final.stem or os.path.lexists(sidecar):
            return False
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            with os.fdopen(os.open(sidecar, flags, 0o644), "w", encoding="utf-8") as out:
                out.write(to_toml({"title": title}))
        except OSError:
            return False  # the title is a nicety; the sound matters
        return True

    def _receive(self, hidden: Path, length: int, body: Body, name: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(hidden, flags, 0o644)
        except OSError as error:
            raise UploadError(
                500, f"cannot write into the sounds folder ({error.strerror})"
            ) from error
        with os.fdopen(fd, "wb") as out:
            left = length
            try:
                while left > 0:
                    chunk = body.read(min(CHUNK_BYTES, left))
                    if not chunk:
                        raise UploadError(400, f"{name}: the upload stopped before its end")
                    left -= len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            except OSError as error:
                if error.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise UploadError(
                        507, f"{name}: the disk is full; nothing was kept (free some space)"
                    ) from error
                raise UploadError(500, f"{name}: cannot write it ({error.strerror})") from error

    def edit(self, path: Path, fields: Mapping[str, Any]) -> None:
        """Write ``fields`` (title, category, triggers) into the sidecar of ``path``."""
        unknown = sorted(set(fields) - set(EDITABLE))
        if unknown:
            raise UploadError(400, f"cannot edit {', '.join(unknown)}; only {', '.join(EDITABLE)}")
        self._inside(path)
        sidecar = path.with_suffix(SIDECAR_SUFFIX)
        document: dict[str, Any] = {}
        if sidecar.is_symlink():
            raise UploadError(409, f"{sidecar.name} is a link; edit the file it points to")
        with contextlib.suppress(FileNotFoundError):
            try:
                document = tomllib.loads(sidecar.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                document = {}  # a broken sidecar is replaced by what the page wrote
        document.update(fields)
        parsed = apply_fields(document, sidecar.name, SoundMeta(title=path.stem))
        if parsed.problems:
            raise UploadError(400, "; ".join(parsed.problems))
        hidden = path.parent / f".edit-{secrets.token_hex(8)}{SIDECAR_SUFFIX}"
        try:
            hidden.write_text(to_toml(document), encoding="utf-8")
            os.replace(hidden, sidecar)
        except OSError as error:
            raise UploadError(
                507 if error.errno == errno.ENOSPC else 500,
                f"{sidecar.name}: cannot write it ({error.strerror})",
            ) from error
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(hidden)

    def delete(self, path: Path) -> None:
        """Remove a sound file and its sidecar (a link is removed, never its target)."""
        self._inside(path)
        try:
            os.unlink(path)
        except FileNotFoundError as error:
            raise UploadError(404, f"{path.name} is already gone") from error
        except OSError as error:
            raise UploadError(500, f"cannot delete {path.name} ({error.strerror})") from error
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path.with_suffix(SIDECAR_SUFFIX))

    def _inside(self, path: Path) -> None:
        folder = self.directory.resolve()
        if path.parent.resolve() != folder and folder not in path.parent.resolve().parents:
            raise UploadError(403, f"{path.name} is not in the sounds folder")


def to_toml(document: Mapping[str, Any]) -> str:
    """A flat sidecar document as TOML (strings, booleans, numbers, lists of strings)."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in document.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    escaped = "".join(
        c if c not in '"\\' and ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}" for c in text
    )
    return f'"{escaped}"'


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _sync_folder(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["Saved", "SoundsFolder", "UploadError", "safe_name", "to_toml"]
