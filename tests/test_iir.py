"""The numpy IIR filters the textures use match ``scipy.signal`` (which the daemon no
longer loads: 75 MB) to float64 rounding, with state carried across calls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sleepsound.dsp import iir

RATE = 48000
DESIGNS = [
    (1, 40.0 / 24000, "highpass"),
    (1, 40.0 / 24000, "low"),
    (2, 250.0 / 24000, "low"),
    (2, 0.45, "low"),
    (2, 0.9, "low"),
    (2, [300.0 / 24000, 7000.0 / 24000], "bandpass"),
    (2, [40.0 / 24000, 700.0 / 24000], "bandpass"),
    (2, [0.2, 0.9], "bandpass"),
    (1, [0.1, 0.3], "bandpass"),
    (2, 100.0 / 8000, "highpass"),
]


def _response(sos: np.ndarray) -> np.ndarray:
    return signal.sosfreqz(sos, worN=512)[1]


@pytest.mark.parametrize(("order", "wn", "btype"), DESIGNS)
def test_butterworth_designs_match_scipy(order: int, wn: object, btype: str) -> None:
    ours, theirs = (
        iir.butter(order, wn, btype, output="sos"),
        signal.butter(order, wn, btype, output="sos"),
    )
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(_response(ours), _response(theirs), atol=1e-9)


@pytest.mark.parametrize(("order", "wn", "btype"), DESIGNS)
@pytest.mark.parametrize("lanes", [1, 2])
def test_filtering_in_pieces_matches_scipy_in_one_go(
    order: int, wn: object, btype: str, lanes: int
) -> None:
    rng = np.random.default_rng(order + lanes)
    sos = signal.butter(order, wn, btype, output="sos")
    x = rng.standard_normal((10000, lanes))
    expected = signal.sosfilt(sos, x, axis=0)
    zi = np.zeros((sos.shape[0], 2, lanes))
    pieces = []
    for start, stop in ((0, 4096), (4096, 4096), (4096, 4100), (4100, 8196), (8196, 10000)):
        y, zi = iir.sosfilt(sos, x[start:stop], axis=0, zi=zi)
        pieces.append(y)
    np.testing.assert_allclose(np.concatenate(pieces), expected, atol=1e-9)
    np.testing.assert_allclose(iir.sosfilt(sos, x[:, 0]), signal.sosfilt(sos, x[:, 0]), atol=1e-9)


@pytest.mark.parametrize("freq", [200.0, 1400.0, 6200.0, 21000.0])
@pytest.mark.parametrize("decay_s", [0.02, 0.25])
def test_a_resonance_matches_scipy(freq: float, decay_s: float) -> None:
    radius = np.exp(-6.91 / (decay_s * RATE))
    w = 2 * np.pi * freq / RATE
    a = np.array([1.0, -2.0 * radius * np.cos(w), radius * radius])
    b = np.array([1.0 - radius, 0.0, 0.0])
    pulse = np.zeros(round(0.35 * RATE))
    pulse[:200] = np.random.default_rng(1).standard_normal(200)
    np.testing.assert_allclose(iir.lfilter(b, a, pulse), signal.lfilter(b, a, pulse), atol=1e-9)
    np.testing.assert_allclose(iir.tf2sos(b, a), signal.tf2sos(b, a), atol=1e-12)
