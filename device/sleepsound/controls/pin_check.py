"""Pins checked against the Raspberry Pi's 40-pin header, without touching any GPIO.

``sleepsound check-config`` uses this so a pin that no Pi has (``"GPIO99"``), a power
or ground pin (``"BOARD1"``) or one pin given to two keys is named before the device
is wired. The daemon itself still starts with such a config (a wiring mistake must
never stop the sound): :mod:`sleepsound.controls.wiring` reports the same mistakes
then, against the board it really runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

HEADER_REVISION: Final = "a02082"
"""A Pi 3B: its 40-pin header is the one every Pi since the B+ has (GPIO0-27)."""


def pin_keys(controls: Any, led: Any) -> Iterator[tuple[str, int | str]]:
    """Each enabled control's config key and pin, in the order the daemon claims them."""
    if not controls.enabled:
        return
    for index, button in enumerate(controls.buttons):
        if button.enabled:
            yield f"controls.buttons[{index}].pin", button.pin
    encoder = controls.encoder
    if encoder.enabled:
        yield "controls.encoder.a_pin", encoder.a_pin
        yield "controls.encoder.b_pin", encoder.b_pin
        if encoder.button.enabled:
            yield "controls.encoder.button.pin", encoder.button.pin
    if controls.pot.enabled:
        yield "controls.pot.select_pin", controls.pot.select_pin
    if led.enabled:
        yield "led.pin", led.pin


def header_problems(controls: Any, led: Any) -> list[str]:
    """One line per pin the 40-pin header cannot give: the key, what is wrong, the fix."""
    from gpiozero import pi_info  # only when pins are checked

    board = pi_info(HEADER_REVISION)
    problems: list[str] = []
    claimed: dict[str, str] = {}
    for key, pin in pin_keys(controls, led):
        try:
            name = str(board.to_gpio(pin))
        except Exception as error:
            problems.append(
                f"{key}: {error} on the Raspberry Pi's 40-pin header; use a BCM GPIO number "
                'from 0 to 27 such as 17, or a name such as "GPIO17" or "BOARD11" '
                "(see the pin table in hardware/README.md)"
            )
            continue
        if name in claimed:
            problems.append(
                f"{key}: {name} is already used by {claimed[name]}; give each its own pin "
                "(see the pin table in hardware/README.md)"
            )
            continue
        claimed[name] = key
    return problems
