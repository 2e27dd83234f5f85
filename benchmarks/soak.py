"""Soak: one daemon, N minutes of mixed and hostile commands, broker restarts, reloads.

Starts a throwaway Mosquitto on a free port and ``sleepsound run`` on the clock output
(recording, 16 kHz mono to keep the file small), then for ``--minutes`` (default 30):

* MQTT commands at ``--rate`` per second, JSON on ``/set`` (with a transaction) and
  plain values on ``/set/<key>``, with bad input mixed in: malformed JSON, 5,000-deep
  nesting, lone surrogates (escaped and as raw bytes), unknown keys, out-of-range
  values; and every ``--burst-every`` minutes a burst of ``--burst`` commands at once;
* control-socket commands (good and bad) from a second thread;
* a broker restart every ``--restart-every`` minutes (MQTT commands pause while it is
  away, since a command the broker never takes cannot be answered) and a SIGHUP every
  ``--hup-every`` minutes;
* every minute a checkpoint: commands pause, and the retained state on the broker must
  come to equal the socket's status.

The commands never stop the sound or set the volume to 0, so any silent stretch in the
recording is a gap. At the end it prints: commands sent and replied (MQTT and socket),
busy refusals, divergences between the MQTT retained state and the socket's status
(checkpoints and the end: must be 0), log lines written (and WARNING/ERROR among them),
the daemon's peak RSS, and audio gaps (silent 20 ms blocks after the fade-in; and the
recording's length against the daemon's run time, which underruns would shorten).

Run: ``.venv/bin/python benchmarks/soak.py [--minutes 30]``. Exits 1 if a divergence
remains or a command went unanswered. ``--gentle-socket`` leaves out the hostile socket
lines (deep nesting), for a branch where the socket still dies on them (issue 11, 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import soundfile

from sleepsound.control_socket.client import request

DEVICE = "soak"
BASE = f"sleepsound/{DEVICE}"
RATE = 16000
SOUNDS = ("pink-noise", "brown-noise", "white-noise")
TIMEOUT_S = 60.0
SILENT_DB = -85.0
"""A 20 ms block below this is a gap: dither sits near -96 dBFS, and the quietest the
commands make it (volume 10, a step down, mid-crossfade) stays above -76 dBFS."""
DEEP = b'{"volume":' + b"[" * 5000 + b"]" * 5000 + b"}"

BAD_MQTT: list[tuple[str, bytes]] = [
    ("set", b'{"volume": 40'),  # malformed JSON
    ("set", b"not json"),
    ("set", DEEP),  # deep nesting
    ("set", b'{"volume": 33, "transaction": "\\ud800"}'),  # an escaped lone surrogate
    ("set", b'{"\\udfff": 1}'),
    ("set", b'{"volume": 33, "transaction": "\xed\xa0\x80"}'),  # a raw one (not UTF-8)
    ("set", b'{"colour": "red"}'),  # unknown key
    ("set", b'{"volume": 101}'),  # out of range
    ("set", b'{"volume": -5}'),
    ("set", b'{"sleep_timer": 1e300}'),
    ("set", b'{"sound": "../../etc/passwd"}'),
    ("set/volume", b"loud"),
    ("set/volume", b"1e999"),
    ("set/sound", b"\xff\xfe"),
    ("set/nonsense", b"1"),
]
BAD_SOCKET: list[bytes] = [
    b'{"volume": 40\n',
    b"\xff\xfe\n",
    b'{"volume": 101}\n',
    b'{"colour": "red"}\n',
    b'{"volume": 33, "transaction": "\\ud800"}\n',
]
HOSTILE_SOCKET: list[bytes] = [DEEP + b"\n"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One mosquitto process, restartable on the same port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.log}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start mosquitto and wait until it accepts connections."""
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("mosquitto did not start") from None
                time.sleep(0.02)

    def drops(self) -> int:
        """How often mosquitto said it dropped messages for a slow client (its default
        ``max_queued_messages`` is 1000): commands or replies the device cannot answer."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count("messages are being dropped")

    def stop(self) -> None:
        """Terminate mosquitto (it keeps nothing: no persistence)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class HomeAssistant:
    """The MQTT side: publishes commands, counts replies, knows the device's availability."""

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.replies = 0
        self.busy = 0
        self.transactions: set[Any] = set()
        self.online = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(f"{BASE}/response", 1), (f"{BASE}/availability", 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/availability"):
            (self.online.set if message.payload == b"online" else self.online.clear)()
            return
        reply = json.loads(message.payload)
        with self.lock:
            self.replies += 1
            self.busy += str(reply.get("error", "")).startswith("busy")
            if "transaction" in reply:
                self.transactions.add(reply["transaction"])

    def publish(self, topic: str, payload: bytes) -> None:
        """QoS 1, not retained."""
        self.client.publish(f"{BASE}/{topic}", payload, qos=1)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def retained_state(port: int) -> dict[str, Any] | None:
    """The retained state a client subscribing now is given (None: none within 5 s)."""
    got: list[bytes] = []
    arrived = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *a: c.subscribe(f"{BASE}/state", 1)

    def on_message(c: mqtt.Client, u: Any, message: mqtt.MQTTMessage) -> None:
        got.append(bytes(message.payload))
        arrived.set()

    client.on_message = on_message
    try:
        client.connect("127.0.0.1", port)
    except OSError:
        return None
    client.loop_start()
    arrived.wait(5.0)
    client.disconnect()
    client.loop_stop()
    return json.loads(got[0]) if got else None


class Soak:
    """The run: a daemon, a broker, command threads, and what they counted."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.folder = Path(tempfile.mkdtemp(prefix="sleepsound-soak-"))
        self.broker = Broker(self.folder)
        self.socket = self.folder / "ctl.sock"
        self.record = self.folder / "record.wav"
        self.log = self.folder / "daemon.log"
        self.mqtt_allowed = threading.Event()
        self.mqtt_allowed.set()
        self.socket_allowed = threading.Event()
        self.socket_allowed.set()
        self.stop = threading.Event()
        self.mqtt_sent = 0
        self.mqtt_json: set[int] = set()
        self.socket_sent = 0
        self.socket_replied = 0
        self.socket_failed: list[str] = []
        self.checkpoints = 0
        self.divergences: list[str] = []
        self.peak_rss_mib = 0.0

    # -- set-up ------------------------------------------------------------------------------

    def start_daemon(self) -> subprocess.Popen[bytes]:
        """``sleepsound run`` on the clock output, recording, on the broker."""
        config = self.folder / "config.toml"
        config.write_text(
            f'[audio]\noutput = "clock"\nrecord = "{self.record}"\nrate = {RATE}\nchannels = 1\n'
            f'[socket]\npath = "{self.socket}"\n'
            f'[state]\nfile = "{self.folder / "state.json"}"\n'
            f'[sounds]\ndir = "{self.folder / "sounds"}"\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {self.broker.port}\ndevice_id = "{DEVICE}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
        env["XDG_CACHE_HOME"] = str(self.folder / "cache")
        return subprocess.Popen(
            [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)],
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        """One socket command, with a generous timeout."""
        return request(str(self.socket), command, timeout_s=30)

    # -- commands ------------------------------------------------------------------------------

    def good_json(self, transaction: int) -> dict[str, Any]:
        """A command that keeps the sound playing, audibly."""
        rng = self.rng
        choice = rng.choice(["volume", "volume", "sound", "layer", "timer", "play", "step"])
        body: dict[str, Any] = {
            "volume": {"volume": rng.randrange(10, 70)},
            "sound": {"sound": rng.choice(SOUNDS)},
            "layer": {"layer": rng.choice(["on", "off"]), "layer_volume": rng.randrange(5, 40)},
            "timer": {"sleep_timer": rng.choice([0, 60, 90, 120])},
            "play": {"action": "play", "sound": rng.choice(SOUNDS)},
            "step": {"volume_step": rng.choice([-3, 3])},
        }[choice]
        body["transaction"] = transaction
        return body

    def mqtt_command(self) -> None:
        """One command on MQTT: mostly good JSON or plain values, sometimes bad."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.15:
            topic, payload = rng.choice(BAD_MQTT)
        elif roll < 0.4:
            topic, payload = rng.choice(
                [
                    ("set/volume", str(rng.randrange(10, 70)).encode()),
                    ("set/sound", rng.choice(SOUNDS).encode()),
                    ("set/state", b"ON"),
                    ("set/layer", rng.choice([b"on", b"off"])),
                ]
            )
        else:
            transaction = self.mqtt_sent
            self.mqtt_json.add(transaction)
            topic, payload = "set", json.dumps(self.good_json(transaction)).encode()
        self.ha.publish(topic, payload)
        self.mqtt_sent += 1

    def mqtt_loop(self) -> None:
        """Commands at ``--rate`` per second, and a burst now and then."""
        next_burst = time.monotonic() + self.args.burst_every * 60
        while not self.stop.is_set():
            self.mqtt_allowed.wait()
            if self.stop.is_set():
                return
            if time.monotonic() >= next_burst:
                next_burst += self.args.burst_every * 60
                for _ in range(self.args.burst):
                    self.mqtt_command()
            else:
                self.mqtt_command()
            time.sleep(1.0 / self.args.rate)

    def socket_loop(self) -> None:
        """Socket commands, good and bad, a few a second."""
        rng = random.Random(self.args.seed + 1)
        bad = BAD_SOCKET + ([] if self.args.gentle_socket else HOSTILE_SOCKET)
        while not self.stop.is_set():
            self.socket_allowed.wait()
            if self.stop.is_set():
                return
            self.socket_sent += 1
            try:
                if rng.random() < 0.2:
                    line = rng.choice(bad)
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                        sock.settimeout(30)
                        sock.connect(str(self.socket))
                        sock.sendall(line)
                        answer = sock.makefile("rb").readline()
                    if not answer:
                        raise OSError("closed without a reply")
                else:
                    self.ask(self.good_json(-self.socket_sent))
                self.socket_replied += 1
            except Exception as error:
                self.socket_failed.append(f"{type(error).__name__}: {error}")
            time.sleep(rng.uniform(0.1, 0.5))

    # -- checks ---------------------------------------------------------------------------------

    def converged(self, what: str, wait_s: float = 20.0) -> bool:
        """Pause commands; wait until the retained state equals the socket's status."""
        self.mqtt_allowed.clear()
        self.socket_allowed.clear()
        time.sleep(0.5)  # let a command in hand finish
        deadline = time.monotonic() + wait_s
        truth: dict[str, Any] | None = None
        retained: dict[str, Any] | None = None
        try:
            while time.monotonic() < deadline:
                try:
                    truth = self.ask({"action": "status"})
                except Exception as error:  # a dead socket is a finding, not a crash
                    self.divergences.append(f"{what}: the socket did not answer: {error}")
                    return False
                truth = {k: v for k, v in truth.items() if k not in ("status", "transaction")}
                retained = retained_state(self.broker.port)
                if truth == retained:
                    return True
                time.sleep(0.5)
            self.divergences.append(f"{what}: socket {truth} != retained {retained}")
            return False
        finally:
            self.checkpoints += 1

    def resume(self) -> None:
        """Commands go on."""
        self.mqtt_allowed.set()
        self.socket_allowed.set()

    def restart_broker(self) -> None:
        """Stop the broker for a few seconds; resume MQTT once the device is back online.

        Commands pause first and their replies are awaited: a reply in flight when the
        broker dies is lost with it (no persistence), which says nothing of the device.
        """
        self.mqtt_allowed.clear()
        time.sleep(0.5)
        self.wait_for_replies()
        self.broker.stop()
        time.sleep(3.0)
        self.broker.start()
        self.ha.online.clear()
        if not self.ha.online.wait(TIMEOUT_S):
            self.divergences.append("the device did not come back online after a restart")
        self.mqtt_allowed.set()

    def note_rss(self, pid: int) -> None:
        """Keep the daemon's peak RSS (``VmHWM``)."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)

    # -- the run ----------------------------------------------------------------------------------

    def run(self) -> int:
        """Everything; returns the exit status."""
        args = self.args
        self.broker.start()
        started = time.monotonic()
        daemon = self.start_daemon()
        while not self.socket.exists():
            if daemon.poll() is not None or time.monotonic() - started > TIMEOUT_S:
                raise SystemExit(f"the daemon did not start:\n{self.log.read_text()}")
            time.sleep(0.1)
        self.ha = HomeAssistant(self.broker.port)
        if not self.ha.online.wait(TIMEOUT_S):
            raise SystemExit("the device never said online")
        self.ask({"action": "play", "sound": "pink-noise", "volume": 30})
        play_started = time.monotonic()
        threads = [
            threading.Thread(target=self.mqtt_loop, daemon=True),
            threading.Thread(target=self.socket_loop, daemon=True),
        ]
        for thread in threads:
            thread.start()
        end = play_started + args.minutes * 60
        next_restart = play_started + args.restart_every * 60
        next_hup = play_started + args.hup_every * 60
        next_check = play_started + 60
        try:
            while time.monotonic() < end:
                time.sleep(0.5)
                self.note_rss(daemon.pid)
                now = time.monotonic()
                if now >= next_restart:
                    next_restart += args.restart_every * 60
                    print(f"  {now - play_started:6.0f} s: broker restart", flush=True)
                    self.restart_broker()
                if now >= next_hup:
                    next_hup += args.hup_every * 60
                    print(f"  {now - play_started:6.0f} s: SIGHUP", flush=True)
                    daemon.send_signal(signal.SIGHUP)
                if now >= next_check:
                    next_check += 60
                    ok = self.converged(f"checkpoint at {now - play_started:.0f} s")
                    print(f"  {now - play_started:6.0f} s: checkpoint {'ok' if ok else 'DIVERGED'}")
                    self.resume()
            self.stop.set()
            self.resume()
            for thread in threads:
                thread.join(40)
            answered = self.wait_for_replies()
            final_ok = self.converged("at the end", wait_s=30.0)
            self.note_rss(daemon.pid)
        finally:
            self.stop.set()
            self.resume()
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
            ran_s = time.monotonic() - started
            self.ha.close()
            self.broker.stop()
        self.report(answered, final_ok, ran_s)
        if not args.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        return 0 if final_ok and answered and not self.socket_failed else 1

    def wait_for_replies(self) -> bool:
        """Wait until every MQTT command has its reply (or 60 s); True if all came."""
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            with self.ha.lock:
                if self.ha.replies >= self.mqtt_sent:
                    return self.ha.replies == self.mqtt_sent
            time.sleep(0.2)
        return False

    def report(self, answered: bool, final_ok: bool, ran_s: float) -> None:
        """Print the figures."""
        lines = self.log.read_text(errors="replace").splitlines()
        warnings = sum(": WARNING:" in line for line in lines)
        errors = sum(": ERROR:" in line for line in lines)
        silent, longest_s, recorded_s, first_sound_s = audio_gaps(self.record)
        missing = self.mqtt_json - self.ha.transactions
        print()
        print(f"soak: {self.args.minutes:g} min, seed {self.args.seed}")
        print(
            f"  MQTT commands  : {self.mqtt_sent} sent, {self.ha.replies} replied "
            f"({self.ha.busy} of them busy){'' if answered else '  <- UNANSWERED'}; "
            f"JSON transactions without a reply: {len(missing)}"
        )
        if self.broker.drops():
            print(
                f"  (mosquitto said {self.broker.drops()} times that it dropped messages "
                "for a slow client: its max_queued_messages, not the device)"
            )
        print(
            f"  socket commands: {self.socket_sent} sent, {self.socket_replied} replied, "
            f"{len(self.socket_failed)} failed {self.socket_failed[:3]}"
        )
        print(
            f"  divergences    : {len(self.divergences)} in {self.checkpoints} checkpoints; "
            f"at the end: {'none' if final_ok else 'DIVERGED'}"
        )
        for divergence in self.divergences[:5]:
            print(f"    {divergence[:300]}")
        print(f"  log lines      : {len(lines)} ({warnings} WARNING, {errors} ERROR)")
        print(f"  peak RSS       : {self.peak_rss_mib:.1f} MiB")
        print(
            f"  audio          : {recorded_s:.1f} s recorded while the daemon ran {ran_s:.1f} s "
            "(start-up before the output opens included); "
            f"{silent} silent 20 ms blocks after the first sound at {first_sound_s:.1f} s "
            f"(longest {longest_s * 1000:.0f} ms)"
        )
        if self.args.keep:
            print(f"  kept           : {self.folder}")


def audio_gaps(path: Path) -> tuple[int, float, float, float]:
    """(silent 20 ms blocks after the first sound and its fade-in, the longest silent run
    in seconds, the recording's length in seconds, when the first sound came)."""
    block = RATE // 50
    levels: list[np.ndarray] = []
    info = soundfile.info(str(path))
    for chunk in soundfile.blocks(str(path), blocksize=block * 500, dtype="float32"):
        frames = len(chunk) // block * block
        if frames == 0:
            continue
        blocks = chunk[:frames].reshape(-1, block, *chunk.shape[1:])
        rms = np.sqrt(np.mean(np.square(blocks.reshape(len(blocks), -1)), axis=1))
        levels.append(20 * np.log10(np.maximum(rms, 1e-10)))
    level = np.concatenate(levels) if levels else np.zeros(0)
    sounding = np.flatnonzero(level > SILENT_DB)
    if not len(sounding):
        return len(level), len(level) * 0.02, info.duration, float("nan")
    # From the end of the first fade-in (2 s) to the end (the SIGTERM's fade-out: 1.5 s).
    body = level[sounding[0] + 100 : max(sounding[0] + 100, len(level) - 100)]
    silent = body <= SILENT_DB
    longest = run = 0
    for quiet in silent:
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return int(silent.sum()), longest * 0.02, info.duration, sounding[0] * 0.02


def main() -> int:
    """Parse the options and soak."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--rate", type=float, default=20.0, help="MQTT commands a second")
    parser.add_argument("--burst", type=int, default=400, help="commands in a burst")
    parser.add_argument("--burst-every", type=float, default=2.0, help="minutes between")
    parser.add_argument("--restart-every", type=float, default=5.0, help="broker, minutes")
    parser.add_argument("--hup-every", type=float, default=4.0, help="SIGHUP, minutes")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--gentle-socket", action="store_true", help="no deep nesting")
    parser.add_argument("--keep", action="store_true", help="keep the folder (log, WAV)")
    args = parser.parse_args()
    if shutil.which("mosquitto") is None:
        print("mosquitto is not installed: run ./scripts/setup", file=sys.stderr)
        return 2
    return Soak(args).run()


if __name__ == "__main__":
    sys.exit(main())
