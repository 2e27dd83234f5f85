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
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import DaemonProcess, daemons_in, wait_until, warm_loudness_cache
from sleepsound import statefile
from sleepsound.config import parse_toml
from sleepsound.dsp.gain import volume_to_db
from sleepsound.scene import Layer, Scene
from support.alsa import AlsaCapture
from support.audio import level_envelope_db, rms_db
from test_engine_alsa import RATE, play_timeline, tone_file

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
    ctx = PlayerContext.from_config(config, ["pink-noise"])
    state = initial_state(ctx)
    assert (state.volume, ctx.max_volume) == (start, ceiling)


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


# -- item 7: main + layer together never pass one sound at the ceiling --------------------------

NOISE_DB = -20.0
"""Every generator plays at -20 dBFS RMS (unlevelled, as ``open_source`` opens them)."""

# (main volume, layer volume, max_volume)
MIXES = [
    (80, 100, 80),  # the issue: layer at 100 under the main sound at the ceiling
    (100, 100, 100),
    (60, 100, 60),
    (80, 60, 80),
    (50, 80, 50),
    (70, 100, 80),  # near the ceiling: scaled just enough
    (30, 100, 80),  # far below it: the layer adds its power, nothing is scaled
    (60, 40, 90),
]


def _expected_db(volume: float, layer: float, ceiling: float) -> float:
    main = volume_to_db(volume, ceiling)
    natural = main + 10 * np.log10(1 + 10 ** (volume_to_db(layer) / 10))
    return min(natural, volume_to_db(ceiling)) + NOISE_DB


@pytest.mark.parametrize(("volume", "layer", "ceiling"), MIXES)
def test_main_and_layer_never_pass_the_ceiling(
    alsa_capture: AlsaCapture, volume: float, layer: float, ceiling: float
) -> None:
    scene = Scene("white-noise", volume, ceiling, 0.05, Layer("pink-noise", layer))
    played = play_timeline(alsa_capture, [(0.0, scene)], 2.0)[RATE // 2 :]
    one_at_ceiling = NOISE_DB + volume_to_db(ceiling)
    assert rms_db(played) <= one_at_ceiling + 0.3
    assert rms_db(played) == pytest.approx(_expected_db(volume, layer, ceiling), abs=0.4)
    # Steady, not pumping: every quarter second of it stays there (noise wobble allowed).
    assert np.max(level_envelope_db(played, RATE, 0.25)) <= one_at_ceiling + 0.8


@pytest.mark.parametrize("layer", [100, 70])
def test_the_same_sound_as_its_own_layer_stays_under_the_ceiling(
    alsa_capture: AlsaCapture, tmp_path: Path, layer: float
) -> None:
    # In step with itself its amplitudes add (+6 dB at equal levels), not its powers.
    sound = tone_file(tmp_path, 220.0, level=0.1)
    scene = Scene(sound, 80, 80, 0.05, Layer(sound, layer))
    played = play_timeline(alsa_capture, [(0.0, scene)], 2.0)[RATE // 2 :]
    one_at_ceiling = 20 * np.log10(0.1 / np.sqrt(2)) + volume_to_db(80)
    assert rms_db(played) == pytest.approx(one_at_ceiling, abs=0.3)


def test_the_mix_glides_when_a_layer_comes_or_the_ceiling_drops(alsa_capture: AlsaCapture) -> None:
    main = Scene("white-noise", 80, 80, 0.5)
    timeline = [
        (0.0, main),
        (1.5, replace(main, layer=Layer("pink-noise", 100))),  # a layer at 100 joins
        (3.5, replace(main, layer=Layer("pink-noise", 100), max_volume=40, volume=40)),
        (5.5, main),  # the layer leaves, the ceiling and the volume rise again (a swell)
    ]
    played = play_timeline(alsa_capture, timeline, 7.5)
    # Never past one sound at the ceiling in force (80 until 3.5 s, then 40 at most)...
    levels = level_envelope_db(played[RATE // 2 :], RATE, 0.25)
    assert np.max(levels) <= NOISE_DB + volume_to_db(80) + 0.8
    # ...and never a step: consecutive 20 ms blocks differ by the glide and the noise's own
    # wobble (under 3 dB); a ceiling applied in one step would drop some 20 dB at once.
    assert np.max(np.abs(np.diff(level_envelope_db(played, RATE, 0.02)[25:]))) < 3.0
    after_drop = level_envelope_db(played[round(4.5 * RATE) : round(5.5 * RATE)], RATE, 0.25)
    assert np.max(after_drop) <= NOISE_DB + volume_to_db(40) + 0.8


@pytest.mark.slow
def test_a_refused_config_still_lowers_the_ceiling_but_never_raises_it(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon().start()
    assert daemon.ctl("play", "pink-noise", "--volume", "70")[0] == 0
    for audio, ceiling in (
        ("max_volume = 20\nbogus = 1\n", 20),  # refused for bogus: the ceiling still drops
        ("max_volume = 90\nbogus = 1\n", 20),  # refused: a higher ceiling waits for a fix
        ("max_volume = 500\n", 20),  # an invalid ceiling changes nothing
        ('max_volume = 15\n[sleep]\nfade_min = "ten"\n', 15),
    ):
        daemon.write_config(audio=audio)
        _reload(daemon)
        doc = daemon.status()
        assert (doc["state"], doc["volume"], doc["max_volume"]) == ("playing", ceiling, ceiling)
    assert daemon.log_text().count("keeping the running config") == 4
    assert daemon.terminate() == 0


def test_the_ceiling_rule_scales_only_what_would_pass_it() -> None:
    from sleepsound.dsp.gain import ceiling_scale, volume_to_gain

    for ceiling in (1, 20, 55, 80, 100):
        top = volume_to_gain(ceiling)
        for volume in range(0, 101, 5):
            main = volume_to_gain(volume, ceiling)
            for layer in range(0, 101, 10):
                g = volume_to_gain(layer)
                unrelated = ceiling_scale(main, top, g)
                mixed = (main * unrelated) ** 2 * (1 + g * g)
                assert mixed <= top * top * (1 + 1e-9)
                if main * main * (1 + g * g) <= top * top:
                    assert unrelated == 1.0  # below the ceiling nothing changes
                same = ceiling_scale(main, top, 0.0, g)
                assert main * same * (1 + g) <= top * (1 + 1e-9)
    # Per-sample curves in, a curve out (the glide follows the gains).
    curve = ceiling_scale(np.linspace(0.1, 1.0, 5), 0.5, np.full(5, 1.0))
    assert isinstance(curve, np.ndarray) and np.all(np.diff(curve) <= 0)
