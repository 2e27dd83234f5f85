"""CPU and memory of the audio engine, side by side with sox and the decode floor.

Prints, in one run:

* sleepsound: decode FLAC + fade in/out + a layer + limiter, written to ALSA's
  ``null`` device (which takes samples as fast as they come), with the layer either
  generated (pink noise) or a second FLAC (a rain recording, say), and without one
  (sox's job);
* sox doing the same: decode + fade to ``-t alsa null``, alone and mixing the second
  FLAC under the first (``sox -m``), so each layered job has a like-for-like sox;
* the floors: libsndfile decoding alone, as cheaply as it goes, what each job
  decodes (one FLAC, or both for the FLAC layer); and, for reference, soundfile's
  public ``read``;
* peak RSS of sleepsound playing a 10-hour file.

A generated layer has no decoding in any floor: making stereo pink noise costs
about half as much as decoding the FLAC, so that job's ratio to the floor shows
the generator's cost, not overhead.

CPU is user + system time of each child process (``wait4``). The per-hour figure is
the slope between a short and a long run of each job, so one-off start-up costs
(interpreter, imports, device) are reported apart instead of being scaled up.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--minutes 10]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile

RATE = 48000


def make_flac(
    path: Path, minutes: float, tone_level: float = 0.1, noise_level: float = 0.02
) -> None:
    """Write a stereo FLAC of gentle, varied material (tones and noise).

    Noise compresses worst, so a noise-heavy file (a rain recording) costs the most
    to decode.
    """
    rng = np.random.default_rng(1)
    block = RATE * 10
    phase = 0
    with soundfile.SoundFile(str(path), "w", RATE, 2, "PCM_16", format="FLAC") as handle:
        for _ in range(round(minutes * 6)):
            t = (phase + np.arange(block)) / RATE
            tones = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 331 * t)
            noise = rng.normal(0, noise_level, (block, 2))
            handle.write(tone_level * tones[:, None] + noise)
            phase += block


def make_sparse_wav(path: Path, hours: float, rate: int = 22050) -> None:
    """Write a valid WAV header for ``hours`` of mono audio, its data a sparse hole.

    Mono at 22.05 kHz keeps ten hours under the 4 GiB a WAV header can describe; the
    engine resamples it to 48 kHz stereo, so this is the heavier path, not the lighter.
    """
    frames = round(hours * 3600 * rate)
    with soundfile.SoundFile(str(path), "w", rate, 1, "PCM_16") as handle:
        handle.write(np.zeros(rate, np.int16))
    data_bytes = frames * 2
    raw = bytearray(path.read_bytes()[:44])
    raw[4:8] = (36 + data_bytes).to_bytes(4, "little")
    raw[40:44] = data_bytes.to_bytes(4, "little")
    with open(path, "wb") as handle:
        handle.write(raw)
        handle.truncate(44 + data_bytes)


# Linux keeps a process's peak RSS across exec, so a child forked straight from this
# (numpy-laden) process would report our memory as its own. A tiny launcher, started
# fresh, forks the measured command instead and reports what wait4 says of it.
LAUNCHER = """
import os, sys, time
start = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_utime + usage.ru_stime, time.monotonic() - start, usage.ru_maxrss,
      os.waitstatus_to_exitcode(status))
"""


def run_measured(command: list[str]) -> tuple[float, float, int]:
    """Run ``command``; return (cpu seconds, wall seconds, peak RSS in KiB)."""
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", LAUNCHER, *command],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu, wall, rss, code = result.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stderr}")
    return float(cpu), float(wall), int(rss)


# The floor: libsndfile decoding alone, as cheaply as it goes (large reads through
# soundfile's binding of sf_readf_float, as sleepsound's own decoder does), until
# argv[1] seconds of each file after it are decoded. The second script is soundfile's
# public read, the way most Python players decode, for reference.
DECODE_FLOOR = """
import sys, numpy, soundfile
for path in sys.argv[2:]:
    f = soundfile.SoundFile(path)
    want = round(float(sys.argv[1]) * f.samplerate)
    out = numpy.empty((16384, f.channels), numpy.float32)
    buffer = soundfile._ffi.from_buffer(out)
    while want > 0:
        got = soundfile._snd.sf_readf_float(f._file, buffer, min(16384, want))
        if got <= 0:
            break
        want -= got
"""

DECODE_PUBLIC = """
import sys, soundfile
f = soundfile.SoundFile(sys.argv[1])
want = round(float(sys.argv[2]) * f.samplerate)
while want > 0:
    got = len(f.read(min(4096, want), dtype="float32"))
    if not got:
        break
    want -= got
"""

Command = Callable[[float], list[str]]

PINK_LAYER = "sleepsound (FLAC+fade+pink layer+limiter → alsa null)"
FLAC_LAYER = "sleepsound (FLAC+fade+FLAC layer+limiter → alsa null)"
SOX_JOB = "sleepsound, sox's job (FLAC+fade+limiter → alsa null)"
SOX = "sox (FLAC+fade → alsa null)"
SOX_MIX = "sox -m (FLAC+fade+FLAC layer → alsa null)"
FLOOR = "floor: libsndfile decoding the FLAC alone"
FLOOR_BOTH = "floor: libsndfile decoding both FLACs alone"
PUBLIC_READ = "  (soundfile's public read of the FLAC, for reference)"


def measure(
    jobs: list[tuple[str, Command]], short_s: float, long_s: float, repeats: int
) -> dict[str, tuple[float, float]]:
    """CPU seconds per hour of audio and start-up CPU seconds of each job, by name.

    The per-hour figure is the slope between a short and a long run, so a one-off
    start-up (the interpreter, imports, opening the device) is not scaled up with it.
    On a shared machine noise only ever adds CPU, so each run is repeated and the
    least kept; the jobs take turns, so a busy spell hits them all alike.
    """
    least: dict[tuple[str, float], float] = {}
    for round_ in range(repeats):
        print(f"round {round_ + 1} of {repeats}…", file=sys.stderr)
        for name, command in jobs:
            for seconds in (short_s, long_s):
                cpu = run_measured(command(seconds))[0]
                least[name, seconds] = min(cpu, least.get((name, seconds), cpu))
    figures = {}
    for name, _ in jobs:
        short, long = least[name, short_s], least[name, long_s]
        per_second = (long - short) / (long_s - short_s)
        figures[name] = (per_second * 3600.0, short - per_second * short_s)
    return figures


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test FLAC")
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement (least kept)")
    parser.add_argument("--hours", type=float, default=10.0, help="length of the RSS test file")
    parser.add_argument("--rss-minutes", type=float, default=5.0, help="how much of it to play")
    args = parser.parse_args()
    python = sys.executable
    long_s = args.minutes * 60.0
    short_s = min(10.0, long_s / 10.0)  # little more than the start-up and the fades
    with tempfile.TemporaryDirectory() as tmp:
        flac = str(Path(tmp) / "whisper.flac")
        rain = str(Path(tmp) / "rain.flac")
        print(f"writing two {args.minutes:g}-minute FLACs…", file=sys.stderr)
        make_flac(Path(flac), args.minutes)
        make_flac(Path(rain), args.minutes, tone_level=0.0, noise_level=0.05)

        def play(*extra: str) -> Command:
            return lambda seconds: [
                python, "-m", "sleepsound.cli", "play", flac, "--device", "null",
                "--seconds", str(seconds), "--fade-in", "5", "--fade-out", "5",
                "--volume", "60", *extra,
            ]  # fmt: skip

        def decode(*paths: str) -> Command:
            return lambda seconds: [python, "-c", DECODE_FLOOR, str(seconds), *paths]

        jobs: dict[str, Command] = {
            PINK_LAYER: play("--layer", "pink-noise", "--layer-volume", "30"),
            FLAC_LAYER: play("--layer", rain, "--layer-volume", "30"),
            SOX_JOB: play(),
        }
        if shutil.which("sox"):
            jobs[SOX] = lambda s: [
                *("sox", "-q", flac, "-t", "alsa", "null", "trim", "0", str(s)),
                *("fade", "5", str(s), "5"),
            ]
            jobs[SOX_MIX] = lambda s: [
                *("sox", "-q", "-m", "-v", "1", flac, "-v", "0.3", rain),
                *("-t", "alsa", "null", "trim", "0", str(s), "fade", "5", str(s), "5"),
            ]
        else:
            print("sox not installed: run ./scripts/setup", file=sys.stderr)
        jobs[FLOOR] = decode(flac)
        jobs[FLOOR_BOTH] = decode(flac, rain)
        jobs[PUBLIC_READ] = lambda s: [python, "-c", DECODE_PUBLIC, flac, str(s)]
        figures = measure(list(jobs.items()), short_s, long_s, args.repeats)
        rows = []
        for name, command in jobs.items():
            _, wall, rss = run_measured(command(long_s))
            rows.append((name, *figures[name], long_s / wall, rss))
        long_wav = Path(tmp) / "ten-hours.wav"
        make_sparse_wav(long_wav, args.hours)
        _, _, long_rss = run_measured(
            [python, "-m", "sleepsound.cli", "play", str(long_wav), "--device", "null",
             "--seconds", str(args.rss_minutes * 60), "--layer", "pink-noise"]
        )  # fmt: skip
    print(f"\n48 kHz stereo FLAC; CPU per hour of audio = slope between {short_s:g}-second and")
    print(f"{args.minutes:g}-minute runs (least of {args.repeats}); start-up shown apart")
    print(f"{'job':56} {'CPU s/h':>8} {'% core':>7} {'start-up':>9} {'x real':>7} {'peak RSS':>9}")
    for name, per_hour, startup, speed, rss in rows:
        print(
            f"{name:56} {per_hour:8.2f} {per_hour / 36:6.2f}% {startup:8.2f}s "
            f"{speed:6.0f}x {rss / 1024:7.1f} MB"
        )
    per_hour = {name: cpu for name, cpu, *_ in rows}
    print()
    for job, floor, sox, label in (
        (PINK_LAYER, FLOOR, SOX, "sox"),
        (FLAC_LAYER, FLOOR_BOTH, SOX_MIX, "sox -m"),
        (SOX_JOB, FLOOR, SOX, "sox"),
    ):
        against = f", {per_hour[job] / per_hour[sox]:.2f}x {label}" if sox in per_hour else ""
        print(f"{job:56} {per_hour[job] / per_hour[floor]:.2f}x its floor{against}")
    print(
        f"peak RSS playing a {args.hours:g}-hour WAV ({args.rss_minutes:g} min of it): "
        f"{long_rss / 1024:.1f} MB"
    )


if __name__ == "__main__":
    main()
