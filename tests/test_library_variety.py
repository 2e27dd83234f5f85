"""Variety and layers: rotation without repeats, shuffled segments, beds on mono outputs."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from library_helpers import material, read_all, write
from sleepsound.errors import CommandError
from sleepsound.library.beds import plan_bed, playback_warning
from sleepsound.library.catalog import SoundEntry
from sleepsound.library.opener import SoundOpener
from sleepsound.library.rotation import next_sound, previous_sound, remember
from sleepsound.library.segments import ShuffledSegments, choose_segment
from sleepsound.library.service import SoundLibrary
from sleepsound.sources.generators import open_generator
from sleepsound.sources.metadata import SoundMeta

RATE = 8000

# ------------------------------------------------------------------- rotation


def test_next_walks_the_library_in_order() -> None:
    ids = ["a", "b", "c", "d"]
    history: tuple[str, ...] = ("a",)
    heard = []
    for _ in range(8):
        step = next_sound(ids, history)
        assert step is not None
        choice, history = step
        heard.append(choice)
    assert heard == ["b", "c", "d", "a", "b", "c", "d", "a"]


def test_next_skips_what_was_heard_recently() -> None:
    # c and d were just played by name; from a, next skips them and goes to e.
    step = next_sound(["a", "b", "c", "d", "e"], ("c", "d", "a"), avoid_recent=3)
    assert step is not None and step[0] == "b"
    step = next_sound(["a", "b", "c", "d", "e"], ("b", "c", "d", "a"), avoid_recent=4)
    assert step is not None and step[0] == "e"


@given(
    ids=st.lists(st.sampled_from("abcdefgh"), min_size=2, max_size=8, unique=True),
    start=st.sampled_from("abcdefghz"),
    presses=st.integers(1, 30),
)
def test_next_never_repeats_the_current_sound(ids: list[str], start: str, presses: int) -> None:
    history: tuple[str, ...] = (start,)
    for _ in range(presses):
        step = next_sound(ids, history)
        assert step is not None
        choice, new_history = step
        assert choice != history[-1]
        assert choice in ids
        history = new_history


def test_previous_goes_back_through_the_history() -> None:
    ids = ["a", "b", "c", "d"]
    history = ("a", "c", "b")
    step = previous_sound(ids, history)
    assert step == ("c", ("a", "c"))
    step = previous_sound(ids, step[1])
    assert step == ("a", ("a",))
    step = previous_sound(ids, step[1])  # history used up: catalog order
    assert step == ("d", ("d",))


def test_rotation_within_a_trigger_and_with_an_empty_scope() -> None:
    library = SoundLibrary(None)
    library.refresh()
    scope = library.catalog.select("trigger:crinkle")
    assert set(scope) == {"paper-rustling", "page-turning"}
    step = next_sound(scope, ("rain",))
    assert step is not None and step[0] in scope
    assert next_sound([], ("rain",)) is None
    assert remember(("a",), "a") == ("a",)


# ------------------------------------------------------------------- shuffled segments


@given(
    frames=st.integers(1000, 100000),
    picks=st.integers(1, 20),
    seed=st.integers(0, 2**16),
)
def test_a_segment_never_overlaps_the_previous_one(frames: int, picks: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    length = frames // 4
    recent: list[tuple[int, int]] = []
    for _ in range(picks):
        start = choose_segment(frames, length, recent, rng)
        assert 0 <= start <= frames - length
        if recent:
            last_start, last_end = recent[-1]
            assert start + length <= last_start or start >= last_end
        recent = [*recent[-3:], (start, start + length)]


def test_a_long_file_plays_as_shuffled_segments_at_an_even_level(tmp_path: Path) -> None:
    frames = 120 * RATE
    noise = np.random.default_rng(8).standard_normal((frames, 2)).astype(np.float32) * 0.1
    path = write(tmp_path / "long.flac", noise, RATE, subtype="PCM_24")
    source = ShuffledSegments(str(path), RATE, 2, segment_s=10.0, crossfade_s=1.0, seed=4)
    out = read_all(source, 90.0, block=4000)
    assert len(source.recent) == 4  # nine segments played, the last four remembered
    starts = [start for start, _ in source.recent]
    # Segments come from all over the file, not one after the other.
    assert all(abs(b - (a + 10 * RATE)) > RATE for a, b in pairwise(starts))
    for (a, a_end), (b, b_end) in pairwise(source.recent):
        assert b_end <= a or b >= a_end  # no segment overlaps the one before
    # The level of the noise side holds across joins: no dip or swell over 1.5 dB.
    windows = out[: len(out) // (RATE // 4) * (RATE // 4)].reshape(-1, RATE // 4 * 2)
    levels = 10 * np.log10(np.mean(windows**2, axis=1))
    assert np.ptp(levels) < 1.5
    assert abs(np.median(levels) - 10 * np.log10(0.01)) < 0.5


def test_non_repeating_mode_only_shuffles_long_files(tmp_path: Path) -> None:
    short = write(tmp_path / "short.wav", material(5.0, RATE), RATE)
    long = write(tmp_path / "long.wav", material(40.0, RATE), RATE)
    opener = SoundOpener(None, non_repeating=True, segment_s=10.0)
    assert not isinstance(opener(str(short), RATE, 2), ShuffledSegments)
    assert isinstance(opener(str(long), RATE, 2), ShuffledSegments)


# ------------------------------------------------------------------- beds and channels


def entry(sound_id: str) -> SoundEntry:
    library = SoundLibrary(None)
    library.refresh()
    return library.catalog.get(sound_id)


def test_binaural_beds_play_on_stereo_outputs() -> None:
    assert plan_bed(entry("binaural-delta"), 2).warning is None


def test_on_a_mono_output_a_binaural_bed_is_refused_with_the_reason() -> None:
    with pytest.raises(CommandError, match="binaural and the output is mono") as caught:
        plan_bed(entry("binaural-delta"), 1, mono_binaural="refuse")
    assert caught.value.field == "layer"
    recording = SoundEntry(
        "whisper-beat", "file", "/x.flac", SoundMeta(title="x", spatial="binaural")
    )
    with pytest.raises(CommandError, match="no monaural version"):
        plan_bed(recording, 1)


def test_or_replaced_by_its_monaural_variant_which_really_beats() -> None:
    plan = plan_bed(entry("binaural-theta"), 1)
    assert plan.warning and "monaural" in plan.warning
    mono = open_generator(plan.spec, RATE, 1).read(4 * RATE)[:, 0]
    # A monaural beat: the level itself swells and fades at the beat rate (6 Hz).
    envelope = np.abs(mono).reshape(-1, RATE // 100).max(axis=1)
    spectrum = np.abs(np.fft.rfft(envelope - envelope.mean()))
    assert np.argmax(spectrum) * 100 / len(envelope) == pytest.approx(6.0, abs=0.5)


def test_noise_beds_are_fine_anywhere() -> None:
    assert plan_bed(entry("pink-noise"), 1).warning is None


def test_asmr_stereo_is_never_downmixed_on_a_stereo_output(tmp_path: Path) -> None:
    wide = material(3.0, RATE, seed=2) * 0.3  # independent ears
    path = write(tmp_path / "ear to ear.flac", wide, RATE, subtype="PCM_24")
    out = read_all(SoundOpener(None)(str(path), RATE, 2), 2.0)
    assert abs(np.corrcoef(out[:, 0], out[:, 1])[0, 1]) < 0.2
    assert np.allclose(out, wide[: len(out)], atol=1e-4)
    binaural = SoundEntry("ear", "file", str(path), SoundMeta(title="x", spatial="binaural"))
    assert playback_warning(binaural, 2) is None
    assert "mono" in (playback_warning(binaural, 1) or "")
