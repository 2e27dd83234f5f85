"""The sound library in the running daemon: a real subprocess, real files, a recorded clock output.

Files are dropped into and removed from ``[sounds] dir`` while the daemon runs;
what a user would notice is checked through ``sleepsound ctl`` and the recording.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from daemon_helpers import DaemonProcess, block_levels_db, read_recording
from support.encoders import Mp3Case
from support.waiting import wait_for, wait_until

pytestmark = pytest.mark.slow

RATE = 48000
SILENT_DB = -85.0
"""Below this a 20 ms block is silence (16-bit dither sits near -96 dBFS)."""
FAST_RESCAN = "rescan_s = 0.5\n"


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory: ``make_daemon(extra_sounds_config="")``; the sounds folder exists; all killed."""
    made: list[DaemonProcess] = []

    def make(extra: str = "") -> DaemonProcess:
        daemon = DaemonProcess(tmp_path, extra)
        (tmp_path / "sounds").mkdir(exist_ok=True)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.close()


def noise(seconds: float, level_db: float, seed: int, channels: int = 2) -> np.ndarray:
    """Steady white noise with an RMS of ``level_db`` dBFS (no swells: any window is alike)."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((int(seconds * RATE), channels))
    return (data * 10 ** (level_db / 20)).astype(np.float32)


def drop(daemon: DaemonProcess, name: str, data: np.ndarray | bytes, **kwargs: object) -> Path:
    """Put a file into the sounds folder in one step (written aside, then renamed in)."""
    staging = daemon.directory / "staging"
    staging.mkdir(exist_ok=True)
    aside = staging / name
    if isinstance(data, bytes):
        aside.write_bytes(data)
    else:
        soundfile.write(str(aside), data, RATE, **kwargs)
    target = daemon.directory / "sounds" / name
    os.replace(aside, target)
    return target


def play(daemon: DaemonProcess, sound: str, **more: object) -> dict:
    return daemon.request({"action": "play", "sound": sound, **more})


def steady_loudness(record: Path) -> float:
    """Integrated loudness of what played, between the fade-in and the shutdown fade."""
    samples, rate = read_recording(record)
    levels = block_levels_db(samples, rate)
    loud = np.flatnonzero(levels > SILENT_DB)
    assert loud.size, "the recording is silent"
    first, last = int(loud[0]), int(loud[-1])
    start, end = (first + 50) * rate // 50, (last - 50) * rate // 50  # 1 s inside each end
    assert end - start > 2 * rate, "too little was played to measure"
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples[start:end].astype(np.float64)))


def test_a_dropped_file_appears_plays_by_id_and_vanishes(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon(FAST_RESCAN).start()
    refused = play(daemon, "soft-whispers")
    assert refused["status"] == "error" and "unknown sound 'soft-whispers'" in refused["error"]

    path = drop(daemon, "Soft Whispers.flac", noise(4.0, -30, seed=1))
    reply = wait_for(
        lambda: play(daemon, "soft-whispers"),
        lambda r: r["status"] == "ok",
        "the dropped file to play by its id",
    )
    assert reply == {"status": "ok"}
    doc = daemon.status()
    assert (doc["state"], doc["sound"]) == ("playing", "soft-whispers")
    code, out, _ = daemon.ctl("status")
    assert code == 0 and "soft-whispers" in out
    assert daemon.ctl("stop")[0] == 0
    wait_for(daemon.status, lambda doc: doc["state"] == "stopped", "the daemon to stop")

    path.unlink()
    wait_for(
        daemon.status,
        lambda doc: doc["sound"] != "soft-whispers",
        "the removed file's id to go from the state",
    )
    assert daemon.status()["sound"] == "pink-noise"  # the default takes its place
    gone = play(daemon, "soft-whispers")
    assert gone["status"] == "error" and gone["field"] == "sound"
    assert daemon.terminate() == 0
    assert "Traceback" not in daemon.log_text()


def test_files_recorded_at_very_different_levels_play_equally_loud(
    make_daemon: Callable[..., DaemonProcess], tmp_path: Path
) -> None:
    cache = tmp_path / "loudness.json"
    daemon = make_daemon(f'loudness_cache = "{cache}"\n')
    quiet = noise(10.0, -45, seed=2)
    loud = noise(10.0, -12, seed=3)
    drop(daemon, "quiet.flac", quiet)
    drop(daemon, "loud.wav", loud, subtype="FLOAT")
    meter = pyloudnorm.Meter(RATE)
    source_gap = meter.integrated_loudness(loud) - meter.integrated_loudness(quiet)
    assert source_gap > 30

    played: dict[str, float] = {}
    for sound in ("quiet", "loud"):
        daemon.record.unlink(missing_ok=True)
        daemon.start()
        # Measured in the background after start-up; once cached both play at their level.
        wait_until(
            lambda: cache.exists() and len(json.loads(cache.read_text())["entries"]) == 2,
            "both files' loudness in the cache",
            timeout_s=120,
        )
        assert play(daemon, sound, volume=60)["status"] == "ok"
        time.sleep(5.0)
        assert daemon.terminate() == 0
        played[sound] = steady_loudness(daemon.record)
    assert abs(played["loud"] - played["quiet"]) < 1.0, played


def test_next_never_repeats_the_sound_just_heard(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon('rotation = "user"\n')
    names = ("a-one", "b-two", "c-three", "d-four")
    for i, name in enumerate(names):
        drop(daemon, f"{name}.flac", noise(1.0, -30, seed=10 + i))
    daemon.start()
    assert play(daemon, "a-one")["status"] == "ok"
    assert daemon.request({"sound": "c-three"}) == {"status": "ok"}  # chosen by hand
    heard = ["a-one", "c-three"]
    for _ in range(10):
        assert daemon.request({"action": "next"}) == {"status": "ok"}
        heard.append(daemon.status()["sound"])
    assert set(heard) == set(names), heard  # only the user's files: the configured scope
    # Plain catalogue order would go a, c, d, a: here nothing heard in the last three
    # plays comes back while another sound is available.
    for i in range(1, len(heard)):
        assert heard[i] not in heard[max(0, i - 3) : i], heard
    assert daemon.terminate() == 0


def test_a_binaural_bed_on_a_mono_output_is_refused_or_monaural_as_configured(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config('mono_binaural = "refuse"\n', audio="channels = 1\n")
    daemon.start()
    assert play(daemon, "pink-noise")["status"] == "ok"
    refused = daemon.request({"layer": "binaural-delta", "transaction": "bed"})
    assert refused["status"] == "error" and refused["field"] == "layer"
    assert "output is mono" in refused["error"] and refused["transaction"] == "bed"
    assert daemon.status()["layer"] is None
    code, _, err = daemon.ctl("layer", "binaural-theta")
    assert code == 1 and "mono" in err
    assert daemon.request({"layer": "brown-noise"}) == {"status": "ok"}

    daemon.write_config('mono_binaural = "monaural"\n', audio="channels = 1\n")
    daemon.signal(signal.SIGHUP)
    wait_for(daemon.log_text, lambda log: "config reloaded" in log, "the reload in the log")
    reply = daemon.request({"layer": "binaural-delta", "layer_volume": 40})
    assert reply["status"] == "ok" and "monaural beat" in reply["warning"]
    assert daemon.status()["layer"] == {"sound": "binaural-delta", "volume": 40}
    time.sleep(1.0)
    assert daemon.terminate() == 0
    samples, _ = read_recording(daemon.record)
    assert samples.shape[1] == 1


def test_a_corrupt_file_is_skipped_with_its_name_logged_and_the_rest_plays(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon(FAST_RESCAN)
    drop(daemon, "good.flac", noise(3.0, -25, seed=4))
    drop(daemon, "broken.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + os.urandom(400))
    drop(daemon, "empty.flac", b"")
    daemon.start()
    log = daemon.log_text()
    assert "broken.wav" in log and "empty.flac" in log

    assert play(daemon, "good", volume=50)["status"] == "ok"
    broken = play(daemon, "broken")
    assert broken["status"] == "error" and broken["field"] == "sound"

    # One dropped in later is reported too (it changes no ids, so only the scan says so) ...
    drop(daemon, "later.ogg", b"OggS" + os.urandom(300))
    wait_for(daemon.log_text, lambda log: "later.ogg" in log, "the later corrupt file in the log")
    # ... and the ones already reported are not repeated at every rescan.
    time.sleep(1.5)
    lines = daemon.log_text().splitlines()
    assert sum("broken.wav" in line for line in lines) == 1, lines

    doc = daemon.status()
    assert (doc["state"], doc["sound"], doc["last_error"]) == ("playing", "good", None)
    time.sleep(2.0)
    assert daemon.terminate() == 0
    samples, rate = read_recording(daemon.record)
    levels = block_levels_db(samples, rate)
    heard = levels[levels > SILENT_DB]
    assert heard.size > 150 and np.median(heard) > SILENT_DB + 20, "the good file was not heard"
    assert "Traceback" not in daemon.log_text()


def test_a_command_naming_a_path_is_refused(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon()
    path = drop(daemon, "good.flac", noise(2.0, -25, seed=5))
    daemon.start()
    for raw in (
        {"action": "play", "sound": str(path)},
        {"sound": "../sounds/good.flac"},
        {"sound": "sounds/good"},
        {"layer": str(path)},
        {"action": "play", "sound": "/etc/passwd"},
    ):
        reply = daemon.request(raw)
        assert reply["status"] == "error" and reply["field"] in ("sound", "layer"), raw
        # (a long absolute path is turned away by its length before its shape is looked at)
        assert "not a path" in reply["error"] or "too long" in reply["error"], reply
    assert daemon.status()["state"] == "stopped"
    assert play(daemon, "good")["status"] == "ok"  # by id it plays
    assert daemon.terminate() == 0


def test_long_and_latin1_file_names_play_and_survive_a_restart(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    long_stem = "Rain on a tin roof recorded in the garden shed at night, part two (2019)"
    assert len(long_stem) == 72
    drop(daemon, f"{long_stem}.flac", noise(3.0, -30, seed=5))
    folder = os.fsencode(daemon.directory / "sounds")
    with open(folder + b"/Caf\xe9 ambience.wav", "wb") as handle:  # Latin-1, an old share
        soundfile.write(handle, noise(3.0, -30, seed=6), RATE, format="WAV", subtype="PCM_16")
    daemon.start()
    listed = _user_sounds(daemon)
    assert {s["title"] for s in listed} == {long_stem, "Café ambience"}
    long_id = next(s["id"] for s in listed if s["id"].startswith("rain-on-a-tin-roof"))
    assert len(long_id) <= 64
    assert play(daemon, "cafe-ambience") == {"status": "ok"}
    assert play(daemon, long_id) == {"status": "ok"}
    wait_for(daemon.status, lambda doc: doc["sound"] == long_id, "the long-named sound to play")
    assert daemon.terminate() == 0
    assert json.loads(daemon.state_file.read_text())["sound"] == long_id
    daemon.start()  # the saved state names it, and is accepted
    assert daemon.status()["sound"] == long_id
    assert daemon.terminate() == 0
    log = daemon.log_text()
    assert "saved state has problems" not in log and "Traceback" not in log


def _user_sounds(daemon: DaemonProcess) -> list[dict]:
    """``sleepsound sounds --json --scope user`` as a user runs it (strict UTF-8 JSON)."""
    result = subprocess.run(
        [sys.executable, "-m", "sleepsound.cli", "sounds", "--json", "--scope", "user",
         "--config", str(daemon.config)],
        capture_output=True,
        check=True,
    )  # fmt: skip
    return json.loads(result.stdout.decode("utf-8"))["sounds"]


@pytest.mark.parametrize("saved_sound", ["gone-now", "x" * 80, "rain/../../etc"])
def test_a_saved_sound_no_longer_playable_falls_back_with_a_log_line(
    make_daemon: Callable[..., DaemonProcess], saved_sound: str
) -> None:
    daemon = make_daemon()
    daemon.state_file.write_text(
        json.dumps({"version": 1, "volume": 21, "sound": saved_sound, "sleep_timer": 0})
    )
    daemon.start()
    doc = daemon.status()
    assert doc["sound"] == "pink-noise" and doc["volume"] == 21  # the rest of the state holds
    assert play(daemon, doc["sound"]) == {"status": "ok"}
    assert daemon.terminate() == 0
    log = daemon.log_text()
    assert saved_sound[:20] in log, log
    assert "Traceback" not in log


def test_decoder_chatter_stays_out_of_the_journal(
    make_daemon: Callable[..., DaemonProcess], real_mp3s: dict[str, Mp3Case]
) -> None:
    # A damaged stretch inside an MP3: mpg123 writes notes to fd 2 as it resyncs.
    data = real_mp3s["sox-44k"].path.read_bytes()
    middle = len(data) // 2
    daemon = make_daemon()
    drop(daemon, "Damaged.mp3", data[:middle] + bytes(600) + data[middle:])
    daemon.start()
    assert play(daemon, "damaged") == {"status": "ok"}
    # Past the damage (2 s in): 5 s of 16-bit stereo, or 2.5 s if it records 32 bits.
    wait_until(
        lambda: daemon.record.exists() and daemon.record.stat().st_size > 5 * RATE * 4,
        "the damaged middle of the MP3 to play",
    )
    assert daemon.terminate() == 0
    log = daemon.log_text()
    assert "Note:" not in log and "libmpg123" not in log, log
    assert "Traceback" not in log
