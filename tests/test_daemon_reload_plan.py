"""What a SIGHUP re-applies, planned from the old and the new config: no threads, no daemon.

The daemon carries the plan out (tests/test_daemon_reload.py hears it doing so); here
each rule of the plan is checked on its own, with every adapter and setting varied.
"""

from __future__ import annotations

import pytest

from sleepsound.config import Config, parse_toml
from sleepsound.daemon.adapters import ADAPTER_FACTORIES
from sleepsound.daemon.reload import lowered_ceiling, plan_reload

BASE = """
[audio]
output = "clock"
max_volume = 80
[mqtt]
host = "broker.local"
[controls]
enabled = true
[sleep]
presets_min = [15, 30, 60]
"""
RUNNING = [(factory, True) for factory in ADAPTER_FACTORIES]


def config(extra: str = "") -> Config:
    return parse_toml(BASE + extra)


def plan(old: Config, new: Config, *, missing: bool = False, running=RUNNING):
    return plan_reload(old, new, output_missing=missing, adapters=running)


def test_an_unchanged_config_reapplies_nothing_beyond_the_player() -> None:
    result = plan(config(), config())
    assert not result.reopen_sounds and not result.reopen_output
    assert result.next_restart == () and result.adapters == ()


@pytest.mark.parametrize(
    ("section", "changed", "restarted"),
    [
        ("[mqtt]\nport = 8883\n", "[mqtt]", "MQTT"),
        ("[controls]\nenabled = false\n", "[controls]", "controls"),
        ("[led]\nbrightness = 0.5\n", "[led]", "controls"),
        ("[sleep]\npresets_min = [20, 40]\n", "[sleep] presets_min", "controls"),
    ],
)
def test_only_the_adapter_whose_config_changed_restarts(
    section: str, changed: str, restarted: str
) -> None:
    old = config()
    new = parse_toml(_merged(BASE, section))
    steps = plan(old, new).adapters
    assert [(step.name, step.changed) for step in steps] == [(restarted, (changed,))]
    assert steps[0].log_line == f"reload: {changed} changed; restarting {restarted}"


def test_another_sleep_key_leaves_the_controls_alone() -> None:
    new = parse_toml(_merged(BASE, "[sleep]\nfade_min = 20\n"))
    assert plan(config(), new).adapters == ()


def test_an_adapter_that_is_not_running_is_tried_again() -> None:
    running = [(ADAPTER_FACTORIES[0], False), (ADAPTER_FACTORIES[1], True)]
    steps = plan(config(), config(), running=running).adapters
    assert [(step.index, step.changed, step.log_line) for step in steps] == [(0, (), None)]
    assert steps[0].failure == "reload: could not start MQTT"


@pytest.mark.parametrize(
    "audio",
    [
        'device = "hw:CARD=Device"',
        'record = "/tmp/night.wav"',
        "rate = 44100",
        "channels = 1",
        "period_frames = 2048",
        "periods = 8",
    ],
)
def test_a_device_key_reopens_the_output(audio: str) -> None:
    new = parse_toml(_merged(BASE, f"[audio]\n{audio}\n"))
    assert plan(config(), new).reopen_output


def test_a_level_key_does_not_reopen_the_output_but_a_missing_card_does() -> None:
    new = parse_toml(_merged(BASE, "[audio]\nmax_volume = 60\n"))
    assert not plan(config(), new).reopen_output
    assert plan(config(), config(), missing=True).reopen_output  # the card may be back


def test_the_sounds_section_reopens_the_library() -> None:
    new = parse_toml(_merged(BASE, '[sounds]\ndir = "/srv/sounds"\n'))
    assert plan(config(), new).reopen_sounds
    assert not plan(config(), config()).reopen_sounds


def test_the_socket_and_the_state_file_wait_for_a_restart() -> None:
    new = parse_toml(
        _merged(BASE, '[socket]\npath = "/tmp/x.sock"\n[state]\nfile = "/tmp/s.json"\n')
    )
    assert plan(config(), new).next_restart == ("[socket] path", "[state] file")


@pytest.mark.parametrize(
    ("ceiling", "applied"), [(50.0, 50.0), (80.0, None), (95.0, None), (None, None)]
)
def test_a_refused_config_still_lowers_the_ceiling_never_raises_it(
    ceiling: float | None, applied: float | None
) -> None:
    running = config()
    lowered = lowered_ceiling(running, ceiling)
    if applied is None:
        assert lowered is None
    else:
        assert lowered is not None and lowered.audio.max_volume == applied
        assert lowered.mqtt == running.mqtt  # only the ceiling changes


def _merged(base: str, extra: str) -> str:
    """``base`` with the keys of ``extra`` set (same section names merge, later wins)."""
    sections: dict[str, dict[str, str]] = {}
    order: list[str] = []
    for text in (base, extra):
        current = ""
        for line in text.strip().splitlines():
            if line.startswith("["):
                current = line
                if current not in sections:
                    sections[current] = {}
                    order.append(current)
            elif "=" in line:
                key = line.split("=", 1)[0].strip()
                sections[current][key] = line
    return "\n".join(f"{name}\n" + "\n".join(sections[name].values()) for name in order) + "\n"
