"""Procedural textures: endless, block-size invariant, close, level-calibrated, never startling."""

from __future__ import annotations

import numpy as np
import pytest

from library_helpers import lufs, peak_db
from sleepsound.errors import ParameterError, UnknownSoundError
from sleepsound.sources.presets import find_preset, parse_preset
from sleepsound.sources.texture_engines import (
    ENGINES,
    builtin_sound_ids,
    find_texture,
    open_texture,
    texture_ids,
)
from support.audio import level_envelope_db

RATE = 48000
TEXTURES = (
    "rain",
    "ocean-surf",
    "fan",
    "soft-tapping",
    "brushing",
    "paper-rustling",
    "page-turning",
)


def test_every_texture_the_issue_asks_for_has_a_preset() -> None:
    assert set(TEXTURES) <= set(texture_ids())
    assert {"white-noise", "pink-noise", "brown-noise", "binaural-delta", "binaural-theta"} <= set(
        builtin_sound_ids()
    )
    rain = find_texture("rain")
    assert rain is not None and rain.id == "rain"
    assert find_texture("pink-noise") is None and find_texture("../rain") is None


@pytest.fixture(scope="module", params=TEXTURES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, np.ndarray]:
    source = open_texture(request.param, RATE, 2, seed=11)
    return request.param, source.read(60 * RATE).astype(np.float64)


def test_textures_play_near_the_target_loudness(rendered: tuple[str, np.ndarray]) -> None:
    name, audio = rendered
    assert lufs(audio, RATE) == pytest.approx(-23.0, abs=2.0), name


def test_no_event_stands_more_than_20_db_above_the_loudness(
    rendered: tuple[str, np.ndarray],
) -> None:
    name, audio = rendered
    assert peak_db(audio) - lufs(audio, RATE) <= 20.0, name


def test_the_two_ears_hear_different_sound(rendered: tuple[str, np.ndarray]) -> None:
    name, audio = rendered
    correlation = np.corrcoef(audio[:, 0], audio[:, 1])[0, 1]
    assert correlation < 0.6, name
    assert not np.allclose(audio[:, 0], audio[:, 1])


def test_nothing_repeats(rendered: tuple[str, np.ndarray]) -> None:
    name, audio = rendered
    first, later = audio[: 5 * RATE, 0], audio[30 * RATE : 35 * RATE, 0]
    assert not np.allclose(first, later), name
    # And no loop hides inside: the first second appears nowhere else at full likeness.
    probe = audio[RATE : 2 * RATE, 0]
    rest = audio[3 * RATE :, 0]
    step = RATE // 4
    best = max(
        abs(np.dot(probe, rest[i : i + RATE]))
        / (np.linalg.norm(probe) * np.linalg.norm(rest[i : i + RATE]) + 1e-12)
        for i in range(0, len(rest) - RATE, step)
    )
    assert best < 0.9, name


def test_the_sound_is_never_silent_nor_steps_abruptly(rendered: tuple[str, np.ndarray]) -> None:
    name, audio = rendered
    levels = level_envelope_db(audio, RATE, 0.4)
    assert levels.min() > -75.0, name  # a quiet room, never digital silence
    assert np.isfinite(audio).all()


def test_surf_swells_slowly() -> None:
    audio = open_texture("ocean-surf", RATE, 2, seed=3).read(120 * RATE)
    levels = level_envelope_db(audio, RATE, 0.5)
    smooth = np.convolve(levels, np.ones(4) / 4, mode="valid")
    # Swells of 8–14 s: about 10 rises in two minutes, each several dB deep.
    peaks = [
        i
        for i in range(1, len(smooth) - 1)
        if smooth[i] >= smooth[i - 1]
        and smooth[i] > smooth[i + 1]
        and smooth[i] > np.median(smooth)
    ]
    gaps = np.diff(peaks) * 0.5
    assert 6 <= len(peaks) <= 16
    assert np.median(gaps) == pytest.approx(11.0, abs=4.0)
    assert np.ptp(smooth) > 6.0


@pytest.mark.parametrize("name", TEXTURES)
def test_output_does_not_depend_on_the_block_size(name: str) -> None:
    whole = open_texture(name, RATE, 2, seed=5).read(3 * RATE)
    pieces = open_texture(name, RATE, 2, seed=5)
    sizes = np.random.default_rng(0).integers(1, 5000, 200)
    parts, total = [], 0
    for size in sizes:
        size = min(int(size), 3 * RATE - total)
        if size <= 0:
            break
        parts.append(pieces.read(size))
        total += size
    assert np.array_equal(np.concatenate(parts), whole[:total])


def test_a_seed_reproduces_and_no_seed_varies() -> None:
    a = open_texture("rain", RATE, 2, seed=1).read(4096)
    b = open_texture("rain", RATE, 2, seed=1).read(4096)
    c = open_texture("rain", RATE, 2).read(4096)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("rate", [22050, 44100, 96000])
def test_other_rates_and_mono(rate: int) -> None:
    source = open_texture("soft-tapping", rate, 1, seed=2)
    block = source.read(rate)
    assert block.shape == (rate, 1) and block.dtype == np.float32
    assert peak_db(block) < 0.0
    source.close()
    with pytest.raises(ValueError, match="closed"):
        source.read(10)


def test_bad_presets_and_parameters_are_named() -> None:
    preset, _ = parse_preset('texture = "rain"\n[parameters]\ndrops_per_sec = 9\n', "x", "x.toml")
    with pytest.raises(ParameterError, match=r"x: unknown parameter\(s\) drops_per_sec"):
        open_texture(preset, RATE, 2)
    preset, _ = parse_preset('texture = "surf"\n[parameters]\nperiod_s = [14, 8]\n', "x", "x.toml")
    with pytest.raises(ParameterError, match="period_s must be"):
        open_texture(preset, RATE, 2)
    preset, _ = parse_preset('texture = "waterfall"\n', "x", "x.toml")
    with pytest.raises(UnknownSoundError, match="unknown texture engine"):
        open_texture(preset, RATE, 2)
    with pytest.raises(UnknownSoundError, match="built-in sounds: "):
        open_texture("thunder", RATE, 2)
    with pytest.raises(UnknownSoundError, match="generator"):
        open_texture("pink-noise", RATE, 2)
    with pytest.raises(ParameterError, match="1 or 2 channels"):
        open_texture("rain", RATE, 6)


def test_every_engine_is_used_by_a_shipped_preset() -> None:
    engines = {find_preset(i).engine for i in texture_ids()}
    assert engines == set(ENGINES)
