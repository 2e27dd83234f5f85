"""Whispering made on the device, and a "personal attention" bed built around it.

:class:`Whispers` is soft, unintelligible whispering: breath noise shaped like
speech, with no voiced pitch anywhere. Each syllable is made whole as an event
(Python loops run over syllables, four a second, never over samples):

* an optional onset: a fricative (s, sh, f), an ``h`` of breath, or a soft plosive
  (a short closure, then a burst with a 3 ms raised-cosine attack: it lands, it
  does not snap) followed by aspiration;
* a vowel: noise through formants (F1-F4 of a whispered vowel, gliding towards a
  second vowel as real speech does), broad bandwidths as whispering has;
* sometimes a fricative coda.

Noise is shaped in the frequency domain: frames of :data:`_FRAME_S` of complex
Gaussian noise, multiplied by the spectral envelope of their moment, inverse-FFT'd
and overlap-added with a sine window (power-complementary at 50 % overlap, so the
level neither ripples nor repeats at the frame rate). Every envelope also carries
the voice's fixed colour, designed at open: a gentle proximity warmth (the bass
bump of a mouth close to the ear), a high-pass below 90 Hz and a de-esser (-24
dB/octave above 6.5 kHz: no harsh sibilance).

Syllables come 3-5 a second, grouped into phrases of a few words with pauses
between and now and then a breath in; the speaker's vocal-tract length, breathiness,
tempo and level drift slowly (random walks), so no phrase ever comes back.

:class:`Attention` composes the parts: whispers close to one ear for a while, then
a little brushing or tapping while the voice moves to the other ear, and so on.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from sleepsound.sources.movement import HeadModel, control_points
from sleepsound.sources.presets import Preset, find_preset
from sleepsound.sources.textures import (
    CHUNK,
    Brushing,
    Tapping,
    Texture,
    _bandpass,
    _db,
    _Filter,
    _soft_envelope,
)

_FRAME_S: Final[float] = 0.0107
"""Spectral frame length (512 samples at 48 kHz; a power of two at any rate)."""

# F1-F3 of whispered vowels (Hz): whispering raises F1 a little over voiced speech.
_VOWELS: Final[np.ndarray] = np.array(
    [
        (400.0, 2300.0, 3000.0),  # i
        (500.0, 2000.0, 2700.0),  # ɪ
        (600.0, 1900.0, 2600.0),  # e
        (700.0, 1750.0, 2600.0),  # ɛ
        (900.0, 1450.0, 2600.0),  # a
        (800.0, 1150.0, 2700.0),  # ɑ
        (680.0, 1000.0, 2600.0),  # ɔ
        (580.0, 950.0, 2500.0),  # o
        (450.0, 950.0, 2400.0),  # u
        (540.0, 1150.0, 2450.0),  # ʊ
        (620.0, 1400.0, 2600.0),  # ə
    ]
)
_F4_HZ: Final[float] = 3700.0
_BANDWIDTHS_HZ: Final[np.ndarray] = np.array([260.0, 280.0, 340.0, 450.0])
_FORMANT_LEVELS: Final[np.ndarray] = np.array([0.55, 1.0, 0.7, 0.35])

# Fricatives and plosive bursts: centre (Hz), width (octaves), level (dB re the vowel).
_FRICATIVES: Final[dict[str, tuple[float, float, float]]] = {
    "s": (4800.0, 0.45, -10.0),
    "sh": (2900.0, 0.45, -7.0),
    "f": (3000.0, 1.6, -14.0),
}
_PLOSIVES: Final[dict[str, tuple[float, float, float]]] = {
    "p": (900.0, 1.0, -7.0),
    "t": (3800.0, 0.6, -6.0),
    "k": (2000.0, 0.5, -6.0),
}
_ONSETS: Final[tuple[str, ...]] = ("", "s", "sh", "f", "h", "p", "t", "k")
_ONSET_ODDS: Final[tuple[float, ...]] = (0.15, 0.14, 0.10, 0.10, 0.13, 0.12, 0.14, 0.12)
_CODAS: Final[tuple[str, ...]] = ("s", "sh", "f")

_KNEE: Final[float] = 2.5
_LIMIT: Final[float] = 3.5
"""Noise peaks are bent above 2.5 standard deviations towards 3.5: breath sounds the
same without its rare tall peaks, so no syllable stands out as a click."""


def _soft_peaks(x: np.ndarray) -> np.ndarray:
    """Unit-variance noise with peaks above :data:`_KNEE` bent smoothly towards :data:`_LIMIT`."""
    over = np.abs(x) > _KNEE
    if over.any():
        span = _LIMIT - _KNEE
        bent = _KNEE + span * np.tanh((np.abs(x[over]) - _KNEE) / span)
        x[over] = np.copysign(bent, x[over])
    return x


class _Drift:
    """A voice parameter that wanders slowly around 0 (a random walk pulled home)."""

    def __init__(self, rng: np.random.Generator, sigma: float, keep: float) -> None:
        self.rng = rng
        self.sigma = sigma
        self.keep = keep
        self.value = float(rng.normal(0.0, sigma))

    def step(self) -> float:
        """Move on (once a syllable) and return the new value."""
        kick = self.sigma * math.sqrt(1.0 - self.keep**2)
        self.value = self.keep * self.value + kick * float(self.rng.standard_normal())
        return self.value


class Whispers(Texture):
    """Soft, unintelligible whispering, close by (see the module doc)."""

    engine = "whispers"
    point_source = True

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.syllable_rate = p.span("syllables_per_s", (3.0, 5.0), 1.0, 8.0)
        self.phrase = p.span("syllables_per_phrase", (4.0, 11.0), 1.0, 40.0)
        self.pause_s = p.span("pause_s", (0.7, 2.4), 0.2, 30.0)
        self.breath = p.number("breath_chance", 0.35, 0.0, 1.0)
        warmth = _db(p.number("warmth_db", -9.0, -60.0, 0.0))
        room_db = p.number("room_level_db", -48.0, -90.0, 0.0)
        self._ready()
        self.frame = 1 << round(math.log2(_FRAME_S * rate))
        self.hop = self.frame // 2
        self.freqs = np.fft.rfftfreq(self.frame, 1.0 / rate)
        self.window = np.sin(np.pi * (np.arange(self.frame) + 0.5) / self.frame)
        self.noise_scale = math.sqrt(self.frame / 2.0)
        f = self.freqs
        high_pass = (f / 90.0) ** 2 / (1.0 + (f / 90.0) ** 2)
        de_ess = 1.0 / np.sqrt(1.0 + (f / 6500.0) ** 8)
        self.colour = high_pass * de_ess
        # Proximity warmth: the bass bump of a mouth close to the ear, in power.
        self.warmth = warmth**2 / (1.0 + ((f - 250.0) / 220.0) ** 2)
        self.room = _Filter(_bandpass(100.0, 4000.0, rate, order=1), channels=1)
        self.room_level = _db(room_db)
        keep = math.exp(-0.25 / 20.0)  # per syllable, wandering over about 20 s
        self.vtl = _Drift(self.rng, 0.04, keep)  # formant scale (vocal-tract length)
        self.breathiness = _Drift(self.rng, 0.15, keep)  # bandwidth scale
        self.loudness = _Drift(self.rng, 1.2, keep)  # dB
        self.tempo = _Drift(self.rng, 0.08, keep)  # syllable-rate scale
        self.left_in_phrase = 0
        self.phrase_rate = 4.0
        self.hold = False
        """While true, no new phrase starts (the one under way finishes): see Attention."""
        self.next_at = round(self.rng.uniform(0.1, 0.5) * rate)

    # ------------------------------------------------------------ spectra

    def _shaped_noise(self, magnitude: np.ndarray, frames: int) -> np.ndarray:
        """Unit-power noise of ``frames`` samples, frame ``k`` (at sample ``k·hop``)
        coloured by ``magnitude[k]`` (rows normalised to unit mean power)."""
        count = len(magnitude)
        rng = self.rng
        spectrum = rng.standard_normal(magnitude.shape) + 1j * rng.standard_normal(magnitude.shape)
        spectrum *= magnitude
        grains = np.fft.irfft(spectrum, n=self.frame, axis=1) * (self.window * self.noise_scale)
        out = np.zeros((count + 1, self.hop))
        out[:count] += grains[:, : self.hop]
        out[1:] += grains[:, self.hop :]
        return _soft_peaks(out.reshape(-1)[self.hop : self.hop + frames])

    def _normalised(self, power: np.ndarray) -> np.ndarray:
        """Magnitudes from power spectra (rows), coloured, at unit mean power per row."""
        magnitude = np.sqrt(power) * self.colour
        magnitude /= np.sqrt(np.mean(magnitude**2, axis=-1, keepdims=True)) + 1e-12
        return magnitude

    def _vowel_power(self, formants: np.ndarray, breathy: float) -> np.ndarray:
        """Power spectra for rows of formant frequencies ``(frames, 4)``."""
        f = self.freqs[None, None, :]
        half_bw = (_BANDWIDTHS_HZ * breathy / 2.0)[None, :, None]
        levels = (_FORMANT_LEVELS**2)[None, :, None]
        peaks = levels / (1.0 + ((f - formants[:, :, None]) / half_bw) ** 2)
        return peaks.sum(axis=1) + self.warmth[None, :]

    def _band(self, centre_hz: float, octaves: float) -> np.ndarray:
        """Power spectrum of a fricative or burst: a bell on a log-frequency axis."""
        distance = np.log2(np.maximum(self.freqs, 1.0) / centre_hz) / octaves
        return np.exp(-(distance**2))

    # ------------------------------------------------------------ events

    def _syllable(self, period_s: float, final: bool) -> np.ndarray:
        """One whispered syllable, about ``period_s`` long."""
        rng, rate = self.rng, self.rate
        scale = 1.0 + self.vtl.step()
        breathy = max(0.5, 1.0 + self.breathiness.step())
        onset = str(rng.choice(_ONSETS, p=_ONSET_ODDS))
        coda = str(rng.choice(_CODAS)) if rng.random() < 0.3 else ""
        # Where the pieces fall (samples).
        vowel_at, pieces = 0, []
        if onset in _FRICATIVES:
            length = round(rng.uniform(0.05, 0.10) * rate)
            pieces.append((onset, 0, length))
            vowel_at = round(0.6 * length)
        elif onset in _PLOSIVES:
            closure = round(rng.uniform(0.015, 0.03) * rate)
            burst = round(rng.uniform(0.008, 0.016) * rate)
            pieces.append((onset, closure, burst))
            vowel_at = closure + burst // 2
        elif onset == "h":
            vowel_at = round(rng.uniform(0.04, 0.08) * rate)
        vowel_len = round(period_s * rng.uniform(0.35, 0.55) * (1.4 if final else 1.0) * rate)
        if coda:
            start = vowel_at + vowel_len - round(0.03 * rate)
            pieces.append((coda, start, round(rng.uniform(0.04, 0.08) * rate)))
        frames = max([vowel_at + vowel_len] + [start + length for _, start, length in pieces])
        frames += self.hop
        # Amplitudes of the two streams: the vowel's breath and the consonants' hiss.
        vowel_amp = np.zeros(frames)
        stress = rng.uniform(0.6, 1.0) * (0.7 if final else 1.0)
        vowel_amp[vowel_at : vowel_at + vowel_len] = stress * _soft_envelope(
            vowel_len, round(0.03 * rate), round(0.06 * rate)
        )
        if onset == "h" or onset in _PLOSIVES:  # aspiration leading into the vowel
            lead = vowel_at if onset == "h" else round(0.035 * rate)
            start = max(0, vowel_at - lead)
            span = vowel_at - start
            ramp = 0.35 * stress * _soft_envelope(2 * span, span, span)[:span]
            vowel_amp[start:vowel_at] = np.maximum(vowel_amp[start:vowel_at], ramp)
        cons_amp = np.zeros(frames)
        count = frames // self.hop + 2
        centres = np.arange(count) * self.hop
        cons_power = np.empty((count, len(self.freqs)))
        split = vowel_at + vowel_len // 2
        cons_power[:] = 1e-6
        for name, start, length in pieces:
            if name in _PLOSIVES:
                centre, octaves, level_db = _PLOSIVES[name]
                env = _soft_envelope(length, round(0.003 * rate), length - round(0.003 * rate))
            else:
                centre, octaves, level_db = _FRICATIVES[name]
                env = _soft_envelope(length, round(0.4 * length), round(0.45 * length))
            cons_amp[start : start + length] += stress * _db(level_db + 6.0) * env
            rows = centres < split if start < split else centres >= split
            cons_power[rows] = self._band(centre * rng.uniform(0.92, 1.08) * scale, octaves)
        # Formants glide from one vowel towards another across the syllable.
        first, second = _VOWELS[rng.integers(len(_VOWELS), size=2)]
        target = first + rng.uniform(0.2, 0.6) * (second - first)
        progress = np.clip((centres - vowel_at) / max(vowel_len, 1), 0.0, 1.0)
        progress = progress * progress * (3.0 - 2.0 * progress)  # smoothstep
        formants = np.empty((count, 4))
        formants[:, :3] = first + np.outer(progress, target - first)
        formants[:, 3] = _F4_HZ
        formants *= scale
        vowel = self._shaped_noise(self._normalised(self._vowel_power(formants, breathy)), frames)
        out = vowel * vowel_amp
        if pieces:
            out += self._shaped_noise(self._normalised(cons_power), frames) * cons_amp
        return out * _db(self.loudness.step())

    def _breath_in(self) -> np.ndarray:
        """A soft in-breath: broad, low-ish breath noise that swells and fades."""
        rng, rate = self.rng, self.rate
        frames = round(rng.uniform(0.35, 0.6) * rate)
        count = frames // self.hop + 2
        formants = np.tile(np.append(_VOWELS[-1], _F4_HZ) * rng.uniform(0.85, 1.0), (count, 1))
        power = self._vowel_power(formants, 3.0)
        noise = self._shaped_noise(self._normalised(power), frames)
        env = _soft_envelope(frames, round(0.55 * frames), round(0.45 * frames))
        return noise * env * 0.3 * _db(rng.uniform(-4.0, 0.0))

    def _fire(self, offset: int) -> float:
        """Make the next syllable (or wait, held); return seconds to the one after."""
        rng = self.rng
        if self.left_in_phrase == 0:
            if self.hold:
                return 0.1
            low, high = self.phrase
            self.left_in_phrase = int(rng.integers(round(low), round(high) + 1))
            self.phrase_rate = float(rng.uniform(*self.syllable_rate))
        rate_now = self.phrase_rate * (1.0 + self.tempo.step()) * rng.uniform(0.87, 1.15)
        low, high = self.syllable_rate
        period_s = 1.0 / float(np.clip(rate_now, 0.8 * low, 1.2 * high))
        self.left_in_phrase -= 1
        final = self.left_in_phrase == 0
        syllable = self._syllable(period_s, final)
        self.events.add(offset, syllable[:, None])
        if not final:
            return period_s
        spoken_s = max(period_s, len(syllable) / self.rate)
        pause_s = float(rng.uniform(*self.pause_s))
        if rng.random() < self.breath and pause_s > 0.6:
            breath = self._breath_in()
            lead = round((spoken_s + 0.25 * pause_s) * self.rate)
            self.events.add(offset + lead, breath[:, None])
            pause_s = max(pause_s, 0.25 * pause_s + len(breath) / self.rate + 0.2)
        return spoken_s + pause_s

    def render(self) -> np.ndarray:
        """The next chunk, one column (the base class places it)."""
        self.next_at = self._run_events(self.next_at, self._fire)
        room = self.room(self.rng.standard_normal((CHUNK, 1))) * self.room_level
        return self.events.take(CHUNK)[:, :1] + room


class Attention(Texture):
    """Personal attention: whispers at one ear, brushing or tapping, the other ear."""

    engine = "attention"

    def __init__(self, preset: Preset, rate: int, channels: int, seed: int | None) -> None:
        super().__init__(preset, rate, channels, seed)
        p = self.params
        self.turn_s = p.span("whisper_s", (10.0, 22.0), 2.0, 300.0)
        self.interlude_s = p.span("interlude_s", (5.0, 12.0), 1.0, 300.0)
        self.side_deg = p.span("side_deg", (55.0, 85.0), 0.0, 90.0)
        levels = {
            "brushing": _db(p.number("brushing_level_db", 0.0, -40.0, 12.0)),
            "tapping": _db(p.number("tapping_level_db", 0.0, -40.0, 12.0)),
        }
        self._ready()
        seeds = [int(s) for s in self.rng.integers(0, 2**62, 3)]
        self.voice = Whispers(find_preset("whispers"), rate, 2, seeds[0])
        self.hands: dict[str, Texture] = {
            "brushing": Brushing(find_preset("brushing"), rate, 2, seeds[1]),
            "tapping": Tapping(find_preset("soft-tapping"), rate, 2, seeds[2]),
        }
        self.hand_levels = levels
        self.gates = dict.fromkeys(self.hands, 0.0)
        # Mono: the voice stays centred (ears summed with delays would comb-filter).
        self.ears = HeadModel(rate) if channels == 2 else None
        self.side = float(self.rng.choice([-1.0, 1.0]))
        self.azimuth = self.target = self._side_azimuth()
        self.speaking = True
        self.hand = "brushing"
        self.turn_end = round(self.rng.uniform(*self.turn_s) * rate)
        self._ramp = np.arange(1, CHUNK + 1) / CHUNK

    def _side_azimuth(self) -> float:
        return self.side * math.radians(float(self.rng.uniform(*self.side_deg)))

    def _next_turn(self) -> None:
        """Voice to hands, or hands to the voice at the other ear."""
        rng = self.rng
        if self.speaking:
            self.speaking = False
            self.hand = str(rng.choice(list(self.hands)))
            length_s = rng.uniform(*self.interlude_s)
            # The voice, quiet now, moves over to the other ear for its next turn.
            self.side = -self.side
            self.target = self._side_azimuth()
        else:
            self.speaking = True
            length_s = rng.uniform(*self.turn_s)
        self.turn_end = self.clock + round(float(length_s) * self.rate)

    def render(self) -> np.ndarray:
        """The next chunk: the placed voice plus whichever hands are (fading) in."""
        if self.clock >= self.turn_end:
            self._next_turn()
        self.voice.hold = not self.speaking
        voice = self.voice.render()[:, 0] * self.voice.gain
        self.voice.clock += CHUNK
        if self.ears is None:
            out = np.repeat(voice[:, None], 2, axis=1)
        else:
            # The voice glides to its side at most 180° in 3 s (held quiet meanwhile).
            most = math.pi * CHUNK / (3.0 * self.rate)
            step = float(np.clip(self.target - self.azimuth, -most, most))
            path = self.azimuth + step * (control_points(CHUNK) / CHUNK)
            self.azimuth += step
            out = self.ears.render(voice, path)
        fade = CHUNK / self.rate  # a 1 s fade, in steps of one chunk
        for name, hand in self.hands.items():
            was = self.gates[name]
            wanted = 1.0 if (not self.speaking and name == self.hand) else 0.0
            now = float(np.clip(wanted, was - fade, was + fade))
            self.gates[name] = now
            if was == 0.0 and now == 0.0:
                continue  # paused where it was: it resumes mid-gesture next time
            gate = 0.5 - 0.5 * np.cos(math.pi * (was + (now - was) * self._ramp))
            out += hand.render() * (hand.gain * self.hand_levels[name]) * gate[:, None]
            hand.clock += CHUNK
        return out
