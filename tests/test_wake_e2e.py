"""A wake program in a real daemon (``sleepsound run``, clock output recording).

The program is added at runtime for the next whole minute (UTC) at least 40 s away,
with a 30 s rise (``fade_min = 0.5``) and a one-minute snooze. The recording shows the
rise, linear in dB, reaching the wake volume at the due time (within a second), the
snooze's fade-out, and the second rise a minute later. The recording's clock is tied
to the wall clock by a short mark played at a known moment before the program.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import numpy as np
import pytest

from daemon_helpers import DaemonProcess, read_recording, warm_loudness_cache
from sleepsound.dsp.gain import FLOOR_DB
from sleepsound.program_run import SNOOZE_FADE_S
from support.audio import level_envelope_db

pytestmark = pytest.mark.slow

WINDOW_S = 0.5
"""Level windows: long enough that the noise's own wobble stays well inside the tolerance."""
RISE_S = 30.0
SILENT_DB = -85.0


@pytest.fixture(scope="module", autouse=True)
def _measured_sounds() -> None:
    warm_loudness_cache("pink-noise", "brown-noise")


def reaches_s(times: np.ndarray, levels: np.ndarray, steady: float) -> float:
    """When a rise, fitted as a straight line in dB, reaches ``steady`` (and its slope is
    the rise's: 60 dB over RISE_S)."""
    slope, intercept = np.polyfit(times, levels, 1)
    assert slope == pytest.approx(-FLOOR_DB / RISE_S, rel=0.1)
    return float((steady - intercept) / slope)


def sleep_until(wall_s: float) -> None:
    time.sleep(max(wall_s - time.time(), 0.0))


def test_a_wake_rises_to_its_volume_at_the_due_time_snoozes_and_rises_again(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon('[schedule]\ntimezone = "UTC"\nrequire_clock_sync = false\n').start()
    # The mark: a sound started at a known wall time ties the recording to the clock
    # (once the daemon has settled after its start; the middle of the request's round trip).
    time.sleep(2.0)
    sent = time.time()
    assert daemon.request({"action": "play", "sound": "pink-noise", "volume": 60})["status"] == "ok"
    mark_wall = (sent + time.time()) / 2
    time.sleep(1.5)
    assert daemon.request({"action": "stop", "fade": 0})["status"] == "ok"

    due = dt.datetime.fromtimestamp(time.time() + 40, dt.UTC)
    due = due.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    program = {
        "name": "test-wake",
        "kind": "wake",
        "at": due.strftime("%H:%M"),
        "days": "daily",
        "sound": "pink-noise",
        "volume": 75,
        "fade_min": RISE_S / 60,
        "snooze_min": 1,
    }
    reply = daemon.request({"program_add": program})
    assert reply["status"] == "ok", reply
    assert [p["name"] for p in reply["programs"]] == ["test-wake"]
    status = daemon.status()
    assert status["next_program"] == {
        "name": "test-wake",
        "kind": "wake",
        "at": due.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    # require_clock_sync = false: it fires whatever the system says (None in a container).
    assert status["clock_synced"] in (True, False, None)
    due_wall = due.timestamp()

    sleep_until(due_wall - RISE_S / 2)
    rising = daemon.status()
    assert rising["state"] == "playing" and rising["sound"] == "pink-noise"
    assert rising["program"]["phase"] == "rising"
    assert rising["program"]["until"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    sleep_until(due_wall + 4)
    assert daemon.status()["program"]["phase"] == "ringing"
    snooze_wall = time.time()
    assert daemon.request({"action": "toggle"})["status"] == "ok"  # the button's press
    assert daemon.status()["program"]["phase"] == "snoozed"
    sleep_until(snooze_wall + 60 + RISE_S + 4)
    assert daemon.status()["program"]["phase"] == "ringing"
    assert daemon.request({"action": "dismiss"})["status"] == "ok"
    time.sleep(SNOOZE_FADE_S + 1)
    assert daemon.status()["program"] is None
    assert daemon.terminate() == 0
    log = daemon.log_text()
    for event in ("program_started", "snoozed", "dismissed"):
        assert f"'event_type': '{event}'" in log

    samples, rate = read_recording(daemon.record)
    levels = level_envelope_db(samples, rate, WINDOW_S)
    times = (np.arange(len(levels)) + 0.5) * WINDOW_S
    fine = level_envelope_db(samples, rate, 0.01)
    onset = float(np.argmax(fine > SILENT_DB + 10)) * 0.01  # the mark's first 10 ms

    def at(wall_s: float) -> float:
        """The recording's time of a wall-clock moment."""
        return onset + (wall_s - mark_wall)

    rise_start, rise_end = at(due_wall - RISE_S), at(due_wall)
    steady = float(np.median(levels[(times > rise_end + 1) & (times < at(snooze_wall) - 0.5)]))
    assert steady > SILENT_DB + 40
    quiet = (times > at(mark_wall) + 3) & (times < rise_start - 1)
    assert np.max(levels[quiet]) < SILENT_DB, "sound before the rise"
    # The rise, linear in dB from silence to the wake volume, on the due time.
    # From 16 dB up: the first seconds sit near the recording's dither floor.
    linear = (times > rise_start + 8) & (times < rise_end - 1)
    expected = steady + FLOOR_DB * (1 - (times[linear] - rise_start) / RISE_S)
    worst = np.max(np.abs(levels[linear] - expected))
    assert worst < 2.5, f"the rise is {worst:.1f} dB off its dB-linear line (onset {onset:.2f} s)"
    reached = reaches_s(times[linear], levels[linear], steady)
    assert reached == pytest.approx(rise_end, abs=1.0), f"up at {reached:.2f} s, due {rise_end:.2f}"
    assert np.max(levels[(times > rise_start) & (times < at(snooze_wall))]) < steady + 1.5
    # The snooze: a fade over seconds to silence, and silence for the minute.
    fade = (times > at(snooze_wall)) & (times < at(snooze_wall) + SNOOZE_FADE_S)
    assert np.max(levels[fade]) < steady + 1.0
    snoozed = (times > at(snooze_wall) + SNOOZE_FADE_S + 1) & (times < at(snooze_wall) + 59)
    assert np.max(levels[snoozed]) < SILENT_DB
    # The second rise: from the end of the snooze, up again over the short rise.
    again_start, again_end = at(snooze_wall + 60), at(snooze_wall + 60 + RISE_S)
    linear = (times > again_start + 8) & (times < again_end - 1)
    expected = steady + FLOOR_DB * (1 - (times[linear] - again_start) / RISE_S)
    worst = np.max(np.abs(levels[linear] - expected))
    assert worst < 2.5, f"the second rise is {worst:.1f} dB off its dB-linear line"
    reached = reaches_s(times[linear], levels[linear], steady)
    assert reached == pytest.approx(again_end, abs=1.0), f"up at {reached:.2f}, due {again_end:.2f}"


def test_ctl_program_edits_reach_the_daemon_and_survive_a_restart(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon('[schedule]\ntimezone = "UTC"\n').start()
    code, out, err = daemon.ctl("program", "list")
    assert code == 0 and "no programs yet" in out
    code, out, err = daemon.ctl(
        "program", "add", "weekday", "--kind", "wake", "--at", "07:00", "--days", "mon,tue",
        "--sound", "brown-noise", "--volume", "40", "--fade", "20",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "weekday: wake at 07:00 mon,tue, brown-noise"
    assert daemon.status()["next_program"]["name"] == "weekday"
    assert daemon.ctl("program", "skip", "weekday")[1].strip().endswith("(next one skipped)")
    code, out, err = daemon.ctl("program", "disable", "weekdya")
    assert code == 1 and "did you mean 'weekday'" in err.lower()
    code, _, err = daemon.ctl(
        "program", "add", "typo", "--kind", "wake", "--at", "07:00", "--sound", "brwon-noise"
    )
    assert code == 1 and "brown-noise" in err  # refused at once, with the likely fix
    code, _, err = daemon.ctl("snooze")
    assert code == 1 and "no wake program is running" in err
    assert daemon.terminate() == 0
    daemon.start()  # the runtime programs were stored beside the state file
    code, out, _ = daemon.ctl("program", "list")
    assert out.strip() == "weekday: wake at 07:00 mon,tue, brown-noise (next one skipped)"
    assert daemon.ctl("program", "remove", "weekday")[0] == 0
    assert daemon.status()["next_program"] is None
