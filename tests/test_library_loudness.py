"""Loudness: measured like pyloudnorm, cached, and every sound plays at the same loudness."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from library_helpers import at_peak_dbfs, lufs, material, peak_db, read_all, write
from sleepsound.library.loudness import TARGET_LUFS, Measurement, gain_for, measure_file
from sleepsound.library.loudness_cache import LoudnessCache
from sleepsound.library.loudness_service import LoudnessService
from sleepsound.library.opener import SoundOpener
from sleepsound.sources.texture_engines import open_builtin
from support.audio import can_write, rms_db

RATE = 16000


@pytest.fixture
def service(tmp_path: Path) -> LoudnessService:
    return LoudnessService(LoudnessCache(tmp_path / "cache" / "loudness.json"))


def test_measurement_equals_pyloudnorm_on_the_whole_file(tmp_path: Path) -> None:
    data = at_peak_dbfs(material(150.0, RATE), -12.0)
    path = write(tmp_path / "long.flac", data, RATE, subtype="PCM_24")
    measured = measure_file(path)
    assert measured.method == "whole"
    assert measured.lufs == pytest.approx(lufs(data, RATE), abs=0.05)
    mono = measure_file(path, out_channels=1)
    assert mono.lufs == pytest.approx(lufs(data.mean(axis=1), RATE), abs=0.05)
    assert measured.peak_db == pytest.approx(-12.0, abs=0.01)


def test_long_files_are_measured_on_a_bounded_sample_within_half_a_lu(tmp_path: Path) -> None:
    data = at_peak_dbfs(material(120.0, RATE, seed=3), -6.0)
    path = write(tmp_path / "long.wav", data, RATE)
    sampled = measure_file(path, whole_file_max_s=30.0, excerpts=8, excerpt_s=4.0)
    assert sampled.method == "sampled 8x4s"
    assert sampled.measured_s == pytest.approx(32.0)
    assert sampled.lufs == pytest.approx(lufs(data, RATE), abs=0.5)


def test_a_file_shorter_than_a_gating_block_is_measured_as_its_loop(tmp_path: Path) -> None:
    data = at_peak_dbfs(material(0.1, RATE), -10.0)
    path = write(tmp_path / "blip.wav", data, RATE)
    measured = measure_file(path)
    looped = np.tile(data, (30, 1))
    assert measured.lufs == pytest.approx(lufs(looped, RATE), abs=0.5)


def test_silence_gets_no_gain_instead_of_infinite_gain(tmp_path: Path) -> None:
    path = write(tmp_path / "silence.wav", np.zeros((RATE, 2), np.float32), RATE)
    measured = measure_file(path)
    assert measured.lufs == -np.inf
    assert gain_for(measured, TARGET_LUFS) == 0.0


def formats() -> list[str]:
    return [ext for ext in (".flac", ".wav", ".ogg", ".mp3") if can_write(ext)]


def test_files_recorded_at_very_different_levels_play_within_1_lu(
    tmp_path: Path, service: LoudnessService
) -> None:
    base = material(12.0, RATE, seed=5)
    files = {
        "quiet.flac": at_peak_dbfs(base, -40.0),
        "loud.wav": at_peak_dbfs(base, -1.0),
        "mono.flac": at_peak_dbfs(base[:, :1], -20.0),
    }
    for ext in formats():
        files[f"other{ext}"] = at_peak_dbfs(material(12.0, RATE, seed=9), -10.0)
    opener = SoundOpener(service)
    heard = {}
    for name, data in files.items():
        path = write(tmp_path / name, data, RATE)
        service.measure_now(str(path))
        source = opener(str(path), RATE, 2)
        heard[name] = lufs(read_all(source, 10.0)[RATE:], RATE)  # after the limiter's delay
        source.close()
    spread = max(heard.values()) - min(heard.values())
    assert spread <= 1.0, heard
    for name, value in heard.items():
        assert value == pytest.approx(TARGET_LUFS, abs=1.0), name


def test_on_a_mono_output_stereo_files_match_too(tmp_path: Path, service: LoudnessService) -> None:
    wide = material(12.0, RATE, seed=1)  # independent sides
    narrow = np.repeat(material(12.0, RATE, channels=1, seed=2), 2, axis=1)  # identical sides
    opener = SoundOpener(service)
    heard = []
    for name, data in (("wide.flac", at_peak_dbfs(wide, -30)), ("narrow.flac", narrow * 0.5)):
        path = write(tmp_path / name, data, RATE)
        service.measure_now(str(path), out_channels=1)
        heard.append(lufs(read_all(opener(str(path), RATE, 1), 10.0)[RATE:], RATE))
    assert heard == pytest.approx([TARGET_LUFS, TARGET_LUFS], abs=1.0)


def test_short_loud_transients_are_tamed_and_the_rest_left_alone(
    tmp_path: Path, service: LoudnessService
) -> None:
    bed = at_peak_dbfs(material(12.0, RATE, seed=4), -20.0)
    taps = bed.copy()
    for start in range(RATE, len(taps), 2 * RATE):  # a sharp snap every two seconds
        taps[start : start + 4] = 0.95 * np.array([1.0, -1.0, 1.0, -1.0])[:, None]
    path = write(tmp_path / "snaps.wav", taps, RATE, subtype="FLOAT")
    service.measure_now(str(path))
    out = read_all(SoundOpener(service)(str(path), RATE, 2), 12.0)
    loudness = lufs(out, RATE)
    raw_excess = peak_db(taps) - lufs(taps, RATE)
    assert raw_excess > 25.0  # the material really was startling
    assert peak_db(out) - loudness <= 20.5
    # Between the snaps the bed is only moved by the loudness gain: 0.1 dB.
    gain = service.gain_db(str(path), 2)
    delay = 80  # the limiter's look-ahead at 16 kHz
    quiet_in = taps[int(2.0 * RATE) : int(2.9 * RATE)]
    quiet_out = out[int(2.0 * RATE) + delay : int(2.9 * RATE) + delay]
    assert rms_db(quiet_out) == pytest.approx(rms_db(quiet_in) + gain, abs=0.1)


def test_unmeasured_sounds_start_quiet_then_glide_to_the_measured_gain(
    tmp_path: Path, service: LoudnessService
) -> None:
    data = at_peak_dbfs(material(20.0, RATE, seed=6), -40.0)  # needs a big boost
    path = str(write(tmp_path / "faint.flac", data, RATE))
    source = SoundOpener(service)(path, RATE, 2)  # opening never waits for a measurement
    early = read_all(source, 3.0)
    assert service.measurement(path) is None
    assert lufs(early[RATE:], RATE) == pytest.approx(lufs(data, RATE) - 9.0, abs=1.0)
    service.start()
    try:
        assert service.wait_idle(120)
    finally:
        service.stop()
    ramp = read_all(source, 8.0)
    settled = read_all(source, 5.0)
    assert lufs(settled, RATE) == pytest.approx(TARGET_LUFS, abs=1.0)
    # The glide is per sample: no jump between consecutive 10 ms windows of the ramp.
    windows = ramp[: len(ramp) // 160 * 160].reshape(-1, 160, 2)
    levels = 10 * np.log10(np.mean(windows**2, axis=(1, 2)))
    assert np.max(np.abs(np.diff(levels))) < 6.0


def test_measurements_are_cached_against_the_files_identity(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.json"
    path = write(tmp_path / "a.flac", at_peak_dbfs(material(3.0, RATE), -20.0), RATE)
    first = LoudnessService(LoudnessCache(cache_path))
    measured = first.measure_now(str(path))
    document = json.loads(cache_path.read_text())
    assert document["entries"][str(path)]["layouts"]["2"]["lufs"] == pytest.approx(measured.lufs)
    assert not list(tmp_path.glob(".loudness-*"))  # the temporary file was renamed away

    again = LoudnessService(LoudnessCache(cache_path))
    assert again.measurement(str(path)) == measured  # from the cache, nothing measured

    write(path, at_peak_dbfs(material(3.0, RATE), -5.0), RATE)  # the file changes
    os.utime(path, ns=(1, 10**18))
    assert first.measurement(str(path)) is None  # the running service notices too
    fresh = LoudnessService(LoudnessCache(cache_path))
    assert fresh.measurement(str(path)) is None
    assert fresh.measure_now(str(path)).lufs > measured.lufs + 10


def test_a_damaged_cache_file_is_started_afresh(tmp_path: Path) -> None:
    cache_path = tmp_path / "cache.json"
    cache_path.write_text("{ not json")
    cache = LoudnessCache(cache_path)
    cache.put("x", "1:2", Measurement(-20.0, -3.0, 2, "whole", 1.0, out_channels=2))
    assert LoudnessCache(cache_path).get("x", "1:2") is not None


def test_a_file_that_cannot_be_measured_does_not_stop_the_worker(
    tmp_path: Path, service: LoudnessService
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    good = write(tmp_path / "good.wav", at_peak_dbfs(material(2.0, RATE), -20.0), RATE)
    service.start()
    try:
        service.request(str(bad))
        service.request(str(good))
        assert service.wait_idle(60)
    finally:
        service.stop()
    assert service.measurement(str(bad)) is None
    assert service.measurement(str(good)) is not None


def test_built_in_sounds_are_measured_by_rendering_them(tmp_path: Path) -> None:
    service = LoudnessService(LoudnessCache(None), open_builtin=open_builtin)
    measured = service.measure_now("pink-noise")
    assert measured.method.startswith("rendered")
    assert np.isfinite(measured.lufs)
    # Textures are calibrated near the target before any correction.
    assert abs(gain_for(service.measure_now("rain"), TARGET_LUFS)) < 3.0
