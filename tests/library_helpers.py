"""Helpers for the library and texture tests: test material and a looping array source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal


def material(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Steady pinkish noise with soft swells, peak-normalised to 0 dBFS."""
    rng = np.random.default_rng(seed)
    frames = int(seconds * rate)
    white = rng.standard_normal((frames, channels))
    b, a = signal.butter(1, 800 / (rate / 2))
    tinted = signal.lfilter(b, a, white, axis=0) + 0.2 * white
    swell = 1.0 + 0.3 * np.sin(2 * np.pi * 0.2 * np.arange(frames) / rate)
    tinted *= swell[:, None]
    return (tinted / np.max(np.abs(tinted))).astype(np.float32)


def at_peak_dbfs(data: np.ndarray, peak_dbfs: float) -> np.ndarray:
    """Scale ``data`` so its highest sample peak is ``peak_dbfs``."""
    return (data / np.max(np.abs(data)) * 10 ** (peak_dbfs / 20)).astype(np.float32)


def write(path: Path, data: np.ndarray, rate: int, **kwargs: object) -> Path:
    """Write a real sound file with libsndfile; returns ``path``."""
    sf.write(str(path), data, rate, **kwargs)
    return path


def lufs(data: np.ndarray, rate: int) -> float:
    """Integrated loudness by pyloudnorm, the reference."""
    return float(pyloudnorm.Meter(rate).integrated_loudness(np.asarray(data, dtype=np.float64)))


def peak_db(data: np.ndarray) -> float:
    """Highest sample peak in dBFS."""
    return float(20 * np.log10(np.max(np.abs(data))))


class ArraySource:
    """A real Source over an array, looping forever (stand-in for a decoded file)."""

    def __init__(self, data: np.ndarray, rate: int) -> None:
        self.data = np.asarray(data, dtype=np.float32)
        if self.data.ndim == 1:
            self.data = self.data[:, None]
        self.rate = rate
        self.channels = self.data.shape[1]
        self.pos = 0
        self.closed = False

    def read(self, frames: int) -> np.ndarray:
        idx = (self.pos + np.arange(frames)) % len(self.data)
        self.pos = (self.pos + frames) % len(self.data)
        return self.data[idx]

    def close(self) -> None:
        self.closed = True


def read_all(source: object, seconds: float, block: int = 1024) -> np.ndarray:
    """Read ``seconds`` of a source in blocks of ``block`` frames."""
    total = int(seconds * source.rate)  # type: ignore[attr-defined]
    parts = []
    while total > 0:
        n = min(block, total)
        parts.append(source.read(n))  # type: ignore[attr-defined]
        total -= n
    return np.concatenate(parts)
