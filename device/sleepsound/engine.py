"""The audio engine: follows a :class:`~sleepsound.scene.Scene` and renders blocks.

Pure DSP on numpy blocks. It reads no clock and touches no device: whoever drives
it (the live audio thread, the offline renderer, a test) asks for the next block and
hands it to an output. Scenes are applied between blocks; every audible change
they cause is a per-sample curve inside the following blocks.

Signal flow for one block::

    main voice(s) ──┐  each: source × envelope (fade in/out, crossfade)
                    ├─ sum × volume (slewed, capped by max_volume)
    layer voice(s) ─┘        × ceiling scale (main + layer ≤ one sound at max_volume)
                             × sleep fade (dB-linear to silence)
                             → peak limiter (≤ -1 dBFS) → output

A keep-alive tone (``Scene.keep_alive``: a Bluetooth headband switches itself off on
digital silence) is added after the volume and the sleep fade, at its own fixed,
sub-audible level, before the limiter.

When the output goes away and comes back (a headband out of range), the driver calls
:meth:`Engine.resume` with the time that passed: the sleep fade and every fade catch up
with it, and the whole mix comes back in from silence to the level it would have now.

A wake rise (:class:`~sleepsound.scene.Rise`) is the new voice's own envelope,
dB-linear from silence over the rise: the master jumps to the wake volume at the
start (what still plays keeps its level, folded into its own gain, and fades out),
so the sum reaches the volume exactly when the envelope reaches 1.

A voice is one opened source with its envelope. Switching sounds fades the old
voice out while the new one fades in; a voice whose envelope reaches zero is closed
and dropped. A stopped engine keeps rendering silence, so outputs never starve
(amplifiers pop when a stream stops).
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sleepsound.dsp.gain import (
    Envelope,
    Shape,
    SlewedGain,
    ceiling_scale,
    ramp_frames,
    volume_to_gain,
)
from sleepsound.dsp.limiter import PeakLimiter
from sleepsound.errors import ParameterError, SoundError
from sleepsound.scene import Layer, Rise, Scene, SleepFade
from sleepsound.sources import keep_alive
from sleepsound.sources.base import Source

log = logging.getLogger(__name__)

SourceFactory = Callable[[str, int, int], Source]
"""Opens a source spec at a rate and channel count; raises SoundError when it cannot."""

WAKE_RAMP_S = 3.0
"""A cancelled sleep fade comes back up over this long: awake, but never startled."""

RETURN_FADE_S = 4.0
"""An output that comes back (a headband back in range) fades in from silence over this."""

MAX_ERRORS_KEPT = 16


@dataclass
class _Voice:
    spec: str
    source: Source
    envelope: Envelope
    level: SlewedGain
    leaving: bool = False


class Engine:
    """Renders what a scene asks for, with every change ramped per sample."""

    def __init__(
        self,
        rate: int,
        channels: int,
        open_source: SourceFactory,
        scene: Scene | None = None,
    ) -> None:
        self.rate = rate
        self.channels = channels
        self._open_source = open_source
        self._scene = Scene(sound=None)
        self._main: list[_Voice] = []
        self._layers: list[_Voice] = []
        first = scene or self._scene
        self._volume = SlewedGain(
            rate, volume_to_gain(first.volume, first.max_volume, first.range_db)
        )
        # The ceiling glides like the volume: a lowered max_volume scales a layered mix
        # down at the volume's pace instead of in one step.
        self._ceiling = SlewedGain(rate, volume_to_gain(first.max_volume, range_db=first.range_db))
        self._sleep = Envelope(rate, 1.0)
        self._sleep_token: int | None = None
        self._rise_token: int | None = None
        self._limiter = PeakLimiter(rate, channels)
        self._return = Envelope(rate, 1.0)
        """Multiplies everything: 1, except while fading back in after the output was away."""
        self._keep_alive = keep_alive.KeepAlive(rate, channels)
        self.errors: collections.deque[SoundError] = collections.deque(maxlen=MAX_ERRORS_KEPT)
        if scene is not None:
            self.apply(scene)

    @property
    def scene(self) -> Scene:
        """The scene being followed."""
        return self._scene

    @property
    def latency_frames(self) -> int:
        """Frames between a sample entering the chain and leaving it (the limiter's look-ahead)."""
        return self._limiter.latency_frames

    @property
    def is_silent(self) -> bool:
        """True when nothing is playing or fading (only silence comes out)."""
        return self._nothing_playing and not self._keep_alive.active

    @property
    def _nothing_playing(self) -> bool:
        """No sound or layer voice (the keep-alive tone does not follow the volume)."""
        return not self._main and not self._layers

    def apply(self, scene: Scene) -> None:
        """Start following ``scene``; the changes it makes are ramped in later blocks."""
        old = self._scene
        self._scene = scene
        if scene.keep_alive != old.keep_alive:
            self._keep_alive.follow(scene.keep_alive)
        if scene.rise is not None and scene.rise.token != self._rise_token:
            self._start_rise(scene, scene.rise)
            return
        if scene.rise is None and self._rise_token is not None:
            self._stop_rise()
        volume = volume_to_gain(scene.volume, scene.max_volume, scene.range_db)
        ceiling = volume_to_gain(scene.max_volume, range_db=scene.range_db)
        if self._nothing_playing:
            self._volume.jump_to(volume)  # nothing audible: no need to slew
            self._ceiling.jump_to(ceiling)
        else:
            if scene.sound is None:
                # On the way to silence the level never rises (a rise stopped where it
                # was, then faded out, must not swell towards the wake volume first).
                volume = min(volume, self._volume.gain)
            self._volume.set_target(volume)
            self._ceiling.set_target(ceiling)
        transition = ramp_frames(scene.transition_s, self.rate)
        restart = scene.restart_token != old.restart_token
        if scene.sound != old.sound or restart:
            self._switch(self._main, scene.sound, 1.0, transition)
        old_layer, new_layer = old.layer, scene.layer
        if _layer_sound(new_layer) != _layer_sound(old_layer) or restart:
            level = volume_to_gain(new_layer.volume) if new_layer else 0.0
            self._switch(self._layers, _layer_sound(new_layer), level, transition)
        elif new_layer is not None:
            for voice in self._layers:
                if not voice.leaving:
                    voice.level.set_target(volume_to_gain(new_layer.volume))
        self._follow_sleep_fade(scene.sleep_fade)

    def resume(self, away_s: float, fade_s: float = RETURN_FADE_S) -> None:
        """The output was away for ``away_s`` and is back: catch up, then fade in.

        Nothing was heard meanwhile, so every fade (the sleep fade, a crossfade, the
        volume's glide) moves on by ``away_s`` at once, and what the limiter held back is
        dropped (it would come out at the old level before the fade-in). Then the whole
        mix rises from silence to where it would be now over ``fade_s``: never a jump,
        and never louder than before the output went away. Sources continue where they
        stopped.
        """
        frames = max(0, round(away_s * self.rate))
        self._sleep.skip(frames)
        self._keep_alive.skip(frames)
        for voices in (self._main, self._layers):
            for voice in list(voices):
                voice.envelope.skip(frames)
                voice.level.settle()
                if voice.leaving and not voice.envelope.is_moving:
                    self._drop(voices, voice)
        self._volume.settle()
        self._ceiling.settle()
        self._limiter = PeakLimiter(self.rate, self.channels)
        self._return.set(0.0)
        self._return.move_to(1.0, ramp_frames(fade_s, self.rate), "db")

    def _switch(self, voices: list[_Voice], spec: str | None, level: float, frames: int) -> None:
        """Fade the current voice(s) out and, if ``spec`` is set, a new one in."""
        crossfade = spec is not None and any(not v.leaving for v in voices)
        for voice in voices:
            if not voice.leaving:
                voice.leaving = True
                voice.envelope.move_to(0.0, frames, "out" if crossfade else "db")
        self._add_voice(voices, spec, level, frames, "in" if crossfade else "db")

    def _start_rise(self, scene: Scene, rise: Rise) -> None:
        """Bring ``scene`` up from silence over the rise; fade out what plays meanwhile.

        The master takes the scene's volume at once, so each old voice's level
        (volume × sleep fade as it is now) is folded into its own gain first: nothing
        already audible moves until its fade-out starts.
        """
        self._rise_token = rise.token
        volume = volume_to_gain(scene.volume, scene.max_volume, scene.range_db)
        heard = self._volume.gain * self._sleep.value
        keep = heard / volume if volume > 0.0 else 0.0
        fade_frames = ramp_frames(scene.transition_s, self.rate)
        for voice in self._main + self._layers:
            voice.level.jump_to(voice.level.gain * keep)
            if not voice.leaving:
                voice.leaving = True
                voice.envelope.move_to(0.0, fade_frames, "db")
        self._volume.jump_to(volume)
        self._ceiling.jump_to(volume_to_gain(scene.max_volume, range_db=scene.range_db))
        self._sleep.set(1.0)
        self._sleep_token = None
        rise_frames = ramp_frames(rise.duration_s, self.rate)
        self._add_voice(self._main, scene.sound, 1.0, rise_frames, "db")
        if scene.layer is not None:
            level = volume_to_gain(scene.layer.volume)
            self._add_voice(self._layers, scene.layer.sound, level, rise_frames, "db")

    def _add_voice(
        self, voices: list[_Voice], spec: str | None, level: float, frames: int, shape: Shape
    ) -> None:
        """Open ``spec`` and bring it in from silence over ``frames`` (nothing for ``None``).

        A sound that cannot open is logged and kept in :attr:`errors` for the shell; a bad
        parameter counts as such a sound (a :class:`SoundError`), never as an output fault.
        """
        if spec is None:
            return
        try:
            source = self._open_source(spec, self.rate, self.channels)
        except (SoundError, ParameterError) as error:
            failure = error if isinstance(error, SoundError) else SoundError(f"{spec}: {error}")
            log.warning("cannot play %s: %s", spec, failure)
            self.errors.append(failure)
            return
        envelope = Envelope(self.rate, 0.0)
        envelope.move_to(1.0, frames, shape)
        voices.append(_Voice(spec, source, envelope, SlewedGain(self.rate, level)))

    def _stop_rise(self) -> None:
        """Stop a running rise where it is: its progress moves into the master volume.

        The rising voices' envelopes jump to 1 while the master drops by the same
        factor (no audible change); the master then glides to the scene's volume.
        """
        self._rise_token = None
        rising = [
            voice
            for voice in self._main + self._layers
            if not voice.leaving and voice.envelope.is_moving and voice.envelope.target == 1.0
        ]
        if not rising:
            return
        reached = max(rising[0].envelope.value, 1e-4)
        for voice in rising:
            voice.envelope.set(1.0)
        for voice in self._main + self._layers:
            if voice.leaving:
                voice.level.jump_to(voice.level.gain / reached)
        self._volume.jump_to(self._volume.gain * reached)

    def _follow_sleep_fade(self, fade: SleepFade | None) -> None:
        if fade is not None and fade.token != self._sleep_token:
            self._sleep_token = fade.token
            self._sleep.move_to(0.0, ramp_frames(fade.duration_s, self.rate), "db")
            if fade.elapsed_s > 0:  # opened mid-fade: start where the fade has got to
                self._sleep.skip(max(0, round(fade.elapsed_s * self.rate)))
        elif fade is None and self._sleep_token is not None:
            self._sleep_token = None
            self._sleep.move_to(1.0, ramp_frames(WAKE_RAMP_S, self.rate), "db")

    def _master(
        self, frames: int, layer_gains: list[float | np.ndarray], back: float | np.ndarray
    ) -> float | np.ndarray:
        """Volume × ceiling scale × sleep fade × ``back`` (the return fade) for ``frames``.

        A number when everything is settled (most blocks), else a per-sample curve.
        ``layer_gains`` are the layer voices' own gains this block (relative to main):
        with them the mix is held to one sound at the ceiling (:func:`ceiling_scale`).
        """
        volume = self._volume.gain if self._volume.is_settled else self._volume.render(frames)
        ceiling = self._ceiling.gain if self._ceiling.is_settled else self._ceiling.render(frames)
        sleep = self._sleep.render(frames) if self._sleep.is_moving else self._sleep.value
        if layer_gains:
            main_specs = {voice.spec for voice in self._main}
            unrelated: float | np.ndarray = 0.0
            same: float | np.ndarray = 0.0
            for voice, gain in zip(self._layers, layer_gains, strict=True):
                if voice.spec in main_specs:
                    same = same + gain
                else:
                    unrelated = unrelated + np.square(gain)
            volume = volume * ceiling_scale(volume, ceiling, np.sqrt(unrelated), same)
        return volume * sleep * back

    @staticmethod
    def _voice_gain(voice: _Voice, frames: int) -> float | np.ndarray:
        """The voice's envelope × level for the next ``frames``: a number when settled."""
        if voice.envelope.is_moving or not voice.level.is_settled:
            return voice.envelope.render(frames) * voice.level.render(frames)
        return voice.envelope.value * voice.level.gain

    def _mix(
        self,
        voices: list[_Voice],
        frames: int,
        master: float | np.ndarray,
        out: np.ndarray | None,
        gains: list[float | np.ndarray] | None = None,
    ) -> np.ndarray | None:
        """Add each voice × its gains × ``master`` into ``out`` (or start it); return it.

        ``gains`` are the voices' own gains when already rendered (the layers', which
        the master needs first). Every gain is folded into one factor per voice, and
        blocks are scaled in place (sources hand over blocks the caller owns): one pass
        per voice, two to mix in, no temporaries. Most blocks need no per-sample curve.
        """
        if gains is None:
            gains = [self._voice_gain(voice, frames) for voice in voices]
        for voice, own in zip(list(voices), gains, strict=True):
            try:
                block = voice.source.read(frames)
            except SoundError as error:
                log.warning("stopped %s: %s", voice.spec, error)
                self.errors.append(error)
                self._drop(voices, voice)
                continue
            gain = own * master
            if isinstance(gain, np.ndarray):
                block = np.multiply(block, gain.astype(np.float32, copy=False)[:, None], out=block)
            elif gain == 0.0:
                block = None
            elif gain != 1.0:
                block = np.multiply(block, np.float32(gain), out=block)
            if block is not None:
                if out is None:
                    out = block
                else:
                    out += block
            if voice.leaving and not voice.envelope.is_moving:
                self._drop(voices, voice)
        return out

    @staticmethod
    def _drop(voices: list[_Voice], voice: _Voice) -> None:
        voices.remove(voice)
        voice.source.close()

    def render(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as a float32 ``(frames, channels)`` array."""
        layer_gains = [self._voice_gain(voice, frames) for voice in self._layers]
        back = self._return.render(frames) if self._return.is_moving else self._return.value
        master = self._master(frames, layer_gains, back)
        out = self._mix(self._main, frames, master, None)
        out = self._mix(self._layers, frames, master, out, layer_gains)
        out = self._keep_alive.add(out, frames, back)
        if out is None:
            out = np.zeros((frames, self.channels), dtype=np.float32)
        return self._limiter.process(out)

    def close(self) -> None:
        """Close every open source."""
        for voice in self._main + self._layers:
            voice.source.close()
        self._main.clear()
        self._layers.clear()


def _layer_sound(layer: Layer | None) -> str | None:
    return layer.sound if layer else None
