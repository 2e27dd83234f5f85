"""Underruns on a real, clocked ALSA PCM: counted, recovered, and nothing lost but time.

The player stalls for longer than the device buffer while a clock drains it: a private
PulseAudio null sink behind ALSA's ``pulse`` plugin (see ``tests/support/clocked_alsa.py``).
What the sink played is recorded from its monitor; with the stretches of silence taken out
it must be exactly the samples written, in order: the listener hears a gap, then the sound
carries on where it stopped, with no frame lost, doubled or altered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

import support.clocked_alsa
from sleepsound.dsp.dither import to_int32
from sleepsound.outputs.alsa import AlsaOutput
from sleepsound.outputs.base import render_frames
from support.clocked_alsa import (
    CHANNELS,
    RATE,
    SAMPLE_FORMAT,
    WRITING,
    PulseClock,
    audible,
    ramp,
    trailing_silence,
)

STALL_SILENCE_FRAMES = RATE // 2
"""The stall lasts until the sink has played this much silence (0.5 s, ~6 buffers)."""


def test_a_stall_longer_than_the_buffer_is_counted_and_playback_carries_on_intact(
    pulse_env: PulseClock, tmp_path: Path
) -> None:
    recording = pulse_env.record(tmp_path / "heard.raw")
    output = AlsaOutput(
        pulse_env.alsa_device, RATE, CHANNELS, SAMPLE_FORMAT, period_frames=1024, periods=4
    )
    try:
        block_frames = render_frames(output)
        blocks = 20
        written = ramp(blocks * block_frames)
        before = blocks // 2
        for index in range(before):
            output.write(written[index * block_frames : (index + 1) * block_frames])
        # A busy machine may already have caused one; the stall must add its own.
        underruns_before_stall = output.underruns
        # The stall: the player writes nothing until the sink has played half a second of
        # silence after the last sample, many times the buffer (~85 ms).
        stalled = recording.wait_until(
            lambda frames: trailing_silence(frames) >= STALL_SILENCE_FRAMES,
            "the sink to play silence while the player stalls",
        )
        assert len(audible(stalled)) == before * block_frames
        for index in range(before, blocks):
            output.write(written[index * block_frames : (index + 1) * block_frames])
    finally:
        output.close()

    assert output.underruns > underruns_before_stall
    heard = recording.wait_until(
        lambda frames: len(audible(frames)) >= len(written), "the last block to be played"
    )
    # Silence in the middle (the underrun the listener hears) ...
    loud = np.flatnonzero(np.any(heard != 0, axis=1))
    assert np.diff(loud).max() > STALL_SILENCE_FRAMES
    # ... and around it every frame, once, in order, bit for bit.
    np.testing.assert_array_equal(audible(heard), to_int32(written))


def test_a_stall_in_the_middle_of_a_write_loses_nothing(
    pulse_clock: PulseClock, tmp_path: Path
) -> None:
    """The player is frozen inside ``snd_pcm_writei``; ALSA returns the frames it took.

    The bulk of the signal goes out in one 1.5 s write, and the whole writing process is
    stopped with SIGSTOP a quarter of a second into it (a child process: stopping pytest
    itself would upset the shell running it). Whether the pulse plugin reports this
    underrun depends on which of the woken threads runs first, so only the outcome is
    asserted: everything written is played.
    """
    recording = pulse_clock.record(tmp_path / "heard.raw")
    frames, prime = RATE * 2, RATE // 2
    command = [sys.executable, support.clocked_alsa.__file__, pulse_clock.alsa_device]
    child = subprocess.Popen(
        [*command, str(frames), str(prime)],
        env={**os.environ, **pulse_clock.client_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        started = child.stdout.readline().strip()
        assert started == WRITING, child.communicate(timeout=60)[1]
        # A quarter of a second in, the 1.5 s write is surely still going: the clock lets
        # it finish no sooner than ~1.4 s after it began.
        recording.wait_until(
            lambda heard: len(audible(heard)) >= prime + RATE // 4, "the long write to play"
        )
        os.kill(child.pid, signal.SIGSTOP)
        try:
            recording.wait_until(
                lambda heard: trailing_silence(heard) >= STALL_SILENCE_FRAMES,
                "the sink to play silence while the player is stopped",
            )
        finally:
            os.kill(child.pid, signal.SIGCONT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    counted = json.loads(out.strip().splitlines()[-1])["underruns"]

    written = ramp(frames)
    heard = recording.wait_until(
        lambda heard: len(audible(heard)) >= len(written),
        f"the whole signal to be played ({counted} underrun(s) counted)",
    )
    np.testing.assert_array_equal(
        audible(heard), to_int32(written), err_msg=f"{counted} underrun(s) counted"
    )
