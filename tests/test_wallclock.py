"""A wall-clock jump (NTP's first sync on a Pi without a clock battery, ``date -s``)
re-publishes the state, so ``timer_ends_at`` in Home Assistant is right again without
waiting for the next change. The decision is pure; the daemon's part runs the real
daemon in this process with a wall clock the test moves."""

from __future__ import annotations

import calendar
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from daemon_helpers import CACHE_HOME, run_on_mock_pins
from sleepsound.config import load_config
from sleepsound.daemon import Daemon
from sleepsound.wallclock import JUMP_TOLERANCE_S, jumped
from support.waiting import wait_for


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((1000.0, 10.0), (1005.0, 15.0), False),  # both moved together: time passed
        ((1000.0, 10.0), (1000.0, 10.0), False),  # no time at all
        ((1000.0, 10.0), (1060.3, 70.0), False),  # NTP slewing: a fraction of a second
        ((1000.0, 10.0), (4605.0, 15.0), True),  # a step forward by an hour
        ((1_700_000_000.0, 10.0), (5.0, 15.0), True),  # back to 1970 (a dead clock battery)
        ((5.0, 10.0), (1_700_000_000.0, 15.0), True),  # and NTP's first sync after that
        ((1000.0, 10.0), (1003.0, 15.0), True),  # back by 2 s while 5 s passed
        ((1000.0, 10.0), (1000.0 + JUMP_TOLERANCE_S + 0.01, 10.0), True),  # just past it
        ((1000.0, 10.0), (1000.0 + JUMP_TOLERANCE_S - 0.01, 10.0), False),  # just within
    ],
)
def test_a_jump_is_the_wall_clock_moving_against_the_monotonic_one(
    before: tuple[float, float], after: tuple[float, float], expected: bool
) -> None:
    assert jumped(before, after) is expected
    assert jumped(after, before) is expected  # the same either way round


class _Documents:
    """A daemon listener keeping every state document it is told."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def on_status(self, document: Any) -> None:
        """Keep a copy."""
        with self._lock:
            self.documents.append(dict(document))

    def on_event(self, event: Any) -> None:
        """Not needed here."""

    def latest(self) -> dict[str, Any]:
        """The last document told (empty before the first)."""
        with self._lock:
            return self.documents[-1] if self.documents else {}


def _epoch(iso: str) -> int:
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ"))


@pytest.mark.parametrize("jump_s", [3600.0, -86400.0, 5.0])
def test_the_daemon_republishes_timer_ends_at_after_a_jump(tmp_path: Path, jump_s: float) -> None:
    # The loop looks at the clocks whenever it wakes; with nothing to do it wakes for its
    # health check, made frequent here so the test is quick.
    shift = [0.0]
    (tmp_path / "config.toml").write_text(
        '[audio]\noutput = "clock"\n'
        f'[socket]\npath = "{tmp_path / "ctl.sock"}"\n'
        f'[state]\nfile = "{tmp_path / "state.json"}"\n'
        f'[sounds]\ndir = "{tmp_path / "sounds"}"\n'
    )
    config = load_config(str(tmp_path / "config.toml"))
    pins = MockFactory()
    daemon = Daemon(
        config,
        environ={"XDG_CACHE_HOME": str(CACHE_HOME)},
        wall_clock=lambda: time.time() + shift[0],
        pin_factory=pins,
        health_check_s=0.2,
    )
    documents = _Documents()
    daemon.add_listener(documents)

    def scenario() -> None:
        replied = threading.Event()
        command = {"action": "play", "sound": "pink-noise", "sleep_timer": 30}
        daemon.submit(command, lambda reply: replied.set())
        assert replied.wait(30), "the play command got no reply"
        before = wait_for(documents.latest, lambda d: d.get("timer_ends_at"), "a running timer")[
            "timer_ends_at"
        ]
        shift[0] = jump_s  # the clock steps; nothing else happens
        after = wait_for(
            documents.latest,
            lambda d: abs(_epoch(d["timer_ends_at"]) - (_epoch(before) + jump_s)) <= 2,
            f"timer_ends_at to move by {jump_s:+g} s",
        )
        assert after["state"] == "playing" and after["sleep_timer"] == 30
        assert daemon.status()["timer_ends_at"] == after["timer_ends_at"]

    assert run_on_mock_pins(daemon, pins, scenario) == 0
