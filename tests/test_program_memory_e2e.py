"""A real daemon (``sleepsound run``) restarted just after a program fired does not
start it again: the fired occurrence is read back from programs.json (issue 14's
follow-up). Fast: the program is due at the start of the current minute, so it is a
few seconds "late" and within ``grace_min`` when the daemon starts — no waiting for a
wall-clock minute. The counter-test, without the stored record, fires: the first
test can fail."""

from __future__ import annotations

import datetime as dt
import json
import signal
import time
from pathlib import Path

import pytest

from daemon_helpers import DaemonProcess, daemons_in

pytestmark = pytest.mark.slow

WATCH_S = 3.0
"""How long a test watches for a program start: more than the scheduler's STEP_S (2 s)
after READY, so a step has surely judged the occurrence."""


def due_this_minute() -> dt.datetime:
    """The start of the current UTC minute: a daily program "at" it is due seconds ago."""
    return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)


def program_config(due: dt.datetime) -> str:
    return (
        '[schedule]\ntimezone = "UTC"\ngrace_min = 15\nrequire_clock_sync = false\n'
        "[[programs]]\n"
        f'name = "nap"\nkind = "bedtime"\nat = "{due:%H:%M}"\ndays = "daily"\n'
        'sound = "brown-noise"\nvolume = 30\nfade_min = 1\ntimer_min = 30\n'
    )


def watch(daemon: DaemonProcess) -> dict | None:
    """The running program, as soon as the status shows one, or None after WATCH_S."""
    until = time.monotonic() + WATCH_S
    while time.monotonic() < until:
        running = daemon.status()["program"]
        if running is not None:
            return running
        time.sleep(0.2)
    return None


def judged(daemon: DaemonProcess) -> list[dict]:
    return json.loads((daemon.directory / "programs.json").read_text()).get("judged", [])


def iso(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_stored_fired_occurrence_does_not_start_again(tmp_path: Path) -> None:
    due = due_this_minute()
    with daemons_in(tmp_path) as make:
        daemon = make(program_config(due))
        record = {"program": "nap", "due": iso(due)}
        store = {"version": 1, "programs": [], "skip_next": [], "judged": [record]}
        (daemon.directory / "programs.json").write_text(json.dumps(store))
        daemon.start()
        assert watch(daemon) is None, daemon.log_text()
        status = daemon.status()
        assert status["next_program"]["at"] == iso(due + dt.timedelta(days=1))
        assert status["state"] != "playing"
        assert "program_started" not in daemon.log_text()
        assert "skipped" not in daemon.log_text()  # nor reported missed
        assert record in judged(daemon)


def test_without_the_record_it_fires_and_neither_a_reload_nor_a_restart_fires_it_again(
    tmp_path: Path,
) -> None:
    due = due_this_minute()
    with daemons_in(tmp_path) as make:
        daemon = make(program_config(due))
        daemon.start()
        running = watch(daemon)
        assert running is not None and running["name"] == "nap", daemon.log_text()
        assert {"program": "nap", "due": iso(due)} in judged(daemon)
        # A reload keeps the memory too: stopped, then SIGHUP, it does not start again.
        assert daemon.request({"action": "stop"})["status"] == "ok"
        daemon.signal(signal.SIGHUP)
        until = time.monotonic() + 10
        while "config reloaded" not in daemon.log_text() and time.monotonic() < until:
            time.sleep(0.1)
        assert watch(daemon) is None, daemon.log_text()
        assert daemon.log_text().count("program_started") == 1
        assert daemon.terminate() == 0
        before = daemon.log_text()
        daemon.start()  # the restart, seconds later and well within grace_min
        assert watch(daemon) is None, daemon.log_text()
        assert daemon.status()["next_program"]["at"] == iso(due + dt.timedelta(days=1))
        assert daemon.log_text()[len(before) :].count("program_started") == 0
