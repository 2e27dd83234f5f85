"""``sleepsound run`` end to end: a real subprocess, the real CLI, a recorded clock output."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory

from daemon_helpers import (
    CACHE_HOME,
    REPLY_TIMEOUT_S,
    DaemonProcess,
    block_levels_db,
    read_recording,
    run_on_mock_pins,
    wait_until,
    warm_loudness_cache,
)
from sleepsound import cli, statefile
from sleepsound.commands import Command
from sleepsound.config import load_config
from sleepsound.daemon import Daemon
from sleepsound.errors import ControlError
from support.audio import make_corrupt_files
from support.waiting import wait_for

pytestmark = pytest.mark.slow

SILENT_DB = -85.0
"""Below this a 20 ms block is silence (16-bit TPDF dither sits near -96 dBFS)."""


@pytest.fixture(scope="module", autouse=True)
def _measured_sounds() -> None:
    warm_loudness_cache("pink-noise", "brown-noise")


def _state(daemon: DaemonProcess, wanted: str) -> dict:
    return wait_until(lambda: (doc := daemon.status())["state"] == wanted and doc)


def test_ctl_commands_change_the_status(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    first = daemon.status()
    assert first.pop("clock_synced") in (True, False, None)  # None: the system cannot tell
    assert first == {
        "state": "stopped",
        "sound": "pink-noise",
        "volume": 30,
        "max_volume": 80,
        "sleep_timer": 0,
        "timer_ends_at": None,
        "layer": None,
        "last_error": None,
        "output": {
            "name": "default",
            "kind": "clock",
            "device": None,
            "audible": False,
            "connected": True,
        },
        "outputs": ["default"],
        "preset": None,
        "presets": [],
        "program": None,
        "next_program": None,
        "next_wake": None,
        "programs": [],
    }

    code, out, _ = daemon.ctl("play", "brown-noise", "--volume", "40", "--timer", "45")
    # Every command says what it did: the resulting status line, as `ctl status` prints.
    assert code == 0 and out.startswith("playing brown-noise, volume 40 (max 80), timer 45 min")
    assert out.count("\n") == 1 and "SILENT: playing to the clock output" in out
    doc = daemon.status()
    assert (doc["state"], doc["sound"], doc["volume"], doc["sleep_timer"]) == (
        "playing",
        "brown-noise",
        40,
        45,
    )
    ends = dt.datetime.fromisoformat(doc["timer_ends_at"].replace("Z", "+00:00"))
    minutes_left = (ends - dt.datetime.now(dt.UTC)).total_seconds() / 60
    assert 40 < minutes_left <= 45.1

    code, out, _ = daemon.ctl("volume", "+5")
    assert code == 0 and "volume 45 (max 80)" in out
    assert daemon.status()["volume"] == 45
    assert daemon.ctl("volume", "-10")[0] == 0
    assert daemon.status()["volume"] == 35
    code, out, err = daemon.ctl("volume", "95")
    assert code == 0 and "clamped to max_volume 80" in err and "volume 80 (max 80)" in out
    assert daemon.status()["volume"] == 80

    assert daemon.ctl("timer", "30")[0] == 0
    assert daemon.status()["sleep_timer"] == 30
    assert daemon.ctl("timer", "off")[0] == 0
    doc = daemon.status()
    assert doc["sleep_timer"] == 0 and doc["timer_ends_at"] is None

    code, out, _ = daemon.ctl("next")
    assert code == 0 and out.startswith("playing ") and "brown-noise" not in out
    assert daemon.status()["sound"] not in ("brown-noise", None)
    code, out, _ = daemon.ctl("layer", "white-noise", "--volume", "20")
    assert code == 0 and "layer white-noise at 20" in out
    assert daemon.status()["layer"] == {"sound": "white-noise", "volume": 20}

    assert daemon.ctl("toggle")[0] == 0
    assert daemon.status()["state"] in ("fading_out", "stopped")
    _state(daemon, "stopped")
    assert daemon.ctl("toggle")[0] == 0
    assert daemon.status()["state"] == "playing"
    assert daemon.ctl("stop")[0] == 0
    _state(daemon, "stopped")

    code, out, _ = daemon.ctl("status")
    assert code == 0 and out.startswith("stopped") and "volume 80 (max 80)" in out
    assert daemon.terminate() == 0


def test_a_bad_command_gets_one_line_and_the_daemon_keeps_playing(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("play", "--volume", "50")[0] == 0

    code, out, err = daemon.ctl("volume", "150")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "volume must be a number from 0 to 100" in err
    code, _, err = daemon.ctl("play", "no-such-sound")
    assert code == 1 and err.count("\n") == 1 and "unknown sound 'no-such-sound'" in err
    code, _, err = daemon.ctl("send", '{"volume": "loud", "transaction": 7}')
    assert code == 1 and err.count("\n") == 1

    reply = daemon.request({"sleep_timer": -3, "transaction": "t1"})
    assert reply == {
        "status": "error",
        "error": "sleep_timer must be a number of minutes from 0 (off) to 720",
        "field": "sleep_timer",
        "transaction": "t1",
    }
    doc = daemon.status()
    assert (doc["state"], doc["volume"], doc["sound"], doc["last_error"]) == (
        "playing",
        50,
        "pink-noise",
        None,
    )
    time.sleep(3.0)  # let the recording show what came after the refusals
    assert daemon.terminate() == 0
    samples, rate = read_recording(daemon.record)
    levels = block_levels_db(samples, rate)
    # Still sounding, steadily, in the second before the shutdown fade began.
    end = _fade_end(levels)
    assert np.all(levels[end - 100 : end - 75] > SILENT_DB + 20)
    assert "Traceback" not in daemon.log_text()


def test_the_real_ctl_command_exit_codes(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon()
    ctl = [sys.executable, "-m", "sleepsound.cli", "ctl", "--socket", str(daemon.socket)]

    missing = subprocess.run([*ctl, "status"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 3
    assert missing.stderr.splitlines() == [
        f"sleepsound: the sleepsound daemon is not running (nothing listens on {daemon.socket})"
    ]

    daemon.start()
    refused = subprocess.run([*ctl, "volume", "-300"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "sleepsound: volume_step must be a number from -100 to 100"
    ]
    status = subprocess.run([*ctl, "status", "--json"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "stopped"


@pytest.mark.parametrize("stopping_already", [False, True], ids=["playing", "stopping"])
def test_sigterm_fades_out_within_two_seconds_and_exits_zero(
    make_daemon: Callable[..., DaemonProcess], stopping_already: bool
) -> None:
    daemon = make_daemon()
    # An 8 s stop fade: shutdown must still be silent within 2 s, even in the middle of one.
    daemon.write_config(text=daemon.config_text().replace("fade_out_s = 0.5", "fade_out_s = 8"))
    daemon.start()
    assert daemon.ctl("play", "--volume", "60")[0] == 0
    time.sleep(3.5)  # well past the 0.5 s fade-in: a steady level to fade from
    if stopping_already:
        assert daemon.ctl("stop")[0] == 0
    assert daemon.terminate() == 0
    assert daemon.notify is not None
    assert daemon.notify.wait_for("STOPPING", "1")

    samples, rate = read_recording(daemon.record)
    levels = block_levels_db(samples, rate)  # 20 ms blocks
    end = _fade_end(levels)
    assert end >= 150
    playing = float(np.median(levels[end - 150 : end - 110]))  # 3.0 to 2.2 s before silence
    assert playing > SILENT_DB + 30, "nothing was playing before the shutdown"
    # Still at the playing level 2 s before silence: the fade took at most 2 s ...
    assert float(np.median(levels[end - 102 : end - 98])) > playing - 3.0
    # ... and it was a fade through the levels in between, not a cut.
    fade = levels[end - 100 : end]
    assert np.count_nonzero((fade < playing - 6) & (fade > playing - 40)) >= 10
    smooth = np.convolve(fade, np.ones(5) / 5, mode="valid")
    assert np.all(np.diff(smooth) < 1.0), "the level rose during the fade"
    assert levels[-1] < SILENT_DB, "the recording did not end in silence"


def _fade_end(levels: np.ndarray) -> int:
    """Where the final fade ended: just after the last 20 ms block above silence."""
    loud = np.flatnonzero(levels >= SILENT_DB)
    assert loud.size, "the recording is silent"
    end = int(loud[-1]) + 1
    assert end < len(levels), "the recording never reached silence"
    assert end >= 125, "the recording is too short to show the fade"
    return end


def test_settings_survive_a_restart(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("play", "brown-noise", "--volume", "42", "--timer", "60")[0] == 0
    assert daemon.ctl("layer", "white-noise", "--volume", "25")[0] == 0
    assert daemon.ctl("stop")[0] == 0
    # The debounced save lands on its own (0.2 s); SIGKILL proves nothing waits for exit.
    wait_until(
        lambda: (
            daemon.state_file.exists() and statefile.load(daemon.state_file)[0].layer_volume == 25.0
        )
    )
    daemon.kill()

    daemon.start()
    doc = daemon.status()
    assert (doc["state"], doc["sound"], doc["volume"], doc["sleep_timer"], doc["layer"]) == (
        "stopped",
        "brown-noise",
        42,
        60,
        {"sound": "white-noise", "volume": 25},
    )
    assert daemon.ctl("play")[0] == 0
    doc = daemon.status()
    assert doc["sound"] == "brown-noise" and doc["timer_ends_at"] is not None


def test_sigterm_saves_what_the_debouncer_still_held(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(save_delay_s=600)
    daemon.start()
    assert daemon.ctl("volume", "33")[0] == 0
    assert daemon.terminate() == 0
    saved, warning = statefile.load(daemon.state_file)
    assert warning is None and saved.volume == 33.0


def test_sigkill_during_state_writes_leaves_a_valid_state_file(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(save_delay_s=0)
    sent: set[float] = {30.0}  # the start-up volume, if no change was saved yet
    rng = random.Random(3)
    for _round in range(4):
        daemon.start()
        stop = threading.Event()

        def hammer(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                volume = float(rng.randint(1, 80))
                sent.add(volume)
                try:
                    daemon.request({"volume": volume})
                except ControlError:
                    return  # killed

        thread = threading.Thread(target=hammer)
        thread.start()
        wait_until(lambda: daemon.state_file.exists())
        time.sleep(rng.uniform(0.2, 0.8))
        daemon.kill()
        stop.set()
        thread.join(30)
        saved, warning = statefile.load(daemon.state_file)
        assert warning is None, warning
        assert saved.volume in sent


def test_timer_expiry_fades_and_stops(tmp_path: Path) -> None:
    # Commands refuse timers under a minute, so this 3 s one (0.05 min, all of it the
    # final fade) goes onto the queue as a checked command: the daemon runs in this process.
    files = DaemonProcess(tmp_path)  # only its config and paths: nothing is started
    pins = MockFactory()
    daemon = Daemon(
        load_config(str(files.config)),
        environ={"XDG_CACHE_HOME": str(CACHE_HOME)},
        pin_factory=pins,
    )
    replies: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def scenario() -> None:
        wait_until(lambda: daemon.status().get("state"), "the first state document")
        daemon.submit(Command(action="play", volume=60, sleep_timer=0.05), replies.put)
        assert replies.get(timeout=REPLY_TIMEOUT_S)["status"] == "ok"
        assert daemon.status()["timer_ends_at"] is not None
        doc = wait_for(daemon.status, lambda d: d["state"] == "stopped", "the timer's stop")
        assert doc["volume"] == 60, "the sleep fade must not overwrite the user's volume"

    try:
        assert run_on_mock_pins(daemon, pins, scenario) == 0
    finally:
        files.close()


def test_config_errors_are_listed_all_at_once(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon()
    daemon.write_config(
        text='[audio]\nvoluem = 20\nmax_volume = 150\n[sleep]\nfade_min = "ten"\n'
        f'[socket]\npath = "{daemon.socket}"\n'
    )
    base = [sys.executable, "-m", "sleepsound.cli"]
    for command in (["check-config"], ["run"]):
        result = subprocess.run(
            [*base, *command, "--config", str(daemon.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 78, result.stderr
        assert "3 config problem(s)" in result.stderr
        assert "audio.voluem: unknown key (did you mean 'volume'?)" in result.stderr
        assert "audio.max_volume: must be a number from 1 to 100, not 150" in result.stderr
        assert "sleep.fade_min: must be a number of minutes" in result.stderr
    assert not daemon.socket.exists()

    daemon.write_config()
    result = subprocess.run(
        [*base, "check-config", "--config", str(daemon.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout == f"config OK: {daemon.config}\n"


def test_the_old_control_section_still_works_and_says_to_rename_it(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    text = daemon.config_text()
    assert "[socket]\npath =" in text
    daemon.write_config(text=text.replace("[socket]\npath =", "[control]\nsocket ="))
    rename = "control.socket: [control] socket is now [socket] path"
    checked = subprocess.run(
        [sys.executable, "-m", "sleepsound.cli", "check-config", "--config", str(daemon.config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr  # a warning, never a refusal
    assert f"warning: {rename}" in checked.stderr
    assert checked.stdout == f"config OK: {daemon.config}\n"

    daemon.start()
    assert rename in daemon.log_text()  # logged at start, before READY=1
    # `ctl` finds the daemon through the same old section, as a user's shell would.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["ctl", "--config", str(daemon.config), "play", "brown-noise"])
    assert code == 0 and out.getvalue().startswith("playing brown-noise"), out.getvalue()


def test_sd_notify_ready_watchdog_and_stopping(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon(watchdog_usec=400_000).start()
    assert daemon.notify is not None
    ready = daemon.notify.wait_for("READY", "1")
    assert ready["STATUS"].startswith("stopped (pink-noise)")
    wait_until(lambda: daemon.notify.count("WATCHDOG") >= 3)
    assert daemon.ctl("play")[0] == 0
    assert daemon.notify.wait_for("STATUS", None) and wait_until(
        lambda: any(m.get("STATUS", "").startswith("playing") for m in daemon.notify.messages)
    )
    assert daemon.terminate() == 0
    assert daemon.notify.wait_for("STOPPING", "1")


def test_sighup_reloads_and_a_bad_config_keeps_the_old(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("play", "--volume", "70")[0] == 0
    daemon.write_config(audio="max_volume = 50\n")
    daemon.signal(signal.SIGHUP)
    doc = wait_until(lambda: (d := daemon.status())["max_volume"] == 50 and d)
    assert (doc["volume"], doc["state"]) == (50, "playing")
    assert daemon.notify is not None and daemon.notify.wait_for("RELOADING", "1")

    daemon.write_config(audio="max_volume = 500\nbogus = 1\n")
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: "keeping the running config" in daemon.log_text())
    log = daemon.log_text()
    assert "audio.max_volume" in log and "audio.bogus" in log
    doc = daemon.status()
    assert (doc["max_volume"], doc["state"]) == (50, "playing")
    assert daemon.terminate() == 0


def test_a_missing_sound_card_falls_back_to_the_clock(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    text = daemon.config_text().replace('output = "clock"', 'output = "alsa"')
    text = text.replace(f'record = "{daemon.record}"', 'device = "sleepsound_no_such_card"')
    daemon.write_config(text=text)
    daemon.start()
    doc = daemon.status()
    assert "no sound card" in doc["last_error"]
    assert doc["output"]["audible"] is False and doc["output"]["connected"] is False
    log_text = daemon.log_text()
    assert "sleepsound_no_such_card" in log_text
    # Expected on a laptop: a warning that says what happens, not an ERROR.
    lines = [line for line in log_text.splitlines() if "no sound card" in line]
    assert any(line.startswith("sleepsound: WARNING: no sound card") for line in lines), lines
    assert not any(": ERROR: " in line for line in lines), lines
    code, out, _ = daemon.ctl("play")
    assert code == 0 and "SILENT: playing to the clock output (no sound card)" in out
    # Still silent after play: the output says so for as long as it is true.
    doc = daemon.status()
    assert doc["state"] == "playing" and doc["output"]["audible"] is False
    assert "SILENT" in daemon.ctl("status")[1]
    assert daemon.terminate() == 0


def test_playing_a_file_the_library_skipped_says_it_was_skipped_and_why(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    broken = make_corrupt_files(daemon.directory / "sounds")
    daemon.start()
    # The scan skips these three (a truncated WAV is kept and fails when it plays).
    for kind in ("garbage_flac", "empty_wav", "text_wav"):
        path = broken[kind]
        sound_id = path.stem  # truncated, garbage, empty, notes: already ids
        code, out, err = daemon.ctl("play", sound_id)
        assert code == 1 and out == "", (kind, out)
        assert err.count("\n") == 1, err
        assert f"sound {sound_id!r} is not playable: the library skipped its file" in err, err
        assert path.name in err and "unknown sound" not in err, err
    # A name that was never a file is still an unknown sound, with the known ones.
    code, _, err = daemon.ctl("play", "ocean-night")
    assert code == 1 and "unknown sound 'ocean-night'" in err
    assert daemon.status()["state"] == "stopped"
    assert daemon.terminate() == 0
