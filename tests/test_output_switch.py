"""Switching named outputs while playing, heard through two real ALSA capture PCMs.

The command loop, the audio supervisor, the audio thread, the engine and ALSA are the
real ones; each output is an ALSA ``file`` plugin PCM (``tests/support/alsa.py``) with
its own capture file. The capture runs faster than real time, so every length here is
counted in samples, never in wall time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sleepsound import player
from sleepsound.config import Config, parse_toml
from sleepsound.daemon.audio import AudioSupervisor
from sleepsound.daemon.loop import CommandLoop, Signalled, Submitted
from sleepsound.player import PlayerContext
from sleepsound.sdnotify import Notifier
from sleepsound.sources import open_source
from support.alsa import AlsaCapture
from support.audio import click_score, level_envelope_db, rms_db, sine, write_test_audio
from support.waiting import wait_until

RATE = 48000
CLEAN_CLICK_DB = 30.0
"""A clean low tone or a smooth fade scores under this (see support.audio.click_score)."""
BYTES_PER_S = RATE * 2 * 2  # S16_LE stereo


def tone_file(directory: Path) -> str:
    tone = sine(220.0, 3.0, RATE, level_db=-12.0, channels=2)
    return str(write_test_audio(directory / "tone.wav", tone, RATE, subtype="FLOAT"))


def outputs_config(pillow: AlsaCapture, headphones: AlsaCapture, extra: str = "") -> Config:
    return parse_toml(
        f"""
[audio]
output_default = "pillow"
max_volume = 100
fade_in_s = 0.5
[outputs.pillow]
device = '{pillow.device}'
volume = 50
max_volume = 80
[outputs.headphones]
device = '{headphones.device}'
worn = true
volume = 70
{extra}
"""
    )


@dataclass
class Running:
    """A command loop on its own thread, playing through the real audio supervisor."""

    loop: CommandLoop
    audio: AudioSupervisor
    thread: threading.Thread
    saved: list[Any] = field(default_factory=list)

    def send(self, command: dict[str, Any]) -> dict[str, Any]:
        done = threading.Event()
        replies: list[dict[str, Any]] = []

        def reply(document: Any) -> None:
            replies.append(dict(document))
            done.set()

        self.loop.queue.put(Submitted(command, reply))
        assert done.wait(20.0), f"no reply to {command}"
        return replies[0]

    def status(self) -> dict[str, Any]:
        return self.send({"action": "status"})


@pytest.fixture
def run_loop() -> Iterator[Callable[[Config, str], Running]]:
    started: list[Running] = []

    def start(config: Config, sound: str) -> Running:
        ctx = PlayerContext.from_config(config, ("tone",), {"tone": sound})
        saved: list[Any] = []
        audio = AudioSupervisor(lambda fact: None, lambda: open_source)
        loop = CommandLoop(
            ctx=ctx,
            audio=audio,
            notifier=Notifier({}),
            saver=saved.append,
            save_delay_s=0.0,
            wall_clock=time.time,
        )
        loop.state = player.initial_state(ctx)
        now = time.monotonic()
        named = config.named_outputs().find(ctx.output_name)
        info = audio.open(config.audio, named)
        loop.follow(player.output_opened(loop.state, info, now, ctx), now)
        audio.start(player.scene_for(loop.state, ctx, 0.0))
        thread = threading.Thread(target=loop.run, args=(time.monotonic,), daemon=True)
        thread.start()
        running = Running(loop, audio, thread, saved)
        started.append(running)
        return running

    yield start
    for running in started:
        running.loop.queue.put(Signalled(signal.SIGTERM))
        running.thread.join(10.0)
        running.audio.stop()


def size(capture: AlsaCapture) -> int:
    return capture.path.stat().st_size if capture.exists() else 0


def grown(capture: AlsaCapture, seconds: float) -> Callable[[], bool]:
    """True once ``capture`` got ``seconds`` more audio than it holds now (the thread
    writes silence flat out before a play: count from the command, not from the start)."""
    before = size(capture)
    return lambda: size(capture) > before + seconds * BYTES_PER_S


def heard_for(capture: AlsaCapture, seconds: float) -> Callable[[], bool]:
    """True once ``capture`` holds ``seconds`` of audio after its first audible frame (the
    thread writes silence flat out until the play arrives: how long is not known)."""

    def check() -> bool:
        if not capture.exists():
            return False
        data = np.fromfile(capture.path, dtype="<i2")
        frames = data[: data.size - data.size % 2].reshape(-1, 2)
        loud = np.flatnonzero(np.abs(frames).max(axis=1) > 32)  # above -60 dBFS
        return bool(loud.size) and len(frames) - int(loud[0]) > seconds * RATE

    return check


def sounding(x: np.ndarray) -> tuple[int, int]:
    """First and last frame of ``x`` above -70 dBFS (by 10 ms blocks)."""
    levels = level_envelope_db(x, RATE, 0.01)
    loud = np.flatnonzero(levels > -70.0)
    assert loud.size, "nothing was played"
    return int(loud[0]) * RATE // 100, int(loud[-1] + 1) * RATE // 100


def test_a_switch_fades_out_on_one_output_and_in_on_the_other_each_at_its_own_level(
    make_alsa_capture: Callable[[str], AlsaCapture],
    run_loop: Callable[[Config, str], Running],
    tmp_path: Path,
) -> None:
    pillow, headphones = make_alsa_capture("pillow"), make_alsa_capture("headphones")
    running = run_loop(outputs_config(pillow, headphones), tone_file(tmp_path))
    assert running.send({"action": "play", "sound": "tone"})["status"] == "ok"
    wait_until(heard_for(pillow, 4.0), "four seconds of the tone on the pillow")

    reply = running.send({"output": "headphones"})

    assert reply["status"] == "ok", reply
    # Its volume 70 is above a worn output's default ceiling (60): the ceiling applies.
    doc = running.status()
    assert doc["output"] == {
        "name": "headphones",
        "kind": "alsa",
        "device": headphones.device,
        "audible": True,
        "connected": True,
    }
    assert (doc["volume"], doc["max_volume"]) == (60, 60)
    assert doc["outputs"] == ["pillow", "headphones"]
    wait_until(heard_for(headphones, 4.0), "four seconds of the tone on the headphones")

    first = pillow.read(2)  # closed by the switch: complete
    start, end = sounding(first)
    steady_first = rms_db(first[end - 3 * RATE : end - 2 * RATE])
    tail = first[end - 2 * RATE :]
    assert rms_db(tail[-RATE // 10 :]) < steady_first - 30, "the pillow did not fade out"
    assert click_score(np.concatenate([tail, np.zeros((RATE // 5, 2), np.float32)]), RATE) < (
        CLEAN_CLICK_DB
    )
    second = headphones.read(2)
    start, _ = sounding(second)
    head = second[: start + 2 * RATE]
    assert click_score(head, RATE) < CLEAN_CLICK_DB
    assert rms_db(second[start : start + RATE // 10]) < rms_db(second[start + RATE :]) - 10
    steady_second = rms_db(second[start + 2 * RATE : start + 3 * RATE])
    # 50 on the pillow, 60 on the headphones: 10 steps of 0.5 dB apart.
    assert steady_second - steady_first == pytest.approx(5.0, abs=0.5)

    # Back to the pillow: it remembered its volume, and so do the headphones.
    assert running.send({"action": "next_output"})["status"] == "ok"
    doc = running.status()
    assert (doc["output"]["name"], doc["volume"], doc["max_volume"]) == ("pillow", 50, 80)
    assert running.saved and running.saved[-1].output == "pillow"
    assert dict(running.saved[-1].output_volumes) == {"headphones": 60.0}


def test_a_missing_or_unknown_output_is_a_clear_error_and_the_sound_stays(
    make_alsa_capture: Callable[[str], AlsaCapture],
    run_loop: Callable[[Config, str], Running],
    tmp_path: Path,
) -> None:
    pillow, headphones = make_alsa_capture("pillow"), make_alsa_capture("headphones")
    config = outputs_config(
        pillow, headphones, '[outputs.headband]\ndevice = "sleepsound_no_such_card"\n'
    )
    running = run_loop(config, tone_file(tmp_path))
    played = grown(pillow, 2.0)
    running.send({"action": "play", "sound": "tone"})
    wait_until(played, "two seconds played to the pillow")

    unknown = running.send({"output": "headfones", "transaction": 7})
    assert unknown["status"] == "error" and unknown["field"] == "output"
    assert "unknown output 'headfones'" in unknown["error"] and "headphones" in unknown["error"]
    assert unknown["transaction"] == 7
    missing = running.send({"output": "headband"})
    assert missing["status"] == "error" and missing["field"] == "output"
    assert "cannot open output 'headband'" in missing["error"]
    assert "stays on 'pillow'" in missing["error"]

    doc = running.status()
    assert doc["output"]["name"] == "pillow" and doc["state"] == "playing"
    assert doc["output"]["audible"] is True and doc["last_error"] is None
    # Still playing to the pillow: its recording keeps growing, at full level.
    wait_until(grown(pillow, 2.0), "more audio on the pillow")
    assert not headphones.exists()
