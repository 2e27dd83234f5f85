"""The keep-alive tone: a headband's silence detector sees it, a person does not, and it
never clicks; the engine plays it at its own level, whatever the volume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from sleepsound.engine import Engine
from sleepsound.outputs.clock import ClockOutput
from sleepsound.playback import PlaybackThread
from sleepsound.scene import Scene
from sleepsound.sources import keep_alive, open_source
from sleepsound.sources.keep_alive import KeepAliveTone
from support.audio import CLICK_THRESHOLD_DB, click_score, dominant_frequency, peak_db, rms_db
from support.waiting import wait_until

RATE = 48000


def render(engine: Engine, scene: Scene, seconds: float, block: int = 1024) -> np.ndarray:
    """Apply ``scene`` and render ``seconds`` in blocks, as the audio thread does."""
    engine.apply(scene)
    blocks = [engine.render(block) for _ in range(round(seconds * RATE / block))]
    return np.concatenate(blocks)


def test_the_tone_is_20_hz_at_minus_40_dbfs_peak_on_every_channel() -> None:
    tone = KeepAliveTone(RATE, 2)
    block = tone.read(RATE)  # a whole number of periods
    assert dominant_frequency(block, RATE) == pytest.approx(keep_alive.FREQUENCY_HZ, abs=1.0)
    assert peak_db(block) == pytest.approx(keep_alive.PEAK_DB, abs=0.01)
    assert rms_db(block) == pytest.approx(keep_alive.RMS_DB, abs=0.01)
    assert rms_db(block) == pytest.approx(-43.0, abs=0.1)
    np.testing.assert_array_equal(block[:, 0], block[:, 1])  # no beat between the ears


def test_blocks_of_any_size_join_into_the_same_tone() -> None:
    whole = KeepAliveTone(RATE, 1).read(5000)
    pieces = KeepAliveTone(RATE, 1)
    joined = np.concatenate([pieces.read(n) for n in (1, 999, 2400, 1600)])
    np.testing.assert_allclose(joined, whole, atol=1e-7)


@pytest.mark.parametrize("volume", [1.0, 30.0, 90.0])
def test_the_engine_plays_it_at_its_own_level_whatever_the_volume(volume: float) -> None:
    engine = Engine(RATE, 2, open_source, Scene(sound=None, volume=volume))
    out = render(engine, Scene(sound=None, volume=volume, keep_alive=True), 2.0)
    settled = out[RATE:]  # past the fade in
    assert rms_db(settled) == pytest.approx(keep_alive.RMS_DB, abs=0.1)


def test_it_fades_in_and_out_without_a_click_and_then_is_gone() -> None:
    engine = Engine(RATE, 2, open_source, Scene(sound=None))
    quiet = Scene(sound=None)
    out = np.concatenate(
        [
            render(engine, quiet, 0.3),
            render(engine, Scene(sound=None, keep_alive=True), 1.5),
            render(engine, quiet, 1.0),
        ]
    )
    assert click_score(out, RATE) < CLICK_THRESHOLD_DB
    # It reached its level, then faded out completely: digital silence, the tone closed.
    assert rms_db(out[int(1.0 * RATE) : int(1.8 * RATE)]) == pytest.approx(
        keep_alive.RMS_DB, abs=0.2
    )
    assert not np.any(out[int(2.4 * RATE) :])
    assert engine.is_silent


def test_a_cut_without_the_fade_would_click() -> None:
    """The click check can fail: the tone stopped mid-cycle, with no fade, is a click."""
    tone = KeepAliveTone(RATE, 2).read(RATE // 2 + RATE // 160)  # ends a quarter period in
    cut = np.concatenate([tone, np.zeros((RATE // 2, 2), dtype=np.float32)])
    assert click_score(cut, RATE) > CLICK_THRESHOLD_DB


def test_the_engine_is_not_silent_while_the_tone_plays() -> None:
    """``finish`` waits for silence: a tone still sounding is not silence."""
    engine = Engine(RATE, 2, open_source, Scene(sound=None, keep_alive=True))
    engine.render(1024)
    assert not engine.is_silent


def test_a_finishing_audio_thread_fades_the_tone_out_and_stops(tmp_path: Path) -> None:
    """At shutdown the tone fades out with the rest, so the thread ends, without a click."""
    record = tmp_path / "heard.wav"
    thread = PlaybackThread(
        lambda: ClockOutput(rate=RATE, channels=2, period_frames=1024, record=str(record)),
        open_source,
        Scene(sound=None, keep_alive=True),
    )
    thread.start()
    try:
        assert thread.wait_first_block(30.0)
        wait_until(lambda: thread.blocks_written > RATE // 1024, "a second of the tone")
        thread.finish(timeout_s=5.0)  # a tone left on would be cut when this runs out
    finally:
        thread.stop()
    heard, rate = soundfile.read(str(record), dtype="float32", always_2d=True)
    assert rms_db(heard[rate // 2 : rate]) == pytest.approx(keep_alive.RMS_DB, abs=0.3)
    assert peak_db(heard[-1024:]) < -80  # ended in silence (16-bit dither aside)
    assert click_score(heard, rate) < CLICK_THRESHOLD_DB
