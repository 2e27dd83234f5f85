"""One performance of a sound: start, hold, stop, through exactly the live engine.

``sleepsound render`` and ``sleepsound play`` both run :func:`perform`; only their
output differs (a file written as fast as the CPU allows, or ALSA at its own pace).
So what a render lets you hear is what the device plays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sleepsound.dsp.gain import MIN_RAMP_S
from sleepsound.engine import Engine
from sleepsound.errors import ParameterError
from sleepsound.outputs.base import Output, render_frames
from sleepsound.scene import Layer, Scene

MAX_SECONDS = 24 * 3600.0
MAX_FADE_S = 3600.0
INTERRUPT_FADE_S = 2.0
"""Ctrl-C / SIGTERM never takes longer than this to reach silence."""


@dataclass(frozen=True)
class Programme:
    """What to perform: a sound, its level and fades, an optional layer and length."""

    sound: str
    volume: float = 70.0
    max_volume: float = 100.0
    fade_in_s: float = 3.0
    fade_out_s: float = 3.0
    layer: str | None = None
    layer_volume: float = 30.0
    seconds: float | None = None

    def validate(self) -> None:
        """Raise ParameterError naming the first value out of its range."""
        _check_range("--volume", self.volume, 0, 100)
        _check_range("--max-volume", self.max_volume, 0, 100)
        _check_range("--layer-volume", self.layer_volume, 0, 100)
        _check_range("--fade-in", self.fade_in_s, 0, MAX_FADE_S)
        _check_range("--fade-out", self.fade_out_s, 0, MAX_FADE_S)
        if self.seconds is not None and not 0 < self.seconds <= MAX_SECONDS:
            raise ParameterError(
                f"--seconds must be more than 0 and at most {MAX_SECONDS:.0f} (24 hours), "
                f"not {self.seconds:g}"
            )

    def scene(self, playing: bool, transition_s: float) -> Scene:
        """The scene for the playing or the stopped part of the performance."""
        layer = Layer(self.layer, self.layer_volume) if self.layer and playing else None
        return Scene(
            sound=self.sound if playing else None,
            volume=self.volume,
            max_volume=self.max_volume,
            transition_s=transition_s,
            layer=layer,
        )


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise ParameterError(f"{name} must be a number from {low:g} to {high:g}, not {value}")


def perform(
    engine: Engine,
    output: Output,
    programme: Programme,
    interrupted: Callable[[], bool] = lambda: False,
    compensate_latency: bool = False,
) -> int:
    """Play ``programme`` through ``engine`` into ``output``; return frames delivered.

    With ``seconds`` set, the fade-out ends exactly on the last frame. Without it the
    performance lasts until ``interrupted()`` turns true. An interruption fades out
    within :data:`INTERRUPT_FADE_S`. With ``compensate_latency`` (files), the
    limiter's look-ahead is trimmed so that frame 0 of the file is frame 0 of the
    performance.
    """
    rate = engine.rate
    fade_out_s = max(programme.fade_out_s, MIN_RAMP_S)
    total = round(programme.seconds * rate) if programme.seconds is not None else None
    stop_at = max(total - round(fade_out_s * rate), 0) if total is not None else None
    skip = engine.latency_frames if compensate_latency else 0
    engine.apply(programme.scene(True, programme.fade_in_s))
    delivered = 0
    rendered = 0  # frames of the performance timeline
    stopping_until: int | None = None
    while True:
        at_end = stop_at is not None and rendered >= stop_at
        if stopping_until is None and (at_end or interrupted()):
            fade = fade_out_s if at_end else min(fade_out_s, INTERRUPT_FADE_S)
            engine.apply(programme.scene(False, fade))
            stopping_until = rendered + round(max(fade, MIN_RAMP_S) * rate)
            if total is not None:
                stopping_until = min(stopping_until, total)
        end = stopping_until if stopping_until is not None else stop_at
        if end is not None and rendered >= end:
            break
        frames = render_frames(output)
        if end is not None:
            frames = min(frames, end - rendered)
        block = engine.render(frames)
        rendered += frames
        if skip:
            drop = min(skip, len(block))
            block = block[drop:]
            skip -= drop
        if len(block):
            output.write(block)
            delivered += len(block)
    flush = engine.latency_frames if compensate_latency else 0
    while flush > 0:
        block = engine.render(min(flush, render_frames(output)))
        output.write(block)
        delivered += len(block)
        flush -= len(block)
    return delivered
