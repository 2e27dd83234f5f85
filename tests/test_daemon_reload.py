"""``systemctl reload sleepsound`` (SIGHUP) applies ``[mqtt]`` and ``[controls]`` at once.

Real parts only: Mosquitto brokers on free ports with Home Assistant's side played by a
test client, and gpiozero's MockFactory pins pressed by a :class:`Finger` that bounces
in one instant of the pins' clock, as on a Pi (:mod:`support.pins`). The broker
scenarios run ``sleepsound run`` as a subprocess and signal it as systemd does; the pin
scenarios run the daemon in this process (the mock pins live here) on the main thread,
press from a worker thread and send the SIGHUP to this very process.

What a user would notice: a moved broker gets the device (discovery, state, commands)
and the old one sees it go offline; a rewired button works on its new pin and the old
pin does nothing; a change elsewhere neither reconnects MQTT nor rebuilds the controls;
a bad config, or an adapter that cannot start, costs nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockPWMPin

from daemon_helpers import (
    CACHE_HOME,
    DaemonProcess,
    mqtt_section,
    run_on_mock_pins,
    wait_until,
)
from sleepsound.config import load_config
from sleepsound.controls.adapter import ControlsAdapter
from sleepsound.controls.finger import CLICK_S, Finger
from sleepsound.daemon import Daemon
from support.broker import MosquittoBroker
from support.pins import InstantBounceFinger, PinClock
from test_mqtt_helpers import WAIT_S, HomeAssistant

pytestmark = pytest.mark.slow

RELOADED = ("config reloaded from", "keeping the running config")
"""The log lines that end a reload, good or bad: everything it does is done by then."""


def _connections(broker: MosquittoBroker, client_id: str) -> int:
    """How many times ``client_id`` connected, by the broker's own log."""
    return broker.log().count(f" as {client_id} (")


def _availability(ha: HomeAssistant) -> list[str]:
    """Every availability message Home Assistant received, in order."""
    topic = f"{ha.base}/availability"
    return [m.text for m in ha.probe.received if m.topic == topic]


# -- the daemon as a subprocess, reloaded like systemd does --------------------------------


def _reload(daemon: DaemonProcess) -> None:
    """SIGHUP, and wait until the daemon has finished reloading."""
    log = daemon.log_text()
    before = sum(log.count(line) for line in RELOADED)
    daemon.signal(signal.SIGHUP)
    wait_until(lambda: sum(daemon.log_text().count(line) for line in RELOADED) > before)


def test_a_moved_broker_gets_the_device_and_the_old_one_sees_it_go_offline(
    mosquitto, mqtt_probe, make_daemon
) -> None:
    old_broker, new_broker = mosquitto(), mosquitto()
    daemon = make_daemon(mqtt_section(old_broker)).start()
    old = HomeAssistant(mqtt_probe(old_broker), "sleepsound/bedroom")
    old.wait_online()
    assert old.ask({"action": "play", "sound": "pink-noise", "volume": 22}) == {"status": "ok"}
    old.state(lambda d: d["state"] == "playing")
    # Home Assistant on the new broker listens before the user fixes the address.
    new = HomeAssistant(mqtt_probe(new_broker), "sleepsound/bedroom")
    discovery = mqtt_probe(new_broker)
    discovery.subscribe("homeassistant/+/+/+/config")

    daemon.write_config(mqtt_section(new_broker))
    daemon.signal(signal.SIGHUP)

    # The old broker is told the device left, as on a clean stop.
    old.probe.wait_for("sleepsound/bedroom/availability", lambda m: m.text == "offline", WAIT_S)
    # The new one gets the announcement, discovery and the state as it is now.
    new.wait_online()
    switch = discovery.wait_for("homeassistant/switch/+/playback/config", None, WAIT_S)
    assert json.loads(switch.payload)["state_topic"] == "sleepsound/bedroom/state"
    doc = new.state(lambda d: d["state"] == "playing")
    assert (doc["sound"], doc["volume"]) == ("pink-noise", 22)
    # And the device obeys there.
    assert new.ask({"volume": 30}) == {"status": "ok"}
    new.state(lambda d: d["volume"] == 30)
    assert daemon.status()["volume"] == 30
    assert "[mqtt] changed; restarting MQTT" in daemon.log_text()

    # Whoever looks at the old broker later finds the device offline, retained.
    late = mqtt_probe(old_broker)
    late.subscribe("sleepsound/bedroom/availability")
    message = late.wait_for("sleepsound/bedroom/availability", None, WAIT_S)
    assert message.retain and message.text == "offline"

    assert daemon.status()["state"] == "playing"  # the sound never stopped for it
    assert daemon.terminate() == 0


def test_a_reload_that_leaves_mqtt_alone_keeps_the_connection(
    mosquitto, mqtt_probe, make_daemon
) -> None:
    broker = mosquitto()
    mqtt = mqtt_section(broker)
    daemon = make_daemon(mqtt).start()
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
    ha.wait_online()

    daemon.write_config(mqtt, audio="max_volume = 50\n")  # [audio]: a volume-only key
    _reload(daemon)
    assert ha.state(lambda d: d["max_volume"] == 50)["max_volume"] == 50  # it did reload
    # [sounds] keys come right after its dir line, ahead of the [mqtt] table.
    daemon.write_config("rescan_s = 5\n" + mqtt, audio="max_volume = 50\n")
    _reload(daemon)
    assert daemon.log_text().count("config reloaded from") == 2

    # Anything a reconnect publishes would be in by the time this round trip is.
    assert ha.settle()["max_volume"] == 50
    assert _availability(ha) == ["online"]
    assert _connections(broker, "sleepsound-bedroom") == 1
    assert daemon.log_text().count("mqtt: connected to") == 1
    assert "restarting MQTT" not in daemon.log_text()
    assert daemon.terminate() == 0


def test_an_mqtt_restart_that_fails_is_logged_and_a_fixed_reload_brings_it_back(
    mosquitto, mqtt_probe, make_daemon, tmp_path: Path
) -> None:
    broker = mosquitto()
    daemon = make_daemon(mqtt_section(broker)).start()
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
    ha.wait_online()
    assert ha.ask({"action": "play", "sound": "brown-noise"}) == {"status": "ok"}
    secret = tmp_path / "mqtt-password"  # named, but not there yet

    daemon.write_config(
        mqtt_section(broker, extra=f'username = "bedroom"\npassword_file = "{secret}"\n')
    )
    _reload(daemon)
    ha.probe.wait_for("sleepsound/bedroom/availability", lambda m: m.text == "offline", WAIT_S)
    log = daemon.log_text()
    assert "[mqtt] changed; restarting MQTT" in log
    assert f"MQTT is off: mqtt.password_file: cannot read {secret}" in log
    assert daemon.status()["state"] == "playing"  # the night goes on without MQTT

    # The user creates the file and reloads; the config itself did not change again.
    secret.write_text("any-password\n")
    _reload(daemon)
    ha.wait_online()
    assert ha.ask({"volume": 12}) == {"status": "ok"}
    assert daemon.status()["volume"] == 12
    assert daemon.terminate() == 0


# -- the daemon in this process, on mock pins ----------------------------------------------

BUTTON = """
[[controls.buttons]]
name = "{name}"
pin = {pin}
double_time_s = 0
hold_time_s = {hold_s}
"""
"""A button that fires a single press on release (no double press to wait for)."""


class LogLines(logging.Handler):
    """Every ``sleepsound`` log message, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lock_ = threading.Lock()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message."""
        with self.lock_:
            self.lines.append(record.getMessage())

    def count(self, *texts: str) -> int:
        """How many messages contain one of ``texts``."""
        with self.lock_:
            return sum(1 for line in self.lines if any(text in line for text in texts))


@dataclass
class Recorder:
    """A listener of the daemon's own (not an adapter's): every button event."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def on_status(self, document: Any) -> None:
        """Not needed here."""

    def on_event(self, event: Any) -> None:
        """Remember a gesture."""
        if "button" in event:
            self.events.append(dict(event))


class Bedside:
    """``sleepsound run`` in this process on mock pins; reloaded by a real SIGHUP."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "config.toml"
        self.factory = PinClock(pin_class=MockPWMPin)
        self.started: list[ControlsAdapter] = []
        """Every controls adapter the daemon started, the one in use last."""
        self.recorder = Recorder()
        self.log = LogLines()
        self.daemon: Daemon | None = None

    def write_config(self, extra: str, audio: str = "") -> None:
        """The test config (clock output, quick fades, paths here) plus ``extra`` sections
        and ``audio`` keys."""
        self.path.write_text(
            "[audio]\n"
            'output = "clock"\n'
            "fade_in_s = 0.3\n"
            "fade_out_s = 0.3\n"
            f"{audio}"
            "[socket]\n"
            f'path = "{self.directory / "ctl.sock"}"\n'
            "[state]\n"
            f'file = "{self.directory / "state.json"}"\n'
            "[sounds]\n"
            f'dir = "{self.directory / "sounds"}"\n'
            f"{extra}"
        )

    def finger(self, adapter: ControlsAdapter | None = None) -> Finger:
        """A finger on the pins of ``adapter`` (the controls in use if not given)."""
        return InstantBounceFinger(self.factory, (adapter or self.started[-1]).controls)

    def status(self) -> dict[str, Any]:
        """The state document."""
        assert self.daemon is not None
        return self.daemon.status()

    def wait_state(self, state: str) -> None:
        """Wait until the player is in ``state``."""
        wait_until(lambda: self.status().get("state") == state)

    def reload(self, config: str | None = None, audio: str = "") -> None:
        """Write ``config`` (if given), SIGHUP this process, wait until the reload is done."""
        if config is not None:
            self.write_config(config, audio)
        before = self.log.count(*RELOADED)
        os.kill(os.getpid(), signal.SIGHUP)
        wait_until(lambda: self.log.count(*RELOADED) > before)

    def run(self, config: str, scenario: Callable[[Bedside], None]) -> None:
        """Run the daemon until ``scenario`` is done; re-raise what the scenario raised."""
        self.write_config(config)
        daemon = Daemon(
            load_config(str(self.path)),
            config_arg=str(self.path),
            environ={"XDG_CACHE_HOME": str(CACHE_HOME)},
            pin_factory=self.factory,
            on_controls_started=self.started.append,
        )
        self.daemon = daemon
        daemon.add_listener(self.recorder)

        def work() -> None:
            wait_until(lambda: self.started and self.status().get("state"), timeout_s=WAIT_S)
            scenario(self)

        logger = logging.getLogger("sleepsound")
        level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self.log)
        try:
            code = run_on_mock_pins(daemon, self.factory, work)
        finally:
            logger.removeHandler(self.log)
            logger.setLevel(level)
        assert code == 0


@pytest.fixture
def bedside(tmp_path: Path) -> Bedside:
    """A daemon-on-mock-pins harness in this test's folder."""
    return Bedside(tmp_path)


def test_a_rewired_button_works_on_its_new_pin_and_the_old_pin_does_nothing(
    bedside: Bedside, mosquitto, mqtt_probe
) -> None:
    broker = mosquitto()
    mqtt = mqtt_section(broker, "bedside")
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedside")
    before = BUTTON.format(name="main", pin=23, hold_s=1.0)
    after = BUTTON.format(name="bedside", pin=24, hold_s=1.0)

    def scenario(bench: Bedside) -> None:
        ha.wait_online()
        old = bench.started[-1]
        bench.finger(old).click("main")  # pin 23 works before the reload
        bench.wait_state("playing")

        bench.reload(after + mqtt)
        assert len(bench.started) == 2, "the controls were not rebuilt"
        bench.finger(old).click("main")  # the finger still goes to pin 23: nothing
        bench.finger().click("bedside")  # pin 24: toggles, playing -> stopped
        wait_until(lambda: {"event_type": "single", "button": "bedside"} in bench.recorder.events)
        # The old pin's press, had it counted, was in before the new one's.
        assert bench.recorder.events == [
            {"event_type": "single", "button": "main"},
            {"event_type": "single", "button": "bedside"},
        ]
        bench.wait_state("stopped")
        # The old controls went with their listener: their LED core last heard "playing".
        assert old.controls.led.steady and not bench.started[-1].controls.led.steady
        # The new controls' gestures reach MQTT, and MQTT never reconnected.
        event = ha.probe.wait_for(
            "sleepsound/bedside/event", lambda m: b"bedside" in m.payload, WAIT_S
        )
        assert json.loads(event.payload) == {"event_type": "single", "button": "bedside"}
        assert ha.settle()["state"] == "stopped"
        assert _availability(ha) == ["online"]
        assert _connections(broker, "sleepsound-bedside") == 1
        assert bench.log.count("[controls] changed; restarting controls") == 1
        assert bench.log.count("a listener failed") == 0

    bedside.run(before + mqtt, scenario)


def test_a_press_held_through_an_unrelated_reload_still_counts(
    bedside: Bedside, mosquitto, mqtt_probe
) -> None:
    broker = mosquitto()
    mqtt = mqtt_section(broker, "bedside")
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedside")
    # A long hold time: the press below, held across the reload, is still a single press.
    button = BUTTON.format(name="main", pin=23, hold_s=10.0)
    unrelated = "[sleep]\nfade_min = 3\n" + button + mqtt

    def scenario(bench: Bedside) -> None:
        ha.wait_online()
        finger = bench.finger()
        finger.press("main")
        time.sleep(CLICK_S)  # down as long as a click, however quick the reload is
        bench.reload(unrelated, audio="max_volume = 60\n")
        assert bench.status()["max_volume"] == 60  # the reload took effect
        finger.release("main")
        bench.wait_state("playing")
        assert len(bench.started) == 1, "the controls were rebuilt"
        assert bench.log.count("restarting") == 0
        assert ha.settle()["state"] == "playing"
        assert _availability(ha) == ["online"]
        assert _connections(broker, "sleepsound-bedside") == 1

    bedside.run(button + mqtt, scenario)


def test_a_bad_new_config_keeps_the_buttons_and_mqtt_running(
    bedside: Bedside, mosquitto, mqtt_probe
) -> None:
    broker = mosquitto()
    mqtt = mqtt_section(broker, "bedside")
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedside")
    button = BUTTON.format(name="main", pin=23, hold_s=1.0)
    # A moved broker and a rewired button, in a config with one mistake: none of it applies.
    other = mosquitto()
    bad = BUTTON.format(name="main", pin=24, hold_s=-1) + mqtt_section(other, "bedside")

    def scenario(bench: Bedside) -> None:
        ha.wait_online()
        bench.reload(bad)
        assert bench.log.count("keeping the running config") == 1
        assert bench.log.count("controls.buttons[0].hold_time_s") == 1
        bench.finger().click("main")  # still pin 23
        bench.wait_state("playing")
        assert ha.ask({"volume": 41}) == {"status": "ok"}  # still the first broker
        ha.state(lambda d: d["volume"] == 41)
        assert len(bench.started) == 1
        assert _availability(ha) == ["online"]
        assert _connections(broker, "sleepsound-bedside") == 1
        assert _connections(other, "sleepsound-bedside") == 0

    bedside.run(button + mqtt, scenario)
