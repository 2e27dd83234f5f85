"""An output that goes away and comes back (a Bluetooth headband out of range, then back).

The engine, driven as the audio thread drives it: while the output is away nothing is
rendered; :meth:`Engine.resume` is told how long it was away. The sound must come back
in from silence (never a jump, never a click) to the level it would have had by now had
nothing happened: the same volume, and a sleep fade as far along as the clock says.
"""

from __future__ import annotations

import numpy as np
import pytest

from sleepsound.dsp.gain import Envelope
from sleepsound.engine import RETURN_FADE_S, Engine
from sleepsound.scene import Scene, SleepFade
from sleepsound.sources import open_source
from support.audio import CLICK_THRESHOLD_DB, click_score, level_envelope_db, rms_db

RATE = 48000
BLOCK = 1024
# A steady sine bed (deterministic, so two engines can be compared window by window).
SOUND = "binaural-delta"


def play(engine: Engine, seconds: float) -> np.ndarray:
    return np.concatenate([engine.render(BLOCK) for _ in range(round(seconds * RATE / BLOCK))])


def engine_at(scene: Scene) -> Engine:
    engine = Engine(RATE, 2, open_source, scene)
    play(engine, 1.0)  # faded in and steady
    return engine


def test_the_sound_comes_back_from_silence_to_the_volume_it_had() -> None:
    scene = Scene(sound=SOUND, volume=40, transition_s=0.2)
    engine = engine_at(scene)
    before = rms_db(play(engine, 0.5))
    engine.resume(away_s=5.0)
    back = play(engine, RETURN_FADE_S + 1.0)
    levels = level_envelope_db(back, RATE, 0.05)
    assert levels[0] < before - 40  # from silence, not a jump
    # Rising all the way (a fade, not a step), to the old level and never above it.
    assert np.all(np.diff(levels[: int(RETURN_FADE_S / 0.05) - 1]) > -0.5)
    assert rms_db(back[-RATE // 2 :]) == pytest.approx(before, abs=0.2)
    assert levels.max() <= before + 0.2
    assert click_score(back, RATE) < CLICK_THRESHOLD_DB


def test_what_the_limiter_held_back_does_not_burst_out_first() -> None:
    engine = engine_at(Scene(sound=SOUND, volume=90, transition_s=0.2))
    engine.resume(away_s=1.0)
    first = engine.render(BLOCK)
    assert rms_db(first[: BLOCK // 2]) < -60  # silence, not the old level's look-ahead


def test_a_sleep_fade_catches_up_with_the_time_the_output_was_away() -> None:
    scene = Scene(sound=SOUND, volume=60, transition_s=0.2, sleep_fade=SleepFade(1, 20.0))
    reference = Engine(RATE, 2, open_source, scene)
    away = Engine(RATE, 2, open_source, scene)
    play(reference, 4.0)
    play(away, 4.0)
    play(reference, 6.0)  # the output was away these 6 s: nothing rendered
    away.resume(away_s=6.0)
    heard = play(away, RETURN_FADE_S + 1.0)
    expected = play(reference, RETURN_FADE_S + 1.0)
    # After the return fade it sits exactly where the fade had got to (about -18 dB by
    # now), not back at the volume before the fade began.
    tail = slice(-RATE // 2, None)
    assert rms_db(heard[tail]) == pytest.approx(rms_db(expected[tail]), abs=0.3)
    assert rms_db(heard[tail]) < rms_db(play(engine_at(scene), 0.5)) - 10
    assert click_score(heard, RATE) < CLICK_THRESHOLD_DB


def test_a_sleep_fade_that_ended_while_away_stays_silent() -> None:
    scene = Scene(sound=SOUND, volume=60, transition_s=0.2, sleep_fade=SleepFade(1, 5.0))
    engine = engine_at(scene)
    engine.resume(away_s=30.0)
    assert not np.any(play(engine, 2.0))


def test_a_volume_change_while_away_is_where_the_sound_comes_back_to() -> None:
    engine = engine_at(Scene(sound=SOUND, volume=70, transition_s=0.2))
    engine.apply(Scene(sound=SOUND, volume=30, transition_s=0.2))  # turned down meanwhile
    engine.resume(away_s=3.0)
    back = play(engine, RETURN_FADE_S + 1.0)
    settled = engine_at(Scene(sound=SOUND, volume=30, transition_s=0.2))
    assert rms_db(back[-RATE // 2 :]) == pytest.approx(rms_db(play(settled, 0.5)), abs=0.2)
    assert level_envelope_db(back, RATE, 0.05).max() <= rms_db(play(settled, 0.5)) + 0.2


@pytest.mark.parametrize("shape", ["db", "in", "out", "linear"])
@pytest.mark.parametrize("skipped", [0, 1, 4800, 47999, 48000, 10**9])
def test_skipping_a_fade_lands_where_rendering_it_would(shape: str, skipped: int) -> None:
    rendered, skipping = Envelope(RATE, 0.8), Envelope(RATE, 0.8)
    for envelope in (rendered, skipping):
        envelope.move_to(0.0, RATE, shape)  # a one-second fade to silence
    if skipped:
        rendered.render(min(skipped, 2 * RATE))
    skipping.skip(skipped)
    assert skipping.value == pytest.approx(rendered.value, abs=1e-6)
    assert skipping.is_moving == rendered.is_moving
    np.testing.assert_allclose(skipping.render(512), rendered.render(512), atol=1e-6)
