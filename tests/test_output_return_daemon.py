"""A real daemon whose output goes away and comes back, as a Bluetooth headband does.

The daemon plays to ``headband``: ALSA's ``file`` plugin in front of a private PulseAudio
null sink (``tests/support/clocked_alsa.py``). The files keep every frame the sink
accepted (``truncate false``: each reopening writes the next numbered file). The test
unloads the sink (the stream fails with EIO, and opening fails while it is gone), waits,
and loads it again. What a listener must notice: the sound holds (nothing is written,
nothing switches), the daemon retries, the sound comes back in from silence to the level
it would have had (the volume unchanged, the sleep fade as far along as the clock says:
not restarted, so never louder than before), without a click, and the sleep timer still
ends when it was going to.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import DaemonProcess, daemons_in, warm_loudness_cache
from sleepsound.engine import RETURN_FADE_S
from support.audio import CLICK_THRESHOLD_DB, click_score, level_envelope_db, rms_db
from support.clocked_alsa import CHANNELS, RATE, PulseClock
from support.waiting import wait_until

SOUND = "binaural-delta"  # a steady bed: its level is the same from one window to the next
HOLD_S = 10.5
"""How long the headband stays away (at least): several retries, and at least one of the
daemon's health checks (every 10 s), which must not take the retrying for the sound back."""


@pytest.fixture
def headband(
    pulse_env: PulseClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DaemonProcess, Path]]:
    """A daemon playing to the ``headband`` PCM; the file of what the sink accepted."""
    written = tmp_path / "written.raw"
    asoundrc = tmp_path / "headband.asoundrc"
    asoundrc.write_text(pulse_env.file_pcm("headband", written))
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{os.environ['ALSA_CONFIG_PATH']}:{asoundrc}")
    warm_loudness_cache(SOUND)
    with daemons_in(tmp_path) as make:
        daemon = make()
        text = daemon.config_text().replace(
            'output = "clock"\n', 'output = "alsa"\ndevice = "headband"\nformat = "S32_LE"\n'
        )
        daemon.write_config(text=text.replace(f'record = "{daemon.record}"\n', ""))
        yield daemon.start(), written


def numbered_files(path: Path) -> list[Path]:
    """``path.0001``, ``path.0002``... in order: one per open after the first."""
    return sorted(path.parent.glob(path.name + ".*"), key=lambda each: int(each.suffix[1:]))


def frames_of(path: Path) -> np.ndarray:
    """The float frames written so far: ``path``, then ``path.0001``, ``path.0002``...

    With ``truncate false`` the file plugin never overwrites: each open after the first
    writes a new file with the next number (an open that fails leaves an empty one).
    """
    files = [each for each in [path, *numbered_files(path)] if each.exists()]
    parts = [np.fromfile(each, dtype="<i4") for each in files]
    data = np.concatenate(parts) if parts else np.empty(0, dtype="<i4")
    whole = data.size - data.size % CHANNELS
    return data[:whole].reshape(-1, CHANNELS).astype(np.float64) / 2.0**31


def ends_at(doc: dict) -> dt.datetime:
    """The status document's ``timer_ends_at`` as a time."""
    return dt.datetime.fromisoformat(doc["timer_ends_at"].replace("Z", "+00:00"))


def test_the_sound_holds_while_the_headband_is_away_and_fades_back_in(
    headband: tuple[DaemonProcess, Path], pulse_env: PulseClock
) -> None:
    daemon, written = headband
    # A one-minute timer is one long sleep fade (about -1 dB a second) from the start.
    code, _, err = daemon.ctl("play", SOUND, "--volume", "40", "--timer", "1")
    assert code == 0, err
    wait_until(lambda: len(frames_of(written)) > 2 * RATE, "two seconds of sound")
    before = daemon.status()
    assert before["output"]["audible"] and before["state"] == "fading_out"
    level_before = rms_db(frames_of(written)[-RATE // 2 :])

    pulse_env.unplug()
    unplugged_at = time.monotonic()
    wait_until(lambda: "holding" in daemon.log_text(), "the daemon to notice")
    held = wait_until(lambda: (doc := daemon.status())["output"]["audible"] is False and doc)
    # Nothing switches by itself, and the play goes on (a timer, not the sound, ends it).
    assert held["state"] == "fading_out" and held["volume"] == 40
    assert "'headband'" in held["last_error"]  # the open that is retried, or the write before
    # Once the first reopening has failed, the old device is closed (and its file flushed).
    wait_until(lambda: "retrying every" in daemon.log_text(), "a retry")
    gone_at = len(frames_of(written))
    # Each attempt to open leaves a numbered file behind (empty while the sink is away).
    wait_until(lambda: len(numbered_files(written)) >= 3, "two retries more")
    time.sleep(max(0.0, HOLD_S - (time.monotonic() - unplugged_at)))
    assert len(frames_of(written)) == gone_at  # held: nothing played while away
    assert daemon.status()["output"]["audible"] is False  # still away, still said so
    # Said once (the failed write, then the failing open), not again at every health check,
    # and logged once, not at every retry (a headband can be away all night).
    assert daemon.log_text().count("'event_type': 'playback_error'") <= 2
    assert daemon.log_text().count("retrying every") == 1

    pulse_env.plug_back()
    wait_until(lambda: "is back after" in daemon.log_text(), "the daemon to reopen the sink")
    wait_until(
        lambda: len(frames_of(written)) > gone_at + (RETURN_FADE_S + 1.5) * RATE,
        "the return fade and a second more",
    )
    after = daemon.status()
    assert after["state"] == "fading_out" and after["volume"] == 40
    # The timer kept its deadline: the outage neither paused nor restarted it.
    # (Whole seconds, from two clocks read a moment apart: a rounding may differ by one.)
    moved = ends_at(after) - ends_at(before)
    assert abs(moved.total_seconds()) <= 1.0, (before["timer_ends_at"], after["timer_ends_at"])

    back = frames_of(written)[gone_at:]
    levels = level_envelope_db(back, RATE, 0.05)
    fade_windows = int(RETURN_FADE_S / 0.05)
    assert levels[0] < level_before - 40  # from silence, never a jump to the old level
    assert np.all(np.diff(levels[: fade_windows - 1]) > -0.5)  # rising all the way
    # Back where the sleep fade has got to by now: the time away (HOLD_S and more) counted.
    # A restarted fade would come back near the level before the drop.
    assert rms_db(back[int((RETURN_FADE_S + 0.5) * RATE) :]) < level_before - HOLD_S
    assert levels.max() <= level_before + 0.5  # never louder than before it went away
    assert click_score(back, RATE) < CLICK_THRESHOLD_DB
