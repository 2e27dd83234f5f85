"""``presets.json`` on disk: damaged or absurd files never stop the daemon or fill memory."""

from __future__ import annotations

import json
from pathlib import Path

from sleepsound import favourites_store


def test_a_presets_file_over_the_cap_is_set_aside_without_being_read_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "presets.json"
    huge = {"version": 1, "presets": {"x": {"sound": "rain" + "a" * (2 * 1024 * 1024)}}}
    path.write_text(json.dumps(huge))
    presets, warnings = favourites_store.load(str(path))
    assert presets == ()
    (warning,) = warnings
    assert "over 1024 KiB" in warning and "moved to" in warning
    assert not path.exists() and (tmp_path / "presets.json.bad").stat().st_size > 2_000_000


def test_a_second_damaged_presets_file_keeps_the_first_one_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "presets.json"
    for content in (b"{first", b"{second"):
        path.write_bytes(content)
        presets, warnings = favourites_store.load(str(path))
        assert presets == () and "damaged" in warnings[0]
    assert (tmp_path / "presets.json.bad").read_bytes() == b"{first"
    assert (tmp_path / "presets.json.bad.1").read_bytes() == b"{second"
