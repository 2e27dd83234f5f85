"""The live audio path stays light: playing never imports scipy.signal, scipy.ndimage or
pyloudnorm, and neither does measuring loudness in the daemon (a worker process does it).

On a Raspberry Pi Zero 2 W those two cost about 75 MB of memory and over a second of
start-up, which a user sees as a daemon that is slow to become ready and a device that
runs out of memory. A fresh interpreter imports the live path, plays every generator
and a FLAC file (resampled, so soxr is exercised too) through the engine, then reports
which heavy modules it loaded along the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

HEAVY = ("scipy.signal", "scipy.ndimage", "pyloudnorm")

PLAY = """
import dataclasses, json, sys
import numpy as np
import sleepsound.engine, sleepsound.sources, sleepsound.outputs.alsa, sleepsound.outputs.clock
from sleepsound.engine import Engine
from sleepsound.scene import Layer, Scene
from sleepsound.sources import open_source

RATE, BLOCK = 48000, 1024
flac, heavy = sys.argv[1], sys.argv[2:]
scenes = {
    "flac + pink-noise": Scene(sound=flac, layer=Layer("pink-noise", 50.0)),
    "binaural-delta + brown-noise": Scene(sound="binaural-delta", layer=Layer("brown-noise")),
    "white-noise": Scene(sound="white-noise"),
    # Textures filter with sleepsound.dsp.iir, not scipy.signal (issue 11 item 8).
    "rain + soft-tapping": Scene(sound="rain", layer=Layer("soft-tapping", 50.0)),
    "brushing + fan": Scene(sound="brushing", layer=Layer("fan", 50.0)),
    "ocean-surf + paper-rustling": Scene(sound="ocean-surf", layer=Layer("paper-rustling")),
    "page-turning": Scene(sound="page-turning"),
}
engine = Engine(RATE, 2, open_source)
levels = {}
for name, scene in scenes.items():
    engine.apply(Scene(sound=None, transition_s=0.0))
    engine.render(BLOCK)
    engine.apply(dataclasses.replace(scene, volume=60.0, transition_s=0.05))
    out = np.concatenate([engine.render(BLOCK) for _ in range(2 * RATE // BLOCK)])
    levels[name] = float(10 * np.log10(np.mean(np.square(out[RATE // 2 :], dtype=np.float64))))
print(json.dumps({
    "levels_db": levels,
    "errors": [str(error) for error in engine.errors],
    "loaded": [module for module in heavy if module in sys.modules],
}))
"""


def test_playing_loads_neither_scipy_signal_nor_ndimage(tmp_path: Path) -> None:
    flac = tmp_path / "tones.flac"
    t = np.arange(44100 * 3) / 44100
    tone = 0.2 * np.sin(2 * np.pi * 330 * t)
    soundfile.write(str(flac), np.stack([tone, tone[::-1]], axis=1), 44100, format="FLAC")

    result = subprocess.run(
        [sys.executable, "-c", PLAY, str(flac), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] == []
    # Everything was really heard (noise about -40 dBFS at volume 60, textures -45 to -60,
    # where silence is far below -100): not a silent engine that skipped the sources...
    assert all(level > -70.0 for level in report["levels_db"].values()), report["levels_db"]
    # ...and none of it needed the heavy modules.
    assert report["loaded"] == [], f"the live path imported {report['loaded']}"


MEASURE = """
import json, sys
from sleepsound.daemon.sounds import DaemonSounds
flac, heavy = sys.argv[1], sys.argv[2:]
sounds = DaemonSounds(None)
sounds.refresh()
found = [sounds.loudness.measure_now(spec).lufs for spec in (flac, "rain", "pink-noise")]
sounds.stop()
print(json.dumps({"lufs": found, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_the_daemon_measures_loudness_without_loading_the_meter(tmp_path: Path) -> None:
    flac = tmp_path / "tones.flac"
    t = np.arange(44100 * 3) / 44100
    soundfile.write(str(flac), 0.2 * np.sin(2 * np.pi * 330 * t), 44100, format="FLAC")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(flac), *HEAVY],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert all(-40.0 < lufs < -10.0 for lufs in report["lufs"]), report["lufs"]  # measured...
    assert report["loaded"] == [], f"measuring imported {report['loaded']}"  # ...elsewhere


CORE = """
import json, sys
before = set(sys.modules)
import sleepsound.player, sleepsound.command_decoder, sleepsound.saved_state
import sleepsound.controls.gestures, sleepsound.controls.encoder, sleepsound.controls.pot
import sleepsound.controls.led, sleepsound.library.beds, sleepsound.library.rotation
print(json.dumps(sorted(set(sys.modules) - before)))
"""
IO = ("soundfile", "soxr", "jsonschema", "paho", "gpiozero", "alsaaudio", "numpy", "socket")


def test_the_core_runs_without_decoders_brokers_pins_or_schema_checks() -> None:
    """What lint-imports checks statically (pyproject [tool.importlinter]), seen at run time:
    a package __init__ that imports its heavy siblings would slip past the static check.
    (MQTT's payloads join once ``sleepsound/mqtt/__init__`` stops importing the bridge.)"""
    result = subprocess.run(
        [sys.executable, "-c", CORE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert [m for m in loaded if m.split(".")[0] in IO] == []
    # The player alone was 26 sleepsound modules (every source and texture) before.
    assert len([m for m in loaded if m.startswith("sleepsound")]) < 25, loaded
