"""``sleepsound render`` and ``sleepsound play`` as a user runs them, in a subprocess."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

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


def sleepsound(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed command line the way a user would."""
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
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
    )
    assert result.returncode == 0, result.stderr
    played = alsa_capture.read(2)
    assert abs(len(played) - 3 * RATE) <= 1024  # the limiter's look-ahead at most
    assert rms_db(played[RATE : 2 * RATE]) > -40


def test_ctrl_c_fades_out_within_two_seconds_and_exits_0(alsa_capture: AlsaCapture) -> None:
    # The null device takes samples faster than real time, so the capture grows quickly.
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
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    result = sleepsound("render", "rain", "-o", str(out), "--seconds", "6")
    assert result.returncode == 0, result.stderr
    data, _ = soundfile.read(str(out), always_2d=True)
    [level] = [line for line in result.stdout.splitlines() if line.startswith("level: ")]
    # The figures printed are the file's own, measured as a user would.
    peak = 20 * np.log10(np.abs(data).max())
    assert f"peak {peak:.1f} dBFS" in level
    assert f"RMS {rms_db(data):.1f} dBFS at --volume 70" in level
    # Rain at the default volume is close to silent on a laptop: the line says what to do.
    assert "quiet on laptop speakers" in level and "--volume 100 makes it 15 dB louder" in level

    loud = sleepsound("render", "rain", "-o", str(out), "--seconds", "6", "--volume", "100")
    assert loud.returncode == 0, loud.stderr
    [level] = [line for line in loud.stdout.splitlines() if line.startswith("level: ")]
    assert "at --volume 100" in level and "louder" not in level
    louder, _ = soundfile.read(str(out), always_2d=True)
    assert rms_db(louder) - rms_db(data) == pytest.approx(15, abs=1.5)
