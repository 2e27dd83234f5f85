"""``sleepsound sounds`` and ``sleepsound sounds analyze`` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from library_helpers import at_peak_dbfs, material, write
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
    assert lines[0].split() == ["ID", "TITLE", "CATEGORY", "TRIGGERS", "DURATION", "LOUDNESS"]
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
    assert main(["sounds", "analyze", *setup]) == 0  # nothing left to do the second time
    assert "measured 0 of 0 sound(s) (1 already measured)" in capsys.readouterr().out


def test_an_unknown_scope_is_a_clear_error(
    setup: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sounds", "--scope", "colour:blue", *setup]) == 1
    assert "rotation scope 'colour:blue' not understood" in capsys.readouterr().err
