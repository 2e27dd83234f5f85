"""Benchmark: library scan and loudness analysis time per hour of audio, and peak memory.

Writes a temporary library (FLAC files of steady noise, plus one long WAV that is
measured by sampling), then prints:

* scan time, cold (every file probed) and warm (nothing changed), per hour of audio;
* analysis time per hour of audio, for whole-file measuring and for a long file
  measured on its bounded sample;
* the process's peak RSS after each phase;
* how many times faster than real time each procedural texture renders.

Usage: ``.venv/bin/python benchmarks/bench_library.py [--hours 0.5] [--long-hours 2]``.
It prints; it asserts nothing (timings on a shared machine are noisy).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from sleepsound.library.loudness_cache import LoudnessCache
from sleepsound.library.loudness_service import LoudnessService
from sleepsound.library.service import SoundLibrary
from sleepsound.sources.texture_engines import open_texture, texture_ids


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_noise(path: Path, seconds: float, rate: int, channels: int, fmt: str) -> None:
    """Write steady noise block by block (the writer itself stays small in memory)."""
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    block = 10 * rate
    with sf.SoundFile(str(path), "w", rate, channels, format=fmt) as out:
        left = round(seconds * rate)
        while left > 0:
            n = min(block, left)
            out.write((rng.standard_normal((n, channels)) * 0.05).astype(np.float32))
            left -= n


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5, help="audio in the library")
    parser.add_argument("--file-min", type=float, default=5.0, help="minutes per file")
    parser.add_argument("--long-hours", type=float, default=2.0, help="one long file (0: none)")
    parser.add_argument("--texture-s", type=float, default=20.0, help="seconds per texture")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-library-"))
    try:
        folder = work / "sounds"
        folder.mkdir()
        count = max(1, round(args.hours * 60 / args.file_min))
        print(f"writing {count} x {args.file_min:g} min FLAC (48 kHz stereo) ...", flush=True)
        for i in range(count):
            write_noise(folder / f"track {i:03d}.flac", args.file_min * 60, 48000, 2, "FLAC")
        hours = count * args.file_min / 60
        long_path = folder / "all night.wav"
        if args.long_hours > 0:
            print(f"writing one {args.long_hours:g} h WAV (16 kHz mono) ...", flush=True)
            write_noise(long_path, args.long_hours * 3600, 16000, 1, "WAV")
        print(f"baseline peak RSS {peak_rss_mb():.0f} MiB")

        library = SoundLibrary(folder)
        start = time.perf_counter()
        library.refresh()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        library.refresh()
        warm = time.perf_counter() - start
        total_h = hours + max(args.long_hours, 0)
        files = len(library.catalog.select("user"))
        print(
            f"scan: {files} files, {total_h:.2f} h of audio: cold {cold * 1000:.0f} ms "
            f"({cold / total_h * 1000:.0f} ms per hour, {cold / files * 1000:.1f} ms per file), "
            f"warm rescan {warm * 1000:.0f} ms; "
            f"peak RSS {peak_rss_mb():.0f} MiB"
        )

        service = LoudnessService(LoudnessCache(work / "loudness.json"))
        start = time.perf_counter()
        for entry in library.catalog.entries.values():
            if entry.kind == "file" and entry.path != long_path.resolve():
                service.measure_now(entry.spec)
        whole = time.perf_counter() - start
        print(
            f"analysis (whole file): {whole:.1f} s for {hours:.2f} h = "
            f"{whole / hours:.1f} s per hour of audio; peak RSS {peak_rss_mb():.0f} MiB"
        )
        if args.long_hours > 0:
            start = time.perf_counter()
            found = service.measure_now(str(long_path.resolve()))
            sampled = time.perf_counter() - start
            print(
                f"analysis ({found.method} of a {args.long_hours:g} h file): {sampled:.1f} s "
                f"= {sampled / args.long_hours:.1f} s per hour of audio; "
                f"peak RSS {peak_rss_mb():.0f} MiB"
            )

        for texture in texture_ids():
            source = open_texture(texture, 48000, 2, seed=1)
            start = time.perf_counter()
            for _ in range(round(args.texture_s * 48000 / 1024)):
                source.read(1024)
            elapsed = time.perf_counter() - start
            print(f"texture {texture:15s} renders {args.texture_s / elapsed:6.1f}x real time")
        print(f"final peak RSS {peak_rss_mb():.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
