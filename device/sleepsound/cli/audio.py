"""``sleepsound render`` and ``sleepsound play``: one sound, offline or live."""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from sleepsound.cli.args import finite_number as number
from sleepsound.errors import ParameterError

if TYPE_CHECKING:
    from sleepsound.engine import Engine
    from sleepsound.performance import Programme

# The audio modules (numpy, soxr, ALSA) are imported inside the commands: every
# `sleepsound …` builds this parser, and `sleepsound ctl` should not pay for them.

log = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 8000, 192000
CHANNEL_CHOICES = (1, 2)


def _add_sound_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sound", metavar="SOUND", help="a sound file or a generator name")
    parser.add_argument("--seconds", type=number, help="length; the fade-out ends exactly here")
    parser.add_argument("--volume", type=number, default=70.0, help="0–100 (default 70)")
    parser.add_argument("--max-volume", type=number, default=100.0, help="ceiling 0–100")
    parser.add_argument("--fade-in", type=number, default=3.0, metavar="S", help="seconds")
    parser.add_argument("--fade-out", type=number, default=3.0, metavar="S", help="seconds")
    parser.add_argument("--layer", metavar="SOUND", help="a second sound mixed under the first")
    parser.add_argument("--layer-volume", type=number, default=30.0, help="0–100 (default 30)")
    parser.add_argument("--rate", type=int, default=48000, help="output rate in Hz")
    parser.add_argument("--channels", type=int, default=2, help="1 or 2")


def register(subparsers: Any) -> None:
    """Add the ``render`` and ``play`` sub-commands."""
    render = subparsers.add_parser("render", help="render a sound to a file, faster than real time")
    _add_sound_options(render)
    render.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV or FLAC")
    render.add_argument("--bits", type=int, choices=(16, 32), default=16, help="sample size")
    render.set_defaults(func=run_render)

    play = subparsers.add_parser("play", help="play a sound through ALSA in the foreground")
    _add_sound_options(play)
    play.add_argument("--device", default="default", help="ALSA device name (default: default)")
    play.add_argument(
        "--format", default="auto", choices=("auto", "S16_LE", "S32_LE"), help="sample format"
    )
    play.set_defaults(func=run_play)


def _programme(args: argparse.Namespace) -> Programme:
    from sleepsound.performance import Programme

    if not MIN_RATE <= args.rate <= MAX_RATE:
        raise ParameterError(f"--rate must be from {MIN_RATE} to {MAX_RATE} Hz, not {args.rate}")
    if args.channels not in CHANNEL_CHOICES:
        raise ParameterError(f"--channels must be 1 or 2, not {args.channels}")
    programme = Programme(
        sound=args.sound,
        volume=args.volume,
        max_volume=args.max_volume,
        fade_in_s=args.fade_in,
        fade_out_s=args.fade_out,
        layer=args.layer,
        layer_volume=args.layer_volume,
        seconds=args.seconds,
    )
    programme.validate()
    return programme


def _check_sounds(programme: Programme, rate: int, channels: int) -> None:
    """Open every sound once up front, so a bad one is an error before anything plays."""
    from sleepsound.sources import open_source

    for spec in filter(None, (programme.sound, programme.layer)):
        open_source(spec, rate, channels).close()


def run_render(args: argparse.Namespace) -> int:
    """Render to a file through the live engine."""
    from sleepsound.engine import Engine
    from sleepsound.outputs.filewriter import FileOutput
    from sleepsound.performance import perform
    from sleepsound.sources import open_source

    programme = _programme(args)
    if programme.seconds is None:
        raise ParameterError("render needs --seconds: how long the file should be")
    _check_sounds(programme, args.rate, args.channels)
    output = FileOutput(args.output, args.rate, args.channels, bits=args.bits)
    engine = Engine(args.rate, args.channels, open_source)
    try:
        frames = perform(engine, output, programme, compensate_latency=True)
    finally:
        output.close()
        engine.close()
    _report_errors(engine)
    print(f"wrote {frames / args.rate:.3f} s to {args.output}")
    hint = level_hint(*measure_file(args.output), args.volume)
    if hint:
        print(hint)
    return 0


QUIET_RMS_DB: Final = -35.0
"""Below this a file sounds close to silent on laptop speakers at a normal setting."""
TAPER_DB: Final = 50.0
"""The volume taper: 1…100 span 50 dB (see :mod:`sleepsound.dsp.gain`)."""


def measure_file(path: str) -> tuple[float, float]:
    """(peak, RMS) of a sound file in dBFS, read in blocks (constant memory)."""
    import numpy as np
    import soundfile

    peak, total, count = 0.0, 0.0, 0
    with soundfile.SoundFile(path) as sound:
        for block in sound.blocks(blocksize=65536, dtype="float32", always_2d=True):
            if block.size:
                peak = max(peak, float(np.abs(block).max()))
                total += float(np.square(block, dtype=np.float64).sum())
                count += block.size
    rms = (total / count) ** 0.5 if count else 0.0
    return _db(peak), _db(rms)


def level_hint(peak_db: float, rms_db: float, volume: float) -> str | None:
    """``level: peak …, RMS …`` and, when that is very quiet, which ``--volume`` helps."""
    line = f"level: peak {peak_db:.1f} dBFS, RMS {rms_db:.1f} dBFS at --volume {volume:g}"
    if rms_db >= QUIET_RMS_DB or volume >= 100:
        return line
    headroom = min(-1.0 - peak_db, (100 - volume) * TAPER_DB / 99)
    if headroom < 3:
        return line
    return (
        f"{line}: quiet on laptop speakers (sleep sounds are mixed soft); "
        f"--volume 100 makes it {headroom:.0f} dB louder"
    )


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


def run_play(args: argparse.Namespace) -> int:
    """Play through ALSA until --seconds or Ctrl-C, fading out either way."""
    from sleepsound.engine import Engine
    from sleepsound.outputs.alsa import AlsaOutput
    from sleepsound.performance import perform
    from sleepsound.sources import open_source

    programme = _programme(args)
    _check_sounds(programme, args.rate, args.channels)
    output = AlsaOutput(args.device, args.rate, args.channels, args.format)
    print(f"playing {programme.sound} on {output.description} — Ctrl-C fades out", file=sys.stderr)
    interrupted = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: interrupted.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    engine = Engine(output.rate, output.channels, open_source)
    try:
        perform(engine, output, programme, interrupted.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        output.close()
        engine.close()
    _report_errors(engine)
    if output.underruns:
        print(f"{output.underruns} underrun(s) on {args.device}", file=sys.stderr)
    return 0


def _report_errors(engine: Engine) -> None:
    for error in engine.errors:
        print(f"sleepsound: warning: {error}", file=sys.stderr)
