"""The systemd unit and its installer: hardened enough, and still able to do the job."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "sleepsound.service"


def _service() -> dict[str, list[str]]:
    # Not configparser: it keeps only the last of repeated keys; systemd keeps them all.
    values: dict[str, list[str]] = {}
    section = None
    for line in UNIT.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and not line.startswith("#") and section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_systemd_analyze_rates_the_unit_3_or_lower() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for sleepsound\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0


def test_the_unit_keeps_what_the_player_needs() -> None:
    service = _service()
    assert service["Type"] == ["notify"]
    assert service["User"] == ["sleepsound"]
    assert service["SupplementaryGroups"] == ["audio gpio"]
    for directory in ("StateDirectory", "RuntimeDirectory", "ConfigurationDirectory"):
        assert service[directory] == ["sleepsound"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["78"]  # check-config's and run's EX_CONFIG
    assert int(service["WatchdogSec"][0]) >= 10
    assert "PrivateDevices" not in service  # it would hide /dev/snd
    assert "PrivateNetwork" not in service  # MQTT
    allowed = " ".join(service["DeviceAllow"])
    for device in ("char-alsa", "char-gpiochip", "char-spi", "gpiomem"):
        assert device in allowed
    assert "AF_INET" in service["RestrictAddressFamilies"][0]
    assert "AF_UNIX" in service["RestrictAddressFamilies"][0]


def test_the_installer_dry_run_changes_nothing_and_lists_every_step() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "install-service"), "--dry-run", "--no-start"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    # Which of create/modify, copy/keep appear depends on this machine; these always do.
    assert "useradd" in out or "usermod --append" in out
    assert "pip install --quiet --upgrade /opt/sleepsound/src" in out
    assert "check-config --config /etc/sleepsound/config.toml" in out
    assert "install -m 0644 " in out and " /etc/systemd/system/sleepsound.service" in out
    assert "systemctl enable sleepsound.service" in out
    assert "systemctl restart" not in out
