"""A lower ceiling always takes effect: ``[audio] max_volume`` at start, on reload, on state.

Issue 11 item 5: ``max_volume = 20`` with ``volume`` unset (start-up volume 30) used to be
refused: exit 78 at start, and on SIGHUP the old, higher ceiling stayed in force. A start-up
volume above the ceiling is now clamped with a warning (log and ``check-config``), never an
error: a safety setting must not fail closed into a louder device.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in, wait_until, warm_loudness_cache
from sleepsound import statefile
from sleepsound.config import parse_toml

# (the [audio] lines, the ceiling, the start-up volume the daemon uses, warned?)
CEILINGS = [
    ("max_volume = 20\n", 20, 20, True),  # the issue: default volume 30 above it
    ("max_volume = 1\n", 1, 1, True),
    ("max_volume = 29.5\n", 29.5, 29.5, True),
    ("volume = 90\n", 80, 80, True),  # the default ceiling
    ("volume = 50\nmax_volume = 40\n", 40, 40, True),
    ("volume = 100\nmax_volume = 100\n", 100, 100, False),
    ("volume = 40\nmax_volume = 40\n", 40, 40, False),
    ("max_volume = 30\n", 30, 30, False),
    ("volume = 10\nmax_volume = 20\n", 20, 10, False),
]


@pytest.mark.parametrize(("audio", "ceiling", "start", "warned"), CEILINGS)
def test_a_start_up_volume_above_the_ceiling_is_a_warning_not_an_error(
    audio: str, ceiling: float, start: float, warned: bool
) -> None:
    from sleepsound.player import PlayerContext, initial_state

    config = parse_toml("[audio]\n" + audio)
    assert config.audio.max_volume == ceiling
    if warned:
        [warning] = config.warnings
        assert warning.startswith("audio.volume") and f"starting at {ceiling:g}" in warning
    else:
        assert config.warnings == ()
    state = initial_state(PlayerContext.from_config(config, ["pink-noise"]))
    assert (state.volume, state.max_volume) == (start, ceiling)


def test_check_config_shows_the_warning_and_passes(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[audio]\nmax_volume = 20\n")
    result = subprocess.run(
        [sys.executable, "-m", "sleepsound.cli", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"config OK: {path}\n"
    assert "audio.volume (default): 30 is above audio.max_volume 20" in result.stderr


# -- the daemon ------------------------------------------------------------------------------


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory: ``make_daemon(extra_config="")``; all killed afterwards."""
    warm_loudness_cache("pink-noise")
    with daemons_in(tmp_path) as make:
        yield make


def _reload(daemon: DaemonProcess) -> None:
    """SIGHUP, and wait until the daemon logged the reload's end (good or bad)."""
    ends = ("config reloaded from", "keeping the running config")
    before = sum(daemon.log_text().count(line) for line in ends)
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: sum(daemon.log_text().count(line) for line in ends) > before)


@pytest.mark.slow
def test_the_daemon_starts_under_a_low_ceiling(make_daemon: Callable[..., DaemonProcess]) -> None:
    daemon = make_daemon()
    daemon.write_config(audio="max_volume = 20\n")
    daemon.start()
    doc = daemon.status()
    assert (doc["volume"], doc["max_volume"]) == (20, 20)
    assert "audio.volume (default): 30 is above audio.max_volume 20" in daemon.log_text()
    code, _, err = daemon.ctl("play", "--volume", "60")
    assert code == 0 and "clamped to max_volume 20" in err
    assert daemon.status()["volume"] == 20
    assert daemon.terminate() == 0


@pytest.mark.slow
@pytest.mark.parametrize("audio", ["max_volume = 20\n", "volume = 60\nmax_volume = 25\n"])
def test_a_reload_always_lowers_the_ceiling(
    make_daemon: Callable[..., DaemonProcess], audio: str
) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("play", "pink-noise", "--volume", "70")[0] == 0
    daemon.write_config(audio=audio)
    _reload(daemon)
    assert "keeping the running config" not in daemon.log_text()
    ceiling = 20 if "20" in audio else 25
    doc = daemon.status()
    assert (doc["state"], doc["volume"], doc["max_volume"]) == ("playing", ceiling, ceiling)
    assert "is above audio.max_volume" in daemon.log_text()
    # Raising the ceiling again does not raise the volume by itself: nothing gets louder.
    daemon.write_config(audio="max_volume = 90\n")
    _reload(daemon)
    doc = daemon.status()
    assert (doc["volume"], doc["max_volume"]) == (ceiling, 90)
    assert daemon.terminate() == 0


@pytest.mark.slow
def test_a_saved_volume_above_a_new_ceiling_starts_at_the_ceiling(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("volume", "75")[0] == 0
    wait_until(
        lambda: daemon.state_file.exists() and statefile.load(daemon.state_file)[0].volume == 75
    )
    assert daemon.terminate() == 0
    daemon.write_config(audio="max_volume = 20\n")
    daemon.start()
    doc = daemon.status()
    assert (doc["volume"], doc["max_volume"]) == (20, 20)
    assert daemon.terminate() == 0
