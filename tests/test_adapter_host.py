"""Adapters see a narrow host, not the daemon; what tests swap is injected, not global.

The controls adapter is started here from a bare :class:`AdapterHost` on gpiozero's mock
pins: a click reaches ``host.submit`` and the LED follows ``on_status``, with no daemon
running. The MQTT package is importable without paho, and the one output verb opens
the clock output the way ``[audio]`` says.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from gpiozero.pins.mock import MockPWMPin

from sleepsound import outputs
from sleepsound.adapter_host import AdapterHost
from sleepsound.config import defaults, parse_toml
from sleepsound.controls.adapter import ControlsAdapter, start_adapter
from support.pins import InstantBounceFinger, PinClock
from support.waiting import wait_until


def test_the_controls_run_on_a_bare_host_with_injected_pins() -> None:
    pins = PinClock(pin_class=MockPWMPin)
    submitted: queue.SimpleQueue[tuple[object, Any]] = queue.SimpleQueue()
    listeners: list[Any] = []
    started: list[ControlsAdapter] = []
    host = AdapterHost(
        config=defaults(),
        submit=lambda command, reply: submitted.put((command, reply)),
        emit_event=lambda event: None,
        add_listener=listeners.append,
        pin_factory=pins,
        on_controls_started=started.append,
    )
    adapter = start_adapter(host)
    try:
        assert adapter is not None and started == [adapter] and listeners == [adapter]
        InstantBounceFinger(pins, adapter.controls).click("main")
        command, reply = submitted.get(timeout=30)
        assert command == {"action": "toggle"} and callable(reply)
        adapter.on_status({"state": "playing", "sleep_timer": 0, "volume": 30})
        wait_until(lambda: adapter.controls.led_level > 0, "the LED to follow the state")
    finally:
        if adapter is not None:
            adapter.stop()
        pins.close()


def test_switched_off_controls_add_nothing_to_the_host() -> None:
    listeners: list[Any] = []
    host = AdapterHost(
        config=parse_toml("[controls]\nenabled = false\n"),
        submit=lambda command, reply: None,
        emit_event=lambda event: None,
        add_listener=listeners.append,
        pin_factory=PinClock(pin_class=MockPWMPin),
    )
    assert start_adapter(host) is None and listeners == []


def test_importing_the_mqtt_package_and_its_pure_parts_loads_no_paho() -> None:
    code = (
        "import sys, json, sleepsound.mqtt, sleepsound.mqtt.topics, sleepsound.mqtt.payloads\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('paho'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_open_output_records_the_clock_unless_it_stands_in_for_a_card(tmp_path: Path) -> None:
    record = tmp_path / "night.wav"
    audio = parse_toml(f'[audio]\noutput = "clock"\nrecord = "{record}"\n').audio
    block = np.full((audio.period_frames, audio.channels), 0.25, dtype=np.float32)
    stand_in = outputs.open_output(audio, clock_instead=True)
    stand_in.write(block)
    stand_in.close()
    assert not record.exists()  # a stand-in for a missing card records nothing
    output = outputs.open_output(audio)
    output.write(block)
    output.close()
    frames, rate = soundfile.read(str(record))
    assert rate == audio.rate and len(frames) == audio.period_frames
    assert np.abs(frames).max() > 0.2
