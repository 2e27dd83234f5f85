"""MQTT latency and reconnect time of the real daemon, on loopback.

Starts a throwaway Mosquitto on a free port and ``sleepsound run`` (clock output, so
no sound card is needed) connected to it, then prints:

* command -> state round trip, once with mosquitto's default config and once with
  ``set_tcp_nodelay true`` (Nagle's algorithm on the broker's side otherwise holds
  each small packet for the peer's delayed ACK, ~40 ms a hop): publish
  ``{"volume": v}`` on ``<base>/set`` and wait for the state document showing
  ``v`` (and, separately, for the reply on ``/response``); p50, p99 and max over
  ``--commands`` commands;
* the same for a Home Assistant style plain value on ``<base>/set/volume``;
* reconnect time: the broker is stopped for ``--outage`` seconds and started again;
  the time from "broker accepts connections" to the device's ``online`` (which only a
  re-publish by the device can bring back: the broker keeps nothing) and from there
  to the full state. paho's back-off (1 s doubling to 10 s) dominates: after an
  outage the next attempt may be up to one back-off step away.

Run: ``.venv/bin/python benchmarks/bench_mqtt.py [--commands 500] [--outage 0.5 3 10]``
"""

from __future__ import annotations

import argparse
import json
import os
import queue
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

DEVICE = "bench"
BASE = f"sleepsound/{DEVICE}"
TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    """Whether the broker takes TCP connections now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One mosquitto process, restartable on the same port."""

    def __init__(self, folder: Path, nodelay: bool) -> None:
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if nodelay:
            lines.append("set_tcp_nodelay true")
        if os.geteuid() == 0:
            lines.append("user root")
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and return the monotonic time it began accepting connections."""
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + TIMEOUT_S
        while not accepts(self.port):
            if time.monotonic() > deadline:
                raise SystemExit("mosquitto did not start")
            time.sleep(0.002)
        return time.monotonic()

    def stop(self) -> None:
        """Terminate mosquitto."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Listener:
    """A client that timestamps every message under the device's base topic."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[float, str, bytes]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = lambda c, u, m: self.messages.put(
            (time.monotonic(), m.topic, bytes(m.payload))
        )
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        # Like the device, no Nagle: measure the device's path, not our client's.
        self.client.on_socket_open = lambda c, u, sock: sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe(f"{BASE}/#", qos=1)
        if not subscribed.wait(TIMEOUT_S):
            raise SystemExit("no SUBACK from the broker")

    def wait(self, topic: str, test: Any = None) -> float:
        """The arrival time of the next message on ``topic`` passing ``test``."""
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                stamp, got, payload = self.messages.get(
                    timeout=max(0.0, deadline - time.monotonic())
                )
            except queue.Empty:
                raise SystemExit(f"timed out waiting for {topic}") from None
            if got == topic and (test is None or test(payload)):
                return stamp

    def publish(self, topic: str, payload: str) -> float:
        """Publish at QoS 1 and return the time just before sending."""
        now = time.monotonic()
        self.client.publish(topic, payload, qos=1)
        return now

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def start_daemon(folder: Path, port: int) -> subprocess.Popen[bytes]:
    """``sleepsound run`` on the clock output, connected to the broker."""
    config = folder / "config.toml"
    config.write_text(
        '[audio]\noutput = "clock"\n'
        f'[socket]\npath = "{folder / "ctl.sock"}"\n'
        f'[state]\nfile = "{folder / "state.json"}"\n'
        f'[sounds]\ndir = "{folder / "sounds"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ndevice_id = "{DEVICE}"\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    return subprocess.Popen(
        [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "daemon.log").open("wb"),
    )


def volume_is(volume: int) -> Any:
    """A test for a state document showing ``volume``."""
    return lambda payload: json.loads(payload).get("volume") == volume


def round_trips(listener: Listener, count: int, plain: bool) -> tuple[list[float], list[float]]:
    """(command -> state, command -> reply) in seconds, for ``count`` volume changes."""
    to_state, to_reply = [], []
    for index in range(count):
        volume = 20 + index % 2  # alternate, so every command changes the state
        if plain:
            sent = listener.publish(f"{BASE}/set/volume", str(volume))
        else:
            sent = listener.publish(f"{BASE}/set", json.dumps({"volume": volume}))
        state_at = listener.wait(f"{BASE}/state", volume_is(volume))
        reply_at = listener.wait(f"{BASE}/response")
        to_state.append(state_at - sent)
        to_reply.append(reply_at - sent)
    return to_state, to_reply


def describe(name: str, samples: list[float]) -> str:
    """p50 / p99 / max in milliseconds."""
    ms = np.array(samples) * 1000
    return (
        f"{name:<34} p50 {np.percentile(ms, 50):6.2f} ms   p99 {np.percentile(ms, 99):6.2f} ms"
        f"   max {ms.max():6.2f} ms   (n={len(ms)})"
    )


def measure(commands: int, outages: list[float], nodelay: bool) -> None:
    """Start a broker and the daemon; print round trips and (if asked) reconnect times."""
    folder = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    broker = Broker(folder, nodelay)
    broker.start()
    daemon = start_daemon(folder, broker.port)
    listener = Listener(broker.port)
    try:
        listener.wait(f"{BASE}/availability", lambda p: p == b"online")
        listener.wait(f"{BASE}/state")
        round_trips(listener, 20, plain=False)  # warm up
        setting = "set_tcp_nodelay true" if nodelay else "default config (Nagle on)"
        print(f"\nmosquitto {setting}, sleepsound run (clock output):")
        state, reply = round_trips(listener, commands, plain=False)
        print(describe("JSON /set -> state", state))
        print(describe("JSON /set -> response", reply))
        state, reply = round_trips(listener, commands, plain=True)
        print(describe("plain /set/volume -> state", state))

        for outage in outages:
            listener.close()
            broker.stop()
            time.sleep(outage)
            up = broker.start()
            listener = Listener(broker.port)
            online = listener.wait(f"{BASE}/availability", lambda p: p == b"online")
            full = listener.wait(f"{BASE}/state")
            print(
                f"broker outage {outage:4.1f} s: device online {online - up:6.3f} s after the "
                f"broker was back, state {full - up:6.3f} s"
            )
        if daemon.poll() is not None:
            raise SystemExit("the daemon died; see " + str(folder / "daemon.log"))
    finally:
        listener.close()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--outage", type=float, nargs="+", default=[0.5, 3.0, 10.0])
    args = parser.parse_args()
    if shutil.which("mosquitto") is None:
        raise SystemExit("mosquitto is not installed: run ./scripts/setup")
    measure(args.commands, [], nodelay=False)
    measure(args.commands, args.outage, nodelay=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
