"""``sleepsound sounds`` and ``sleepsound sounds analyze`` through the real command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from library_helpers import at_peak_dbfs, material, write
from sleepsound import runpaths
from sleepsound.cli import main

RATE = 16000


@pytest.fixture
def setup(tmp_path: Path) -> list[str]:
    folder = tmp_path / "sounds"
    folder.mkdir()
    write(folder / "Soft Whispers.flac", at_peak_dbfs(material(20.0, RATE), -30.0), RATE)
    (folder / "Soft Whispers.toml").write_text(
        'title = "Whispers"\ncategory = "asmr"\ntriggers = ["whispering"]\n'
    )
    (folder / "broken.flac").write_bytes(b"not audio at all")
    config = tmp_path / "config.toml"
    config.write_text(f'[sounds]\ndir = "{folder}"\nloudness_cache = "{tmp_path / "cache.json"}"\n')
    return ["--config", str(config)]


def test_the_listing_shows_every_sound_and_names_bad_files(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sounds", *setup]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    header = ["ID", "TITLE", "CATEGORY", "TRIGGERS", "DURATION", "MEASURED", "GAIN"]
    assert lines[0].split() == header
    assert "every sound plays at -23 LUFS, GAIN is what is applied" in out
    whispers = next(line for line in lines if line.startswith("soft-whispers"))
    assert "Whispers" in whispers and "asmr" in whispers and "0:20" in whispers
    assert "not measured" in whispers
    assert any(line.startswith("rain ") and "endless" in line for line in lines)
    assert "broken.flac" in err and "skipped" in err


def test_analyze_measures_with_a_progress_bar_then_the_listing_shows_loudness(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sounds", "analyze", *setup]) == 0
    out, err = capsys.readouterr()
    assert "0/1 soft-whispers" in err
    assert "measured 1 of 1 sound(s)" in out
    assert main(["sounds", "--json", "--scope", "user", *setup]) == 0
    document = json.loads(capsys.readouterr().out)
    (whispers,) = document["sounds"]
    assert whispers["id"] == "soft-whispers"
    assert whispers["triggers"] == ["whispering"]
    assert whispers["loudness"]["lufs"] < -35
    assert whispers["loudness"]["gain_db"] > 10  # a quiet file is brought up to -23 LUFS
    assert any("broken.flac" in p for p in document["problems"])
    # The table labels the source's level as measured and shows the gain that levels it.
    assert main(["sounds", *setup]) == 0
    row = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("soft-whispers")
    )
    lufs, gain = whispers["loudness"]["lufs"], whispers["loudness"]["gain_db"]
    assert row.split()[-4:] == [f"{lufs:.1f}", "LUFS", f"{gain:+.1f}", "dB"]
    assert main(["sounds", "analyze", *setup]) == 0  # nothing left to do the second time
    assert "measured 0 of 0 sound(s) (1 already measured)" in capsys.readouterr().out


def test_an_unknown_scope_is_a_clear_error(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sounds", "--scope", "colour:blue", *setup]) == 1
    assert "rotation scope 'colour:blue' not understood" in capsys.readouterr().err


def test_analyze_fills_the_cache_the_daemon_reads_when_none_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    write(folder / "hush.flac", at_peak_dbfs(material(20.0, RATE), -30.0), RATE)
    config = tmp_path / "config.toml"
    config.write_text(f'[sounds]\ndir = "{folder}"\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.setattr(runpaths, "SYSTEM_CACHE_DIR", str(tmp_path / "no-service-here"))
    assert main(["sounds", "analyze", "--config", str(config)]) == 0
    assert "measured 1 of 1 sound(s)" in capsys.readouterr().out
    # The daemon, run by this user, reads its cache from here: hush is known there.
    daemon_cache = Path(runpaths.loudness_cache_path(None, os.environ))
    assert daemon_cache == tmp_path / "xdg-cache" / "sleepsound" / "loudness.json"
    assert "hush.flac" in daemon_cache.read_text()


def test_the_service_cache_is_filled_by_its_own_user_and_a_configured_file_wins(
    tmp_path: Path,
) -> None:
    user_env = {"HOME": str(tmp_path / "home")}
    mine = str(tmp_path / "home" / ".cache" / "sleepsound" / "loudness.json")
    service = f"{runpaths.SYSTEM_CACHE_DIR}/loudness.json"
    assert runpaths.client_loudness_cache_path(None, user_env, lambda _: False) == mine
    assert runpaths.client_loudness_cache_path(None, user_env, lambda _: True) == service
    assert runpaths.client_loudness_cache_path("/x.json", user_env, lambda _: True) == "/x.json"
    # Under systemd the daemon and the CLI agree on $CACHE_DIRECTORY.
    unit_env = {"CACHE_DIRECTORY": "/var/cache/elsewhere"}
    expected = "/var/cache/elsewhere/loudness.json"
    assert runpaths.loudness_cache_path(None, unit_env) == expected
    assert runpaths.client_loudness_cache_path(None, unit_env, lambda _: True) == expected
