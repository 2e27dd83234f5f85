"""``sleepsound render`` and ``sleepsound play`` as a user runs them, in a subprocess.

They run the daemon's player and open sounds through its library: every sound is
levelled (-23 LUFS) and the defaults are the config's (volume 30, ceiling 80, fades
3 s in, 5 s out). Each run gets no config of the user's, and the loudness cache the
test daemons share (:data:`daemon_helpers.CACHE_HOME`), as render and the device
share one on a real machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile

from daemon_helpers import CACHE_HOME, DaemonProcess, block_levels_db, read_recording
from support.alsa import AlsaCapture
from support.audio import (
    click_score,
    dominant_frequency,
    level_envelope_db,
    make_corrupt_files,
    rms_db,
)
from support.encoders import Mp3Case
from support.waiting import wait_until

RATE = 48000
CLI = (sys.executable, "-m", "sleepsound.cli")
"""The command line a user runs, as this interpreter runs it."""


NO_USER_CONFIG = tempfile.mkdtemp(prefix="ss-no-config-")
"""$XDG_CONFIG_HOME of every run: empty, so the built-in defaults apply unless --config."""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SLEEPSOUND_CONFIG"}
    env.update(XDG_CONFIG_HOME=NO_USER_CONFIG, XDG_CACHE_HOME=str(CACHE_HOME))
    return env


def sleepsound(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed command line the way a user would."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def test_render_is_exactly_as_long_as_asked_and_fades_out_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "noise.wav"
    result = sleepsound(
        "render",
        "pink-noise",
        "-o",
        str(out),
        "--seconds",
        "7.5",
        "--fade-in",
        "1",
        "--fade-out",
        "2",
        "--volume",
        "80",
    )
    assert result.returncode == 0, result.stderr
    data, rate = soundfile.read(str(out), always_2d=True)
    assert rate == RATE and data.shape == (round(7.5 * RATE), 2)
    levels = level_envelope_db(data, RATE, 0.1)
    assert levels[0] < levels[20] - 30  # it starts from near silence
    assert rms_db(data[-RATE // 50 :]) < -85  # the fade reaches silence on the last frames
    steady = rms_db(data[3 * RATE : 5 * RATE])
    half_second_before_end = rms_db(data[-RATE // 2 - RATE // 40 : -RATE // 2 + RATE // 40])
    # dB-linear over 2 s to -60 dB: 0.5 s before the end it stands 45 dB down, not silent yet.
    assert half_second_before_end - steady == pytest.approx(-45, abs=3)
    assert click_score(data, RATE) < 30


def test_render_layers_resamples_and_downmixes(tmp_path: Path) -> None:
    tone = tmp_path / "tone 44k.flac"
    t = np.arange(3 * 44100) / 44100
    soundfile.write(str(tone), 0.3 * np.sin(2 * np.pi * 500 * t), 44100)
    out = tmp_path / "mono.wav"
    result = sleepsound(
        "render",
        str(tone),
        "-o",
        str(out),
        "--seconds",
        "4",
        "--rate",
        "22050",
        "--channels",
        "1",
        "--layer",
        "brown-noise",
        "--layer-volume",
        "20",
    )
    assert result.returncode == 0, result.stderr
    data, rate = soundfile.read(str(out), always_2d=True)
    assert (rate, data.shape) == (22050, (4 * 22050, 1))
    assert dominant_frequency(data[22050:66150, 0], rate) == pytest.approx(500, abs=2)


def test_play_goes_through_alsa_for_the_asked_seconds(alsa_capture: AlsaCapture) -> None:
    result = sleepsound(
        "play",
        "white-noise",
        "--device",
        alsa_capture.device,
        "--seconds",
        "3",
        "--fade-in",
        "0.5",
        "--fade-out",
        "0.5",
        "--format",
        "S16_LE",
        "--volume",
        "80",
    )
    assert result.returncode == 0, result.stderr
    played = alsa_capture.read(2)
    assert abs(len(played) - 3 * RATE) <= 1024  # the limiter's look-ahead at most
    # White noise at -23 LUFS, 10 dB down at volume 80: about -38 dBFS RMS (silence: < -90).
    assert rms_db(played[RATE : 2 * RATE]) > -45


@pytest.mark.parametrize("length", [(), ("--seconds", "3600")])
def test_ctrl_c_fades_out_within_two_seconds_and_exits_0(
    alsa_capture: AlsaCapture, length: tuple[str, ...]
) -> None:
    # The null device takes samples faster than real time, so the capture grows quickly.
    # With --seconds too, Ctrl-C ends the play (not an hour of silence after the fade).
    process = subprocess.Popen(
        [
            *CLI,
            "play",
            "pink-noise",
            "--device",
            alsa_capture.device,
            "--fade-in",
            "0.2",
            "--fade-out",
            "10",
            "--format",
            "S16_LE",
            *length,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        wait_until(
            lambda: alsa_capture.path.exists() and alsa_capture.path.stat().st_size > 4 * RATE * 4,
            "four seconds of sound in the capture",
        )
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    played = alsa_capture.read(2)
    levels = level_envelope_db(played, RATE, 0.05)
    loud = np.flatnonzero(levels > levels.max() - 6)
    silent_from = np.flatnonzero(levels > -90)[-1] + 1
    fade_s = (silent_from - loud[-1]) * 0.05
    assert 0.5 < fade_s <= 2.1  # the asked 10 s fade is capped at 2 s on Ctrl-C
    assert click_score(played, RATE) < 30


def _header_only_wav(path: Path) -> None:
    soundfile.write(str(path), np.zeros((100, 2)), RATE, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:44])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render", "{tmp}/missing.wav", "-o", "{tmp}/o.wav", "--seconds", "2"], "missing.wav"),
        (["render", "{tmp}/garbage.flac", "-o", "{tmp}/o.wav", "--seconds", "2"], "garbage.flac"),
        (["render", "{tmp}/notes.wav", "-o", "{tmp}/o.wav", "--seconds", "2"], "notes.wav"),
        (["render", "{tmp}/header.wav", "-o", "{tmp}/o.wav", "--seconds", "2"], "header.wav"),
        (["render", "pink-nosie", "-o", "{tmp}/o.wav", "--seconds", "2"], "pink-noise"),
        (
            ["render", "pink-noise", "--layer", "rian", "-o", "{tmp}/o.wav", "--seconds", "2"],
            "rian",
        ),
        (["render", "binaural-delta:beat=400", "-o", "{tmp}/o.wav", "--seconds", "2"], "beat"),
        (["render", "pink-noise", "-o", "{tmp}/o.wav", "--seconds", "2", "--rate", "3"], "--rate"),
        (
            ["render", "pink-noise", "-o", "{tmp}/o.wav", "--seconds", "2", "--channels", "64"],
            "--channels",
        ),
        (["render", "pink-noise", "-o", "{tmp}/o.wav", "--seconds", "0"], "--seconds"),
        (["render", "pink-noise", "-o", "{tmp}/o.wav", "--seconds", "1e9"], "--seconds"),
        (
            ["render", "pink-noise", "-o", "{tmp}/o.wav", "--seconds", "2", "--volume", "150"],
            "--volume",
        ),
        (["render", "pink-noise", "-o", "{tmp}/no/such/dir/o.wav", "--seconds", "2"], "folder"),
        (
            ["play", "pink-noise", "--device", "hw:CARD=nonexistent", "--seconds", "1"],
            "nonexistent",
        ),
    ],
)
def test_bad_input_is_one_line_naming_the_problem(
    tmp_path: Path, args: list[str], message: str
) -> None:
    make_corrupt_files(tmp_path)  # garbage.flac, notes.wav among them
    _header_only_wav(tmp_path / "header.wav")
    result = sleepsound(*[arg.replace("{tmp}", str(tmp_path)) for arg in args])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert message in lines[0]


# ------------------------------------------------------------------- files at the edges


def _noise_wav(path: Path, rate: int, channels: int, seconds: float = 0.5) -> Path:
    frames = max(int(rate * seconds), 400)
    data = np.random.default_rng(2).uniform(-0.2, 0.2, (frames, channels)).astype(np.float32)
    soundfile.write(str(path), data, rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    ("rate", "channels", "bound"),
    [(1, 2, "8000 Hz"), (1000, 1, "8000 Hz"), (768000, 2, "192000 Hz"), (48000, 64, "16 channels")],
)
def test_render_and_play_of_a_path_apply_the_scans_bounds(
    tmp_path: Path, rate: int, channels: int, bound: str
) -> None:
    path = _noise_wav(tmp_path / "odd.wav", rate, channels, seconds=0.01)
    for command in (
        ["render", str(path), "-o", str(tmp_path / "o.wav"), "--seconds", "1"],
        ["play", str(path), "--device", "null", "--seconds", "1"],
    ):
        result = sleepsound(*command)
        assert result.returncode != 0
        (line,) = result.stderr.strip().splitlines()
        assert bound in line and "odd.wav" in line and "ffmpeg" in line, line


def test_a_file_that_is_not_audio_or_not_supported_says_which(tmp_path: Path) -> None:
    wav = _noise_wav(tmp_path / "src.wav", 44100, 2)
    m4a = tmp_path / "memo.m4a"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)],
        check=True,
    )
    text = tmp_path / "notes.mp3"
    text.write_text("shopping list\n" * 40)
    for path, words in ((m4a, "not supported"), (text, "not a sound file")):
        result = sleepsound("render", str(path), "-o", str(tmp_path / "o.wav"), "--seconds", "1")
        assert result.returncode != 0
        (line,) = result.stderr.strip().splitlines()
        assert words in line and path.name in line, line
        assert "pipe" not in line


def test_decoder_chatter_never_reaches_the_terminal(
    tmp_path: Path, real_mp3s: dict[str, Mp3Case]
) -> None:
    # Damage inside an MP3 makes mpg123 write "Note: Illegal Audio-MPEG-Header ..." to fd 2
    # while it resyncs; what decodes still plays, and the notes stay in DEBUG logging.
    data = real_mp3s["sox-44k"].path.read_bytes()
    damaged = tmp_path / "damaged.mp3"
    middle = len(data) // 2
    damaged.write_bytes(data[:middle] + bytes(600) + data[middle:])
    out = tmp_path / "o.wav"
    result = sleepsound("render", str(damaged), "-o", str(out), "--seconds", "3")
    assert result.returncode == 0, result.stderr
    assert "Note:" not in result.stderr and "libmpg123" not in result.stderr, result.stderr
    assert "wrote 3.000 s" in result.stdout
    verbose = sleepsound("-vv", "render", str(damaged), "-o", str(out), "--seconds", "3")
    assert "DEBUG: decoder: Note: Illegal Audio-MPEG-Header" in verbose.stderr, verbose.stderr


def test_memory_stays_bounded_for_every_file_the_scan_accepts(tmp_path: Path) -> None:
    # The edges of what the scan accepts, played through the resampler in a fresh process:
    # a 1 Hz file (refused now) made RSS grow by ~335 MB this way.
    files = [
        _noise_wav(tmp_path / f"edge-{rate}-{channels}.wav", rate, channels)
        for rate, channels in ((8000, 1), (8000, 16), (192000, 8), (96000, 16), (11025, 2))
    ]
    script = f"""
import resource, sys
from sleepsound.sources.filesource import FileSource
from sleepsound.library.scan import probe_audio
from pathlib import Path
def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
FileSource({str(files[0])!r}, 48000, 2).read(48000)  # imports and first allocations
before = rss_mb()
for name in {[str(f) for f in files]!r}:
    probe_audio(Path(name), name)
    source = FileSource(name, 48000, 2)
    for _ in range(20):
        source.read(4800)
    source.close()
print(rss_mb() - before)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    growth_mb = float(result.stdout.strip())
    print(f"RSS growth playing the accepted edge cases: {growth_mb:.1f} MB")
    assert growth_mb < 60


def test_the_chatter_filter_keeps_everything_else_visible() -> None:
    # fd 2 is process-wide: other C output, Python errors and a crash's traceback must
    # still reach the terminal, in order, even as the process exits.
    script = """
import os, sys, logging, threading
from sleepsound import decoder_chatter
decoder_chatter.install()
logging.basicConfig(format="log: %(message)s")
os.write(2, b"Note: Illegal Audio-MPEG-Header 0x00000000 at offset 3008.\\n")
os.write(2, b"ALSA lib pcm.c: a C library line that matters\\n")
threading.Thread(target=lambda: os.write(2, b"[src/libmpg123/layer3.c:1] error: x\\n")).start()
logging.warning("a warning")
os.write(2, b"partial line without newline")
raise RuntimeError("the real problem")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Illegal Audio-MPEG-Header" not in result.stderr
    assert "libmpg123" not in result.stderr
    for visible in ("ALSA lib pcm.c", "log: a warning", "partial line", "RuntimeError: the real"):
        assert visible in result.stderr, result.stderr


def test_render_says_how_loud_the_file_is_and_which_volume_makes_it_audible(
    tmp_path: Path,
) -> None:
    out = tmp_path / "rain.wav"
    short = ("--seconds", "6", "--fade-in", "0.5", "--fade-out", "0.5")
    result = sleepsound("render", "rain", "-o", str(out), *short)
    assert result.returncode == 0, result.stderr
    data, _ = soundfile.read(str(out), always_2d=True)
    [level] = [line for line in result.stdout.splitlines() if line.startswith("level: ")]
    # The figures printed are the file's own, measured as a user would.
    peak = 20 * np.log10(np.abs(data).max())
    assert f"peak {peak:.1f} dBFS" in level
    assert f"RMS {rms_db(data):.1f} dBFS at --volume 30" in level
    # Rain at the device's start volume is close to silent on a laptop: the line says
    # what to do, up to the ceiling (max_volume 80, 25 dB up on the 0.5 dB-a-step taper).
    assert "quiet on laptop speakers" in level and "--volume 80 makes it 25 dB louder" in level

    at_ceiling = sleepsound("render", "rain", "-o", str(out), *short, "--volume", "100")
    assert at_ceiling.returncode == 0, at_ceiling.stderr
    assert "volume clamped to max_volume 80" in at_ceiling.stderr  # the daemon's ceiling
    [level] = [line for line in at_ceiling.stdout.splitlines() if line.startswith("level: ")]
    assert "at --volume 80" in level
    assert "--max-volume 100 --volume 100 makes it 10 dB louder" in level
    louder, _ = soundfile.read(str(out), always_2d=True)
    # Two renders of rain are two different showers: 6 s of each differ by up to ~2.5 dB.
    assert rms_db(louder) - rms_db(data) == pytest.approx(25, abs=3.0)

    full = sleepsound(
        "render", "rain", "-o", str(out), *short, "--max-volume", "100", "--volume", "100"
    )
    assert full.returncode == 0, full.stderr
    [level] = [line for line in full.stdout.splitlines() if line.startswith("level: ")]
    assert "at --volume 100" in level and "louder" not in level


# --------------------------------------------------------- the daemon's player and library


def _loudness(path: Path, skip_s: float = 1.0) -> float:
    """Integrated loudness (pyloudnorm) of a rendered file, its fades left out."""
    data, rate = soundfile.read(str(path), always_2d=True)
    inner = data[round(skip_s * rate) : len(data) - round(skip_s * rate)]
    return float(pyloudnorm.Meter(rate).integrated_loudness(inner))


def test_noise_colours_render_equally_loud(tmp_path: Path) -> None:
    # As the device plays them: each levelled to the same loudness (once 10 dB apart).
    found = {}
    for colour in ("white-noise", "pink-noise", "brown-noise"):
        out = tmp_path / f"{colour}.wav"
        result = sleepsound(
            "render", colour, "-o", str(out), "--seconds", "8", "--volume", "60",
            "--fade-in", "0.5", "--fade-out", "0.5",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        found[colour] = _loudness(out)
    assert max(found.values()) - min(found.values()) < 1.0, found
    # -23 LUFS, 20 dB down at volume 60.
    assert all(value == pytest.approx(-43, abs=1.5) for value in found.values()), found


def test_a_library_file_renders_by_id_as_loud_as_the_daemon_plays_it(tmp_path: Path) -> None:
    from test_library_daemon import steady_loudness

    daemon = DaemonProcess(tmp_path)
    try:
        sounds = tmp_path / "sounds"
        sounds.mkdir()
        rng = np.random.default_rng(5)
        # Quiet as recorded (about -44 LUFS): played as it is, it would be 20 dB softer.
        steady = (0.006 * rng.standard_normal((10 * RATE, 2))).astype(np.float32)
        soundfile.write(str(sounds / "Night Fan.flac"), steady, RATE)
        out = tmp_path / "rendered.wav"
        result = sleepsound(
            "render", "night-fan", "--config", str(daemon.config), "-o", str(out),
            "--seconds", "8", "--volume", "60",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        rendered = _loudness(out)
        # The render measured the file into the cache the daemon reads: it plays levelled
        # from its first block, as the render did.
        daemon.start()
        assert daemon.request({"action": "play", "sound": "night-fan", "volume": 60}) == {
            "status": "ok"
        }
        time.sleep(5.0)  # recording length, not a timing assertion
        assert daemon.terminate() == 0
        played = steady_loudness(daemon.record)
    finally:
        daemon.close()
    assert rendered == pytest.approx(-43, abs=1.0)  # -23 LUFS, 20 dB down at volume 60
    assert abs(rendered - played) < 0.5, (rendered, played)


@pytest.mark.parametrize(
    "spec",
    ["whispers:move=ear-to-ear,speed=4", "binaural-delta:carrier=180,beat=2.5", "rain:spells=true"],
)
def test_built_ins_with_parameters_render_levelled(tmp_path: Path, spec: str) -> None:
    out = tmp_path / "spec.wav"
    result = sleepsound(
        "render", spec, "-o", str(out), "--seconds", "10", "--volume", "80",
        "--fade-in", "0.5", "--fade-out", "0.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data, rate = soundfile.read(str(out), always_2d=True)
    assert data.shape == (10 * RATE, 2)
    if spec.startswith("binaural"):
        left = dominant_frequency(data[RATE:-RATE, 0], rate)
        right = dominant_frequency(data[RATE:-RATE, 1], rate)
        assert right - left == pytest.approx(2.5, abs=0.15)
        assert (left + right) / 2 == pytest.approx(180, abs=0.3)
    assert rms_db(data[RATE:-RATE]) > -90  # spells may be in a pause, but never silence
    if spec.startswith("binaural"):
        # Levelled as a library sound (-23 LUFS, 10 dB down at 80). A steady bed can be
        # judged on 8 s; whispers cannot: their phrases and pauses move 8 s of them by
        # several LU from one render to the next (measured -30.8 to -32.3 and -37.4).
        assert _loudness(out) == pytest.approx(-33, abs=2.0)
    if "move=ear-to-ear" in spec:
        # The parameter reached the sound: it travels from one ear to the other.
        windows = data[RATE:-RATE].reshape(-1, RATE // 2, 2)
        sides = [rms_db(w[:, 0]) - rms_db(w[:, 1]) for w in windows if rms_db(w) > -70]
        assert max(sides) - min(sides) > 10, sides


def test_the_daemon_plays_a_built_in_with_parameters_and_refuses_bad_ones(
    tmp_path: Path,
) -> None:
    daemon = DaemonProcess(tmp_path)
    try:
        daemon.start()
        reply = daemon.request({"action": "play", "sound": "binaural-delta:carrier=180,beat=4"})
        assert reply == {"status": "ok"}
        assert daemon.status()["sound"] == "binaural-delta:carrier=180,beat=4"
        for bad, words in (
            ("binaural-delta:beat=400", "beat"),
            ("rain:spells=maybe", "spells"),
            ("whispers:move=sideways", "move"),
            ("rian:spells=true", "unknown sound"),
        ):
            refused = daemon.request({"sound": bad})
            assert refused["status"] == "error" and refused["field"] == "sound", refused
            assert words in refused["error"], refused
        assert daemon.status()["sound"] == "binaural-delta:carrier=180,beat=4"  # still playing
        time.sleep(4.0)  # recording length, not a timing assertion
        assert daemon.terminate() == 0
        played, rate = read_recording(daemon.record)
    finally:
        daemon.close()
    first = int(np.flatnonzero(block_levels_db(played, rate) > -85)[0])
    steady = played[(first + 40) * rate // 50 :][: 2 * rate]  # after the 0.5 s fade-in
    assert len(steady) == 2 * rate
    left = dominant_frequency(steady[:, 0], rate)
    right = dominant_frequency(steady[:, 1], rate)
    assert right - left == pytest.approx(4.0, abs=0.3)
    assert (left + right) / 2 == pytest.approx(180, abs=0.5)


@pytest.mark.parametrize(
    ("sound", "words"),
    [
        ("quiet-rian", "quiet-rain"),
        ("quiet-rain:x=1", "only built-in sounds take parameters"),
        ("rain:spells=maybe", "spells"),
        ("rain:spells", "key=value"),
        ("whispers:move=sideways", "move"),
        ("pink-noise:x=1", "takes no parameters"),
    ],
)
def test_a_bad_library_id_or_parameter_is_one_line_naming_it(
    tmp_path: Path, sound: str, words: str
) -> None:
    daemon = DaemonProcess(tmp_path)  # only its config: [sounds] dir with one file
    (tmp_path / "sounds").mkdir()
    soundfile.write(str(tmp_path / "sounds" / "Quiet Rain.wav"), np.zeros((RATE, 2)), RATE)
    out = tmp_path / "o.wav"
    result = sleepsound(
        "render", sound, "--config", str(daemon.config), "-o", str(out), "--seconds", "2"
    )
    daemon.close()
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert words in line and "Traceback" not in line, line
    assert not out.exists()  # refused before anything was written
