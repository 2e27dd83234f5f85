"""``sleepsound render`` and ``sleepsound play``: the daemon's player, offline or live.

Both drive the daemon's own player (:mod:`sleepsound.player`) with the daemon's
commands on a frame clock (:class:`~sleepsound.cli.frame_loop.FrameLoop`), and open
sounds through the daemon's library (:class:`~sleepsound.daemon.sounds.DaemonSounds`):
a library id, a built-in with parameters or a file path, levelled to the same
loudness and with the same transient tamer as the device. Every default (volume,
ceiling, fades, rate, channels, device) is the config's, found as every sub-command
finds it (``--config``, ``$SLEEPSOUND_CONFIG``, the user's, the system's).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sleepsound.cli.args import finite_number as number
from sleepsound.errors import ParameterError, SoundError

if TYPE_CHECKING:
    from sleepsound.cli.frame_loop import FrameLoop
    from sleepsound.config import Config
    from sleepsound.daemon.sounds import DaemonSounds
    from sleepsound.engine import Engine
    from sleepsound.scene import Scene

# The audio modules (numpy, soxr, ALSA) are imported inside the commands: every
# `sleepsound …` builds this parser, and `sleepsound ctl` should not pay for them.

log = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 8000, 192000
CHANNEL_CHOICES = (1, 2)
MAX_SECONDS = 24 * 3600.0
MAX_FADE_S = 3600.0


def _add_sound_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sound",
        metavar="SOUND",
        help="a library id (see `sleepsound sounds`), a built-in with parameters "
        "(rain:spells=true) or a sound file",
    )
    parser.add_argument("--config", metavar="PATH", help="config file (its defaults apply)")
    parser.add_argument("--seconds", type=number, help="length; the fade-out ends exactly here")
    parser.add_argument("--volume", type=number, help="0–100 (default: [audio] volume, 30)")
    parser.add_argument(
        "--max-volume", type=number, help="ceiling 0–100 (default: [audio] max_volume, 80)"
    )
    parser.add_argument("--fade-in", type=number, metavar="S", help="seconds ([audio] fade_in_s)")
    parser.add_argument("--fade-out", type=number, metavar="S", help="seconds ([audio] fade_out_s)")
    parser.add_argument("--layer", metavar="SOUND", help="a second sound mixed under the first")
    parser.add_argument("--layer-volume", type=number, help="0–100 (default 30)")
    parser.add_argument("--rate", type=int, help="output rate in Hz ([audio] rate)")
    parser.add_argument("--channels", type=int, help="1 or 2 ([audio] channels)")


def register(subparsers: Any) -> None:
    """Add the ``render`` and ``play`` sub-commands."""
    render = subparsers.add_parser("render", help="render a sound to a file, faster than real time")
    _add_sound_options(render)
    render.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="WAV or FLAC")
    render.add_argument("--bits", type=int, choices=(16, 32), default=16, help="sample size")
    render.set_defaults(func=run_render)

    play = subparsers.add_parser("play", help="play a sound through ALSA in the foreground")
    _add_sound_options(play)
    play.add_argument("--device", help="ALSA device name (default: [audio] device)")
    play.add_argument(
        "--format", choices=("auto", "S16_LE", "S32_LE"), help="sample format ([audio] format)"
    )
    play.set_defaults(func=run_play)


# -- what to play --------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """The command line, checked and completed with the config's defaults."""

    config: Config
    """The config with the command line's overrides in ``[audio]``."""
    sound: str
    layer: str | None
    seconds: float | None
    fade_out_s: float
    play: dict[str, Any]
    """The ``play`` command, in the daemon's vocabulary (sound ids filled in later)."""


def _request(args: argparse.Namespace) -> Request:
    """Check the options (each error names its option) and fill in the config's defaults."""
    from sleepsound.config import load_config

    for name, value, high in (
        ("--volume", args.volume, 100.0),
        ("--max-volume", args.max_volume, 100.0),
        ("--layer-volume", args.layer_volume, 100.0),
        ("--fade-in", args.fade_in, MAX_FADE_S),
        ("--fade-out", args.fade_out, MAX_FADE_S),
    ):
        if value is not None and not 0 <= value <= high:
            raise ParameterError(f"{name} must be a number from 0 to {high:g}, not {value:g}")
    if args.seconds is not None and not 0 < args.seconds <= MAX_SECONDS:
        raise ParameterError(
            f"--seconds must be more than 0 and at most {MAX_SECONDS:.0f} (24 hours), "
            f"not {args.seconds:g}"
        )
    if args.rate is not None and not MIN_RATE <= args.rate <= MAX_RATE:
        raise ParameterError(f"--rate must be from {MIN_RATE} to {MAX_RATE} Hz, not {args.rate}")
    if args.channels is not None and args.channels not in CHANNEL_CHOICES:
        raise ParameterError(f"--channels must be 1 or 2, not {args.channels}")
    config = load_config(args.config)
    overrides = {
        "max_volume": args.max_volume,
        "rate": args.rate,
        "channels": args.channels,
        "device": getattr(args, "device", None),
        "format": getattr(args, "format", None),
    }
    audio = replace(config.audio, **{k: v for k, v in overrides.items() if v is not None})
    # render and play write to [audio]'s device (or a file) with its channels and ceiling:
    # the named outputs ([outputs.NAME]) are the daemon's, so the context leaves them out.
    extra = {name: value for name, value in config.extra.items() if name != "outputs"}
    config = replace(config, audio=audio, extra=extra)
    play: dict[str, Any] = {"action": "play", "sleep_timer": 0}  # --seconds is the length
    for key, value in (
        ("volume", args.volume),
        ("fade", args.fade_in),
        ("layer_volume", args.layer_volume),
    ):
        if value is not None:
            play[key] = value
    return Request(
        config=config,
        sound=args.sound,
        layer=args.layer,
        seconds=args.seconds,
        fade_out_s=audio.fade_out_s if args.fade_out is None else args.fade_out,
        play=play,
    )


def _open_sounds(config: Config) -> DaemonSounds:
    """The daemon's library with ``config``'s ``[sounds]``, scanned once (no watching)."""
    from sleepsound import runpaths
    from sleepsound.daemon.sounds import DaemonSounds

    cache = runpaths.client_loudness_cache_path(
        config.sounds.loudness_cache,
        os.environ,
        lambda path: os.path.isdir(path) and os.access(path, os.W_OK),
    )
    sounds = DaemonSounds.from_config(config, Path(cache))
    # The library's own scan, without the daemon's warnings about every other file:
    # a problem with the file asked for is the player's one-line answer.
    sounds.library.refresh()
    return sounds


def _start(
    request: Request,
    sounds: DaemonSounds,
    engine: Engine,
    prepare: _Preparer,
    *,
    compensate_latency: bool = False,
) -> FrameLoop:
    """Build the player's context and submit the ``play`` command: a refused one (an
    unknown id, a bad parameter or file) raises before anything is written."""
    from sleepsound.cli.frame_loop import FrameLoop
    from sleepsound.player import PlayerContext

    ids = sounds.ids()
    specs = sounds.specs()
    play = dict(request.play)
    for key, text in (("sound", request.sound), ("layer", request.layer)):
        if text is not None:
            play[key] = _sound_id(text, ids, specs)
    ctx = PlayerContext.from_config(
        request.config,
        ids,
        specs,
        entries=sounds.entries(),
        skipped=sounds.skipped(),
        check_spec=sounds.spec_check(),
    )
    loop = FrameLoop(ctx, engine, prepare=prepare, compensate_latency=compensate_latency)
    loop.submit(play)
    return loop


def _sound_id(text: str, ids: list[str], specs: dict[str, str]) -> str:
    """The id a command names ``text`` by; a file path gets one, added to ``ids``/``specs``.

    A library id wins over a file of that name (as in commands); an unknown word is
    passed on for the player to refuse with its suggestions.
    """
    from sleepsound.sources import looks_like_path
    from sleepsound.sources.slug import slugify

    name, colon, _ = text.partition(":")
    if text in ids or (colon and name in ids and not os.path.exists(text)):
        return text
    if not looks_like_path(text):
        return text
    spec = os.path.abspath(os.path.expanduser(text))
    base = slugify(Path(spec).stem)
    sound_id, n = base, 1
    while sound_id in ids and specs.get(sound_id) != spec:
        n += 1
        sound_id = f"{base}-{n}"
    if sound_id not in ids:
        ids.append(sound_id)
        specs[sound_id] = spec
    return sound_id


class _Preparer:
    """Before the engine opens a scene's sounds: open each once, so a bad one is an
    error before anything plays, and (``measure``) measure its loudness."""

    def __init__(self, sounds: DaemonSounds, rate: int, channels: int, measure: bool) -> None:
        self.sounds = sounds
        self.rate = rate
        self.channels = channels
        self.measure = measure
        self._done: set[str] = set()

    def __call__(self, scene: Scene) -> None:
        """Check (and measure) the scene's sounds not seen before."""
        layer = scene.layer.sound if scene.layer is not None else None
        for spec in (scene.sound, layer):
            if spec is None or spec in self._done:
                continue
            self.sounds.open_source(spec, self.rate, self.channels).close()
            if self.measure:
                self._measure(spec)
            self._done.add(spec)

    def _measure(self, spec: str) -> None:
        try:
            self.sounds.loudness.measure_now(spec, save=False, out_channels=self.channels)
        except SoundError as error:
            # It opened, so it plays: at the safe provisional level, as on the device.
            log.warning(
                "cannot measure the loudness of %s (%s); it plays at the safe unmeasured level",
                spec,
                error,
            )


# -- render -------------------------------------------------------------------------------


def run_render(args: argparse.Namespace) -> int:
    """Render to a file through the daemon's player and engine."""
    from sleepsound.engine import Engine
    from sleepsound.outputs.filewriter import FileOutput

    request = _request(args)
    if request.seconds is None:
        raise ParameterError("render needs --seconds: how long the file should be")
    audio = request.config.audio
    sounds = _open_sounds(request.config)
    engine = Engine(audio.rate, audio.channels, sounds.open_source)
    try:
        # Measured before the engine opens them: levelled from the first frame.
        prepare = _Preparer(sounds, audio.rate, audio.channels, measure=True)
        loop = _start(request, sounds, engine, prepare, compensate_latency=True)
        _say_warnings(loop)
        output = FileOutput(args.output, audio.rate, audio.channels, bits=args.bits)
        try:
            frames = loop.perform(output, request.seconds, request.fade_out_s, exact_length=True)
        finally:
            output.close()
    finally:
        engine.close()
        sounds.loudness.save()
    print(f"wrote {frames / audio.rate:.3f} s to {args.output}")
    hint = level_hint(*measure_file(args.output), loop.state.volume, audio.max_volume)
    if hint:
        print(hint)
    return 0


QUIET_RMS_DB: Final = -35.0
"""Below this a file sounds close to silent on laptop speakers at a normal setting."""


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


def level_hint(peak_db: float, rms_db: float, volume: float, max_volume: float) -> str:
    """``level: peak …, RMS …`` and, when that is very quiet, which volume helps.

    Sleep sounds are levelled soft and the device starts quiet: at the config's
    volume most renders are close to silent on laptop speakers. The line says how
    much louder the ceiling (``max_volume``) makes it, or, at the ceiling, lifting it.
    """
    from sleepsound.dsp.gain import volume_to_db

    line = f"level: peak {peak_db:.1f} dBFS, RMS {rms_db:.1f} dBFS at --volume {volume:g}"
    if rms_db >= QUIET_RMS_DB or volume >= 100:
        return line
    if volume < max_volume:
        louder, advice = max_volume, f"--volume {max_volume:g}"
    else:
        louder, advice = 100.0, "--max-volume 100 --volume 100"
    headroom = min(-1.0 - peak_db, volume_to_db(louder) - volume_to_db(volume))
    if headroom < 3:
        return line
    return (
        f"{line}: quiet on laptop speakers (sleep sounds are levelled soft); "
        f"{advice} makes it {headroom:.0f} dB louder"
    )


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -math.inf


# -- play ---------------------------------------------------------------------------------


def run_play(args: argparse.Namespace) -> int:
    """Play through ALSA until --seconds or Ctrl-C, fading out either way."""
    from sleepsound.engine import Engine
    from sleepsound.outputs.alsa import AlsaOutput

    request = _request(args)
    audio = request.config.audio
    sounds = _open_sounds(request.config)
    output = AlsaOutput(
        audio.device, audio.rate, audio.channels, audio.format, audio.period_frames, audio.periods
    )
    engine = Engine(output.rate, output.channels, sounds.open_source)
    interrupted = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: interrupted.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    # As in the daemon: a sound not measured yet starts at a safe level and glides to
    # its own once the background measurement lands (then it is cached).
    sounds.loudness.start()
    try:
        prepare = _Preparer(sounds, output.rate, output.channels, measure=False)
        loop = _start(request, sounds, engine, prepare)
        _say_warnings(loop)
        print(
            f"playing {loop.state.sound} on {output.description} — Ctrl-C fades out",
            file=sys.stderr,
        )
        loop.perform(output, request.seconds, request.fade_out_s, interrupted.is_set)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        output.close()
        engine.close()
        sounds.loudness.stop()
    if output.underruns:
        print(f"{output.underruns} underrun(s) on {audio.device}", file=sys.stderr)
    return 0


def _say_warnings(loop: FrameLoop) -> None:
    for warning in loop.warnings:
        print(f"sleepsound: warning: {warning}", file=sys.stderr)
