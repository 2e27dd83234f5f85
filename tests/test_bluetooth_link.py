"""Disconnecting a headband through a fake ``bluetoothctl`` on PATH: run, timed out, logged."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from sleepsound.outputs.bluetooth_link import BluetoothLink

HEADBAND = "01:23:45:67:89:AB"


def fake_bluetoothctl(folder: Path, body: str) -> Path:
    """Write an executable ``bluetoothctl`` that logs its arguments, then runs ``body``."""
    folder.mkdir(exist_ok=True)
    script = folder / "bluetoothctl"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{folder / "calls"}"\n{body}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Put a fake bluetoothctl with ``body`` first on PATH; return its folder."""

    def install(body: str) -> Path:
        folder = fake_bluetoothctl(tmp_path / "bin", body)
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
        return folder

    return install


def calls(folder: Path) -> list[str]:
    path = folder / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_disconnects_the_headband_by_address(on_path, caplog) -> None:
    folder = on_path(
        f'echo "Attempting to disconnect from {HEADBAND}"; echo "Successful disconnected"'
    )
    with caplog.at_level(logging.INFO, logger="sleepsound"):
        assert BluetoothLink().disconnect("01:23:45:67:89:ab") is True
    assert calls(folder) == [f"disconnect {HEADBAND}"]
    assert f"disconnected the Bluetooth device {HEADBAND}" in caplog.text


def test_a_device_that_is_not_connected_is_logged_not_raised(on_path, caplog) -> None:
    on_path(f'echo "Device {HEADBAND} not available"; exit 1')
    with caplog.at_level(logging.WARNING, logger="sleepsound"):
        assert BluetoothLink().disconnect(HEADBAND) is False
    assert f"disconnecting {HEADBAND} failed" in caplog.text and "not available" in caplog.text


def test_a_failure_reported_with_exit_status_zero_is_still_a_failure(on_path, caplog) -> None:
    on_path('echo "Failed to disconnect: org.bluez.Error.Failed"')  # older bluez exits 0
    with caplog.at_level(logging.WARNING, logger="sleepsound"):
        assert BluetoothLink().disconnect(HEADBAND) is False
    assert "Failed to disconnect" in caplog.text


def test_a_hanging_bluetoothctl_is_given_up_after_the_timeout(on_path, caplog) -> None:
    on_path("exec sleep 30")
    with caplog.at_level(logging.ERROR, logger="sleepsound"):
        assert BluetoothLink(timeout_s=0.3).disconnect(HEADBAND) is False
    assert "gave no answer in 0.3 s" in caplog.text


def test_a_missing_bluetoothctl_names_the_package(caplog, monkeypatch) -> None:
    with caplog.at_level(logging.ERROR, logger="sleepsound"):
        assert BluetoothLink(command="bluetoothctl-not-installed").disconnect(HEADBAND) is False
    assert "apt-get install bluez" in caplog.text


@pytest.mark.parametrize(
    "address", ["", "01:23:45:67:89", f"{HEADBAND} ; reboot", f"--help {HEADBAND}", "power off"]
)
def test_anything_but_an_address_never_reaches_bluetoothctl(on_path, caplog, address) -> None:
    folder = on_path("echo should-not-run")
    with caplog.at_level(logging.ERROR, logger="sleepsound"):
        assert BluetoothLink().disconnect(address) is False
    assert calls(folder) == []
    assert "not a Bluetooth address" in caplog.text


def test_disconnect_later_runs_on_its_own_thread(on_path) -> None:
    folder = on_path("sleep 0.2; echo ok")
    thread = BluetoothLink().disconnect_later(HEADBAND)
    assert thread.is_alive()  # the caller did not wait
    thread.join(10)
    assert calls(folder) == [f"disconnect {HEADBAND}"]
