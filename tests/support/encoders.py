"""MP3s from the encoders people really use (lame, sox, ffmpeg), made at test time.

libsndfile can write MP3 itself, but the files makers bring come from other encoders,
with their own headers (Xing/Info or none), padding and ID3v2 tags with cover art;
those are what the scan and the file source must take. Each file is a tone that
glides up in pitch over its last :data:`END_S` seconds (smoothly: no click of its
own), so a test can tell that playback reached the file's real end. The matrix is
written once per test session.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

SECONDS = 4.0
BODY_HZ = 220.0
END_HZ = 440.0
END_S = 2.0
"""The glide from BODY_HZ to END_HZ: only the last 0.7 s of a file rises above
:data:`NEAR_END_HZ`, so hearing that pitch means the decoder got there."""
NEAR_END_HZ = 370.0

CASES = (
    "lame-cbr-44k",
    "lame-vbr-44k",
    "lame-vbr-48k",
    "lame-mono-22k",
    "lame-cbr-no-header",
    "lame-cover-art",
    "sox-44k",
    "sox-48k-192k",
    "sox-mono-22k",
    "sox-mono-44k-vbr-header",
    "ffmpeg-cbr-44k",
    "ffmpeg-vbr-48k",
    "ffmpeg-mono-22k",
    "ffmpeg-cover-art",
    "ffmpeg-cover-art-no-header",
)
"""The 4-second files :func:`make_mp3_matrix` writes (names usable to parametrize tests)."""

LONG_SECONDS = 20.0
LONG_CASES = ("sox-44k-long", "sox-mono-22k-long", "lame-cbr-no-header-long")
"""Longer files without a length header: the size-based frame estimate over-reports by
about 2,000 frames at 20 s (more than the old 1,024-frame tail probe allowed)."""


@dataclass(frozen=True)
class Mp3Case:
    """One encoded file and what went into it."""

    name: str
    path: Path
    rate: int
    channels: int
    seconds: float = SECONDS


def material(rate: int, channels: int, seconds: float = SECONDS) -> np.ndarray:
    """The test signal: BODY_HZ, gliding to END_HZ over the last END_S seconds."""
    t = np.arange(round(seconds * rate)) / rate
    glide = np.clip((t - (seconds - END_S)) / END_S, 0.0, 1.0)
    freq = BODY_HZ + (END_HZ - BODY_HZ) * glide
    phase = 2 * np.pi * np.cumsum(freq) / rate
    mono = (0.3 * np.sin(phase)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def _cover(folder: Path) -> Path:
    """A real JPEG picture (~30 KB) to embed as cover art."""
    cover = folder / "cover.jpg"
    command = "ffmpeg -loglevel error -y -f lavfi -i testsrc=size=480x480:rate=1 -frames:v 1"
    _run([*shlex.split(command), str(cover)])
    return cover


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise RuntimeError(f"{argv[0]} is not installed: run ./scripts/setup")
    subprocess.run(argv, check=True, capture_output=True)


def make_mp3_matrix(folder: Path) -> dict[str, Mp3Case]:
    """Encode the matrix into ``folder``; return the cases by name."""
    folder.mkdir(parents=True, exist_ok=True)
    sources: dict[tuple[int, int, float], Path] = {}
    for rate, channels, seconds in (
        (44100, 2, SECONDS),
        (48000, 2, SECONDS),
        (22050, 1, SECONDS),
        (44100, 1, SECONDS),
        (44100, 2, LONG_SECONDS),
        (22050, 1, LONG_SECONDS),
    ):
        path = folder / f"src-{rate}-{channels}-{seconds:g}s.wav"
        soundfile.write(str(path), material(rate, channels, seconds), rate, subtype="PCM_16")
        sources[rate, channels, seconds] = path
    cover = _cover(folder)
    ff = "ffmpeg -loglevel error -y -i {src}"
    art = "-i {cover} -map 0 -map 1 -c:a libmp3lame -id3v2_version 3"
    recipes: dict[str, tuple[tuple[int, int], str]] = {
        # lame writes a Xing (VBR) or Info (CBR) header with the LAME tag's exact padding.
        "lame-cbr-44k": ((44100, 2), "lame --quiet -b 128 {src} {out}"),
        "lame-vbr-44k": ((44100, 2), "lame --quiet -V 4 {src} {out}"),
        "lame-vbr-48k": ((48000, 2), "lame --quiet -V 2 {src} {out}"),
        "lame-mono-22k": ((22050, 1), "lame --quiet -m m {src} {out}"),
        "lame-cbr-no-header": ((44100, 2), "lame --quiet -t -b 128 {src} {out}"),
        "lame-cover-art": (
            (44100, 2),
            "lame --quiet -b 160 --ti {cover} --tt 'Ocean Night' --ta Someone {src} {out}",
        ),
        # sox (libmp3lame without the Xing header): frames over-reported by the padding.
        "sox-44k": ((44100, 2), "sox {src} {out}"),
        "sox-48k-192k": ((48000, 2), "sox {src} -C 192 {out}"),
        "sox-mono-22k": ((22050, 1), "sox {src} {out}"),
        "sox-mono-44k-vbr-header": ((44100, 1), "sox {src} -C -4.2 {out}"),
        "ffmpeg-cbr-44k": ((44100, 2), f"{ff} -b:a 128k {{out}}"),
        "ffmpeg-vbr-48k": ((48000, 2), f"{ff} -q:a 4 {{out}}"),
        "ffmpeg-mono-22k": ((22050, 1), f"{ff} -b:a 64k {{out}}"),
        "ffmpeg-cover-art": ((44100, 2), f"{ff} {art} -q:a 4 -metadata title=Waves {{out}}"),
        # No Xing header and a 30 KB picture: the size-based estimate over-reports by seconds.
        "ffmpeg-cover-art-no-header": (
            (44100, 2),
            f"{ff} {art} -b:a 128k -write_xing 0 {{out}}",
        ),
    }
    long_recipes = {
        "sox-44k-long": ((44100, 2), "sox {src} {out}"),
        "sox-mono-22k-long": ((22050, 1), "sox {src} {out}"),
        "lame-cbr-no-header-long": ((44100, 2), "lame --quiet -t -b 128 {src} {out}"),
    }
    cases: dict[str, Mp3Case] = {}
    for seconds, batch in ((SECONDS, recipes), (LONG_SECONDS, long_recipes)):
        for name, ((rate, channels), argv) in batch.items():
            out = folder / f"{name}.mp3"
            values = {"src": sources[rate, channels, seconds], "out": out, "cover": cover}
            _run([word.format(**values) for word in shlex.split(argv)])
            cases[name] = Mp3Case(name, out, rate, channels, seconds)
    assert tuple(cases) == CASES + LONG_CASES, "keep CASES in step with the recipes"
    return cases


def truncate(source: Path, target: Path, fraction: float = 1 / 3) -> Path:
    """Write the first ``fraction`` of ``source``'s bytes to ``target`` (a cut download)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target
