"""The daemon's health check notices a control socket whose thread died and serves again.

The daemon runs in this process (as in test_controls_daemon); its socket thread is
ended the hard way, by a ``BaseException`` out of ``submit`` that no ``except
Exception`` stops, and ``sleepsound ctl`` must work again without a restart.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from daemon_helpers import CACHE_HOME, run_on_mock_pins
from sleepsound.commands import Command
from sleepsound.config import load_config
from sleepsound.control_socket.client import request
from sleepsound.daemon import Daemon
from sleepsound.errors import ControlError
from support.waiting import wait_until


class _Die(BaseException):
    """Gets past every ``except Exception``: the serving thread ends."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_health_check_revives_a_dead_control_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    short_dir = Path(tempfile.mkdtemp(prefix="ssh-"))  # UNIX socket paths must stay short
    socket_path = short_dir / "ctl.sock"
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[audio]\noutput = "clock"\n'
        f'[socket]\npath = "{socket_path}"\n'
        f'[state]\nfile = "{tmp_path / "state.json"}"\n'
        f'[sounds]\ndir = "{tmp_path / "sounds"}"\n'
    )
    submit = Daemon.submit

    def poisoned(self: Daemon, command: object, reply: object = None) -> None:
        if isinstance(command, Command) and command.transaction == "die":
            raise _Die
        submit(self, command, reply)  # type: ignore[arg-type]

    monkeypatch.setattr(Daemon, "submit", poisoned)
    pins = MockFactory()
    daemon = Daemon(
        load_config(str(config_file)),
        environ={"XDG_CACHE_HOME": str(CACHE_HOME)},
        pin_factory=pins,
        health_check_s=0.2,  # checked often: the test need not wait for a real device's 10 s
    )
    path = str(socket_path)

    def scenario() -> None:
        wait_until(lambda: daemon.status().get("state"), "the first state document")
        assert request(path, {"action": "status"})["status"] == "ok"
        with pytest.raises(ControlError):  # the thread dies on this one: no answer
            request(path, {"action": "status", "transaction": "die"}, timeout_s=2)
        wait_until(lambda: "serving again" in caplog.text, "the health check to restart the socket")
        assert request(path, {"action": "status"})["status"] == "ok"

    try:
        with caplog.at_level(logging.INFO, logger="sleepsound"):
            assert run_on_mock_pins(daemon, pins, scenario) == 0
    finally:
        shutil.rmtree(short_dir, ignore_errors=True)
    assert caplog.text.count("serving again") == 1
    assert "the control socket stopped serving" in caplog.text
