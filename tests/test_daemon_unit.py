"""The systemd unit and its installer: hardened enough, and still able to do the job."""

from __future__ import annotations

import os
import re
import shutil
import stat
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
    # The code goes in root-owned and read-only (tested below), never with cp -a.
    assert "scripts/install-code /opt/sleepsound/src" in out and "cp -a" not in out
    assert "check-config --config /etc/sleepsound/config.toml" in out
    assert "install -m 0644 " in out and " /etc/systemd/system/sleepsound.service" in out
    assert "systemctl enable sleepsound.service" in out
    assert "systemctl restart" not in out


@pytest.mark.skipif(os.geteuid() != 0, reason="installs root-owned files: needs root")
def test_the_code_is_installed_root_owned_and_read_only(tmp_path: Path) -> None:
    # A user's checkout: theirs, writable by anyone, with a link out of the tree.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "install-code", checkout / "scripts")
    (checkout / "device" / "sleepsound").mkdir(parents=True)
    (checkout / "device" / "sleepsound" / "player.py").write_text("VOLUME = 30\n")
    (checkout / "device" / "tool.sh").write_text("#!/bin/sh\n")
    (checkout / "sounds").mkdir()
    (checkout / "sounds" / "presets.toml").write_text("[rain]\n")
    (tmp_path / "elsewhere.toml").write_text("linked\n")
    (checkout / "sounds" / "linked.toml").symlink_to(tmp_path / "elsewhere.toml")
    (checkout / "pyproject.toml").write_text("[project]\n")
    (checkout / "README.md").write_text("# sleepsound\n")
    for path in [checkout, *checkout.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, 0o777 if path.is_dir() or path.suffix == ".sh" else 0o666)
        os.lchown(path, 1000, 1000)
    dest = tmp_path / "opt" / "src"
    dest.mkdir(parents=True)
    (dest / "stale.py").write_text("")  # an older install is replaced whole

    script = checkout / "scripts" / "install-code"
    subprocess.run(["bash", str(script), str(dest)], check=True, timeout=60)

    assert not (dest / "stale.py").exists()
    assert sorted(p.name for p in (tmp_path / "opt").iterdir()) == ["src"]  # no .new/.old
    modes = {}
    for path in [dest, *dest.rglob("*")]:
        info = os.lstat(path)
        assert not stat.S_ISLNK(info.st_mode), path
        assert (info.st_uid, info.st_gid) == (0, 0), path
        modes[str(path.relative_to(dest))] = stat.S_IMODE(info.st_mode)
    assert modes == {
        ".": 0o755,
        "device": 0o755,
        "device/sleepsound": 0o755,
        "device/sleepsound/player.py": 0o644,
        "device/tool.sh": 0o755,
        "sounds": 0o755,
        "sounds/presets.toml": 0o644,
        "sounds/linked.toml": 0o644,
        "pyproject.toml": 0o644,
        "README.md": 0o644,
    }
    assert (dest / "sounds" / "linked.toml").read_text() == "linked\n"
