"""The engine heard through the real ALSA path: what reaches the headphones.

Every test plays through pyalsaaudio into the ALSA ``file`` plugin (see
``tests/support/alsa.py``) and asserts on the captured 16- or 32-bit samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sleepsound.cli.frame_loop import FrameLoop
from sleepsound.config import defaults
from sleepsound.dsp.gain import FLOOR_DB, volume_to_db
from sleepsound.engine import Engine
from sleepsound.errors import DeviceMissingError
from sleepsound.outputs.alsa import AlsaOutput
from sleepsound.playback import PlaybackThread
from sleepsound.player import PlayerContext
from sleepsound.scene import Layer, Scene, SleepFade
from sleepsound.sources import open_source
from support.alsa import AlsaCapture
from support.audio import (
    click_score,
    dominant_frequency,
    level_envelope_db,
    peak_db,
    rms_db,
    sine,
    write_test_audio,
)
from support.waiting import wait_until

RATE = 48000
CLEAN_CLICK_DB = 30.0
"""A clean low tone or a smooth fade scores under this; a click scores far above."""


def tone_file(directory: Path, freq: float, seconds: float = 3.0, level: float = 0.25) -> str:
    """Write a steady stereo tone (ending mid-cycle, so looping is not trivially clean)."""
    tone = sine(freq, seconds, RATE, level_db=20 * np.log10(level), channels=2)
    path = directory / f"tone-{freq:g}-{level:g}.wav"
    return str(write_test_audio(path, tone, RATE, subtype="FLOAT"))


def play_timeline(
    capture: AlsaCapture,
    timeline: Sequence[tuple[float, Scene]],
    seconds: float,
    fmt: str = "S16_LE",
    channels: int = 2,
) -> np.ndarray:
    """Play scenes, each from its start time, through ALSA; return what was captured."""
    output = AlsaOutput(capture.device_for(fmt), RATE, channels, fmt, period_frames=1024)
    engine = Engine(RATE, channels, open_source)
    pending = sorted(timeline, key=lambda item: item[0])
    rendered = 0
    total = round(seconds * RATE)
    try:
        while rendered < total:
            while pending and pending[0][0] * RATE <= rendered:
                engine.apply(pending.pop(0)[1])
            frames = min(output.period_frames, total - rendered)
            if pending:
                frames = min(frames, max(round(pending[0][0] * RATE) - rendered, 1))
            output.write(engine.render(frames))
            rendered += frames
    finally:
        output.close()
        engine.close()
    return capture.read(channels, fmt)


def with_silence_before(x: np.ndarray, seconds: float = 0.2) -> np.ndarray:
    """Prepend silence so a start can be judged as a transition from nothing."""
    return np.concatenate([np.zeros((round(seconds * RATE), x.shape[1]), x.dtype), x])


def test_fade_in_and_fade_out_are_linear_in_db(alsa_capture: AlsaCapture, tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 220.0)
    # Driven as `sleepsound play` drives it: the player's commands on a frame clock.
    config = defaults()
    config = replace(config, audio=replace(config.audio, max_volume=100))
    ctx = PlayerContext.from_config(config, ("tone",), {"tone": sound})
    output = AlsaOutput(alsa_capture.device, RATE, 2, "S16_LE")
    engine = Engine(RATE, 2, open_source)
    loop = FrameLoop(ctx, engine, compensate_latency=True)
    loop.submit({"action": "play", "sound": "tone", "volume": 100, "fade": 4.0})
    loop.perform(output, 10.0, fade_out_s=4.0)
    output.close()
    played = alsa_capture.read(2)
    assert len(played) == 10 * RATE
    window = 0.05
    levels = level_envelope_db(played, RATE, window)
    steady = np.median(levels[100:110])
    times = (np.arange(len(levels)) + 0.5) * window
    fade_in = (times > 0.6) & (times < 3.9)  # the linear-in-dB part, above -50 dB
    expected_in = steady + FLOOR_DB * (1 - times[fade_in] / 4.0)
    assert np.max(np.abs(levels[fade_in] - expected_in)) < 1.0
    fade_out = (times > 6.1) & (times < 9.4)
    expected_out = steady + FLOOR_DB * (times[fade_out] - 6.0) / 4.0
    assert np.max(np.abs(levels[fade_out] - expected_out)) < 1.0
    assert rms_db(played[-RATE // 100 :]) < -85  # silent at the very end: the fade ended at S


@pytest.mark.parametrize("fade_s", [0.0, 1.5])
def test_start_and_stop_never_click(
    alsa_capture: AlsaCapture, tmp_path: Path, fade_s: float
) -> None:
    sound = tone_file(tmp_path, 150.0)
    played = play_timeline(
        alsa_capture,
        [
            (0.2, Scene(sound, volume=90, transition_s=fade_s)),
            (3.0, Scene(None, volume=90, transition_s=fade_s)),
        ],
        seconds=5.0,
    )
    assert rms_db(played[2 * RATE : 2 * RATE + RATE // 2]) > -25  # it did play
    assert rms_db(played[-RATE // 2 :]) < -90  # and it did stop
    assert click_score(played, RATE) < CLEAN_CLICK_DB


def test_the_click_check_catches_a_hard_start() -> None:
    t = np.arange(2 * RATE) / RATE
    abrupt = np.zeros((2 * RATE, 2))
    abrupt[RATE:] = 0.25 * np.sin(2 * np.pi * 150 * t[RATE:, None] + 1.0)
    assert click_score(abrupt, RATE) > CLEAN_CLICK_DB + 10


def test_crossfade_between_sounds_has_no_click_and_no_dip(
    alsa_capture: AlsaCapture, tmp_path: Path
) -> None:
    first, second = tone_file(tmp_path, 200.0), tone_file(tmp_path, 300.0)
    played = play_timeline(
        alsa_capture,
        [(0.0, Scene(first, volume=100, transition_s=0.5)), (2.0, Scene(second, 100, 100, 2.0))],
        seconds=6.0,
    )
    levels = level_envelope_db(played, RATE, 0.05)
    steady = np.median(levels[20:40])
    across = levels[40:80]  # 2 s to 4 s: the crossfade
    assert np.max(np.abs(across - steady)) < 1.0
    assert click_score(played[RATE:], RATE) < CLEAN_CLICK_DB
    assert abs(dominant_frequency(played[-RATE:, 0], RATE) - 300.0) < 2.0


def test_loop_seam_is_seamless_through_alsa(alsa_capture: AlsaCapture, tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 180.3, seconds=1.7)  # several seams in 6 s
    scene = Scene(sound, volume=100, transition_s=0.1)
    played = play_timeline(alsa_capture, [(0.0, scene)], seconds=6.0)
    steady = played[RATE:]
    levels = level_envelope_db(steady, RATE, 0.05)
    assert np.max(np.abs(levels - np.median(levels))) < 1.0
    assert click_score(steady, RATE) < CLEAN_CLICK_DB


def test_max_volume_is_a_ceiling_nothing_passes(alsa_capture: AlsaCapture, tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 250.0, level=0.1)
    played = play_timeline(
        alsa_capture, [(0.0, Scene(sound, volume=100, max_volume=40, transition_s=0.1))], 2.0
    )
    expected = 20 * np.log10(0.1 / np.sqrt(2)) + volume_to_db(40)
    assert rms_db(played[RATE // 2 :]) == pytest.approx(expected, abs=0.5)


def test_limiter_keeps_every_sample_below_minus_one_dbfs(
    alsa_capture: AlsaCapture, tmp_path: Path
) -> None:
    t = np.arange(2 * RATE) / RATE
    square = 2.0 * np.sign(np.sin(2 * np.pi * 100 * t))  # +6 dBFS, float WAV keeps it
    path = tmp_path / "hot.wav"
    soundfile.write(str(path), np.stack([square, square], 1), RATE, subtype="FLOAT")
    scene = Scene(str(path), volume=100, transition_s=0.1)
    played = play_timeline(alsa_capture, [(0.0, scene)], 3.0)
    assert peak_db(played) <= -1.0 + 0.01
    assert rms_db(played[RATE:]) > -3.0  # limited, not silenced


def test_volume_changes_are_ramped_not_stepped(alsa_capture: AlsaCapture, tmp_path: Path) -> None:
    sound = tone_file(tmp_path, 200.0)
    played = play_timeline(
        alsa_capture,
        [(0.0, Scene(sound, volume=20, transition_s=0.1)), (1.0, Scene(sound, volume=90))],
        seconds=4.0,
    )
    levels = level_envelope_db(played, RATE, 0.01)
    rise = levels[100:300]
    assert np.max(np.diff(rise)) < 0.5  # at most ~20 dB/s: no bang
    assert levels[-1] - levels[90] == pytest.approx(volume_to_db(90) - volume_to_db(20), abs=0.5)
    assert click_score(played, RATE) < CLEAN_CLICK_DB


def test_sleep_fade_is_linear_in_db_and_ends_in_silence(
    alsa_capture: AlsaCapture, tmp_path: Path
) -> None:
    sound = tone_file(tmp_path, 200.0)
    playing = Scene(sound, volume=80, transition_s=0.1)
    fading = Scene(sound, volume=80, transition_s=0.1, sleep_fade=SleepFade(1, 8.0))
    played = play_timeline(alsa_capture, [(0.0, playing), (1.0, fading)], seconds=10.0)
    levels = level_envelope_db(played, RATE, 0.1)
    steady = np.median(levels[3:10])
    times = (np.arange(len(levels)) + 0.5) * 0.1
    linear = (times > 1.2) & (times < 8.3)
    expected = steady + FLOOR_DB * (times[linear] - 1.0) / 8.0
    assert np.max(np.abs(levels[linear] - expected)) < 1.0
    assert rms_db(played[-RATE // 2 :]) < -90


def test_touch_during_sleep_fade_comes_back_without_a_jump(
    alsa_capture: AlsaCapture, tmp_path: Path
) -> None:
    sound = tone_file(tmp_path, 200.0)
    playing = Scene(sound, volume=80, transition_s=0.1)
    fading = Scene(sound, volume=80, transition_s=0.1, sleep_fade=SleepFade(1, 6.0))
    played = play_timeline(
        alsa_capture, [(0.0, playing), (1.0, fading), (4.0, playing)], seconds=9.0
    )
    levels = level_envelope_db(played, RATE, 0.05)
    assert levels[int(3.9 / 0.05)] < levels[10] - 25  # it had faded a long way
    assert levels[-1] == pytest.approx(levels[10], abs=0.5)  # and came all the way back
    assert np.max(np.diff(levels[int(4 / 0.05) :])) < 1.5  # gradually
    assert click_score(played, RATE) < CLEAN_CLICK_DB


def test_layer_is_mixed_under_the_main_sound_at_its_own_level(
    alsa_capture: AlsaCapture, tmp_path: Path
) -> None:
    main = tone_file(tmp_path, 200.0)
    bed = tone_file(tmp_path, 1000.0)
    scene = Scene(main, volume=100, transition_s=0.1, layer=Layer(bed, volume=60))
    played = play_timeline(alsa_capture, [(0.0, scene)], seconds=3.0)[RATE:, 0]
    spectrum = np.abs(np.fft.rfft(played * np.hanning(len(played))))
    freqs = np.fft.rfftfreq(len(played), 1 / RATE)
    main_db = 20 * np.log10(spectrum[np.argmin(np.abs(freqs - 200))])
    bed_db = 20 * np.log10(spectrum[np.argmin(np.abs(freqs - 1000))])
    assert bed_db - main_db == pytest.approx(volume_to_db(60), abs=1.0)


def test_binaural_carriers_differ_by_the_beat(alsa_capture: AlsaCapture) -> None:
    scene = Scene("binaural-delta:carrier=200,beat=2", volume=100, transition_s=0.1)
    played = play_timeline(alsa_capture, [(0.0, scene)], seconds=11.0)[RATE:]
    left = dominant_frequency(played[:, 0], RATE)
    right = dominant_frequency(played[:, 1], RATE)
    assert right - left == pytest.approx(2.0, abs=0.1)
    assert (left + right) / 2 == pytest.approx(200.0, abs=0.2)


def test_negotiates_32_bit_when_the_device_takes_it(alsa_capture: AlsaCapture) -> None:
    output = AlsaOutput(alsa_capture.device_for("S32_LE"), RATE, 2, "auto")
    assert output.sample_format == "S32_LE"
    assert output.period_frames > 0 and output.buffer_frames >= 2 * output.period_frames
    engine = Engine(RATE, 2, open_source, Scene("pink-noise", volume=5, transition_s=0.1))
    for _ in range(50):
        output.write(engine.render(output.period_frames))
    output.close()
    raw = alsa_capture.read_raw(2, "S32_LE")
    assert np.any(raw[RATE // 2 :] % 65536 != 0)  # more than 16 bits reach the device


def test_a_missing_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceMissingError, match="no-such-card"):
        AlsaOutput("hw:CARD=no-such-card")


def test_playback_survives_a_missing_device_and_plays_once_it_appears(
    alsa_capture: AlsaCapture,
) -> None:
    attempts: list[str] = []
    errors: list[Exception] = []

    def open_output() -> AlsaOutput:
        attempts.append("try")
        device = "hw:CARD=unplugged" if len(attempts) < 3 else alsa_capture.device
        return AlsaOutput(device, RATE, 2, "S16_LE")

    thread = PlaybackThread(
        open_output,
        open_source,
        Scene("pink-noise", volume=50, transition_s=0.05),
        errors.append,
        retry_s=0.05,
    )
    assert not thread.wait_first_block(0.0)
    thread.start()
    try:
        # The first block is played only once the device is there (the third try).
        assert thread.wait_first_block(30.0)
        assert len(attempts) == 3 and thread.blocks_written >= 1
        wait_until(lambda: thread.blocks_written > 20, "the thread to write once the card is back")
    finally:
        thread.stop()
    assert len(attempts) >= 3
    assert any(isinstance(error, DeviceMissingError) for error in errors)
    assert thread.blocks_written > 20
    assert rms_db(alsa_capture.read(2)) > -60
