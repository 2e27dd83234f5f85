"""The ALSA capture fixture records, sample for sample, what a program writes to ALSA."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import alsaaudio
import numpy as np
import pytest

from support.alsa import AlsaCapture, capture_device_name
from support.audio import dominant_frequency, rms_db, sine

RATE = 48000


def play(device: str, frames: np.ndarray, fmt: int, channels: int, periodsize: int = 1024):
    """Write ``frames`` to ``device`` with pyalsaaudio and close it."""
    pcm = alsaaudio.PCM(
        alsaaudio.PCM_PLAYBACK,
        device=device,
        channels=channels,
        rate=RATE,
        format=fmt,
        periodsize=periodsize,
        periods=4,
    )
    try:
        pcm.write(frames.tobytes())
    finally:
        pcm.close()


def test_config_is_exported_for_subprocesses() -> None:
    paths = os.environ["ALSA_CONFIG_PATH"].split(":")
    assert paths[0] == "/usr/share/alsa/alsa.conf"
    assert Path(paths[1]).read_text().count("pcm.sscapture") == 1


def test_s16_capture_is_sample_exact(alsa_capture: AlsaCapture) -> None:
    # 48 000 frames is not a whole number of 1024-frame periods: the tail must arrive too.
    wave = sine(997.0, 1.0, RATE, level_db=-3.0)
    left = np.round(wave * 32767).astype(np.int16)
    written = np.stack([left, -left], axis=1)
    play(alsa_capture.device, written, alsaaudio.PCM_FORMAT_S16_LE, channels=2)

    raw = alsa_capture.read_raw(channels=2)
    assert raw.shape == written.shape
    np.testing.assert_array_equal(raw, written)
    audio = alsa_capture.read(channels=2)
    assert audio.dtype == np.float32
    assert dominant_frequency(audio[:, 0], RATE) == pytest.approx(997.0, abs=0.1)
    assert rms_db(audio) == pytest.approx(-3.0 - 3.01, abs=0.02)


def test_s32_capture_is_sample_exact(alsa_capture: AlsaCapture) -> None:
    wave = sine(220.0, 0.3, RATE, level_db=-1.0)
    written = np.round(wave * (2**31 - 1)).astype(np.int32)[:, np.newaxis]
    play(alsa_capture.device_for("S32_LE"), written, alsaaudio.PCM_FORMAT_S32_LE, channels=1)

    np.testing.assert_array_equal(alsa_capture.read_raw(1, "S32_LE"), written)
    assert np.max(np.abs(alsa_capture.read(1, "S32_LE"))) == pytest.approx(10 ** (-1 / 20), 1e-4)


def test_plug_converts_float_to_s16(alsa_capture: AlsaCapture) -> None:
    # The player may hand ALSA float32; the plug converts it to what the "card" takes.
    wave = sine(440.0, 0.5, RATE, level_db=-6.0)
    play(alsa_capture.device, wave, alsaaudio.PCM_FORMAT_FLOAT_LE, channels=1)

    captured = alsa_capture.read(1)[:, 0]
    assert captured.shape == wave.shape
    assert np.max(np.abs(captured - wave)) <= 1.5 / 32768


def test_paths_with_spaces_and_commas_work(tmp_path: Path) -> None:
    capture = AlsaCapture(tmp_path / "a dir, with=odd 'chars'" / "take 1.raw")
    capture.path.parent.mkdir()
    written = np.arange(-500, 500, dtype=np.int16)[:, np.newaxis]
    play(capture.device, written, alsaaudio.PCM_FORMAT_S16_LE, channels=1, periodsize=256)
    np.testing.assert_array_equal(capture.read_raw(1), written)


def test_each_test_gets_its_own_file(make_alsa_capture) -> None:
    first, second = make_alsa_capture("one"), make_alsa_capture("two")
    play(first.device, np.full((100, 1), 7, np.int16), alsaaudio.PCM_FORMAT_S16_LE, 1, 64)
    assert first.exists()
    assert not second.exists()
    with pytest.raises(FileNotFoundError, match="never written"):
        second.read(1)


def test_wrong_channel_count_is_reported(alsa_capture: AlsaCapture) -> None:
    play(alsa_capture.device, np.zeros((101, 1), np.int16), alsaaudio.PCM_FORMAT_S16_LE, 1, 64)
    with pytest.raises(ValueError, match="channel"):
        alsa_capture.read(2)


def test_bad_capture_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="S16_LE"):
        capture_device_name(tmp_path / "x.raw", "U8")
    with pytest.raises(ValueError, match="quotes"):
        capture_device_name(tmp_path / 'x".raw')


def test_null_sink_accepts_anything() -> None:
    play("ssnull", np.zeros((4800, 2), np.float32), alsaaudio.PCM_FORMAT_FLOAT_LE, channels=2)


def test_subprocess_sees_the_test_devices(alsa_capture: AlsaCapture) -> None:
    # e.g. `sleepsound run` started by a test must find the capture device by name.
    code = (
        "import sys, alsaaudio, numpy as np\n"
        "pcm = alsaaudio.PCM(device=sys.argv[1], channels=1, rate=48000,\n"
        "                    format=alsaaudio.PCM_FORMAT_S16_LE, periodsize=64)\n"
        "pcm.write(np.arange(300, dtype=np.int16).tobytes()); pcm.close()\n"
    )
    subprocess.run([sys.executable, "-c", code, alsa_capture.device], check=True, timeout=60)
    np.testing.assert_array_equal(alsa_capture.read_raw(1)[:, 0], np.arange(300))
