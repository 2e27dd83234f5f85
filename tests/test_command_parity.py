"""The same bytes get the same reply from the control socket and from MQTT ``/set``.

One real daemon (``sleepsound run`` on the clock output) with a real Mosquitto: each
payload goes in as a socket line and as an MQTT message, and the two replies must be
identical, whatever the payload holds. The daemon logs no traceback and keeps playing.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon_helpers import REPLY_TIMEOUT_S, DaemonProcess, daemons_in, mqtt_section
from support.broker import MosquittoBroker, MqttProbe
from test_mqtt_helpers import HomeAssistant

pytestmark = pytest.mark.slow

PAYLOADS = [
    # nesting, at several depths and places
    b'{"volume":' + b"[" * 10 + b"]" * 10 + b"}",
    b'{"volume":' + b"[" * 2000 + b"]" * 2000 + b"}",
    b'{"volume":' + b"[" * 5000 + b"]" * 5000 + b"}",  # over the size cap
    b"[" * 3000,
    b'{"sound": {"a": {"b": 1}}}',
    # strict JSON
    b'{"volume": NaN}',
    b'{"volume": -Infinity, "transaction": 1}',
    b'{"volume": 10, "volume": 90}',
    b'{"layer": {"x": 1, "x": 2}}',
    b'{"volume": ' + b"9" * 400 + b"}",
    b'{"transaction": ' + b"1" * 25 + b', "volume": 3}',
    b'{"action": "play"',
    b"not json at all",
    b'{"volume": 30} trailing',
    # text
    b"\xef\xbb\xbf" + b'{"action": "status"}',
    b"\xff\xfe\x00garbage\x80",
    b'{"sound": "\xed\xa0\x80"}',
    b'{"volume": 33, "transaction": "\\ud800"}',
    b'{"\\ud800": 33}',
    b'{"sound": ["\\udfff"]}',
    b'{"\\udc00": 1, "\\udc00": 2}',
    b"   ",
    # what the command means
    b"{}",
    b"[1, 2]",
    b'{"sleep_timer": 1e-300}',
    b'{"sleep_timer": 0.5, "transaction": "t"}',
    b'{"volume": 101, "transaction": "abc"}',
    b'{"colour": "red"}',
    b'{"k' + b"k" * 3000 + b'": 1}',
    b'{"sound": "/etc/passwd"}',
    b'{"sound": "no-such-sound", "transaction": 9}',  # refused by the player itself
    b'{"volume": 20, "transaction": 1}',  # and an accepted one
]


class Device:
    """The daemon under test, reachable both ways."""

    def __init__(self, daemon: DaemonProcess, ha: HomeAssistant) -> None:
        self.daemon = daemon
        self.ha = ha

    def over_socket(self, payload: bytes) -> dict[str, Any]:
        """Send ``payload`` as one socket line; the reply line, decoded."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(REPLY_TIMEOUT_S)
            sock.connect(str(self.daemon.socket))
            sock.sendall(payload + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                assert chunk, f"the socket closed after {data!r}"
                data += chunk
        return json.loads(data)

    def over_mqtt(self, payload: bytes) -> dict[str, Any]:
        """Publish ``payload`` on ``<base>/set``; the reply, decoded."""
        return self.ha.ask(payload)


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    """One playing daemon on one broker for the whole module (starting one takes seconds)."""
    broker = MosquittoBroker(directory=tmp_path_factory.mktemp("mosquitto")).start()
    probe: MqttProbe | None = None
    try:
        with daemons_in(Path(tmp_path_factory.mktemp("parity"))) as make:
            daemon = make(mqtt_section(broker)).start()
            probe = MqttProbe(broker).connect()
            ha = HomeAssistant(probe, "sleepsound/bedroom")
            ha.wait_online()
            assert daemon.request({"action": "play", "sound": "pink-noise"}) == {"status": "ok"}
            yield Device(daemon, ha)
    finally:
        if probe is not None:
            probe.disconnect()
        broker.stop()


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda payload: repr(payload)[:28])
def test_socket_and_mqtt_give_the_same_reply(device: Device, payload: bytes) -> None:
    by_socket = device.over_socket(payload)
    by_mqtt = device.over_mqtt(payload)
    assert by_socket == by_mqtt
    assert by_socket["status"] in ("ok", "error")
    if by_socket["status"] == "error":
        assert by_socket["field"] and by_socket["error"], by_socket
        assert "sys.set_int_max_str_digits" not in by_socket["error"]
    assert device.daemon.request({"action": "status"})["state"] == "playing"
    assert "Traceback" not in device.daemon.log_text()
