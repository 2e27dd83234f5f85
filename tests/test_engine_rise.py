"""The wake rise as the engine renders it: dB-linear from silence to the volume, on time.

Rendered straight from :class:`~sleepsound.engine.Engine` into an array (the ALSA path
is the same samples; tests/test_engine_alsa.py covers it for the other fades).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from sleepsound.dsp.gain import FLOOR_DB
from sleepsound.engine import Engine
from sleepsound.scene import Rise, Scene, SleepFade
from sleepsound.sources import open_source
from support.audio import click_score, level_envelope_db, rms_db
from test_engine_alsa import CLEAN_CLICK_DB, RATE, tone_file

WINDOW_S = 0.05


def render(timeline: Sequence[tuple[float, Scene]], seconds: float) -> np.ndarray:
    """Apply each scene at its time (to the frame) and render ``seconds`` of audio."""
    engine = Engine(RATE, 2, open_source)
    pending = sorted(timeline, key=lambda item: item[0])
    blocks = []
    rendered, total = 0, round(seconds * RATE)
    while rendered < total:
        while pending and round(pending[0][0] * RATE) <= rendered:
            engine.apply(pending.pop(0)[1])
        frames = min(1024, total - rendered)
        if pending:
            frames = min(frames, max(round(pending[0][0] * RATE) - rendered, 1))
        blocks.append(engine.render(frames))
        rendered += frames
    engine.close()
    played = np.concatenate(blocks)
    # The limiter's look-ahead delays everything by a few ms: take it out, so that
    # times in the assertions are the times the scenes asked for.
    return played[engine.latency_frames :]


def steady_db(sound: str, volume: float) -> float:
    """The level of ``sound`` playing steadily at ``volume`` (the reference to reach)."""
    return rms_db(render([(0.0, Scene(sound, volume=volume, transition_s=0.05))], 1.0)[RATE // 2 :])


def levels_at(played: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window centre times, RMS level in dB of each window)."""
    levels = level_envelope_db(played, RATE, WINDOW_S)
    return (np.arange(len(levels)) + 0.5) * WINDOW_S, levels


def test_the_rise_is_linear_in_db_and_reaches_the_volume_exactly_at_its_end(
    tmp_path: Path,
) -> None:
    sound = tone_file(tmp_path, 220.0, seconds=12.0)
    played = render([(0.0, Scene(sound, volume=80, rise=Rise(1, 6.0)))], seconds=9.0)
    times, levels = levels_at(played)
    steady = np.median(levels[times > 7.0])
    linear = (times > 0.8) & (times < 5.9)  # above the short ramp from zero
    expected = steady + FLOOR_DB * (1.0 - times[linear] / 6.0)
    assert np.max(np.abs(levels[linear] - expected)) < 1.0
    # At the due time, not before and not after: within a window of the end.
    assert levels[times < 5.8].max() < steady - 1.0
    assert levels[(times > 6.05) & (times < 7.0)] == pytest.approx(steady, abs=0.2)
    assert np.max(levels) < steady + 0.3  # never above the volume
    assert rms_db(played[: RATE // 100]) < -85  # from silence: no step at the start
    assert click_score(np.concatenate([np.zeros((RATE, 2)), played]), RATE) < CLEAN_CLICK_DB


def test_the_rise_never_passes_the_ceiling(tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 220.0, seconds=12.0)
    capped = Scene(sound, volume=90, max_volume=50, rise=Rise(1, 2.0))
    at_ceiling = Scene(sound, volume=50, max_volume=100, transition_s=0.1)
    played = render([(0.0, capped)], seconds=3.0)
    reference = render([(0.0, at_ceiling)], seconds=3.0)
    assert rms_db(played[int(2.2 * RATE) :]) == pytest.approx(
        rms_db(reference[int(2.2 * RATE) :]), abs=0.2
    )


def test_a_sleep_sound_still_playing_crossfades_into_the_wake_sound(tmp_path: Path) -> None:
    sleep_sound, wake_sound = (
        tone_file(tmp_path, 150.0, seconds=12.0),
        tone_file(tmp_path, 330.0, seconds=12.0),
    )
    sleeping = Scene(sleep_sound, volume=40, transition_s=0.1)
    # The sleep timer's final fade is running when the wake starts.
    fading = Scene(sleep_sound, volume=40, transition_s=0.1, sleep_fade=SleepFade(1, 20.0))
    waking = Scene(wake_sound, volume=70, transition_s=4.0, rise=Rise(1, 4.0))
    played = render([(0.0, sleeping), (1.0, fading), (3.0, waking)], seconds=9.0)
    times, levels = levels_at(played)
    start = int(3.0 / WINDOW_S)
    # The old sound went on from where its sleep fade had brought it: no jump either way.
    assert levels[start] == pytest.approx(levels[start - 1], abs=1.0)
    assert np.max(np.abs(np.diff(levels[times > 1.0]))) < 1.0  # nothing jumps anywhere
    wake_level = steady_db(wake_sound, 70)
    assert levels[times > 7.2] == pytest.approx(wake_level, abs=0.2)  # the wake volume at the end
    assert click_score(played, RATE) < CLEAN_CLICK_DB
    # The old sound faded out under the rise: only the wake tone is left at the end.
    spectrum = np.abs(np.fft.rfft(played[int(7.5 * RATE) :, 0]))
    freqs = np.fft.rfftfreq(len(played) - int(7.5 * RATE), 1.0 / RATE)
    assert spectrum[np.argmin(np.abs(freqs - 150))] < spectrum[np.argmin(np.abs(freqs - 330))] / 100


def test_a_rise_stopped_half_way_stays_where_it_was(tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 220.0, seconds=12.0)
    rising = Scene(sound, volume=80, rise=Rise(1, 6.0))
    # Half-way through a 60 dB rise the sound is 30 dB under the wake volume: volume
    # 80 - 60 steps. A scene without the rise, at that volume, holds the level there.
    held = Scene(sound, volume=80 - 60, transition_s=0.1)
    played = render([(0.0, rising), (3.0, held)], seconds=6.0)
    times, levels = levels_at(played)
    at_stop = levels[(times > 2.9) & (times < 3.0)].mean()
    later = levels[times > 3.0]
    assert np.max(np.abs(later - at_stop)) < 0.6
    half_way = steady_db(sound, 80) + FLOOR_DB / 2
    assert at_stop == pytest.approx(half_way, abs=1.0)
    assert half_way == pytest.approx(steady_db(sound, 20), abs=0.1)  # what the player computes


def test_a_rise_stopped_by_a_new_volume_glides_to_it(tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 220.0, seconds=12.0)
    rising = Scene(sound, volume=80, rise=Rise(1, 6.0))
    louder = Scene(sound, volume=60, transition_s=0.1)
    played = render([(0.0, rising), (3.0, louder)], seconds=6.0)
    times, levels = levels_at(played)
    reference = steady_db(sound, 60)
    assert levels[times > 5.0] == pytest.approx(reference, abs=0.2)
    assert np.max(np.diff(levels[times > 1.0])) < 1.5  # a glide (20 dB/s), never a jump


def test_a_snooze_fades_out_from_where_the_rise_was_never_up(tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 220.0, seconds=12.0)
    rising = Scene(sound, volume=80, rise=Rise(1, 6.0))
    snoozed = Scene(None, volume=80, transition_s=2.0, rise=Rise(1, 6.0))
    again = Scene(sound, volume=80, rise=Rise(2, 2.0))
    played = render([(0.0, rising), (3.0, snoozed), (6.0, again)], seconds=9.0)
    times, levels = levels_at(played)
    at_snooze = levels[(times > 2.9) & (times < 3.0)].mean()
    assert np.max(levels[(times > 3.0) & (times < 6.0)]) < at_snooze + 0.3
    assert rms_db(played[int(5.2 * RATE) : 6 * RATE]) < -85  # silent before the second rise
    steady = steady_db(sound, 80)
    assert levels[(times > 8.05)] == pytest.approx(steady, abs=0.2)  # up again, on time
    assert levels[(times > 7.0) & (times < 7.9)].max() < steady - 1.0
    assert click_score(played, RATE) < CLEAN_CLICK_DB


@pytest.mark.parametrize("rising", [False, True], ids=["play", "wake rise"])
def test_a_bad_parameter_is_a_sound_that_cannot_play_not_a_crash(rising: bool) -> None:
    """A built-in with a parameter the opener refuses (it reached the engine unchecked)
    is reported as a sound failure, as a missing file is, and the engine plays on."""
    engine = Engine(RATE, 2, open_source)
    scene = Scene(sound="binaural-delta:beat=1000", volume=50, transition_s=0.1)
    if rising:
        scene = Scene(sound=scene.sound, volume=50, rise=Rise(token=1, duration_s=0.5))
    engine.apply(scene)
    played = engine.render(RATE // 2)
    assert not np.any(played), "nothing can play, so silence"
    assert [type(error).__name__ for error in engine.errors] == ["SoundError"]
    assert "binaural-delta:beat=1000" in str(engine.errors[0])
    engine.apply(Scene(sound="pink-noise", volume=50, transition_s=0.1))
    assert np.any(engine.render(RATE // 2)), "the next sound plays"
