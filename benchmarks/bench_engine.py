"""CPU and memory of the audio engine, side by side with sox and the decode floor.

Prints, in one run:

* sleepsound: decode FLAC + fade in/out + a pink-noise layer + limiter + dither,
  written to ALSA's ``null`` device (which takes samples as fast as they come);
* sox doing the same job: decode + fade, to ``-t alsa null``;
* the floor: libsndfile decoding the same FLAC alone (through soundfile);
* peak RSS of sleepsound playing a 10-hour file.

CPU is user + system time of each child process (``wait4``), scaled to one hour of
audio. Each child's interpreter start-up is measured separately and reported, so
it can be told apart from the per-hour cost.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--minutes 10]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

RATE = 48000


def make_flac(path: Path, minutes: float) -> None:
    """Write a stereo FLAC of gentle, varied material (tones and noise)."""
    rng = np.random.default_rng(1)
    block = RATE * 10
    phase = 0
    with soundfile.SoundFile(str(path), "w", RATE, 2, "PCM_16", format="FLAC") as handle:
        for _ in range(round(minutes * 6)):
            t = (phase + np.arange(block)) / RATE
            tones = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.sin(2 * np.pi * 331 * t)
            noise = rng.normal(0, 0.02, (block, 2))
            handle.write(tones[:, None] + noise)
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


STARTUP_IMPORTS = (
    "import sleepsound.cli, sleepsound.engine, sleepsound.outputs.alsa, sleepsound.sources,"
    " sleepsound.performance"
)

DECODE_ONLY = """
import sys, soundfile
with soundfile.SoundFile(sys.argv[1]) as f:
    while len(f.read(4096, dtype="float32")):
        pass
"""


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test FLAC")
    parser.add_argument("--hours", type=float, default=10.0, help="length of the RSS test file")
    parser.add_argument("--rss-minutes", type=float, default=5.0, help="how much of it to play")
    args = parser.parse_args()
    python = sys.executable
    per_hour = 60.0 / args.minutes
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        flac = Path(tmp) / "bench.flac"
        print(f"writing a {args.minutes:g}-minute FLAC…", file=sys.stderr)
        make_flac(flac, args.minutes)
        # What every `sleepsound play` pays before the first block: the interpreter and
        # the audio modules (which the CLI imports only once a command runs).
        startup_cpu, _, _ = run_measured([python, "-c", STARTUP_IMPORTS])
        play = [python, "-m", "sleepsound.cli", "play", str(flac), "--device", "null"]
        play += ["--seconds", str(seconds), "--fade-in", "5", "--fade-out", "5", "--volume", "60"]
        rows: list[tuple[str, float, float, int]] = []
        layer = ["--layer", "pink-noise", "--layer-volume", "30"]
        cpu, wall, rss = run_measured(play + layer)
        rows.append(("sleepsound (FLAC+fade+layer+limiter → alsa null)", cpu, wall, rss))
        cpu, wall, rss = run_measured(play)
        rows.append(("sleepsound, sox's job (FLAC+fade+limiter → alsa null)", cpu, wall, rss))
        if shutil.which("sox"):
            cpu, wall, rss = run_measured(
                ["sox", "-q", str(flac), "-t", "alsa", "null", "fade", "5", str(seconds), "5"]
            )
            rows.append(("sox (FLAC+fade → alsa null)", cpu, wall, rss))
        else:
            print("sox not installed: run ./scripts/setup", file=sys.stderr)
        cpu, wall, rss = run_measured([python, "-c", DECODE_ONLY, str(flac)])
        rows.append(("floor: libsndfile decode alone (soundfile)", cpu, wall, rss))
        long_wav = Path(tmp) / "ten-hours.wav"
        make_sparse_wav(long_wav, args.hours)
        _, _, long_rss = run_measured(
            [
                python,
                "-m",
                "sleepsound.cli",
                "play",
                str(long_wav),
                "--device",
                "null",
                "--seconds",
                str(args.rss_minutes * 60),
                "--layer",
                "pink-noise",
            ]
        )
    print(f"\n{args.minutes:g} minutes of 48 kHz stereo; CPU scaled to one hour of audio")
    print(f"{'job':56} {'CPU s/h':>8} {'% core':>7} {'x real':>7} {'peak RSS':>9}")
    for name, cpu, wall, rss in rows:
        print(
            f"{name:56} {cpu * per_hour:8.1f} {100 * cpu / seconds:6.2f}% "
            f"{seconds / wall:6.0f}x {rss / 1024:7.1f} MB"
        )
    ours, floor = rows[0][1], rows[-1][1]
    print(
        f"\nsleepsound / floor: {ours / floor:.2f}x   (python start-up: {startup_cpu:.2f} s CPU,"
        f" included above; per-hour without it: {(ours - startup_cpu) * per_hour:.1f} s)"
    )
    if len(rows) == 4:
        print(
            f"sleepsound / sox:   {ours / rows[2][1]:.2f}x with the layer, "
            f"{rows[1][1] / rows[2][1]:.2f}x on the same job"
        )
    print(
        f"peak RSS playing a {args.hours:g}-hour WAV ({args.rss_minutes:g} min of it): "
        f"{long_rss / 1024:.1f} MB"
    )


if __name__ == "__main__":
    main()
