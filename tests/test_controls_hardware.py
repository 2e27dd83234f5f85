"""The gpiozero adapter on gpiozero's own MockFactory, driven as a finger would.

Timing windows are tested exactly in test_controls_gestures.py; here the windows are
wide (hold 0.6 s, double 0.8 s, a click lasts 0.1 s) and every wait is generous, so
a loaded machine cannot turn a click into something else. Waits poll for an outcome
and give up after seconds; "nothing more happened" is checked after a pause longer
than every window. The finger's contact bounce takes no time on the pins' clock, as
on a Pi (see :mod:`support.pins`), so a load that stretches the finger's sleeps cannot
stretch a bounce into an extra click either.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device, InputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin, MockSPIDevice
from gpiozero.pins.pi import PiPin

from sleepsound.config import parse_config, parse_toml
from sleepsound.controls.hardware import Controls
from sleepsound.controls.led import duty_for
from sleepsound.controls.schema import ButtonConfig, ControlsConfig, LedConfig
from support.pins import InstantBounceFinger, PinClock
from support.waiting import wait_for, wait_until

HOLD_S = 0.6
DOUBLE_S = 0.8
QUIET_S = 1.2  # longer than every window: what has not happened by then, will not

EXAMPLE = Path(__file__).parent.parent / "device" / "sleepsound" / "data" / "config.example.toml"


def button(name: str = "main", pin: Any = "GPIO23", **extra: Any) -> ButtonConfig:
    return ButtonConfig(name=name, pin=pin, hold_time_s=HOLD_S, double_time_s=DOUBLE_S, **extra)


def controls_config(**extra: Any) -> ControlsConfig:
    values: dict[str, Any] = {
        "buttons": (button(),),
        "encoder": {"button": {"hold_time_s": HOLD_S, "double_time_s": DOUBLE_S}},
    }
    values.update(extra)
    return ControlsConfig(**values)


class Recorder:
    """What the daemon would receive: commands and events, in order, thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.commands: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def submit(self, command: dict[str, Any]) -> None:
        with self.lock:
            self.commands.append(command)

    def emit_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(event)

    def __repr__(self) -> str:
        with self.lock:
            return f"Recorder(commands={self.commands}, events={self.events})"

    def wait_for(
        self, predicate: Callable[[Recorder], bool], what: str = "the expected commands"
    ) -> None:
        """Wait until ``predicate(self)`` holds (checked under the lock); fail showing all."""

        def holds(recorder: Recorder) -> bool:
            with recorder.lock:
                return predicate(recorder)

        wait_for(lambda: self, holds, what)


@pytest.fixture
def factory() -> Iterator[PinClock]:
    # MockPWMPin: every pin can also do PWM, so the LED works alongside the buttons.
    f = PinClock(pin_class=MockPWMPin)
    yield f
    f.reset()


@pytest.fixture
def make_controls(factory: PinClock) -> Iterator[Callable[..., tuple[Controls, Recorder]]]:
    built: list[Controls] = []

    def make(
        controls: ControlsConfig | None = None,
        led: LedConfig | None = None,
        *,
        on: MockFactory | None = None,
        start: bool = True,
        submit: Callable[[dict[str, Any]], object] | None = None,
    ) -> tuple[Controls, Recorder]:
        recorder = Recorder()
        c = Controls(
            controls if controls is not None else controls_config(),
            led,
            submit=submit or recorder.submit,
            emit_event=recorder.emit_event,
            pin_factory=on or factory,
        )
        built.append(c)
        if start:
            c.start()
        return c, recorder

    yield make
    for c in built:
        c.close()


# -- gestures through the pins ----------------------------------------------------------


def test_a_click_toggles_play_and_publishes_a_single_press(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    InstantBounceFinger(factory, controls).click("main")
    rec.wait_for(lambda r: len(r.events) == 1)
    time.sleep(QUIET_S)
    assert rec.commands == [{"action": "toggle"}]
    assert rec.events == [{"event_type": "single", "button": "main"}]


def test_a_double_click_goes_to_the_next_sound(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    InstantBounceFinger(factory, controls).double_click("main")
    rec.wait_for(lambda r: len(r.events) == 1)
    time.sleep(QUIET_S)
    assert rec.commands == [{"action": "next"}]
    assert rec.events == [{"event_type": "double", "button": "main"}]


def test_a_long_press_cycles_the_timer_while_the_button_is_still_down(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    finger = InstantBounceFinger(factory, controls)
    finger.press("main")
    rec.wait_for(lambda r: r.commands == [{"action": "timer_cycle"}])
    assert factory.pin("GPIO23").state is False  # not released yet
    finger.release("main")
    time.sleep(QUIET_S)
    assert rec.commands == [{"action": "timer_cycle"}]
    assert rec.events == [{"event_type": "long", "button": "main"}]


def test_several_buttons_each_send_their_own_commands(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    config = controls_config(
        buttons=(
            button(),
            button("scene", 24, single={"sound": "rain"}, double={}, long={"volume": 20}),
        )
    )
    controls, rec = make_controls(config)
    finger = InstantBounceFinger(factory, controls)
    finger.click("scene")
    rec.wait_for(lambda r: len(r.events) == 1)
    finger.double_click("scene")  # mapped to {}: only the event
    rec.wait_for(lambda r: len(r.events) == 2)
    finger.click("main")
    rec.wait_for(lambda r: len(r.events) == 3)
    time.sleep(QUIET_S)
    assert rec.commands == [{"sound": "rain"}, {"action": "toggle"}]
    assert rec.events == [
        {"event_type": "single", "button": "scene"},
        {"event_type": "double", "button": "scene"},
        {"event_type": "single", "button": "main"},
    ]


def test_a_button_wired_to_3v3_instead_of_ground_works_with_pull_up_false(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    config = controls_config(buttons=(button(pull_up=False),))
    controls, rec = make_controls(config)
    InstantBounceFinger(factory, controls).click("main")
    rec.wait_for(lambda r: r.commands == [{"action": "toggle"}])


def test_a_daemon_that_raises_does_not_stop_the_controls(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    def refuse(command: dict[str, Any]) -> None:
        raise RuntimeError("daemon busy")

    controls, rec = make_controls(submit=refuse)
    finger = InstantBounceFinger(factory, controls)
    finger.click("main")
    rec.wait_for(lambda r: len(r.events) == 1)
    finger.long_press("main")
    rec.wait_for(lambda r: len(r.events) == 2)
    assert [e["event_type"] for e in rec.events] == ["single", "long"]


# -- the encoder ------------------------------------------------------------------------


def test_turning_the_knob_steps_the_volume_once_per_detent_both_ways(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    finger = InstantBounceFinger(factory, controls)
    finger.turn(3, detent_s=0.3)  # slow: no acceleration
    rec.wait_for(lambda r: len(r.commands) == 3)
    finger.turn(-2, detent_s=0.3)
    rec.wait_for(lambda r: len(r.commands) == 5)
    time.sleep(0.3)
    assert rec.commands == [{"volume_step": 2}] * 3 + [{"volume_step": -2}] * 2
    assert rec.events == []  # turning is no gesture


def test_a_fast_turn_still_counts_every_detent_once(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    InstantBounceFinger(factory, controls).turn(12, detent_s=0.02)
    rec.wait_for(lambda r: len(r.commands) == 12)
    time.sleep(0.3)
    steps = [c["volume_step"] for c in rec.commands]
    assert len(steps) == 12 and all(s > 0 for s in steps)


def test_wiggling_the_knob_on_a_detent_changes_nothing(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, rec = make_controls()
    pins = controls.encoder_pins
    assert pins is not None
    a = factory.pin(pins[0])
    for _ in range(25):
        a.drive_low()
        a.drive_high()
    time.sleep(0.3)
    assert rec.commands == []


def test_the_encoder_push_switch_is_a_button_of_its_own(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    config = controls_config(
        encoder={
            "button": {"hold_time_s": HOLD_S, "double_time_s": DOUBLE_S, "single": {"layer": "on"}}
        }
    )
    controls, rec = make_controls(config)
    InstantBounceFinger(factory, controls).click("encoder")
    rec.wait_for(lambda r: len(r.events) == 1)
    assert rec.commands == [{"layer": "on"}]
    assert rec.events == [{"event_type": "single", "button": "encoder"}]


# -- the potentiometer ------------------------------------------------------------------


class FakeMCP3008(MockSPIDevice):
    """The chip's side of an MCP3008 conversation on the mock SPI pins.

    The Pi clocks out a start bit, a single-ended bit and three channel bits; the chip
    answers with a null bit and ten bits of the channel's voltage.
    """

    def __init__(self, factory: PinClock, vref: float = 3.3) -> None:
        super().__init__(11, 10, 9, 8, pin_factory=factory)
        self.vref = vref
        self.volts = [0.0] * 8
        self.stage = "start"

    def on_start(self) -> None:
        super().on_start()
        self.stage = "start"

    def on_bit(self) -> None:
        if self.stage == "start":
            if self.rx_buf[-1]:
                self.stage, self.rx_buf = "mode", []
        elif self.stage == "mode":
            self.stage, self.rx_buf = "channel", []
        elif self.stage == "channel" and len(self.rx_buf) == 3:
            volts = self.volts[self.rx_word()]
            counts = round(min(1.0, max(0.0, volts / self.vref)) * 1023)
            self.tx_word(counts, 12)
            self.stage = "reply"


def test_the_potentiometer_sets_the_volume_only_when_turned(
    make_controls: Callable[..., tuple[Controls, Recorder]],
) -> None:
    # The SPI mock needs plain MockPins (its clock pin is not a PWM pin).
    plain = MockFactory()
    adc = FakeMCP3008(plain)
    adc.volts[0] = 1.2
    config = controls_config(buttons=(), encoder={"enabled": False}, pot={"enabled": True})
    controls, rec = make_controls(config, LedConfig(enabled=False), on=plain)
    assert controls.problems == []
    time.sleep(0.5)
    assert rec.commands == []  # at rest since start-up: the saved volume stands
    adc.volts[0] = 3.3 * 0.75
    expected = (0.75 - 0.02) / 0.96 * 100
    # Hysteresis lets the volume rest up to 1.5 points (plus rounding) short of the
    # knob's exact position, depending on where the polls fell during the turn.
    rec.wait_for(lambda r: bool(r.commands) and abs(r.commands[-1]["volume"] - expected) <= 2)
    time.sleep(0.5)  # the moving average has settled
    count = len(rec.commands)
    for i in range(40):  # a knob at rest with a count or two of noise
        adc.volts[0] = 3.3 * 0.75 + (i % 3 - 1) * 3.3 / 1023
        time.sleep(0.02)
    assert len(rec.commands) == count
    plain.reset()


# -- the LED ----------------------------------------------------------------------------


def test_the_led_is_dim_while_playing_blinks_for_a_new_timer_and_goes_dark(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, _ = make_controls()
    pin = factory.pin("GPIO26")
    dim = duty_for(0.08)
    controls.show_state({"state": "playing", "sleep_timer": 0})
    wait_until(lambda: pin.state == pytest.approx(dim), "the LED dim while playing")
    assert controls.led_level == pytest.approx(0.08)
    steady = len(pin.states)
    controls.show_state({"state": "playing", "sleep_timer": 30})
    # A blink is far above the steady level. It is looked for in the pin's history, not
    # its present state, so a test thread that wakes late cannot miss it.
    wait_until(lambda: any(s.state > 10 * dim for s in pin.states[steady:]), "a blink")
    wait_until(lambda: pin.state == pytest.approx(dim), "the LED back to dim after the blink")
    controls.show_state({"state": "stopped", "sleep_timer": 30})
    wait_until(lambda: pin.state == 0, "the LED dark once stopped")
    controls.close()
    assert pin.state == 0


def test_the_first_state_and_a_timer_that_ends_the_night_do_not_blink() -> None:
    controls = Controls(ControlsConfig(enabled=False), submit=lambda c: None)
    controls.show_state({"state": "playing", "sleep_timer": 45})
    assert controls.led.blink_end_s() < 0.5
    controls.show_state({"state": "fading_out", "sleep_timer": 0})
    assert controls.led.blink_end_s() < 0.5
    controls.show_state({"state": "stopped", "sleep_timer": 0})
    assert controls.led.blink_end_s() < 0.5
    # A long press while stopped picks a timer: that is confirmed.
    controls.show_state({"state": "stopped", "sleep_timer": 15})
    assert controls.led.blink_end_s() > 1.0


def test_a_led_at_brightness_zero_stays_dark_while_playing(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, _ = make_controls(led=LedConfig(brightness=0.0))
    controls.show_state({"state": "playing", "sleep_timer": 0})
    time.sleep(0.3)
    assert factory.pin("GPIO26").state == 0


# -- bad pin configs --------------------------------------------------------------------


def problems_of(
    factory: PinClock, config: ControlsConfig, led: LedConfig | None = None
) -> list[str]:
    controls = Controls(config, led, submit=lambda c: None, pin_factory=factory)
    controls.close()
    return controls.problems


def test_a_pin_used_twice_is_named_and_the_rest_still_works(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    config = controls_config(buttons=(button(), button("second", "GPIO17")))
    controls, rec = make_controls(config)
    assert controls.problems == [
        "controls.encoder.a_pin: GPIO17 is already used by controls.buttons[1].pin; give each "
        "its own pin (see the pin table in hardware/README.md)"
    ]
    assert controls.encoder_pins is None
    assert set(controls.button_pins) == {"main", "second", "encoder"}
    InstantBounceFinger(factory, controls).click("main")
    rec.wait_for(lambda r: r.commands == [{"action": "toggle"}])


def test_the_same_pin_under_two_names_is_a_duplicate(factory: PinClock) -> None:
    config = controls_config(buttons=(button(pin=23), button("b", "BOARD16")))
    [problem] = problems_of(factory, config)
    assert problem.startswith("controls.buttons[1].pin: GPIO23 is already used by")


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        ("GPIOX", "GPIOX is not a valid pin name"),
        ("GPIO40", "GPIO40 is not a valid pin name"),
        (99, "99 is not a valid pin name"),
        ("BOARD1", "BOARD1 is not a GPIO pin"),
    ],
)
def test_a_pin_the_board_lacks_is_named_with_the_fix(
    factory: PinClock, pin: Any, words: str
) -> None:
    [problem] = problems_of(factory, controls_config(buttons=(button(pin=pin),)))
    assert problem.startswith(f"controls.buttons[0].pin: {words} on this Raspberry Pi 3B")
    assert "0-27" in problem and "hardware/README.md" in problem


def test_the_led_on_a_pin_the_pot_needs_for_spi_is_refused(factory: PinClock) -> None:
    config = controls_config(buttons=(), encoder={"enabled": False}, pot={"enabled": True})
    problems = problems_of(factory, config, LedConfig(pin=9))
    assert problems == [
        "led.pin: GPIO9 is already used by controls.pot (SPI MISO); give each its own pin "
        "(see the pin table in hardware/README.md)"
    ]


def test_a_pin_another_program_holds_is_a_problem_not_a_crash(factory: PinClock) -> None:
    squatter = InputDevice(23, pin_factory=factory)
    [problem] = problems_of(factory, controls_config())
    assert problem.startswith("controls.buttons[0].pin: cannot use the pin (GPIOPinInUse")
    squatter.close()


def test_a_bad_command_mapping_loses_that_command_but_not_the_event(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    config = controls_config(buttons=(button(double={"action": "nxt"}),))
    controls, rec = make_controls(config)
    [problem] = controls.problems
    assert problem.startswith("controls.buttons[0].double:")
    assert "next" in problem  # the suggestion
    InstantBounceFinger(factory, controls).double_click("main")
    rec.wait_for(lambda r: len(r.events) == 1)
    time.sleep(QUIET_S)
    assert rec.events == [{"event_type": "double", "button": "main"}]
    assert rec.commands == []


def test_two_buttons_with_one_name_are_refused(factory: PinClock) -> None:
    config = controls_config(buttons=(button(), button("main", 24)))
    [problem] = problems_of(factory, config)
    assert problem.startswith("controls.buttons[1].name:")


def test_without_any_gpio_driver_the_controls_are_off_with_one_clear_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-driver")
    controls = Controls(submit=lambda c: None)
    [problem] = controls.problems
    assert problem.startswith("controls: no GPIO driver could be loaded")
    assert "lgpio" in problem
    controls.tick()  # harmless
    assert controls.led_level == 0.0
    controls.close()


def test_the_same_config_works_on_a_pi_5(
    make_controls: Callable[..., tuple[Controls, Recorder]],
) -> None:
    pi5 = PinClock(revision="c04170", pin_class=MockPWMPin)
    controls, rec = make_controls(on=pi5)
    assert controls.problems == []
    InstantBounceFinger(pi5, controls).click("main")
    rec.wait_for(lambda r: r.commands == [{"action": "toggle"}])
    pi5.reset()


class WallClockPin(MockPWMPin):
    """A pin whose driver stamps edges with the wall clock instead of the factory's
    monotonic ticks (what lgpio's own clock is)."""

    def _call_when_changed(self) -> None:
        # The wall-clock time of the factory's moment (which stands still during a bounce).
        stamp = time.time() - time.monotonic() + self._factory.ticks()
        PiPin._call_when_changed(self, stamp, self._state)


def test_edges_stamped_on_another_clock_still_make_gestures(
    make_controls: Callable[..., tuple[Controls, Recorder]],
) -> None:
    odd = PinClock(pin_class=WallClockPin)
    controls, rec = make_controls(on=odd)
    finger = InstantBounceFinger(odd, controls)
    finger.click("main")
    rec.wait_for(lambda r: r.commands == [{"action": "toggle"}])
    finger.press("main")
    rec.wait_for(lambda r: r.commands[-1:] == [{"action": "timer_cycle"}])
    finger.release("main")
    odd.reset()


def test_controls_disabled_leave_every_pin_alone(factory: PinClock) -> None:
    controls = Controls(ControlsConfig(enabled=False), submit=lambda c: None, pin_factory=factory)
    assert controls.problems == []
    assert factory.pins == {}
    controls.close()


# -- config ---------------------------------------------------------------------------


def test_the_shipped_example_config_builds_the_default_controls_without_problems(
    make_controls: Callable[..., tuple[Controls, Recorder]],
) -> None:
    config = parse_toml(EXAMPLE.read_text(encoding="utf-8"))
    assert config.section("controls") == parse_config({}).section("controls")
    assert config.section("led") == parse_config({}).section("led")
    controls, _ = make_controls(config.section("controls"), config.section("led"), start=False)
    assert controls.problems == []
    assert controls.button_pins == {"main": "GPIO23", "encoder": "GPIO22"}
    assert controls.encoder_pins == ("GPIO17", "GPIO27")
    assert controls.led_pin == "GPIO26"


def test_a_toml_file_maps_gestures_to_any_command() -> None:
    config = parse_toml(
        """
        [[controls.buttons]]
        name = "bedside"
        pin = 17
        single = {action = "toggle", fade = 8}
        long = {action = "stop", fade = 30}
        double = {}

        [controls.encoder]
        step = 5
        reverse = true

        [led.breathing]
        enabled = true
        """
    )
    controls = config.section("controls")
    assert controls.buttons[0].single == {"action": "toggle", "fade": 8}
    assert controls.buttons[0].double == {}
    assert controls.encoder.step == 5 and controls.encoder.reverse
    assert config.section("led").breathing.enabled


def test_a_wake_light_on_its_own_pin_rises_with_the_wake(
    factory: PinClock, make_controls: Callable[..., tuple[Controls, Recorder]]
) -> None:
    controls, _ = make_controls(led=LedConfig(wake_pin=12))
    status, wake = factory.pin("GPIO26"), factory.pin("GPIO12")
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    controls.show_state(
        {
            "state": "playing",
            "sleep_timer": 0,
            "program": {"name": "weekday", "kind": "wake", "phase": "rising", "until": until},
        }
    )
    wait_until(lambda: 0.0 < wake.state < 1.0, "the wake light part-way up")
    wait_until(lambda: wake.state == pytest.approx(1.0), "the wake light full at the due time")
    rising = [s.state for s in wake.states]
    assert all(b >= a for a, b in itertools.pairwise(rising))  # only ever brighter
    assert status.state == pytest.approx(duty_for(0.08))  # the status LED stays dim
    controls.show_state({"state": "stopped", "sleep_timer": 0, "program": None})
    wait_until(lambda: wake.state == 0.0, "the wake light dark once dismissed")
    assert controls.problems == []
