"""Saved state: round trips, corrupt files, atomic writes under SIGKILL, the debouncer."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sleepsound import statefile
from sleepsound.statefile import Debouncer, SavedState

FULL = SavedState(
    volume=42.5,
    sound="rain",
    sleep_timer=45,
    layer_sound="brown-noise",
    layer_volume=20,
    layer_on=True,
)

SOUND_IDS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("C",), exclude_characters="/\\."),
    min_size=1,
    max_size=64,
).filter(str.strip)


@given(
    st.builds(
        SavedState,
        volume=st.none() | st.floats(0, 100),
        sound=st.none() | SOUND_IDS,
        sleep_timer=st.none() | st.just(0.0) | st.floats(1, 720),  # a timer is 0 or >= 1 min
        layer_sound=SOUND_IDS,
        layer_volume=st.none() | st.floats(0, 100),
        layer_on=st.booleans(),
    )
)
def test_round_trip(state: SavedState) -> None:
    assert statefile.loads(statefile.dumps(state)) == (state, None)


CORRUPT = [
    "",
    "{",
    "[]",
    "null",
    '"text"',
    b"\xff\xfe\x00",
    b"\x00" * 100,
    '{"version": 1, "volume": 4',
    "[" * 100_000,  # would raise RecursionError in the parser
    '{"version": 1, "layer": ' + "{" * 100_000,
]


@pytest.mark.parametrize("text", CORRUPT)
def test_a_corrupt_file_means_defaults_and_a_warning(text: str | bytes) -> None:
    state, warning = statefile.loads(text)
    assert state == SavedState()
    assert warning and "defaults" in warning


BAD_FIELDS = [
    ('"volume": "loud"', "volume", SavedState(sound="rain")),
    ('"volume": 150', "volume", SavedState(sound="rain")),
    ('"volume": true', "volume", SavedState(sound="rain")),
    ('"volume": NaN', "volume", SavedState(sound="rain")),
    ('"sleep_timer": -5', "sleep_timer", SavedState(sound="rain")),
    # A stored absurd timer would end every later play at once: ignored, with a warning.
    ('"sleep_timer": 1e-300', "sleep_timer", SavedState(sound="rain")),
    ('"sleep_timer": 0.5', "sleep_timer", SavedState(sound="rain")),
    ('"sleep_timer": 5e-324', "sleep_timer", SavedState(sound="rain")),
    ('"layer": {"sound": "../x", "on": true}', "layer.sound", SavedState(sound="rain")),
    (
        '"layer": {"sound": "waves", "on": "yes"}',
        "layer.on",
        SavedState(sound="rain", layer_sound="waves"),
    ),
    ('"layer": 5', "layer", SavedState(sound="rain")),
]


@pytest.mark.parametrize(("fragment", "field", "expected"), BAD_FIELDS)
def test_a_bad_field_falls_back_alone(fragment: str, field: str, expected: SavedState) -> None:
    text = '{"version": 1, "sound": "rain", ' + fragment + "}"
    state, warning = statefile.loads(text)
    assert state == expected
    assert warning and field in warning


@pytest.mark.parametrize("minutes", [0, 1, 45, 720])
def test_an_off_or_real_timer_is_restored(minutes: float) -> None:
    state, warning = statefile.loads(f'{{"version": 1, "sleep_timer": {minutes}}}')
    assert state == SavedState(sleep_timer=minutes) and warning is None


def test_bad_sound_names_are_dropped() -> None:
    state, warning = statefile.loads('{"version": 1, "volume": 20, "sound": "/etc/passwd"}')
    assert state == SavedState(volume=20) and "sound" in warning


def test_load_and_save(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state, warning = statefile.load(path)
    assert state == SavedState() and "no saved state" in warning
    statefile.save(path, FULL)
    assert statefile.load(path) == (FULL, None)
    assert os.listdir(tmp_path) == ["state.json"]  # no temp file left behind
    statefile.save(path, SavedState(volume=1))
    assert statefile.load(path) == (SavedState(volume=1), None)


def test_an_unreadable_path_is_a_warning_not_an_exception(tmp_path: Path) -> None:
    state, warning = statefile.load(tmp_path)  # a directory
    assert state == SavedState() and "cannot read" in warning


def test_write_atomic_replaces_and_respects_umask(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("old")
    old_umask = os.umask(0o027)
    try:
        statefile.write_atomic(path, b"new")
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_write_atomic_into_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        statefile.write_atomic(tmp_path / "missing" / "state.json", b"x")


# A child process saves as fast as it can, alternating states of different sizes.
WRITER = """
import sys
from sleepsound import statefile
from sleepsound.statefile import SavedState
states = [
    SavedState(volume=10, sound="a", sleep_timer=0),
    SavedState(volume=99.5, sound="x" * 64, sleep_timer=720, layer_sound="y" * 64,
               layer_volume=55, layer_on=True),
]
path = sys.argv[1]
statefile.save(path, states[0])
print("ready", flush=True)
i = 0
while True:
    i += 1
    statefile.save(path, states[i % 2])
"""


def test_sigkill_mid_write_never_leaves_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    env = {**os.environ, "PYTHONPATH": str(Path(statefile.__file__).parents[1])}
    rng = random.Random(1234)
    kills = 30
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0, 0.03))  # land the kill anywhere in the write cycle
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        state, warning = statefile.load(path)
        assert warning is None, warning
        assert state.volume in (10, 99.5)
    # At most the one fixed-name temp file may be left, and the next save reuses it.
    assert set(os.listdir(tmp_path)) <= {"state.json", ".state.json.tmp"}
    statefile.save(path, FULL)
    assert os.listdir(tmp_path) == ["state.json"]


# -- the debouncer ------------------------------------------------------------------------------

DEBOUNCE = [
    # (changes at, probe time, due?)
    ([], 100.0, False),
    ([0.0], 4.9, False),
    ([0.0], 5.0, True),
    ([0.0, 3.0], 5.0, False),  # a later change pushes the save back
    ([0.0, 3.0], 8.0, True),
    ([0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0], 29.9, False),
    ([0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 29.0], 30.0, True),  # knob never rests
]


@pytest.mark.parametrize(("changes", "probe", "due"), DEBOUNCE)
def test_debouncer(changes: list[float], probe: float, due: bool) -> None:
    debouncer = Debouncer(5.0, max_delay_s=30.0)
    for when in changes:
        debouncer.changed(when)
    assert debouncer.due(probe) is due
    assert debouncer.pending is bool(changes)


def test_debouncer_deadline_and_saved() -> None:
    debouncer = Debouncer(5.0)
    assert debouncer.deadline() is None
    debouncer.changed(10.0)
    debouncer.changed(12.0)
    assert debouncer.deadline() == 17.0
    assert debouncer.due(17.0)
    debouncer.saved()
    assert not debouncer.pending and not debouncer.due(1000.0)
    debouncer.changed(50.0)
    assert debouncer.deadline() == 55.0


def test_debouncer_cuts_writes_from_a_turning_knob() -> None:
    debouncer = Debouncer(5.0)
    writes = 0
    now = 0.0
    for _ in range(300):  # a detent every 0.1 s for 30 s, then rest
        debouncer.changed(now)
        if debouncer.due(now):
            debouncer.saved()
            writes += 1
        now += 0.1
    now += 5.0
    if debouncer.due(now):
        debouncer.saved()
        writes += 1
    assert 1 <= writes <= 2
