"""Audio analysis and test-file helpers for assertions about what a listener would hear.

Signals are float arrays scaled to [-1, 1], shape (frames,) or (frames, channels). Levels are in
dBFS; silence reads as :data:`SILENCE_DB` rather than minus infinity, so differences stay finite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

# The level reported for digital silence (and the floor of every level here).
SILENCE_DB = -200.0
_SILENCE_AMPLITUDE = 10.0 ** (SILENCE_DB / 20.0)

# click_score's defaults: a discontinuity spreads energy over all frequencies, while quiet
# low-frequency material (rain rumble, brown noise, fades) has next to none above a few kHz.
CLICK_HIGHPASS_HZ = 4000.0
CLICK_WINDOW_S = 0.05
# The residual's local median is never taken below one 16-bit step (-90.3 dBFS): otherwise the
# near-zero residual of a float signal would make a harmless bend (the corner of a 20 ms
# ramp, float rounding) stand tens of dB above "its surroundings".
CLICK_FLOOR_DB = -90.0
# Scores above this are clicks: clean material stays near or below 20 dB, a -40 dBFS step in
# a quiet low tone reaches about 44 dB, a -50 dBFS one about 34 dB.
CLICK_THRESHOLD_DB = 30.0

# Extensions write_test_audio understands, with soundfile's format name and default subtype.
_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def _amplitude_to_db(value: float) -> float:
    return float(20.0 * np.log10(max(float(value), _SILENCE_AMPLITUDE)))


def db_to_amplitude(level_db: float) -> float:
    """Return the linear amplitude of a level in dBFS (0 dB -> 1.0)."""
    return float(10.0 ** (level_db / 20.0))


def rms_db(x: np.ndarray) -> float:
    """Return the RMS level of all samples (every channel together) in dBFS.

    A full-scale sine reads -3.01 dB; silence reads :data:`SILENCE_DB`.
    """
    data = np.asarray(x, dtype=np.float64)
    if data.size == 0:
        return SILENCE_DB
    return _amplitude_to_db(np.sqrt(np.mean(data * data)))


def peak_db(x: np.ndarray) -> float:
    """Return the largest absolute sample value in dBFS."""
    data = np.asarray(x, dtype=np.float64)
    if data.size == 0:
        return SILENCE_DB
    return _amplitude_to_db(np.max(np.abs(data)))


def level_envelope_db(x: np.ndarray, rate: int, window_s: float) -> np.ndarray:
    """Return the RMS level in dBFS of each consecutive ``window_s`` window.

    Windows do not overlap; a last partial window is dropped. Channels are pooled (the
    level of the frame, not of one ear). Element ``i`` covers the time from ``i * window_s``.
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    window = max(1, round(window_s * rate))
    count = data.shape[0] // window
    if count == 0:
        return np.empty(0)
    blocks = data[: count * window].reshape(count, window, data.shape[1])
    mean_square = np.mean(blocks * blocks, axis=(1, 2))
    return 10.0 * np.log10(np.maximum(mean_square, _SILENCE_AMPLITUDE**2))


def _click_ratio_db(
    x: np.ndarray,
    rate: int,
    highpass_hz: float,
    window_s: float,
    floor_db: float,
) -> np.ndarray:
    """Per-frame residual level relative to the local median, in dB (max over channels)."""
    data = np.asarray(x, dtype=np.float64)
    if data.ndim == 1:
        data = data[:, np.newaxis]
    frames = data.shape[0]
    if frames == 0:
        return np.empty(0)
    sos = signal.butter(4, highpass_hz, btype="highpass", fs=rate, output="sos")
    # Causal filtering: a step's ringing follows it, as in a listener's ear, and an odd
    # extension of the first sample keeps an abrupt-but-continuous start from reading as a click.
    lead = 2.0 * data[:1] - data[1:1025][::-1]
    padded = np.concatenate([lead, data], axis=0)
    # Start the filter settled on the first padded value, so it adds no step of its own.
    zi = signal.sosfilt_zi(sos)[:, :, np.newaxis] * padded[0]
    residual = np.abs(signal.sosfilt(sos, padded, axis=0, zi=zi)[0])[-frames:]
    # The median of fixed blocks, not a sliding median: as robust to a lone click, and
    # O(n log w) instead of O(n w) on minutes of audio.
    window = max(8, round(window_s * rate))
    blocks = -(-frames // window)
    padded_residual = np.pad(residual, ((0, blocks * window - frames), (0, 0)), mode="edge")
    medians = np.median(padded_residual.reshape(blocks, window, -1), axis=1)
    # Neighbouring blocks take part so that a block ending in a quiet fade does not flag the
    # ordinary start of the next, louder one.
    neighbourhood = np.maximum.reduce([np.roll(medians, 1, 0), medians, np.roll(medians, -1, 0)])
    reference = np.repeat(np.maximum(neighbourhood, db_to_amplitude(floor_db)), window, 0)
    ratio = residual / reference[:frames]
    return 20.0 * np.log10(np.maximum(np.max(ratio, axis=1), _SILENCE_AMPLITUDE))


def click_score(
    x: np.ndarray,
    rate: int,
    highpass_hz: float = CLICK_HIGHPASS_HZ,
    window_s: float = CLICK_WINDOW_S,
    floor_db: float = CLICK_FLOOR_DB,
) -> float:
    """Return how far the worst high-frequency transient stands above its surroundings, in dB.

    The signal is high-passed (4th-order Butterworth at ``highpass_hz``); the score is the
    largest ratio of the residual to the median residual of its ``window_s`` neighbourhood,
    that median never taken below ``floor_db``. Measured: a clean low sine scores below 0 dB
    (float) or about 0 dB (16-bit); a 1-sample step of -40 dBFS in it scores 44 dB, -50 dBFS
    34 dB, -60 dBFS 24 dB; a hard switch from silence to -6 dBFS about 60 dB; a 20 ms ramp
    about 1 dB; white or brown noise about 17 dB. Compare with :data:`CLICK_THRESHOLD_DB`.

    Meant for synthetic, low-frequency test material: real recordings with taps or crackle
    score high by nature, and in loud broadband noise a step must be larger to stand out.
    A start or an end is judged only if the signal includes the silence before or after it.
    """
    ratio = _click_ratio_db(x, rate, highpass_hz, window_s, floor_db)
    return float(np.max(ratio)) if ratio.size else SILENCE_DB


def click_index(
    x: np.ndarray,
    rate: int,
    highpass_hz: float = CLICK_HIGHPASS_HZ,
    window_s: float = CLICK_WINDOW_S,
    floor_db: float = CLICK_FLOOR_DB,
) -> int:
    """Return the frame index where :func:`click_score` found its worst transient."""
    ratio = _click_ratio_db(x, rate, highpass_hz, window_s, floor_db)
    if ratio.size == 0:
        raise ValueError("no audio to search for clicks")
    return int(np.argmax(ratio))


def dominant_frequency(x: np.ndarray, rate: int) -> float:
    """Return the frequency in Hz of the strongest spectral peak (channels mixed).

    Hann window, then a parabola through the log magnitudes of the peak bin and its
    neighbours: accurate to a small fraction of a bin (``rate / frames``).
    """
    data = np.asarray(x, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size < 4:
        raise ValueError("need at least 4 frames to find a frequency")
    spectrum = np.abs(np.fft.rfft((data - data.mean()) * np.hanning(data.size)))
    peak = int(np.argmax(spectrum[1:])) + 1
    offset = 0.0
    if peak < spectrum.size - 1:
        left, centre, right = np.log(np.maximum(spectrum[peak - 1 : peak + 2], 1e-300))
        curvature = left - 2.0 * centre + right
        if curvature < 0:
            offset = 0.5 * (left - right) / curvature
    return float((peak + offset) * rate / data.size)


def sine(
    frequency_hz: float,
    duration_s: float,
    rate: int = 48000,
    level_db: float = -6.0,
    channels: int = 1,
    phase: float = 0.0,
) -> np.ndarray:
    """Return a float32 sine of peak ``level_db`` dBFS, shape (frames,) or (frames, channels)."""
    frames = round(duration_s * rate)
    t = np.arange(frames) / rate
    wave = db_to_amplitude(level_db) * np.sin(2.0 * np.pi * frequency_hz * t + phase)
    wave = wave.astype(np.float32)
    return wave if channels == 1 else np.repeat(wave[:, np.newaxis], channels, axis=1)


def can_write(extension: str) -> bool:
    """Whether this machine's libsndfile can write files with ``extension`` (e.g. ``.mp3``)."""
    entry = _FORMATS.get(extension.lower())
    return entry is not None and entry[0] in soundfile.available_formats()


def write_test_audio(
    path: Path | str,
    data: np.ndarray,
    rate: int = 48000,
    subtype: str | None = None,
) -> Path:
    """Write a small real sound file; the format follows the extension (wav, flac, ogg, mp3).

    ``subtype`` is soundfile's (``PCM_16``, ``PCM_24``, ``FLOAT``, ``VORBIS``...); the default
    suits the format. MP3 needs a libsndfile >= 1.1 built with LAME: check :func:`can_write`
    first, or let the ``RuntimeError`` say it is missing.
    """
    target = Path(path)
    entry = _FORMATS.get(target.suffix.lower())
    if entry is None:
        raise ValueError(f"unknown audio extension {target.suffix!r}; use one of {list(_FORMATS)}")
    file_format, default_subtype = entry
    if file_format not in soundfile.available_formats():
        raise RuntimeError(
            f"this libsndfile ({soundfile.__libsndfile_version__}) cannot write {file_format}"
        )
    soundfile.write(target, data, rate, subtype=subtype or default_subtype, format=file_format)
    return target


# The name other tests were promised; it writes every supported format, not only WAV.
write_test_wav = write_test_audio


def make_corrupt_files(directory: Path | str) -> dict[str, Path]:
    """Create one broken sound file of each kind in ``directory``; return them by kind.

    Kinds: ``truncated_wav`` (a real WAV cut off inside its data chunk, so the header
    promises more than there is), ``garbage_flac`` (random bytes named ``.flac``),
    ``empty_wav`` (zero bytes), ``text_wav`` (a text file named ``.wav``).
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "truncated_wav": folder / "truncated.wav",
        "garbage_flac": folder / "garbage.flac",
        "empty_wav": folder / "empty.wav",
        "text_wav": folder / "notes.wav",
    }
    whole = folder / ".whole.wav"
    write_test_audio(whole, sine(440.0, 0.5, 48000), 48000)
    content = whole.read_bytes()
    whole.unlink()
    files["truncated_wav"].write_bytes(content[: 44 + len(content) // 3])
    files["garbage_flac"].write_bytes(np.random.default_rng(7).bytes(4096))
    files["empty_wav"].write_bytes(b"")
    files["text_wav"].write_text("These are my notes, not a sound.\n")
    return files
