"""Floods of commands against the real daemon and a real Mosquitto: Home Assistant is
never left with a wrong state, every command is answered (done, refused, or refused
as busy), and the journal gets a bounded number of lines, not one per command.

One daemon and one broker serve the whole module (starting a daemon takes seconds);
each flood starts from the state the previous one left, which is as good as any.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from daemon_helpers import DaemonProcess, mqtt_section
from sleepsound.mqtt.burst import BUSY_ERROR
from support.broker import MosquittoBroker, MqttProbe
from support.waiting import wait_for, wait_until

pytestmark = pytest.mark.slow

BASE = "sleepsound/bedroom"
SOUNDS = ("pink-noise", "brown-noise", "white-noise")
FLOOD_LOG_LINES = 12
"""Lines a whole flood may add to the daemon's log (today: a few refusals, one busy
warning and one summary). Before the outbox it was one WARNING per dropped publish."""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """One Mosquitto for the module."""
    broker = MosquittoBroker(
        directory=tmp_path_factory.mktemp("flood-broker"),
        # Mosquitto's default holds 1000 messages per client and drops the rest ("Outgoing
        # messages are being dropped"): commands the device never gets, replies the test
        # never sees. That is the broker's limit, not the device's, so lift it here.
        extra_config="max_queued_messages 100000",
    ).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, broker: MosquittoBroker):
    """One ``sleepsound run`` on the clock output, on ``broker``, playing."""
    directory = tmp_path_factory.mktemp("flood-daemon")
    daemon = DaemonProcess(directory, mqtt_section(broker)).start()
    try:
        reply = daemon.request({"action": "play", "sound": "pink-noise", "volume": 20})
        assert reply["status"] == "ok", reply
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def probe(broker: MosquittoBroker) -> Iterator[MqttProbe]:
    """Home Assistant's side: subscribed to the replies once the device is online."""
    probe = MqttProbe(broker).connect()
    probe.subscribe(f"{BASE}/availability")
    probe.wait_for(f"{BASE}/availability", lambda m: m.text == "online")
    probe.subscribe(f"{BASE}/response")
    probe.clear()
    yield probe
    probe.disconnect()


def _json_commands(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """``/set`` documents, each with its index as the transaction; a few bad ones."""
    commands = []
    for index in range(count):
        pick = rng.randrange(8)
        if pick == 0:
            body: dict[str, Any] = {"sound": rng.choice(SOUNDS)}
        elif pick == 1:
            body = {"layer": rng.choice(["on", "off"])}
        elif pick == 2:
            body = {"volume": 101}  # refused: out of range
        elif pick == 3:
            body = {"action": "play", "volume": rng.randrange(5, 60)}
        else:
            body = {"volume": rng.randrange(0, 70)}
        body["transaction"] = index
        commands.append((f"{BASE}/set", json.dumps(body).encode()))
    return commands


def _plain_commands(rng: random.Random, count: int) -> list[tuple[str, bytes]]:
    """``/set/<key>`` bare values, as Home Assistant's entities send them; a few bad."""
    commands = []
    for _ in range(count):
        pick = rng.randrange(8)
        if pick == 0:
            commands.append((f"{BASE}/set/sound", rng.choice(SOUNDS).encode()))
        elif pick == 1:
            commands.append((f"{BASE}/set/layer", rng.choice([b"on", b"off"])))
        elif pick == 2:
            commands.append((f"{BASE}/set/volume", b"loud"))  # refused: not a number
        elif pick == 3:
            commands.append((f"{BASE}/set/state", b"ON"))
        else:
            commands.append((f"{BASE}/set/volume", str(rng.randrange(0, 70)).encode()))
    return commands


def _retained_state(broker: MosquittoBroker) -> dict[str, Any]:
    """What a client that subscribes now (Home Assistant after a restart) is told."""
    late = MqttProbe(broker).connect()
    try:
        late.subscribe(f"{BASE}/state")
        return json.loads(late.wait_for(f"{BASE}/state").payload)
    finally:
        late.disconnect()


def _log_lines(daemon: DaemonProcess) -> int:
    return len(daemon.log_text().splitlines())


@pytest.mark.parametrize(
    ("size", "form", "qos"),
    [
        (50, "json", 1),
        (50, "plain", 0),
        (400, "json", 0),
        (400, "plain", 1),
        (2000, "json", 1),
        (2000, "plain", 0),
    ],
)
def test_a_flood_leaves_the_true_state_retained_and_every_command_answered(
    broker: MosquittoBroker, daemon: DaemonProcess, probe: MqttProbe, size: int, form: str, qos: int
) -> None:
    rng = random.Random(f"{size}-{form}-{qos}")
    make = _json_commands if form == "json" else _plain_commands
    commands = make(rng, size)
    lines_before = _log_lines(daemon)
    seen_before = len(probe.received)

    infos = [probe.client.publish(topic, payload, qos=qos) for topic, payload in commands]
    wait_until(lambda: all(info.is_published() for info in infos), "the flood to be sent")

    def replies() -> list[dict[str, Any]]:
        new = probe.received[seen_before:]
        return [json.loads(m.payload) for m in new if m.topic == f"{BASE}/response"]

    answered = wait_for(
        replies,
        lambda got: len(got) >= size,
        f"a reply to each of the {size} commands",
        describe=lambda got: f"{len(got)} replies",
    )
    time.sleep(0.5)  # a reply too many would arrive now (not a timing assertion)
    answered = replies()
    assert len(answered) == size, f"{len(answered)} replies to {size} commands"
    kinds = {"ok": 0, "error": 0, "busy": 0}
    for reply in answered:
        if reply.get("error") == BUSY_ERROR:
            kinds["busy"] += 1
            assert reply["field"] == "payload"
        else:
            kinds[reply["status"]] += 1
    assert kinds["ok"] > 0 and kinds["error"] > 0, kinds
    if form == "json":  # each command answered exactly once, matched by its transaction
        assert sorted(reply["transaction"] for reply in answered) == list(range(size))

    # The truth is what the local socket says; the broker's retained state must agree.
    truth = wait_for(
        lambda: (daemon.status(), _retained_state(broker)),
        lambda pair: pair[0] == pair[1],
        "the retained state to equal the daemon's status",
    )[0]
    assert truth["state"] == "playing"
    assert _log_lines(daemon) - lines_before <= FLOOD_LOG_LINES, daemon.log_text()[-3000:]


def test_an_outage_logs_no_paho_errors_and_the_state_catches_up(
    broker: MosquittoBroker, daemon: DaemonProcess
) -> None:
    lines_before = _log_lines(daemon)
    broker.stop()
    # Changes while the broker is away reach it after the reconnect.
    assert daemon.request({"volume": 33})["status"] == "ok"
    time.sleep(3.0)  # several reconnect attempts (1 s, 2 s back-off): not a timing check
    assert daemon.request({"sound": "brown-noise"})["status"] == "ok"
    broker.start()
    truth = wait_for(
        lambda: (daemon.status(), _retained_state_or_none(broker)),
        lambda pair: pair[0] == pair[1],
        "the retained state to catch up after the outage",
    )[0]
    assert (truth["volume"], truth["sound"]) == (33, "brown-noise")
    new_lines = daemon.log_text().splitlines()[lines_before:]
    assert not [line for line in new_lines if "ERROR" in line], new_lines
    assert any("connection lost" in line for line in new_lines), new_lines


def _retained_state_or_none(broker: MosquittoBroker) -> dict[str, Any] | None:
    try:
        return _retained_state(broker)
    except (TimeoutError, ConnectionError, OSError):
        return None


def test_sighup_during_a_flood_still_converges(
    broker: MosquittoBroker, daemon: DaemonProcess, probe: MqttProbe
) -> None:
    rng = random.Random("hup")
    commands = _json_commands(rng, 300)
    infos = []
    for index, (topic, payload) in enumerate(commands):
        infos.append(probe.client.publish(topic, payload, qos=1))
        if index == 150:
            daemon.signal(signal.SIGHUP)  # [mqtt] unchanged: the bridge stays
    wait_until(lambda: all(info.is_published() for info in infos), "the flood to be sent")
    wait_for(
        lambda: (daemon.status(), _retained_state(broker)),
        lambda pair: pair[0] == pair[1],
        "the retained state to equal the daemon's status after a reload",
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"volume": 33, "transaction": "\\ud800"}',
        b'{"\\ud800": 1}',
        b'{"volume": 33, "transaction": "a\\udfffb"}',
        b'{"sound": "\\udc80"}',
        b'{"action": "play", "sound": "pink-noise", "transaction": ["\\ud800"]}',
    ],
)
def test_a_lone_surrogate_anywhere_still_gets_exactly_one_reply(
    broker: MosquittoBroker, daemon: DaemonProcess, probe: MqttProbe, payload: bytes
) -> None:
    # Whether such a command is refused is the decoder's business; the bridge's is that
    # its reply goes out (a surrogate echoed back cannot be UTF-8: it goes \u-escaped).
    probe.publish(f"{BASE}/set", payload)
    reply = json.loads(probe.wait_for(f"{BASE}/response").payload)
    assert reply["status"] in ("ok", "error"), reply
    marker = {"action": "status", "transaction": "after"}
    probe.publish(f"{BASE}/set", json.dumps(marker))
    after = json.loads(probe.wait_for(f"{BASE}/response").payload)
    assert after["transaction"] == "after", f"a second reply to {payload!r}: {after}"
    assert "UnicodeEncodeError" not in daemon.log_text()
