"""CPU cost of the generated ASMR sounds, as a share of one core at 48 kHz stereo.

For each spec the source is opened once (filter design, presets: not counted), then
``--seconds`` of audio are read in engine-sized blocks; the cost is this thread's CPU
time (``time.thread_time``, so other processes on a shared machine do not count)
divided by the audio's duration. The best of ``--repeats`` runs is printed, with
the wall-clock figure beside it for reference. The budget (issue 17) is 2 % each.

Rows with ``move=`` or ``spells=`` show what movement or spells add to a texture:
compare them with the plain texture's row.

Run: ``.venv/bin/python benchmarks/bench_generators.py [--seconds 60] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import time

from sleepsound.sources import open_source

RATE = 48000
BLOCK = 1024
BUDGET_PERCENT = 2.0
SPECS = (
    "whispers",
    "whispers:move=ear-to-ear",
    "whispers:move=around",
    "attention",
    "fan",
    "fan:move=ear-to-ear",
    "rain",
    "rain:spells=true",
    "soft-tapping:move=around,spells=true",
)


def cost_percent(spec: str, seconds: float) -> tuple[float, float]:
    """CPU and wall-clock time per second of audio (% of one core) reading ``spec``."""
    source = open_source(spec, RATE, 2)
    blocks = round(seconds * RATE / BLOCK)
    source.read(BLOCK)  # first block: lazy imports, not the steady state
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(blocks):
        source.read(BLOCK)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    source.close()
    audio_s = blocks * BLOCK / RATE
    return 100.0 * cpu / audio_s, 100.0 * wall / audio_s


def main() -> None:
    """Print each spec's cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per spec (best kept)")
    args = parser.parse_args()
    print(f"CPU per second of 48 kHz stereo audio, best of {args.repeats} x {args.seconds:g} s")
    for spec in SPECS:
        runs = [cost_percent(spec, args.seconds) for _ in range(args.repeats)]
        cpu, wall = min(runs)
        verdict = "ok" if cpu <= BUDGET_PERCENT else "OVER BUDGET"
        print(f"{spec:40s} {cpu:5.2f} % of a core (wall {wall:5.2f} %)  {verdict}")


if __name__ == "__main__":
    main()
