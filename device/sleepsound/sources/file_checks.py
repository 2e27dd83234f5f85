"""What a sound file must be before it is played: pure checks on its header facts.

Shared by the library scan (which refuses a file by name at scan time) and by
every opening of a file (``render``/``play`` of a path, the looped and shuffled
sources), so one rule decides everywhere. Pure: the callers read the bytes.
"""

from __future__ import annotations

import os
import shlex
from typing import Final

from sleepsound.errors import SoundFileError

MIN_RATE_HZ: Final = 8_000
"""Lowest sample rate played: soxr's memory grows with the resampling ratio (a 1 Hz
file took over 1 GB to play at 48 kHz), and below 8 kHz little of a sound is left."""
MAX_RATE_HZ: Final = 192_000
MAX_CHANNELS: Final = 16
MAX_SAMPLES_PER_S: Final = 192_000 * 8
"""Decoding and resampling work per second of sound: a 192 kHz 8-channel file at most."""

CONVERT_HINT: Final = "convert it, e.g. `ffmpeg -i {name} -ar 48000 -ac 2 out.flac`"

SUPPORTED_TEXT: Final = "sleepsound plays WAV, FLAC, OGG (Vorbis, Opus), MP3 and AIFF files"

MPEG_FRAME_SAMPLES: Final = 1152
MPEG_PADDING_FRAMES: Final = 4 * MPEG_FRAME_SAMPLES
"""How far an MP3's frame count may over-report its audio: encoder delay (576),
decoder delay (529) and end padding (under one MPEG frame), with room to spare."""


def check_bounds(rate: int, channels: int, name: str) -> None:
    """Raise :class:`SoundFileError` naming the bound when a file is outside what plays.

    Every file the scan accepts must play in bounded memory and CPU on a Pi.
    """
    hint = CONVERT_HINT.format(name=_quoted(name))
    if rate < MIN_RATE_HZ:
        raise SoundFileError(
            f"{name}: sample rate {rate} Hz is below the {MIN_RATE_HZ} Hz sleepsound plays; {hint}"
        )
    if rate > MAX_RATE_HZ:
        raise SoundFileError(
            f"{name}: sample rate {rate} Hz is above the {MAX_RATE_HZ} Hz sleepsound plays; {hint}"
        )
    if channels > MAX_CHANNELS:
        raise SoundFileError(
            f"{name}: {channels} channels, more than the {MAX_CHANNELS} channels "
            f"sleepsound plays; {hint}"
        )
    if rate * channels > MAX_SAMPLES_PER_S:
        raise SoundFileError(
            f"{name}: {channels} channels at {rate} Hz is more decoding work than a Pi keeps up "
            f"with (at most {MAX_SAMPLES_PER_S} samples a second, e.g. 192 kHz with 8 "
            f"channels); {hint}"
        )


_UNSUPPORTED_MAGIC: Final[tuple[tuple[int, bytes, str], ...]] = (
    (4, b"ftyp", "MP4/M4A (AAC or ALAC)"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "WMA"),
    (0, b"MAC ", "Monkey's Audio (APE)"),
    (0, b"\x1a\x45\xdf\xa3", "WebM/Matroska"),
    (0, b"wvpk", "WavPack"),
    (0, b"#!AMR", "AMR"),
)


def unsupported_format(head: bytes) -> str | None:
    """The name of a known audio format sleepsound cannot play, from a file's first bytes."""
    for offset, magic, label in _UNSUPPORTED_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return label
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "AAC (ADTS)"  # MPEG-2/4 AAC sync word with layer bits 00, unlike MP3's
    return None


def unsupported_message(name: str, label: str) -> str:
    """What to tell the user about a file in a format that is not played."""
    return (
        f"{name}: {label} files are not supported ({SUPPORTED_TEXT}); "
        f"convert it, e.g. `ffmpeg -i {_quoted(name)} out.flac`"
    )


def mpeg_declares_length(head: bytes) -> bool:
    """True when an MP3 states its exact length (a Xing, Info or VBRI header).

    Without one, the decoder estimates the frame count from the file size, so the
    count says nothing about truncation (and may over-report by the size of tags
    and cover art). ``head`` is the file's first bytes (at least ~64 KB past any
    ID3v2 tag is plenty; a tag larger than ``head`` simply reads as "no header").
    """
    sync = _find_sync(head, after_id3v2(head))
    if sync < 0:
        return False
    # The tag sits inside the first frame, after the side information (at most 36 bytes
    # in) for Xing/Info, or at 36 for VBRI: searching the first 200 bytes covers both.
    first = head[sync : sync + 200]
    return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))


_L3_KBPS: Final = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2.5
}
_RATES_HZ: Final = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mpeg_vbr_without_length(head: bytes) -> bool:
    """True for a VBR MP3 without a length header (rare: ``lame -t``).

    libsndfile then estimates the length from the first frame's bitrate and stops
    decoding there, so only part of the file plays. Found by walking the frame
    headers in ``head``: their bitrates differ.
    """
    if mpeg_declares_length(head):
        return False
    index = _find_sync(head, after_id3v2(head))
    bitrates: set[int] = set()
    frames = 0
    while index >= 0 and index + 4 <= len(head) and frames < 200:
        b0, b1, b2 = head[index], head[index + 1], head[index + 2]
        version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
        rate_index, kbps_index = (b2 >> 2) & 3, b2 >> 4
        if b0 != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or layer != 1 or rate_index == 3:
            break
        if not 0 < kbps_index < 15:
            break
        kbps = _L3_KBPS[version][kbps_index]
        per_frame = 144_000 if version == 3 else 72_000
        length = per_frame * kbps // _RATES_HZ[version][rate_index] + ((b2 >> 1) & 1)
        bitrates.add(kbps)
        frames += 1
        index += length
    return frames >= 8 and len(bitrates) > 1


def after_id3v2(head: bytes) -> int:
    """Where the audio starts: just past an ID3v2 tag (cover art may make it large)."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)  # syncsafe: 7 bits a byte
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _find_sync(data: bytes, start: int) -> int:
    index = data.find(b"\xff", start)
    while 0 <= index < len(data) - 1:
        if data[index + 1] & 0xE0 == 0xE0:
            return index
        index = data.find(b"\xff", index + 1)
    return -1


def _quoted(name: str) -> str:
    return shlex.quote(name)


def not_readable_message(name: str, reason: str, head: bytes = b"") -> str:
    """What to tell the user when libsndfile cannot open a file, in their words not its.

    ``head`` (the file's first bytes) tells a damaged MP3 from something that is no
    sound at all: libsndfile words both "possibly a pipe?".
    """
    if head[:3] == b"ID3" or _find_sync(head[:4], 0) == 0:
        return f"{name}: damaged or cut-short MP3 (it cannot be decoded)"
    lowered = reason.lower()
    if "not recognised" in lowered or "possibly a pipe" in lowered or "unknown format" in lowered:
        return f"{name}: not a sound file ({SUPPORTED_TEXT})"
    return f"{name}: damaged or unreadable sound file ({reason.rstrip('.')})"


def readable_name(text: str) -> str:
    """``text`` (a file name or path from the file system) as proper Unicode.

    Python keeps undecodable bytes of a file name as lone surrogates, which no JSON
    document may hold. A name that is not UTF-8 comes from an older system: it is read
    as Windows-1252 (a superset of Latin-1 for every printable character), and bytes
    that are not even that as Latin-1, so ``Caf\\xe9.wav`` reads as ``Café.wav``.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = os.fsencode(text)
        except UnicodeEncodeError:  # a lone surrogate that did not come from a file name
            return text.encode("utf-8", "replace").decode("utf-8")
        # Part by part: a UTF-8 folder may hold one file named on an older system.
        return "/".join(_decode_part(part) for part in raw.split(b"/"))
    return text


def _decode_part(raw: bytes) -> str:
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")
