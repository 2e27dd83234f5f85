"""Loudness is measured on exactly the signal the output plays, whatever the file's layout.

Issue 11 item 3: an 8-channel file whose front pair was near silent got +39 dB of gain,
because only the first two channels were measured while a mono output averages all of
them. Every case here plays a file through the levelled opener and the engine into
ALSA's file capture, and also unlevelled (the reference for what the output does with
the file's channels); the levelled capture must stand at the target loudness, or as
close as the bounded gain allows, never above it, with the transient tamer idle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from library_helpers import at_peak_dbfs, lufs, material, write
from sleepsound.engine import Engine, SourceFactory
from sleepsound.library.levelled import CEILING_ABOVE_LOUDNESS_DB
from sleepsound.library.loudness import MAX_BOOST_DB, TARGET_LUFS, measure_file
from sleepsound.library.loudness_cache import LoudnessCache
from sleepsound.library.loudness_service import LoudnessService
from sleepsound.library.opener import SoundOpener
from sleepsound.outputs.alsa import AlsaOutput
from sleepsound.scene import Scene
from sleepsound.sources import open_source
from support.alsa import AlsaCapture
from support.audio import peak_db

RATE = 48000
SECONDS = 4.0

# name -> per-channel peak levels (dBFS) by channel count; channels not listed copy the last.
ARRANGEMENTS: dict[str, dict[int, list[float]]] = {
    "even": {n: [-20.0] * n for n in (1, 2, 3, 4, 6, 8)},
    "quiet front pair": {n: [-75.0, -75.0] + [-8.0] * (n - 2) for n in (3, 4, 6, 8)},
    "loud front pair": {n: [-8.0, -8.0] + [-60.0] * (n - 2) for n in (3, 4, 6, 8)},
    "one side": {2: [-8.0, -90.0], 3: [-90.0, -90.0, -6.0], 6: [-90.0] * 5 + [-6.0]},
    "quiet": {1: [-50.0], 2: [-48.0, -48.0], 8: [-45.0] * 8},
}
CASES = [
    (name, channels, out)
    for name, layouts in ARRANGEMENTS.items()
    for channels in layouts
    for out in (1, 2)
]


def _file(directory: Path, name: str, channels: int) -> Path:
    levels = ARRANGEMENTS[name][channels]
    base = material(SECONDS, RATE, channels=channels, seed=channels)
    data = np.stack(
        [at_peak_dbfs(base[:, i], level) for i, level in enumerate(levels)], axis=1
    ).astype(np.float32)
    label = name.replace(" ", "-")
    return write(directory / f"{label}-{channels}ch.wav", data, RATE, subtype="FLOAT")


def _play(capture: AlsaCapture, factory: SourceFactory, spec: str, out: int) -> np.ndarray:
    """What the output records of ``spec`` at volume 100 (after the fade-in)."""
    output = AlsaOutput(capture.device_for("S32_LE"), RATE, out, "S32_LE", period_frames=1024)
    engine = Engine(RATE, out, factory, Scene(spec, 100, 100, 0.05))
    try:
        for _ in range(round(SECONDS * RATE / 1024)):
            output.write(engine.render(1024))
    finally:
        output.close()
        engine.close()
    return capture.read(out, "S32_LE")[RATE // 2 :]


def _loudness(played: np.ndarray) -> float:
    return lufs(played[:, 0] if played.shape[1] == 1 else played, RATE)


@pytest.mark.parametrize(("name", "channels", "out"), CASES)
def test_every_layout_plays_at_the_target_on_mono_and_stereo(
    tmp_path: Path,
    make_alsa_capture: Callable[[str], AlsaCapture],
    name: str,
    channels: int,
    out: int,
) -> None:
    path = str(_file(tmp_path, name, channels))
    raw = _loudness(_play(make_alsa_capture("raw"), open_source, path, out))
    service = LoudnessService(LoudnessCache(None), out_channels=out)
    measured = service.measure_now(path)
    # What the output plays, measured (the capture is a window of the loop: swells differ).
    assert measured.lufs == pytest.approx(raw, abs=0.75)
    played = _play(make_alsa_capture("levelled"), SoundOpener(service), path, out)
    heard = _loudness(played)
    expected = min(TARGET_LUFS, raw + MAX_BOOST_DB)
    assert heard == pytest.approx(expected, abs=0.75)
    assert heard <= TARGET_LUFS + 0.75  # never louder than every other sound
    # The tamer never had to hold this steady material down: its peaks stay below the
    # tamer's ceiling, so the gain alone set the level.
    assert peak_db(played) < TARGET_LUFS + CEILING_ABOVE_LOUDNESS_DB


def test_the_cache_keeps_one_measurement_per_layout(tmp_path: Path) -> None:
    path = str(_file(tmp_path, "quiet front pair", 8))
    cache = LoudnessCache(tmp_path / "loudness.json")
    stereo = LoudnessService(cache, out_channels=2).measure_now(path)
    mono = LoudnessService(cache, out_channels=1).measure_now(path)
    assert mono.lufs > stereo.lufs + 30  # the rear channels are in the mono downmix only
    again = LoudnessCache(tmp_path / "loudness.json")
    fresh = LoudnessService(again)
    assert fresh.measurement(path, 1) == mono and fresh.measurement(path, 2) == stereo
    assert fresh.measurement(path, 4) is None  # a layout never measured is measured afresh


def test_measuring_in_the_worker_process_gives_the_same_figures(tmp_path: Path) -> None:
    path = str(_file(tmp_path, "loud front pair", 6))
    isolated = LoudnessService(LoudnessCache(None), out_channels=1, isolate=True)
    try:
        found = isolated.measure_now(path)
        builtin = isolated.measure_now("pink-noise")
    finally:
        isolated.stop()
    assert found == measure_file(Path(path), out_channels=1)
    assert builtin.out_channels == 1 and np.isfinite(builtin.lufs)


def test_a_worker_failure_names_the_file_and_the_next_file_still_measures(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    good = str(_file(tmp_path, "even", 2))
    service = LoudnessService(LoudnessCache(None), isolate=True)
    service.start()
    try:
        service.request(str(bad))
        service.request(good)
        assert service.wait_idle(120)
    finally:
        service.stop()
    assert service.measurement(str(bad)) is None
    assert service.measurement(good) is not None
