"""The loudness cache on disk: one write per batch, nothing reported lost, gone files forgotten.

Real files throughout: tiny WAVs written by soundfile into a sounds folder, the daemon's
library adapter (:class:`DaemonSounds`) and the ``sleepsound sounds analyze`` command.
A write is seen as the cache file changing (a new inode, mtime or size: every write is a
new file renamed over the old one) or counted by wrapping the cache's file writer.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from sleepsound.cli import main
from sleepsound.daemon.sounds import DaemonSounds
from sleepsound.library.loudness import Measurement
from sleepsound.library.loudness_cache import LoudnessCache, write_json_atomically
from sleepsound.library.loudness_service import LoudnessService
from sleepsound.library.opener import make_loudness_service
from sleepsound.sources.presets import load_presets

RATE = 8000
FileState = tuple[int, int, int] | None


def tiny_wavs(folder: Path, names: range | list[int]) -> list[Path]:
    """Half a second of quiet noise per file, each different, as ``sound-NNN.wav``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in names:
        data = np.random.default_rng(n).standard_normal(RATE // 2) * 0.05
        path = folder / f"sound-{n:03d}.wav"
        soundfile.write(str(path), data.astype(np.float32), RATE)
        paths.append(path)
    return paths


def state(path: Path) -> FileState:
    """What changes when the cache file is written again; ``None`` while there is none."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def cached(path: Path) -> set[str]:
    """The keys the cache file holds."""
    return set(json.loads(path.read_text())["entries"])


def watch_cache(sounds: DaemonSounds, cache: Path) -> list[FileState]:
    """The cache file's state each time a measurement is reported done."""
    seen: list[FileState] = []
    sounds.loudness.listeners.append(lambda spec, found: seen.append(state(cache)))
    return seen


def test_a_folder_of_new_files_is_one_write_and_a_restart_forgets_deleted_files(
    tmp_path: Path,
) -> None:
    folder, cache = tmp_path / "sounds", tmp_path / "cache" / "loudness.json"
    paths = tiny_wavs(folder, range(30))
    sounds = DaemonSounds(str(folder), cache)
    sounds.refresh()
    seen = watch_cache(sounds, cache)
    sounds.start()
    try:
        assert sounds.loudness.wait_idle(120)
        # Every measurement was reported while the file did not exist yet: no write per
        # sound. Once the batch is done, all of it is on disk, before any stop.
        assert seen == [None] * 30
        assert cached(cache) == {str(p) for p in paths}
        written = state(cache)
    finally:
        sounds.stop()
    assert state(cache) == written  # nothing was pending, so stopping wrote nothing

    for path in paths[:10]:
        path.unlink()
    added = tiny_wavs(folder, range(100, 105))
    again = DaemonSounds(str(folder), cache)
    again.refresh()  # a full scan: the deleted files' entries go
    seen = watch_cache(again, cache)
    again.start()
    try:
        assert again.loudness.wait_idle(120)
        assert seen == [written] * 5  # the five new files did not touch the file either
    finally:
        again.stop()
    assert cached(cache) == {str(p) for p in paths[10:] + added}


def test_files_removed_while_running_leave_the_cache_after_the_rescan(tmp_path: Path) -> None:
    folder, cache = tmp_path / "sounds", tmp_path / "loudness.json"
    paths = tiny_wavs(folder, range(8))
    changed = threading.Event()
    sounds = DaemonSounds(str(folder), cache, on_change=changed.set, rescan_s=0.05)
    sounds.refresh()
    sounds.start()
    try:
        assert sounds.loudness.wait_idle(120)
        assert cached(cache) == {str(p) for p in paths}
        changed.clear()  # set by the first scan
        for path in paths[:3]:
            path.unlink()
        assert changed.wait(60)
    finally:
        sounds.stop()  # waits for the watcher's rescan; the pruned cache is written
    assert cached(cache) == {str(p) for p in paths[3:]}


def test_stopping_mid_batch_keeps_every_measurement_reported_done(tmp_path: Path) -> None:
    folder, cache = tmp_path / "sounds", tmp_path / "loudness.json"
    paths = tiny_wavs(folder, range(40))
    sounds = DaemonSounds(str(folder), cache)
    sounds.refresh()
    reported: list[str] = []
    some_done = threading.Event()

    def note(spec: str, found: Measurement) -> None:
        reported.append(spec)
        if len(reported) == 3:
            some_done.set()

    sounds.loudness.listeners.append(note)
    sounds.start()
    try:
        assert some_done.wait(120)
    finally:
        sounds.stop()
    done = list(reported)
    assert len(done) >= 3
    assert set(done) <= cached(cache)
    assert cached(cache) <= {str(p) for p in paths}
    again = DaemonSounds(str(folder), cache)
    for spec in done:  # a restarted daemon has them without measuring
        assert again.loudness.measurement(spec) is not None


class CountingWriter:
    """The real atomic writer, counting its calls and how many entries each wrote."""

    def __init__(self) -> None:
        self.entries: list[int] = []

    def __call__(self, path: Path, document: dict[str, Any]) -> None:
        self.entries.append(len(document["entries"]))
        write_json_atomically(path, document)


def test_the_worker_writes_once_per_batch_or_every_save_interval(tmp_path: Path) -> None:
    specs = [str(p) for p in tiny_wavs(tmp_path / "sounds", range(12))]
    for save_every_s, expected in ((math.inf, [12]), (0.0, list(range(1, 13)))):
        writer = CountingWriter()
        cache = tmp_path / f"cache-{save_every_s}.json"
        service = LoudnessService(LoudnessCache(cache, writer), save_every_s=save_every_s)
        service.request_many(specs)
        service.start()
        try:
            assert service.wait_idle(120)
        finally:
            service.stop()
        assert writer.entries == expected
        assert cached(cache) == set(specs)


def test_a_measurement_left_for_later_is_written_by_stop(tmp_path: Path) -> None:
    (path,) = tiny_wavs(tmp_path / "sounds", [1])
    cache = tmp_path / "loudness.json"
    service = LoudnessService(LoudnessCache(cache))
    measured = service.measure_now(str(path), save=False)
    assert not cache.exists()
    service.stop()  # never started: stopping still writes what is pending
    assert LoudnessService(LoudnessCache(cache)).measurement(str(path)) == measured


def test_a_cache_that_cannot_be_written_stays_pending(tmp_path: Path) -> None:
    (path,) = tiny_wavs(tmp_path / "sounds", [1])
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    service = LoudnessService(LoudnessCache(blocker / "loudness.json"))
    service.measure_now(str(path), save=False)
    assert service.save() is False  # logged, not raised
    assert service.cache.dirty
    assert service.measurement(str(path)) is not None  # still known in memory


def test_analyze_writes_once_and_forgets_files_that_are_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, cache = tmp_path / "sounds", tmp_path / "loudness.json"
    paths = tiny_wavs(folder, range(6))
    args = ["--dir", str(folder), "--cache", str(cache)]
    assert main(["sounds", "analyze", *args]) == 0
    assert cached(cache) == {str(p) for p in paths}
    paths[0].unlink()
    assert main(["sounds", "analyze", *args]) == 0
    assert "measured 0 of 0 sound(s) (5 already measured)" in capsys.readouterr().out
    assert cached(cache) == {str(p) for p in paths[1:]}
    assert not list(tmp_path.glob(".loudness-*"))  # no temporary file left behind


def test_analyze_says_when_the_cache_cannot_be_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sounds"
    tiny_wavs(folder, range(2))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert main(["sounds", "analyze", "--dir", str(folder), "--cache", str(blocker / "x")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the loudness cache" in err and "--cache" in err


def test_built_in_sounds_open_and_measure_from_the_presets_parsed_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    presets_copy = tmp_path / "presets"
    presets_copy.mkdir()
    for name in ("rain.toml", "pink-noise.toml"):
        source = Path(__file__).resolve().parents[1] / "sounds" / name
        (presets_copy / name).write_bytes(source.read_bytes())
    monkeypatch.setenv("SLEEPSOUND_PRESETS_DIR", str(presets_copy))
    sounds = DaemonSounds(None)
    sounds.refresh()
    service = make_loudness_service(load_presets(), None)
    for name in ("rain.toml", "pink-noise.toml"):
        (presets_copy / name).unlink()  # opening must not read them again
    for spec in ("rain", "pink-noise"):
        block = sounds.open_source(spec, 48000, 2).read(4800)
        assert block.shape == (4800, 2) and np.any(block != 0)
    assert np.isfinite(service.measure_now("rain").lufs)
