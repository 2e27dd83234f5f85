"""Start the real ``sleepsound run`` in a subprocess and talk to it like a user would.

The daemon plays to the clock output, recording into a WAV file; it reports to a
datagram socket of ours through ``$NOTIFY_SOCKET`` (abstract namespace), exactly as
systemd would, so tests can wait for READY instead of sleeping.

:func:`run_on_mock_pins` runs the daemon in this process instead, on gpiozero mock pins
that a scenario on a worker thread presses.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile

from sleepsound import cli
from sleepsound.control_socket.client import request
from sleepsound.daemon.sounds import DaemonSounds
from support.audio import level_envelope_db
from support.broker import free_port
from support.waiting import WAIT_S
from support.waiting import wait_until as wait_until  # re-exported for the daemon tests

if TYPE_CHECKING:
    from gpiozero.pins.mock import MockFactory

    from sleepsound.daemon import Daemon
    from support.broker import MosquittoBroker

START_TIMEOUT_S = 60.0
"""Generous: the machine is shared and a cold numpy import can take seconds."""

REPLY_TIMEOUT_S = 30.0
"""How long a command waits for the daemon's answer: a safety net, not a measurement
(``sleepsound ctl``'s own 5 s default is too short for a loaded test machine)."""

CACHE_HOME = Path(tempfile.mkdtemp(prefix="ssd-cache-"))
"""$XDG_CACHE_HOME of every test daemon: loudness is measured once per session."""
atexit.register(shutil.rmtree, CACHE_HOME, ignore_errors=True)


def warm_loudness_cache(*sound_ids: str) -> None:
    """Measure sounds into the test daemons' cache, so they play at their final level at once.

    Otherwise the level glides (6 dB/s) when a background measurement lands mid-test.
    """
    sounds = DaemonSounds(None, loudness_cache=CACHE_HOME / "sleepsound" / "loudness.json")
    sounds.refresh()
    for sound_id in sound_ids:
        sounds.loudness.measure_now(sounds.specs().get(sound_id, sound_id))


class NotifyListener:
    """A datagram socket standing in for systemd's notify socket; collects messages."""

    def __init__(self) -> None:
        self.address = f"@sleepsound-test-{uuid.uuid4().hex}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(b"\0" + self.address[1:].encode())
        self._sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []
        self._cond = threading.Condition()
        self._quit = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._quit:
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._cond:
                self.messages.append(fields)
                self._cond.notify_all()

    def wait_for(self, key: str, value: str | None = None, timeout_s: float = 30.0) -> dict:
        """The first message (old or new) with ``key`` (equal to ``value`` if given)."""
        until = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for message in self.messages:
                    if key in message and (value is None or message[key] == value):
                        return message
                left = until - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {key}={value} notification; got {self.messages}")
                self._cond.wait(left)

    def count(self, key: str) -> int:
        """How many messages carried ``key``."""
        with self._cond:
            return sum(1 for message in self.messages if key in message)

    def close(self) -> None:
        """Stop listening."""
        self._quit = True
        self._sock.close()
        self._thread.join(2.0)


class DaemonProcess:
    """One ``sleepsound run`` with its own config, socket, state file and recording."""

    def __init__(self, directory: Path, extra_config: str = "", watchdog_usec: int | None = None):
        self.directory = directory
        # UNIX socket paths are limited to 108 bytes; pytest's tmp_path can be longer.
        self.short_dir = Path(tempfile.mkdtemp(prefix="ssd-"))
        self.socket = self.short_dir / "ctl.sock"
        self.state_file = directory / "state.json"
        self.record = directory / "record.wav"
        self.config = directory / "config.toml"
        self.log = directory / "daemon.log"
        self.watchdog_usec = watchdog_usec
        self.web_port = free_port()
        """The phone page's port (``[web] listen`` on 127.0.0.1, unless the test sets [web])."""
        self.write_config(extra_config)
        self.process: subprocess.Popen[bytes] | None = None
        self.notify: NotifyListener | None = None

    def config_text(self, extra: str = "", audio: str = "", save_delay_s: float = 0.2) -> str:
        """The test config: clock output recording, quick fades, paths in the test folder."""
        return (
            "[audio]\n"
            'output = "clock"\n'
            f'record = "{self.record}"\n'
            "fade_in_s = 0.5\n"
            "fade_out_s = 0.5\n"
            "crossfade_s = 0.5\n"
            f"{audio}"
            "[socket]\n"
            f'path = "{self.socket}"\n'
            "[state]\n"
            f'file = "{self.state_file}"\n'
            f"save_delay_s = {save_delay_s}\n"
            "[sounds]\n"
            f'dir = "{self.directory / "sounds"}"\n'
            f"{extra}"
            # Its own port, so test daemons side by side never fight over 8080.
            + ("" if "[web]" in extra else f'[web]\nlisten = "127.0.0.1:{self.web_port}"\n')
        )

    def write_config(
        self, extra: str = "", audio: str = "", text: str | None = None, save_delay_s: float = 0.2
    ) -> None:
        """Write the config file (the default one plus ``extra`` sections, or ``text``)."""
        if text is None:
            text = self.config_text(extra, audio, save_delay_s)
        self.config.write_text(text)

    def start(self, wait: bool = True) -> DaemonProcess:
        """Start the daemon; with ``wait``, return once it said READY=1."""
        self.notify = NotifyListener()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
        env.pop("SLEEPSOUND_CONFIG", None)
        env["NOTIFY_SOCKET"] = self.notify.address
        env["XDG_CACHE_HOME"] = str(CACHE_HOME)
        if self.watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(self.config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> dict[str, str]:
        """Wait for READY=1 (failing early, with the log, if the daemon dies)."""
        assert self.notify is not None and self.process is not None
        until = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.log_text()}")
            with contextlib.suppress(AssertionError):
                return self.notify.wait_for("READY", "1", timeout_s=0.5)
        raise AssertionError(f"daemon never said READY=1:\n{self.log_text()}")

    def request(self, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command over the control socket; return the reply."""
        return request(str(self.socket), command, timeout_s=REPLY_TIMEOUT_S)

    def status(self) -> dict[str, Any]:
        """The state document, through ``sleepsound ctl status --json``."""
        code, out, err = self.ctl("status", "--json")
        assert code == 0, err
        return json.loads(out)

    def ctl(self, *args: str) -> tuple[int, str, str]:
        """Run ``sleepsound ctl ARGS`` (the real CLI, in this process); (exit, out, err).

        The answer is awaited :data:`REPLY_TIMEOUT_S` unless ARGS give a ``--timeout``.
        """
        out, err = io.StringIO(), io.StringIO()
        timeout = ["--timeout", f"{REPLY_TIMEOUT_S:g}"]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["ctl", "--socket", str(self.socket), *timeout, *args])
        return code, out.getvalue(), err.getvalue()

    def signal(self, signum: int) -> None:
        """Send a signal to the daemon."""
        assert self.process is not None
        self.process.send_signal(signum)

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM, then wait for the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        """Everything the daemon logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        """Kill whatever is left and clean up."""
        self.kill()
        if self.notify is not None:
            self.notify.close()
        shutil.rmtree(self.short_dir, ignore_errors=True)


@contextlib.contextmanager
def daemons_in(directory: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """``make(extra_config, name=None, watchdog_usec=None)``: a :class:`DaemonProcess` in its
    own folder ``directory/name`` (``daemon0``, ``daemon1``, ... when unnamed); all closed on
    leaving."""
    made: list[DaemonProcess] = []

    def make(
        extra_config: str = "", name: str | None = None, watchdog_usec: int | None = None
    ) -> DaemonProcess:
        folder = directory / (name or f"daemon{len(made)}")
        folder.mkdir()
        daemon = DaemonProcess(folder, extra_config, watchdog_usec)
        made.append(daemon)
        return daemon

    try:
        yield make
    finally:
        for daemon in made:
            daemon.close()


def mqtt_section(broker: MosquittoBroker, device_id: str = "bedroom", extra: str = "") -> str:
    """A test daemon's ``[mqtt]`` table: ``broker`` as ``device_id``, plus ``extra`` keys."""
    return (
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "{device_id}"\n{extra}'
    )


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """The recorded samples as float (frames, channels) and the rate."""
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data, rate


def block_levels_db(samples: np.ndarray, rate: int, block_s: float = 0.02) -> np.ndarray:
    """RMS level of consecutive ``block_s`` blocks in dBFS (-200 for digital silence).

    :func:`support.audio.level_envelope_db` with the daemon tests' 20 ms blocks, which
    their silence thresholds are stated for.
    """
    return level_envelope_db(samples, rate, block_s)


def run_on_mock_pins(daemon: Daemon, pins: MockFactory, scenario: Callable[[], None]) -> int:
    """Run ``daemon`` in this process, built on ``pins``, around ``scenario``.

    The daemon was built with ``Daemon(..., pin_factory=pins)`` (and, to get every
    controls adapter it starts, ``on_controls_started=``). It runs on this thread, which
    must be the main one (its signal handlers live there), exactly as ``sleepsound run``
    runs it; ``scenario`` runs on a worker thread named ``finger`` and the daemon is asked
    to stop when it ends. Afterwards the signal handlers are put back and ``pins`` is
    closed. What the scenario raised is raised here; else the exit code is returned.
    """
    failures: list[BaseException] = []

    def work() -> None:
        try:
            scenario()
        except BaseException as error:
            failures.append(error)
        finally:
            daemon.request_stop()

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    worker = threading.Thread(target=work, name="finger")
    worker.start()
    try:
        code = daemon.run()
    finally:
        worker.join(WAIT_S)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        pins.close()
    if failures:
        raise failures[0]
    return code
