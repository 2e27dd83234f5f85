"""The controls inside the real daemon: a finger on gpiozero's MockFactory pins changes
what ``sleepsound run`` plays, the gestures reach its listeners (and MQTT), and a
wiring mistake costs only the control it concerns.

The daemon runs in this process, on the main thread (its signal handlers live there),
exactly as ``sleepsound run`` runs it; each scenario presses and checks from a worker
thread, then asks the daemon to stop. The windows are wide (hold 0.6 s, double
0.8 s) and every wait polls for an outcome, so a loaded machine changes nothing.

The finger's contact bounce takes no time on the pins' clock, as on a Pi (see
:mod:`support.pins`): on plain MockFactory a loaded machine could stretch it past the
bounce window and turn a click into a double click.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockPWMPin

from daemon_helpers import CACHE_HOME, block_levels_db, read_recording, run_on_mock_pins
from sleepsound.config import load_config
from sleepsound.control_socket.client import request
from sleepsound.controls import adapter as controls_adapter
from sleepsound.controls.adapter import ControlsAdapter
from sleepsound.controls.finger import Finger
from sleepsound.daemon import Daemon
from support.pins import InstantBounceFinger, PinClock
from support.waiting import WAIT_S, wait_for, wait_until
from test_mqtt_helpers import HomeAssistant

SILENT_DB = -85.0
"""Below this a 20 ms block is silence (dither sits near -96 dBFS)."""
HOLD_S = 0.6
DOUBLE_S = 0.8
LIFT_S = 0.3
"""A finger lifts between two gestures for at least this long (well over the 30 ms of
contact bounce; back-to-back edges would be bounce)."""

WIDE_WINDOWS = f"""
[[controls.buttons]]
name = "main"
pin = 23
hold_time_s = {HOLD_S}
double_time_s = {DOUBLE_S}

[controls.encoder.button]
hold_time_s = {HOLD_S}
double_time_s = {DOUBLE_S}
"""


@dataclass
class Recorder:
    """A daemon listener: every event and the thread it was told on."""

    events: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_status(self, document: Any) -> None:
        """Not needed here."""

    def on_event(self, event: Any) -> None:
        """Remember the event and who called."""
        with self.lock:
            self.events.append((dict(event), threading.current_thread().name))

    def gestures(self) -> list[dict[str, Any]]:
        """The button events so far."""
        with self.lock:
            return [event for event, _ in self.events if "button" in event]


@dataclass
class Bench:
    """What a scenario works with: the running daemon and a finger on its controls."""

    daemon: Daemon
    adapter: ControlsAdapter
    finger: Finger
    recorder: Recorder

    def status(self) -> dict[str, Any]:
        """The state document (as ``ctl status --json`` prints it)."""
        return self.daemon.status()

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict:
        """The first state document that satisfies ``predicate``."""
        return wait_for(self.status, lambda doc: bool(doc) and predicate(doc), what)


class Harness:
    """Writes a config in ``directory`` and runs the daemon with mock pins around a scenario."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.record = directory / "record.wav"

    def config(self, extra: str = WIDE_WINDOWS) -> Path:
        """A test config: clock output recording, quick fades, paths in the test folder."""
        path = self.directory / "config.toml"
        path.write_text(
            "[audio]\n"
            'output = "clock"\n'
            f'record = "{self.record}"\n'
            "fade_in_s = 0.3\n"
            "fade_out_s = 0.3\n"
            "crossfade_s = 0.3\n"
            "[socket]\n"
            f'path = "{self.directory / "ctl.sock"}"\n'
            "[state]\n"
            f'file = "{self.directory / "state.json"}"\n'
            "[sounds]\n"
            f'dir = "{self.directory / "sounds"}"\n'
            f"{extra}"
        )
        return path

    def run(self, scenario: Callable[[Bench], None], extra: str = WIDE_WINDOWS) -> int:
        """Run the daemon until ``scenario`` is done; re-raise what the scenario raised."""
        config = load_config(str(self.config(extra)))
        factory = PinClock(pin_class=MockPWMPin)
        started: list[ControlsAdapter] = []
        ready = threading.Event()

        def on_started(adapter: ControlsAdapter) -> None:
            started.append(adapter)
            ready.set()

        daemon = Daemon(
            config,
            environ={"XDG_CACHE_HOME": str(CACHE_HOME)},
            pin_factory=factory,
            on_controls_started=on_started,
        )
        recorder = Recorder()
        daemon.add_listener(recorder)

        def press() -> None:
            assert ready.wait(WAIT_S), "the controls never started"
            adapter = started[0]
            bench = Bench(daemon, adapter, InstantBounceFinger(factory, adapter.controls), recorder)
            bench.wait_status(lambda doc: "state" in doc, "the first state document")
            scenario(bench)

        return run_on_mock_pins(daemon, factory, press)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """A harness in this test's folder."""
    yield Harness(tmp_path)


def test_a_single_press_toggles_play(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        assert bench.status()["state"] == "stopped"
        bench.finger.click("main")
        bench.wait_status(lambda doc: doc["state"] == "playing", "playing after a press")
        bench.finger.click("main")
        bench.wait_status(lambda doc: doc["state"] == "stopped", "stopped after a second press")

    assert harness.run(scenario) == 0


def test_knob_detents_turn_the_volume_up_and_down(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        start = bench.status()["volume"]
        bench.finger.turn(+3)
        up = bench.wait_status(lambda doc: doc["volume"] > start, "louder after turning right")
        bench.finger.turn(-6)
        bench.wait_status(lambda doc: doc["volume"] < up["volume"], "quieter after turning left")

    assert harness.run(scenario) == 0


def test_a_long_press_steps_the_sleep_timer(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        assert bench.status()["sleep_timer"] == 0
        bench.finger.long_press("main")
        bench.wait_status(lambda doc: doc["sleep_timer"] == 15, "timer 15 after a long press")
        time.sleep(LIFT_S)
        bench.finger.long_press("main")
        bench.wait_status(lambda doc: doc["sleep_timer"] == 30, "timer 30 after another")
        assert bench.status()["state"] == "stopped"  # a long press is not also a press

    assert harness.run(scenario) == 0


def test_the_led_blinks_the_timers_place_among_the_configured_presets(
    harness: Harness,
) -> None:
    def scenario(bench: Bench) -> None:
        controls = bench.adapter.controls
        bench.finger.long_press("main")
        bench.wait_status(lambda doc: doc["sleep_timer"] == 10, "timer 10 after a long press")
        time.sleep(LIFT_S)
        bench.finger.long_press("main")
        bench.wait_status(lambda doc: doc["sleep_timer"] == 20, "timer 20 after another")

        def pulses() -> int:
            # The LED's level is a pure function of time: read the whole blink at once.
            end = controls.led.blink_end_s()
            levels = [controls.led.level(end - 5.0 + i * 0.01) for i in range(501)]
            return sum(1 for a, b in itertools.pairwise(levels) if a < 0.2 <= b)

        # 20 is the second of [10, 20]: two blinks (the default presets would give one).
        wait_until(lambda: pulses() == 2, "two blinks for the second preset")

    presets = "[sleep]\npresets_min = [10, 20]\n"
    assert harness.run(scenario, WIDE_WINDOWS + presets) == 0


def test_the_knobs_push_switch_is_a_button_of_its_own(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        bench.finger.click("encoder")
        bench.wait_status(lambda doc: doc["state"] == "playing", "playing after a knob push")
        wait_until(
            lambda: {"event_type": "single", "button": "encoder"} in bench.recorder.gestures(),
            "the knob push's event",
        )

    assert harness.run(scenario) == 0


def test_the_knobs_push_plays_the_next_preset_while_stopped(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        bench.finger.click("encoder")
        doc = bench.wait_status(lambda d: d["state"] == "playing", "playing after a knob push")
        assert (doc["preset"], doc["sound"], doc["volume"]) == ("bath", "rain", 21)
        time.sleep(LIFT_S)
        bench.finger.click("encoder")  # playing: the push stops, as the button's press does
        bench.wait_status(lambda d: d["state"] != "playing", "stopping after a second push")

    presets = '[presets.bath]\nsound = "rain"\nvolume = 21\n'
    assert harness.run(scenario, WIDE_WINDOWS + presets) == 0


def test_gesture_events_reach_the_listeners_on_the_loop_thread(harness: Harness) -> None:
    def scenario(bench: Bench) -> None:
        bench.finger.double_click("main")
        time.sleep(LIFT_S)
        bench.finger.long_press("main")
        time.sleep(LIFT_S)
        bench.finger.click("main")
        wait_until(lambda: len(bench.recorder.gestures()) >= 3, "three gesture events")
        assert bench.recorder.gestures() == [
            {"event_type": "double", "button": "main"},
            {"event_type": "long", "button": "main"},
            {"event_type": "single", "button": "main"},
        ]
        threads = {name for event, name in bench.recorder.events if "button" in event}
        assert threads == {"MainThread"}  # where the daemon's loop runs

    assert harness.run(scenario) == 0


def test_gesture_events_are_published_on_mqtt(harness: Harness, mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    ha = HomeAssistant(mqtt_probe(broker), "sleepsound/bedside")
    mqtt = f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "bedside"\n'

    def scenario(bench: Bench) -> None:
        ha.wait_online()
        bench.finger.click("main")
        message = ha.probe.wait_for("sleepsound/bedside/event", None, WAIT_S)
        assert json.loads(message.payload) == {"event_type": "single", "button": "main"}
        assert not message.retain
        ha.state(lambda doc: doc["state"] == "playing")

    assert harness.run(scenario, WIDE_WINDOWS + mqtt) == 0


def test_a_bad_pin_is_logged_by_its_key_and_the_rest_still_works(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    bad = WIDE_WINDOWS.replace("pin = 23", 'pin = "GPIO40"') + "[led]\npin = 17\n"

    def scenario(bench: Bench) -> None:
        assert [b.name for b in bench.adapter.controls.buttons] == ["encoder"]
        start = bench.status()["volume"]
        bench.finger.turn(+3)  # the knob is fine
        bench.wait_status(lambda doc: doc["volume"] > start, "louder after turning right")
        bench.daemon.submit({"action": "play", "sound": "pink-noise"})
        bench.wait_status(lambda doc: doc["state"] == "playing", "playing")
        time.sleep(1.0)  # some sound into the recording (no timing is asserted)

    with caplog.at_level(logging.INFO):
        assert harness.run(scenario, bad) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    button = "controls.buttons[0].pin: GPIO40 is not a valid pin"
    assert any(m.startswith(button) for m in errors), errors
    assert any(
        m.startswith("led.pin: GPIO17 is already used by controls.encoder.a_pin") for m in errors
    ), errors
    assert any("2 wiring problem(s)" in m and "the sound carry on" in m for m in errors), errors
    samples, rate = read_recording(harness.record)
    assert block_levels_db(samples, rate).max() > SILENT_DB, "the sound did not play"


def _on_a_pi() -> bool:
    model = Path(controls_adapter.MODEL_FILE)
    return model.exists() and "Raspberry Pi" in model.read_text(errors="replace")


@pytest.mark.skipif(_on_a_pi(), reason="this machine has GPIO")
def test_without_gpio_run_says_so_once_and_plays(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    config = harness.config()
    env = {
        k: v for k, v in os.environ.items() if k not in ("GPIOZERO_PIN_FACTORY", "NOTIFY_SOCKET")
    }
    env["XDG_CACHE_HOME"] = str(CACHE_HOME)
    process = subprocess.Popen(
        [sys.executable, "-m", "sleepsound.cli", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        socket = str(tmp_path / "ctl.sock")
        wait_until(lambda: os.path.exists(socket), "the control socket", timeout_s=60.0)
        reply = wait_until(
            lambda: _try(lambda: request(socket, {"action": "play", "sound": "brown-noise"}, 10.0)),
            "an answer to play",
            timeout_s=60.0,
        )
        assert reply["status"] == "ok"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60.0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    lines = [line for line in output.splitlines() if "controls:" in line]
    assert len(lines) == 1 and "controls: off (no GPIO" in lines[0], output
    assert "PinFactoryFallback" not in output


def _try(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception:
        return None
