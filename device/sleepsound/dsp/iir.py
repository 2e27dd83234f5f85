"""IIR filters in numpy alone: the few ``scipy.signal`` calls the textures make.

Why: importing ``scipy.signal`` pulls in scipy.stats, optimize, sparse, spatial,
interpolate and more, some 75 MB of resident memory that a Python process never gives
back: the daemon went from about 55 MB to 125 MB the first time a texture played. The
textures only need Butterworth designs (orders 1–2: low-pass, high-pass, band-pass),
``tf2sos`` of a two-pole resonance, and filtering with carried state (``sosfilt``,
``lfilter`` of order ≤ 2). The functions here take and return what scipy's do, for
those uses, and match them to float64 rounding (``tests/test_iir.py`` checks against
scipy itself).

How filtering stays fast without a per-sample Python loop: each second-order section
is a 2-state linear system (direct form II transposed, the state scipy's ``zi``
holds). The signal is cut into blocks of :data:`BLOCK` frames; within a block the
output from rest is one matrix product with the impulse response (a Toeplitz
matrix), the state at the block's end another; the start state of every block follows by a
doubling scan over the blocks (log₂ of their number in vectorised steps), and its
effect on the block's output is one more product.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

BLOCK = 32
"""Frames per block: the serial part is one tiny product per block."""


# ---------------------------------------------------------------- design


def butter(order: int, wn: float | Any, btype: str = "low", output: str = "sos") -> np.ndarray:
    """A digital Butterworth filter as second-order sections, like ``scipy.signal.butter``.

    ``wn`` is normalised to Nyquist (0..1): one edge for ``"low"``/``"lowpass"`` and
    ``"high"``/``"highpass"``, two for ``"bandpass"``. Only ``output="sos"``.
    """
    if output != "sos":
        raise ValueError("only output='sos' is supported")
    kind = {"low": "low", "lowpass": "low", "high": "high", "highpass": "high"}.get(btype, btype)
    # The analog prototype's poles (scipy's buttap), pre-warped edges (fs = 2).
    poles = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    edges = 4.0 * np.tan(np.pi * np.atleast_1d(np.asarray(wn, dtype=np.float64)) / 2.0)
    if kind == "low":
        zeros = np.zeros(0, complex)
        poles, gain = poles * edges[0], float(edges[0] ** order)
    elif kind == "high":
        zeros = np.zeros(order, complex)
        gain = float(np.real(1.0 / np.prod(-poles)))
        poles = edges[0] / poles
    elif kind == "bandpass":
        low, high = float(edges[0]), float(edges[1])
        width, centre = high - low, math.sqrt(low * high)
        scaled = poles * width / 2.0
        root = np.sqrt(scaled**2 - centre**2)
        poles = np.concatenate([scaled + root, scaled - root])
        zeros = np.zeros(order, complex)
        gain = float(width**order)
    else:
        raise ValueError(f"unsupported btype {btype!r}")
    return _zpk_to_sos(*_bilinear(zeros, poles, gain))


def _bilinear(zeros: np.ndarray, poles: np.ndarray, gain: float) -> tuple[Any, Any, float]:
    """scipy's ``bilinear_zpk`` with fs = 2: zeros at infinity land at -1."""
    fs2 = 4.0
    z = (fs2 + zeros) / (fs2 - zeros)
    p = (fs2 + poles) / (fs2 - poles)
    z = np.concatenate([z, -np.ones(len(poles) - len(zeros))])
    k = gain * np.real(np.prod(fs2 - zeros) / np.prod(fs2 - poles))
    return z, p, float(k)


def _zpk_to_sos(zeros: np.ndarray, poles: np.ndarray, gain: float) -> np.ndarray:
    """Pair conjugate poles (and zeros) into second-order sections, gain in the first."""
    pole_pairs = _pairs(poles)
    zero_pairs = _pairs(zeros)
    while len(zero_pairs) < len(pole_pairs):
        zero_pairs.append([])
    sections = []
    for index, (pz, pp) in enumerate(zip(zero_pairs, pole_pairs, strict=True)):
        b = np.real(np.poly(pz)) if pz else np.ones(1)
        a = np.real(np.poly(pp))
        b = np.concatenate([b, np.zeros(3 - len(b))])
        a = np.concatenate([a, np.zeros(3 - len(a))])
        if index == 0:
            b = b * gain
        sections.append(np.concatenate([b, a]))
    return np.array(sections)


def _pairs(roots: np.ndarray) -> list[list[complex]]:
    """Roots grouped in twos: conjugate pairs, then the real ones two by two."""
    complex_roots = sorted((r for r in roots if r.imag > 1e-12), key=lambda r: abs(r))
    real_roots = sorted(r.real for r in roots if abs(r.imag) <= 1e-12)
    groups = [[r, r.conjugate()] for r in complex_roots]
    for i in range(0, len(real_roots), 2):
        groups.append([complex(r) for r in real_roots[i : i + 2]])
    return groups


def tf2sos(b: Any, a: Any) -> np.ndarray:
    """One second-order section from a transfer function of order ≤ 2."""
    b = np.asarray(b, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    if len(b) > 3 or len(a) > 3:
        raise ValueError("only transfer functions of order <= 2 are supported")
    b = np.concatenate([b, np.zeros(3 - len(b))]) / a[0]
    a = np.concatenate([a, np.zeros(3 - len(a))]) / a[0]
    return np.concatenate([b, a])[None, :]


# ---------------------------------------------------------------- filtering


@functools.lru_cache(maxsize=256)
def _matrices(section: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Block matrices of one section (b0 b1 b2 1 a1 a2): the block impulse response
    (Toeplitz), the state reached from rest, the start state's response, powers of A."""
    b0, b1, b2, _, a1, a2 = section
    a_mat = np.array([[-a1, 1.0], [-a2, 0.0]])
    b_vec = np.array([b1 - a1 * b0, b2 - a2 * b0])
    powers = np.empty((BLOCK + 1, 2, 2))
    powers[0] = np.eye(2)
    for j in range(1, BLOCK + 1):
        powers[j] = a_mat @ powers[j - 1]
    state_response = powers[:BLOCK, 0, :]  # C·A^m, C = [1, 0]: row m is A^m's first row
    impulse = np.empty(BLOCK)
    impulse[0] = b0
    impulse[1:] = state_response[: BLOCK - 1] @ b_vec
    toeplitz = np.zeros((BLOCK, BLOCK))
    for k in range(BLOCK):
        toeplitz[k, k:] = impulse[: BLOCK - k]
    to_end = powers[BLOCK - 1 :: -1][:BLOCK] @ b_vec  # row k: A^(BLOCK-1-k)·B
    return toeplitz, to_end, state_response.T.copy(), powers


def _section(section: np.ndarray, x: np.ndarray, state: np.ndarray) -> tuple[Any, Any]:
    """Filter ``x`` (lanes, n) by one section from ``state`` (lanes, 2); (y, end state)."""
    toeplitz, to_end, from_start, powers = _matrices(tuple(float(v) for v in section))
    lanes, n = x.shape
    blocks = max(-(-n // BLOCK), 1)
    padded = np.zeros((lanes, blocks * BLOCK))
    padded[:, :n] = x
    rows = padded.reshape(lanes, blocks, BLOCK)
    y = rows @ toeplitz  # (lanes, blocks, BLOCK): each block from rest
    ends = rows @ to_end  # (lanes, blocks, 2): the state each block reaches from rest
    # Start states: s[b] = F·s[b-1] + e[b-1] with F = A^BLOCK, as a doubling scan
    # (log2(blocks) vectorised steps instead of a Python loop over the blocks).
    starts = np.empty((lanes, blocks, 2))
    starts[:, 0] = state
    starts[:, 1:] = ends[:, :-1]
    factor, span = powers[BLOCK].T, 1
    while span < blocks:
        starts[:, span:] += starts[:, :-span] @ factor
        factor, span = factor @ factor, 2 * span
    current = starts[:, -1] @ powers[BLOCK].T + ends[:, -1]
    y += starts @ from_start
    last = (blocks - 1) * BLOCK
    tail = n - last
    if tail == BLOCK:
        end = current
    else:  # the last block was padded: run its state only over the real frames
        partial = padded[:, last:n] @ to_end[BLOCK - tail :] if tail else 0.0
        end = starts[:, -1] @ powers[tail].T + partial
    return y.reshape(lanes, blocks * BLOCK)[:, :n], end


def sosfilt(sos: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """Filter ``x`` along ``axis`` by cascaded sections, like ``scipy.signal.sosfilt``.

    ``zi`` (optional) has scipy's shape: ``(sections, …, 2, …)`` with ``x``'s shape but
    2 along ``axis``; when given, ``(y, zf)`` is returned, else ``y``.
    """
    sos = np.atleast_2d(np.asarray(sos, dtype=np.float64))
    data = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    shape = data.shape
    lanes = data.reshape(math.prod(shape[:-1]), shape[-1])
    states = None
    if zi is not None:
        states = np.moveaxis(np.asarray(zi, dtype=np.float64), axis + 1 if axis >= 0 else axis, -1)
    finals = []
    for index, section in enumerate(sos):
        section = section / section[3]
        start = np.zeros((lanes.shape[0], 2))
        if states is not None:
            start = states[index].reshape(-1, 2)
        lanes, end = _section(section, lanes, start)
        finals.append(end.reshape(*shape[:-1], 2))
    y = np.moveaxis(lanes.reshape(shape), -1, axis)
    if zi is None:
        return y
    zf = np.moveaxis(np.stack(finals), -1, axis + 1 if axis >= 0 else axis)
    return y, zf


def lfilter(b: Any, a: Any, x: Any) -> np.ndarray:
    """Filter 1-D ``x`` from rest by ``b/a`` of order ≤ 2, like ``scipy.signal.lfilter``."""
    return sosfilt(tf2sos(b, a), x)
