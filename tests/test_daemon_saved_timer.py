"""A saved absurd sleep timer (``1e-300`` minutes, from an older version) is ignored at
start-up with a log line; it never makes every later play end at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from daemon_helpers import daemons_in

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("minutes", [1e-300, 0.5])
def test_a_saved_timer_below_a_minute_is_ignored(tmp_path: Path, minutes: float) -> None:
    with daemons_in(tmp_path) as make:
        daemon = make()
        daemon.state_file.write_text(
            json.dumps({"version": 1, "volume": 20, "sound": "pink-noise", "sleep_timer": minutes})
        )
        daemon.start()
        assert "sleep_timer" in daemon.log_text() and "below 1 minute" in daemon.log_text()
        assert daemon.request({"action": "play"}) == {"status": "ok"}
        doc = daemon.status()
        assert (doc["volume"], doc["sleep_timer"], doc["timer_ends_at"]) == (20, 0, None)
        time.sleep(1.0)  # a timer of 1e-300 minutes would have ended the play long ago
        assert daemon.status()["state"] == "playing"
