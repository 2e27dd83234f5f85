"""The user's sound folder: ids, titles, sidecars, bad files, duplicates, links, watching."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

from library_helpers import material, write
from sleepsound.commands import MAX_NAME_CHARS, check_sound_name, parse_command
from sleepsound.errors import UnknownSoundError
from sleepsound.library.catalog import Catalog, build_catalog, diff_catalogs
from sleepsound.library.service import SoundLibrary
from sleepsound.library.watcher import PollingWatcher, WatchState, next_poll
from sleepsound.sources.filesource import FileSource
from sleepsound.sources.metadata import SoundMeta, parse_sidecar
from sleepsound.sources.slug import slugify
from support.audio import make_corrupt_files
from support.encoders import Mp3Case, truncate

RATE = 8000


def sound(folder: Path, name: str, seconds: float = 0.5, channels: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fmt = {".mp3": "MP3", ".ogg": "OGG"}.get(Path(name).suffix.lower())
    kwargs = {"format": fmt} if fmt else {}
    return write(folder / name, material(seconds, RATE, channels) * 0.3, RATE, **kwargs)


def scanned(folder: Path) -> Catalog:
    library = SoundLibrary(folder)
    library.refresh()
    return library.catalog


def messages_about(catalog: Catalog, name: str) -> list[str]:
    return [m for m in catalog.problems if name in m]


# ------------------------------------------------------------------- ids and titles


@pytest.mark.parametrize(
    ("stem", "slug"),
    [
        ("Soft Whispers", "soft-whispers"),
        ("  Rain -- on the_roof (2019) ", "rain-on-the-roof-2019"),
        ("Crème Brûlée Tapping", "creme-brulee-tapping"),
        ("ASMR__Ear2Ear", "asmr-ear2ear"),
    ],
)
def test_slugs_are_lower_case_words_joined_by_dashes(stem: str, slug: str) -> None:
    assert slugify(stem) == slug


def test_a_name_without_latin_letters_still_gets_a_stable_id() -> None:
    assert slugify("日本語") == slugify("日本語")
    assert slugify("日本語").startswith("sound-")
    assert slugify("日本語") != slugify("中文")


def test_files_of_every_format_appear_with_id_title_and_duration(tmp_path: Path) -> None:
    sound(tmp_path, "Soft Whispers.flac", seconds=1.5)
    sound(tmp_path, "rain_on_tent.wav", seconds=0.5, channels=1)
    sound(tmp_path, "Ocean.ogg")
    sound(tmp_path, "Hum.mp3")
    catalog = scanned(tmp_path)
    whispers = catalog.get("soft-whispers")
    assert whispers.meta.title == "Soft Whispers"
    assert whispers.duration_s == pytest.approx(1.5, abs=0.01)
    assert whispers.kind == "file"
    tent = catalog.get("rain-on-tent")
    assert tent.meta.title == "rain on tent"
    assert tent.meta.spatial == "mono_safe"
    assert {"ocean", "hum"} <= set(catalog.ids())
    assert catalog.problems == ()


def test_resolve_gives_the_engine_a_path_and_refuses_paths(tmp_path: Path) -> None:
    path = sound(tmp_path, "Soft Whispers.flac")
    catalog = scanned(tmp_path)
    assert catalog.resolve("soft-whispers") == str(path.resolve())
    assert catalog.resolve("pink-noise") == "pink-noise"
    assert catalog.resolve("rain") == "rain"
    with pytest.raises(UnknownSoundError, match="by id, not by path"):
        catalog.resolve(str(path))
    with pytest.raises(UnknownSoundError, match="by id, not by path"):
        catalog.resolve("../etc/passwd")
    with pytest.raises(UnknownSoundError, match="soft-whispers"):
        catalog.resolve("soft-whisper")


def test_built_in_sounds_are_listed_without_a_folder() -> None:
    library = SoundLibrary(None)
    library.refresh()
    ids = library.catalog.ids()
    for name in ("white-noise", "pink-noise", "brown-noise", "binaural-delta", "binaural-theta"):
        assert library.catalog.get(name).kind == "generator"
    for name in ("rain", "ocean-surf", "fan", "soft-tapping", "brushing", "paper-rustling"):
        assert library.catalog.get(name).kind == "texture"
    assert "page-turning" in ids


# ------------------------------------------------------------------- sidecars


def test_a_sidecar_sets_the_metadata(tmp_path: Path) -> None:
    sound(tmp_path, "Soft Whispers.flac")
    (tmp_path / "Soft Whispers.toml").write_text(
        'title = "Whispers by the fire"\ncategory = "asmr"\n'
        'triggers = ["whispering", "personal_attention"]\nvoice = "whisper"\n'
        'spatial = "binaural"\nloop = false\nlicence = "CC-BY-4.0"\nauthor = "Sam"\n'
    )
    catalog = scanned(tmp_path)
    meta = catalog.get("soft-whispers").meta
    assert meta == SoundMeta(
        title="Whispers by the fire",
        category="asmr",
        triggers=("whispering", "personal_attention"),
        voice="whisper",
        spatial="binaural",
        loop=False,
        licence="CC-BY-4.0",
        author="Sam",
    )
    assert catalog.problems == ()
    assert catalog.select("trigger:whispering")[-1] == "soft-whispers"  # after built-ins
    assert catalog.select("category:asmr")[-1] == "soft-whispers"
    assert "soft-tapping" in catalog.select("category:asmr")


def test_a_sidecar_that_is_not_toml_degrades_to_defaults_naming_the_file(tmp_path: Path) -> None:
    sound(tmp_path, "Soft Whispers.flac")
    (tmp_path / "Soft Whispers.toml").write_text('title = "unterminated\n')
    catalog = scanned(tmp_path)
    assert catalog.get("soft-whispers").meta.title == "Soft Whispers"
    assert any("Soft Whispers.toml" in m and "not valid TOML" in m for m in catalog.problems)


def test_bad_fields_fall_back_one_by_one_and_are_named() -> None:
    defaults = SoundMeta(title="X")
    parsed = parse_sidecar(
        'title = "Good title"\nvoice = "shouting"\ntriggers = ["tapping", "yodelling"]\n'
        'loop = "yes"\ntittle = "typo"\nlicense = "MIT"\n',
        "x.toml",
        defaults,
    )
    assert parsed.meta.title == "Good title"
    assert parsed.meta.voice is None
    assert parsed.meta.triggers == ("tapping",)
    assert parsed.meta.loop is True
    assert parsed.meta.licence == "MIT"  # US spelling accepted
    text = "\n".join(parsed.problems)
    assert "'voice' must be one of" in text
    assert "unknown trigger 'yodelling'" in text
    assert "'loop' must be a boolean" in text
    assert "unknown key 'tittle' ignored (did you mean 'title'?)" in text
    assert all(p.startswith("x.toml: ") for p in parsed.problems)


# ------------------------------------------------------------------- bad input


def test_every_bad_file_is_skipped_with_a_message_and_the_rest_loads(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    sound(folder, "good.flac")
    corrupt = make_corrupt_files(folder)  # truncated.wav garbage.flac empty.wav notes.wav
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "talk.m4a").write_bytes(b"\x00" * 100)
    os.mkfifo(folder / "pipe.wav")  # opening it would hang a naive scanner
    os.symlink(tmp_path / "nowhere.flac", folder / "dangling.flac")
    outside = sound(tmp_path / "elsewhere", "secret.flac")
    os.symlink(outside, folder / "escape.flac")
    os.symlink(folder / "good.flac", folder / "alias.flac")  # inside: fine
    catalog = scanned(folder)

    user = catalog.select("user")
    assert "good" in user and "alias" in user
    assert "truncated" in user  # cut short, but what is there plays (the header is fixed up)
    for gone in ("garbage", "empty", "notes", "pipe", "dangling", "escape", "talk", "cover"):
        assert gone not in user, gone
    assert messages_about(catalog, "garbage.flac")[0].endswith("skipped")
    assert "zero" in messages_about(catalog, "empty.wav")[0]
    assert messages_about(catalog, "notes.wav")
    assert "not a regular file" in messages_about(catalog, "pipe.wav")[0]
    assert "broken link" in messages_about(catalog, "dangling.flac")[0]
    assert "outside the sounds folder" in messages_about(catalog, "escape.flac")[0]
    assert "convert" in messages_about(catalog, "talk.m4a")[0]
    assert any("cover.jpg" in n for n in catalog.notes)
    assert corrupt["garbage_flac"].exists()  # nothing was touched


def test_a_flac_cut_short_is_caught_as_truncated(tmp_path: Path) -> None:
    whole = sound(tmp_path / "src", "long.flac", seconds=4.0)
    folder = tmp_path / "sounds"
    folder.mkdir()
    data = whole.read_bytes()
    (folder / "cut.flac").write_bytes(data[: len(data) // 3])
    sound(folder, "fine.flac")
    catalog = scanned(folder)
    assert "cut" not in catalog.ids()
    assert "fine" in catalog.ids()
    assert "cut.flac" in messages_about(catalog, "cut.flac")[0]


def test_duplicate_ids_are_settled_the_same_way_every_time(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    sound(folder, "soft_whispers.wav")
    sound(folder, "Soft Whispers.flac")
    sound(folder / "more", "soft-whispers.ogg")
    sound(folder, "Rain.flac")  # "rain" is a built-in texture
    catalog = scanned(folder)
    # Code-point order of the relative path: "Soft Whispers.flac" < "more/..." < "soft_..."
    assert catalog.get("soft-whispers").path == (folder / "Soft Whispers.flac").resolve()
    dupes = [m for m in catalog.problems if "already taken" in m]
    assert len(dupes) == 2
    assert all("Soft Whispers.flac" in m and "Rename" in m for m in dupes)
    assert catalog.get("rain").kind == "texture"
    assert "belongs to a built-in" in messages_about(catalog, "Rain.flac")[0]
    again = scanned(folder)
    assert again.problems == catalog.problems
    assert again.get("soft-whispers") == catalog.get("soft-whispers")


def test_a_missing_folder_is_reported_and_built_ins_still_load(tmp_path: Path) -> None:
    catalog = scanned(tmp_path / "nope")
    assert "does not exist" in catalog.problems[0]
    assert "pink-noise" in catalog.ids()


# ------------------------------------------------------------------- appearing, vanishing


def test_the_watcher_waits_for_a_listing_to_settle() -> None:
    empty: frozenset[tuple[str, int, int]] = frozenset()
    copying = frozenset({("a.flac", 100, 1)})
    done = frozenset({("a.flac", 200, 2)})
    state = WatchState(empty, empty)
    state, rescan = next_poll(state, copying)
    assert not rescan  # still changing
    state, rescan = next_poll(state, done)
    assert not rescan  # changed again
    state, rescan = next_poll(state, done)
    assert rescan  # the same for a whole interval: scan it
    state, rescan = next_poll(state, done)
    assert not rescan  # nothing new


def test_a_file_dropped_in_appears_and_vanishes_when_removed(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    sound(folder, "first.flac")
    library = SoundLibrary(folder)
    library.refresh()
    assert "first" in library.catalog.ids()

    sound(folder, "Night Rain.flac")
    assert not library.poll()  # seen once: maybe still being copied
    diff = library.poll()
    assert diff.added == ("night-rain",)
    assert library.resolve("night-rain").endswith("Night Rain.flac")

    (folder / "Night Rain.flac").unlink()
    library.poll()
    diff = library.poll()
    assert diff.removed == ("night-rain",)
    with pytest.raises(UnknownSoundError):
        library.resolve("night-rain")


def test_editing_a_sidecar_is_picked_up_as_a_change(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    sound(folder, "calm.flac")
    library = SoundLibrary(folder)
    library.refresh()
    (folder / "calm.toml").write_text('title = "Calm sea"\n')
    library.poll()
    assert library.poll().changed == ("calm",)
    assert library.catalog.get("calm").meta.title == "Calm sea"


def test_the_background_watcher_tells_the_daemon(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    seen: list[tuple[str, ...]] = []
    arrived = threading.Event()

    def on_change(catalog: Catalog, diff: object) -> None:
        seen.append(tuple(catalog.select("user")))
        if "dropped" in catalog.ids():
            arrived.set()

    library = SoundLibrary(folder, on_change=on_change)
    library.refresh()
    watcher = PollingWatcher(library.poll, 0.05)
    watcher.start()
    try:
        sound(folder, "dropped.wav")
        assert arrived.wait(30), "the watcher never noticed the new file"
    finally:
        watcher.stop()
    assert seen[-1] == ("dropped",)


def test_catalog_diff_reports_added_removed_changed() -> None:
    from sleepsound.sources.presets import load_presets

    presets = load_presets().presets
    old = build_catalog(presets, [])
    new = build_catalog(presets[1:], [])
    diff = diff_catalogs(old, new)
    assert diff.removed == (presets[0].id,)
    assert not diff.added and not diff.changed
    assert not diff_catalogs(new, new)


def test_a_big_folder_rescans_without_decoding_unchanged_files(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    for i in range(20):
        sound(folder, f"track {i:02d}.wav", seconds=0.2)
    library = SoundLibrary(folder)
    library.refresh()
    assert len(library.catalog.select("user")) == 20
    # Make one file undecodable without changing its size or mtime: a rescan that
    # trusted nothing would drop it; ours re-probes only what changed.
    target = folder / "track 00.wav"
    st = target.stat()
    target.write_bytes(np.zeros(st.st_size, dtype=np.uint8).tobytes())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    library.refresh()
    assert "track-00" in library.catalog.ids()


# ------------------------------------------------------------------- MP3s from real encoders


def test_every_mp3_from_lame_sox_and_ffmpeg_is_accepted_with_its_real_length(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case]
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    for case in real_mp3s.values():
        shutil.copy(case.path, folder / case.path.name)
    catalog = scanned(folder)
    assert not catalog.problems, catalog.problems
    for name, case in real_mp3s.items():
        entry = catalog.get(name)
        assert entry.rate == case.rate and entry.channels == case.channels, name
        # Encoders add at most a few MPEG frames; a header estimate inflated by cover art
        # (seconds) or a decode that stops early would be far off.
        assert entry.duration_s == pytest.approx(case.seconds, abs=0.1), name
    assert catalog.get("lame-cover-art").meta.title == "lame-cover-art"


@pytest.mark.parametrize("case", ["lame-cbr-44k", "lame-vbr-44k", "ffmpeg-cover-art"])
@pytest.mark.parametrize("kept", [1 / 3, 0.9])
def test_a_truly_truncated_mp3_is_still_caught(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case], case: str, kept: float
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    truncate(real_mp3s[case].path, folder / "cut.mp3", kept)
    shutil.copy(real_mp3s[case].path, folder / "whole.mp3")
    catalog = scanned(folder)
    assert "whole" in catalog.ids()
    assert "cut" not in catalog.ids()
    (message,) = messages_about(catalog, "cut.mp3")
    assert "truncated" in message or "cut-short" in message, message


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.mp3", b"this is not audio\n" * 50),
        ("notes.wav", b"this is not audio\n" * 50),
        ("photo.flac", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 20),
        ("zeros.ogg", bytes(5000)),
    ],
)
def test_a_file_that_is_not_audio_says_so_in_plain_words(
    tmp_path: Path, name: str, content: bytes
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    (folder / name).write_bytes(content)
    sound(folder, "fine.flac")
    catalog = scanned(folder)
    (message,) = messages_about(catalog, name)
    assert "not a sound file" in message
    assert "pipe" not in message and "recognised" not in message
    assert "fine" in catalog.ids()


def test_m4a_and_aac_say_they_are_not_supported_and_how_to_convert(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case]
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    source = real_mp3s["lame-cbr-44k"].path.with_name("src-44100-2-4s.wav")
    ffmpeg = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-c:a", "aac"]
    subprocess.run([*ffmpeg, str(folder / "phone memo.m4a")], check=True)
    subprocess.run([*ffmpeg, "-f", "adts", str(folder / "raw.aac")], check=True)
    # A phone's M4A renamed to .mp3 is still an M4A: the content decides.
    shutil.copy(folder / "phone memo.m4a", folder / "renamed.mp3")
    catalog = scanned(folder)
    for name in ("phone memo.m4a", "raw.aac", "renamed.mp3"):
        (message,) = messages_about(catalog, name)
        assert "not supported" in message, message
        assert "ffmpeg -i" in message and "out.flac" in message, message
    assert "'phone memo.m4a'" in messages_about(catalog, "phone memo.m4a")[0]  # pasteable
    assert "MP4/M4A" in messages_about(catalog, "renamed.mp3")[0]


# ------------------------------------------------------------------- sane bounds


def _tiny_wav(folder: Path, name: str, rate: int, channels: int, seconds: float = 0.05) -> Path:
    frames = max(int(rate * seconds), 64)
    data = np.random.default_rng(1).uniform(-0.2, 0.2, (frames, channels)).astype(np.float32)
    return write(folder / name, data, rate, subtype="PCM_16")


@pytest.mark.parametrize(
    ("rate", "channels", "bound"),
    [
        (1, 1, "8000 Hz"),
        (100, 2, "8000 Hz"),
        (1000, 1, "8000 Hz"),
        (7999, 2, "8000 Hz"),
        (192001, 2, "192000 Hz"),
        (384000, 2, "192000 Hz"),
        (768000, 1, "192000 Hz"),
        (48000, 17, "16 channels"),
        (48000, 64, "16 channels"),
        (8000, 256, "16 channels"),
        (192000, 16, "samples a second"),
        (192000, 9, "samples a second"),
        (176400, 16, "samples a second"),
    ],
)
def test_files_outside_sane_bounds_are_refused_by_name(
    tmp_path: Path, rate: int, channels: int, bound: str
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    _tiny_wav(folder, "odd.wav", rate, channels)
    catalog = scanned(folder)
    assert "odd" not in catalog.ids()
    (message,) = messages_about(catalog, "odd.wav")
    assert bound in message and "ffmpeg -i odd.wav" in message, message


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (192000, 8), (96000, 16), (11025, 2)])
def test_files_at_the_edges_of_the_bounds_are_accepted(
    tmp_path: Path, rate: int, channels: int
) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    _tiny_wav(folder, "edge.wav", rate, channels)
    assert "edge" in scanned(folder).ids()


# ------------------------------------------------------------------- names


def test_a_latin1_file_name_gets_an_id_a_title_and_plays(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/Caf\xe9 cr\xe8me.wav"  # from an old Windows share
    data = material(0.5, RATE) * 0.3
    with open(raw, "wb") as handle:
        soundfile.write(handle, data, RATE, format="WAV", subtype="PCM_16")
    (folder / "sub").mkdir()
    with open(os.fsencode(folder) + b"/sub/na\xefve.wav", "wb") as handle:
        soundfile.write(handle, data, RATE, format="WAV", subtype="PCM_16")
    catalog = scanned(folder)
    assert not catalog.problems, catalog.problems
    entry = catalog.get("cafe-creme")
    assert entry.meta.title == "Café crème"
    assert catalog.get("naive").meta.title == "naïve"
    for sound_id in ("cafe-creme", "naive"):
        # Strict UTF-8: a lone surrogate would raise here (and in every JSON reply).
        json.dumps(catalog.get(sound_id).to_json(), ensure_ascii=False).encode("utf-8")
    assert catalog.get("naive").to_json()["path"].endswith("sub/naïve.wav")
    source = FileSource(catalog.resolve("cafe-creme"), RATE, 2)
    assert np.max(np.abs(source.read(RATE))) > 0.05
    source.close()


def test_a_broken_latin1_file_is_named_readably(tmp_path: Path) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/M\xfcll.wav", "wb") as handle:
        handle.write(b"not audio at all\n" * 20)
    catalog = scanned(folder)
    (message,) = messages_about(catalog, "Müll.wav")
    message.encode("utf-8")  # no surrogate escapes in what is shown or published


@pytest.mark.parametrize("length", [64, 65, 70, 200])
def test_ids_from_long_file_names_fit_what_commands_accept(tmp_path: Path, length: int) -> None:
    folder = tmp_path / "sounds"
    stems = ["a" * length, "a" * (length - 1) + "b", "a" * (length - 1) + "c"]
    for stem in stems:
        sound(folder, f"{stem}.flac")
    catalog = scanned(folder)
    user = catalog.select("user")
    assert len(user) == 3, catalog.problems  # shortened, yet each keeps an id of its own
    for sound_id in user:
        assert len(sound_id) <= MAX_NAME_CHARS
        assert check_sound_name(sound_id, "sound") == sound_id
        assert parse_command({"action": "play", "sound": sound_id}).sound == sound_id
    assert slugify(stems[0]) == slugify(stems[0])  # stable across scans


def test_a_vbr_mp3_without_a_length_header_plays_with_a_warning(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case]
) -> None:
    # `lame -t` leaves the Xing header out: libsndfile guesses the length from the first
    # frame and decodes no further, so only part of it can play. Say so, and how to fix it.
    folder = tmp_path / "sounds"
    folder.mkdir()
    source = real_mp3s["sox-44k-long"].path.with_name("src-44100-2-20s.wav")
    target = folder / "Guessed length.mp3"
    subprocess.run(["lame", "--quiet", "-t", "-V", "4", str(source), str(target)], check=True)
    catalog = scanned(folder)
    assert "guessed-length" in catalog.ids()
    (message,) = messages_about(catalog, "Guessed length.mp3")
    assert "length header" in message and "ffmpeg -i 'Guessed length.mp3'" in message
    assert not messages_about(scanned(tmp_path / "none"), "sox-44k")  # CBR: no warning
    for case in ("sox-44k-long", "lame-vbr-44k", "ffmpeg-cover-art-no-header"):
        shutil.copy(real_mp3s[case].path, folder / f"{case}.mp3")
    assert messages_about(scanned(folder), ".mp3") == [message]


def test_an_mp3_behind_a_large_cover_picture_is_judged_by_its_length_header(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case]
) -> None:
    # A 300 KB picture pushes the Xing header past the first 64 KB read: it is still found,
    # so the exact length is known and a cut file is still caught.
    folder = tmp_path / "sounds"
    folder.mkdir()
    cover = real_mp3s["lame-cover-art"].path.with_name("cover.jpg")
    picture = tmp_path / "big.jpg"
    picture.write_bytes(cover.read_bytes() + np.random.default_rng(0).bytes(300_000))
    source = real_mp3s["sox-44k-long"].path.with_name("src-44100-2-20s.wav")
    whole = folder / "whole.mp3"
    subprocess.run(
        ["lame", "--quiet", "-V", "4", "--ti", str(picture), str(source), str(whole)], check=True
    )
    truncate(whole, folder / "cut.mp3", 0.8)
    catalog = scanned(folder)
    assert catalog.get("whole").duration_s == pytest.approx(20.0, abs=0.1)
    assert "cut" not in catalog.ids()
    assert messages_about(catalog, "cut.mp3")
