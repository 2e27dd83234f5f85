"""A real ALSA PCM with a clock, and a recording of what it played, for underrun tests.

The capture devices in :mod:`support.alsa` end in ALSA's ``null`` PCM, which takes samples as
fast as they come and so can never underrun. Without a sound card or kernel modules, the
clock comes from a private PulseAudio server whose only sink is ``module-null-sink``: it
consumes audio in real time, and ALSA's ``pulse`` plugin (libasound2-plugins) turns the
server's underflow into an ALSA underrun, which ``snd_pcm_writei`` reports as ``-EPIPE``.
``parec`` (pulseaudio-utils) records the sink's monitor, so a test hears what was played,
silence included.

The server runs on paths of its own (socket, runtime and state directories under the test's
tmp dir), as root or not, and is stopped by the test. ``scripts/setup`` installs the three
packages; :func:`missing_tools` names any that are absent so the test can skip.

The sink runs at :data:`RATE` Hz, :data:`CHANNELS` channels, S32_LE, the format the player
writes, so nothing is converted, and with rewinds disabled: a rewind would mix the start of a
new stream into audio the monitor has already recorded, and the recording would lose it.
One stream at full volume is then passed through bit for bit.

Run as a script, this module is the player a test freezes in the middle of a write
(:func:`main`).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

RATE = 48000
CHANNELS = 2
SAMPLE_FORMAT = "S32_LE"
SINK = "sleepsound_clock"

_SINK_ARGUMENTS = (
    f"sink_name={SINK}",
    f"rate={RATE}",
    f"channels={CHANNELS}",
    "format=s32le",
    "norewinds=1",
)

_PULSE_PLUGIN_GLOBS = (
    "/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
    "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so",
)


def missing_tools() -> list[str]:
    """The Debian packages this module needs that are not installed (empty when all are)."""
    missing = []
    if shutil.which("pulseaudio") is None:
        missing.append("pulseaudio")
    if shutil.which("parec") is None:
        missing.append("pulseaudio-utils")
    if not any(glob.glob(pattern) for pattern in _PULSE_PLUGIN_GLOBS):
        missing.append("libasound2-plugins")
    return missing


def ramp(frames: int) -> np.ndarray:
    """A float32 ``(frames, 2)`` test signal that is never silent and never repeats a frame.

    Left rises from 0.1 to 0.6, right falls from -0.1 to -0.6: every frame differs from every
    other, so a lost, doubled or reordered frame shows, and none is all zeros, so the signal
    can be told apart from the silence the sink plays while it waits.
    """
    position = np.arange(frames, dtype=np.float64) / max(frames, 1)
    return np.stack([0.1 + 0.5 * position, -0.1 - 0.5 * position], axis=1).astype(np.float32)


def audible(frames: np.ndarray) -> np.ndarray:
    """The frames that are not digital silence (all channels zero), in order."""
    return frames[np.any(frames != 0, axis=1)]


def trailing_silence(frames: np.ndarray) -> int:
    """How many silent frames follow the last audible one (0 before anything was heard)."""
    loud = np.flatnonzero(np.any(frames != 0, axis=1))
    return 0 if loud.size == 0 else len(frames) - 1 - int(loud[-1])


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    # Imported here: run as a script (main), this file is outside the support package.
    from support.waiting import wait_until

    wait_until(condition, what)


def _end(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    """Send ``how`` to a still running ``process``; kill it if it lingers past 5 s."""
    if process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class MonitorRecording:
    """``parec`` recording the clock sink's monitor into a raw S32_LE file."""

    def __init__(self, env: dict[str, str], path: Path) -> None:
        self.env = env
        self.path = path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MonitorRecording:
        """Start recording; return once the first (silent) audio has arrived."""
        with self.path.open("wb") as file:
            self._process = subprocess.Popen(
                [
                    "parec",
                    f"--device={SINK}.monitor",
                    "--format=s32le",
                    f"--rate={RATE}",
                    f"--channels={CHANNELS}",
                    "--raw",
                    # Small fragments: the file follows the sink closely, so waiting for a
                    # sound to arrive costs milliseconds, not the default's seconds.
                    "--latency-msec=20",
                ],
                stdout=file,
                stderr=subprocess.PIPE,
                env={**os.environ, **self.env},
            )
        _wait_until(self._started, "parec to record its first audio")
        return self

    def _started(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            error = self._process.stderr.read().decode() if self._process.stderr else ""
            raise RuntimeError(f"parec exited with {self._process.returncode}: {error}")
        return self.path.stat().st_size > 0

    def frames(self) -> np.ndarray:
        """Everything recorded so far, as int32 ``(frames, channels)``."""
        data = np.fromfile(self.path, dtype="<i4")
        whole = data.size - data.size % CHANNELS
        return data[:whole].reshape(-1, CHANNELS)

    def wait_until(
        self, condition: Callable[[np.ndarray], bool], what: str, timeout_s: float = 30.0
    ) -> np.ndarray:
        """Wait until ``condition(frames)`` holds for the recording; return the frames.

        The timeout (by default :data:`support.waiting.WAIT_S`'s 30 s) is a safety net (a
        wedged server, or audio that never comes because it was lost), not a measurement;
        its message says how much was heard.
        """
        from support.waiting import wait_for  # see _wait_until

        return wait_for(
            self.frames,
            condition,
            what,
            timeout_s=timeout_s,
            describe=lambda frames: (
                f"recorded {len(frames)} frames, {len(audible(frames))} of them audible"
            ),
        )

    def stop(self) -> None:
        """Stop parec (idempotent)."""
        if self._process is None:
            return
        process, self._process = self._process, None
        _end(process, signal.SIGINT)
        if process.stderr:
            process.stderr.close()


class PulseClock:
    """A private PulseAudio server with one clocked null sink, reached through ALSA.

    ``start()`` it, open :attr:`alsa_device` with :attr:`client_env` in the environment
    (``PULSE_SERVER``), :meth:`record` what plays, ``stop()`` it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.socket_path = self.directory / "runtime" / "native"
        self.log_path = self.directory / "pulseaudio.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._recordings: list[MonitorRecording] = []

    @property
    def server(self) -> str:
        """The server address for ``PULSE_SERVER`` and ``--server``."""
        return f"unix:{self.socket_path}"

    @property
    def client_env(self) -> dict[str, str]:
        """Environment variables that point libpulse (and so ALSA's pulse plugin) here.

        Besides the server, the runtime directory and cookie: a client left to its
        defaults creates ``~/.config/pulse/cookie`` and a ``/tmp/pulse-*`` directory.
        """
        return {
            "PULSE_SERVER": self.server,
            "PULSE_RUNTIME_PATH": str(self.directory / "runtime"),
            "PULSE_COOKIE": str(self.directory / "cookie"),
        }

    def file_pcm(self, name: str, written: Path) -> str:
        """ALSA config text for a PCM ``name`` that plays into this sink (clocked, and away
        while the sink is unplugged) through ALSA's ``file`` plugin, which keeps what the
        sink accepted in ``written`` (raw, appended)."""
        return (
            f"pcm.{name} {{\n"
            "    type file\n"
            f'    slave.pcm "{self.alsa_device}"\n'
            f'    file "{written}"\n'
            '    format "raw"\n'
            "    truncate false\n"
            "}\n"
        )

    @property
    def alsa_device(self) -> str:
        """The ALSA name of the clocked sink (``pcm.pulse`` from libasound2-plugins)."""
        return f"pulse:DEVICE={SINK}"

    def start(self) -> PulseClock:
        """Start the server; return once it accepts connections."""
        for name in ("runtime", "state", "config"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        script = self.directory / "sleepsound-test.pa"
        script.write_text(
            f"load-module module-native-protocol-unix socket={self.socket_path} auth-anonymous=1\n"
            f"load-module module-null-sink {' '.join(_SINK_ARGUMENTS)}\n"
            f"set-default-sink {SINK}\n"
        )
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULSE_", "DBUS_"))
        }
        env.update(
            HOME=str(self.directory),
            XDG_RUNTIME_DIR=str(self.directory / "runtime"),
            XDG_CONFIG_HOME=str(self.directory / "config"),
            PULSE_RUNTIME_PATH=str(self.directory / "runtime"),
            PULSE_STATE_PATH=str(self.directory / "state"),
        )
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    "pulseaudio",
                    "-n",  # no default.pa: only the modules in our script
                    f"--file={script}",
                    "--daemonize=no",
                    "--system=no",
                    "--exit-idle-time=-1",
                    "--use-pid-file=no",
                    # A test server on a shared machine has no business being real-time.
                    "--realtime=no",
                    "--high-priority=no",
                    "--disable-shm=yes",
                    "--log-target=stderr",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        try:
            _wait_until(self._accepts_connections, "pulseaudio to start")
        except BaseException:
            self.stop()
            raise
        return self

    def _accepts_connections(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"pulseaudio exited with {self._process.returncode}:\n{self.log()}")
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def pactl(self, *args: str) -> str:
        """Run ``pactl ARGS`` against this server; return its output (raises on failure)."""
        done = subprocess.run(
            ["pactl", f"--server={self.server}", *args],
            capture_output=True,
            text=True,
            env={**os.environ, **self.client_env},
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def unplug(self) -> None:
        """Unload the sink, as a Bluetooth headband goes out of range.

        With no other sink to move it to, a stream playing to it fails (``snd_pcm_writei``
        reports EIO) and opening :attr:`alsa_device` fails until :meth:`plug_back`.
        Recordings of the sink's monitor end with it.
        """
        for line in self.pactl("list", "short", "modules").splitlines():
            index, name, *_ = line.split("\t")
            if name == "module-null-sink":
                self.pactl("unload-module", index)
                return
        raise RuntimeError("the clock sink is not loaded")

    def plug_back(self) -> None:
        """Load the sink again, under the same name (the headband is back)."""
        self.pactl("load-module", "module-null-sink", *_SINK_ARGUMENTS)

    def record(self, path: Path) -> MonitorRecording:
        """Start recording what the sink plays into ``path`` (stopped with the server)."""
        recording = MonitorRecording(self.client_env, path).start()
        self._recordings.append(recording)
        return recording

    def log(self) -> str:
        """The server's log so far."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        """Stop recordings and the server (idempotent)."""
        for recording in self._recordings:
            recording.stop()
        self._recordings.clear()
        if self._process is None:
            return
        process, self._process = self._process, None
        _end(process, signal.SIGTERM)


WRITING = "writing"
"""What :func:`main` prints just before its long write."""


def main(argv: list[str] | None = None) -> None:
    """Play :func:`ramp` to an ALSA device with ``AlsaOutput``, the bulk in one long write.

    Run as a child process (``python clocked_alsa.py DEVICE FRAMES PRIME``) so a test can
    stop the whole process with SIGSTOP while it is inside ``snd_pcm_writei``: a stall in
    the middle of a write, which no thread of the test's own process could cause. First
    PRIME frames get the stream running, then it prints :data:`WRITING` and writes the
    rest in one call, closes, and prints ``{"underruns": N}`` as JSON.
    """
    from sleepsound.outputs.alsa import AlsaOutput

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("device")
    parser.add_argument("frames", type=int)
    parser.add_argument("prime", type=int)
    args = parser.parse_args(argv)
    signal_frames = ramp(args.frames)
    output = AlsaOutput(args.device, RATE, CHANNELS, SAMPLE_FORMAT, period_frames=1024)
    output.write(signal_frames[: args.prime])
    print(WRITING, flush=True)
    output.write(signal_frames[args.prime :])
    output.close()
    print(json.dumps({"underruns": output.underruns}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
