"""``on_disconnect = "switch:pillow"``: when the output goes away, the sound moves on.

The daemon plays to ``headband``: ALSA's ``file`` plugin in front of a private PulseAudio
null sink (``tests/support/clocked_alsa.py``, as in ``test_output_return_daemon.py``),
which the test unloads as a headband goes out of range. The other output, ``pillow``, is
a clock output recording a WAV file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in, read_recording, warm_loudness_cache
from support.audio import rms_db
from support.clocked_alsa import CHANNELS, RATE, PulseClock
from support.waiting import wait_until

pytestmark = pytest.mark.slow

SOUND = "binaural-delta"


@pytest.fixture
def headband(
    pulse_env: PulseClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DaemonProcess, Path]]:
    """A daemon playing to the ``headband`` PCM, ready to move to ``pillow``."""
    written = tmp_path / "written.raw"
    asoundrc = tmp_path / "headband.asoundrc"
    asoundrc.write_text(pulse_env.file_pcm("headband", written))
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{os.environ['ALSA_CONFIG_PATH']}:{asoundrc}")
    warm_loudness_cache(SOUND)
    with daemons_in(tmp_path) as make:
        daemon = make()
        pillow = daemon.directory / "pillow.wav"
        daemon.write_config(
            audio='format = "S32_LE"\n',
            extra=(
                "[outputs.headband]\n"
                'device = "headband"\n'
                'on_disconnect = "switch:pillow"\n'
                "[outputs.pillow]\n"
                'kind = "clock"\n'
                f'record = "{pillow}"\n'
            ),
        )
        yield daemon.start(), pillow


def test_a_lost_output_with_on_disconnect_moves_the_sound_to_the_named_one(
    headband: tuple[DaemonProcess, Path], pulse_env: PulseClock
) -> None:
    daemon, pillow = headband
    assert daemon.status()["output"]["name"] == "headband"
    code, _, err = daemon.ctl("play", SOUND, "--volume", "40")
    assert code == 0, err

    pulse_env.unplug()
    moved = wait_until(
        lambda: (doc := daemon.status())["output"]["name"] == "pillow" and doc,
        "the sound to move to the pillow",
    )
    # Still playing, at the pillow's own volume ([audio] volume 30), not the headband's 40.
    assert moved["state"] == "playing" and moved["volume"] == 30
    assert "output 'headband' went away; switching to 'pillow'" in daemon.log_text()
    # Moved once: a headband that stays away is not switched from again at every retry.
    assert daemon.log_text().count("went away; switching") == 1
    wait_until(lambda: pillow.exists() and pillow.stat().st_size > 2 * RATE * 4, "pillow sound")
    assert daemon.terminate() == 0
    samples, rate = read_recording(pillow)
    assert rate == RATE and samples.shape[1] == CHANNELS
    # The bed at volume 30 (-35 dB on the taper) is around -58 dBFS; silence is far below.
    assert rms_db(samples[RATE : 2 * RATE]) > -70.0, "the pillow did not play the sound"
    assert rms_db(samples[: RATE // 100]) < rms_db(samples[RATE : 2 * RATE]) - 20  # faded in
