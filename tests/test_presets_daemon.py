"""Presets through a real daemon: saved over the control socket and ``ctl``, kept in
``presets.json`` across a restart, played again; a damaged file never stops the daemon."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from daemon_helpers import daemons_in

pytestmark = pytest.mark.slow

CONFIG_PRESET = '[presets.deep]\nsound = "brown-noise"\nvolume = 22\n'


def test_a_saved_preset_survives_a_restart_and_plays(tmp_path: Path) -> None:
    with daemons_in(tmp_path) as make:
        daemon = make(CONFIG_PRESET)
        daemon.start()
        daemon.request({"action": "play", "sound": "rain", "volume": 35, "sleep_timer": 45})
        daemon.request({"layer": "pink-noise", "layer_volume": 20})
        reply = daemon.request({"preset_save": "rainy-night", "transaction": 7})
        assert reply == {"status": "ok", "preset": "rainy-night", "transaction": 7}
        stored = json.loads((daemon.directory / "presets.json").read_text())
        assert stored["presets"]["rainy-night"]["sound"] == "rain"
        assert daemon.status()["presets"] == ["deep", "rainy-night"]
        # A config preset stays where it is written.
        refused = daemon.request({"preset_remove": "deep"})
        assert refused["status"] == "error" and "[presets.deep]" in refused["error"]
        assert daemon.terminate() == 0

        daemon.start()  # the same folder: the same state file and presets.json
        doc = daemon.status()
        assert doc["presets"] == ["deep", "rainy-night"]
        assert doc["state"] == "stopped"
        assert (
            daemon.request({"sound": "brown-noise", "volume": 60, "layer": "off"})["status"] == "ok"
        )
        assert daemon.request({"preset": "rainy-night"}) == {
            "status": "ok",
            "preset": "rainy-night",
        }
        doc = daemon.status()
        assert (doc["state"], doc["sound"], doc["volume"]) == ("playing", "rain", 35)
        assert doc["layer"] == {"sound": "pink-noise", "volume": 20}
        assert (doc["preset"], doc["sleep_timer"]) == ("rainy-night", 45)
        assert doc["timer_ends_at"] is not None
        unknown = daemon.request({"preset": "rainy-nite"})
        assert "did you mean 'rainy-night'" in unknown["error"]
        assert daemon.status()["sound"] == "rain"  # the refusal changed nothing
        assert "Traceback" not in daemon.log_text()


def test_ctl_preset_verbs(tmp_path: Path) -> None:
    with daemons_in(tmp_path) as make:
        daemon = make()
        daemon.start()
        code, out, err = daemon.ctl("preset", "list")
        assert (code, out.strip()) == (
            0,
            "no presets yet: `sleepsound ctl preset save NAME` saves what plays",
        )
        assert daemon.ctl("play", "brown-noise", "--volume", "25")[0] == 0
        code, out, err = daemon.ctl("preset", "save", "sea")
        assert code == 0, err
        assert "(preset sea)" in out  # the status line names it
        daemon.ctl("play", "rain")
        daemon.ctl("preset", "save", "rain-only")
        code, out, _ = daemon.ctl("preset", "list")
        assert out.splitlines() == ["rain-only *", "sea"]
        code, out, err = daemon.ctl("preset", "play", "sea")
        assert code == 0, err
        assert out.startswith("playing brown-noise (preset sea), volume 25")
        code, out, err = daemon.ctl("preset", "remove", "sea")
        assert code == 0, err
        code, out, err = daemon.ctl("preset", "play", "sea")
        assert code == 1 and "unknown preset 'sea'" in err
        code, _, err = daemon.ctl("preset", "save", "Sea Side")
        assert code == 1 and "e.g. 'sea-side'" in err
        code, _, err = daemon.ctl("preset", "save")
        assert code == 2 and "needs a NAME" in err


def test_a_damaged_presets_file_is_set_aside(tmp_path: Path) -> None:
    with daemons_in(tmp_path) as make:
        daemon = make()
        (daemon.directory / "presets.json").write_bytes(b"{not json")
        daemon.start()
        assert daemon.status()["presets"] == []
        assert (daemon.directory / "presets.json.bad").read_bytes() == b"{not json"
        assert "damaged" in daemon.log_text()
        assert daemon.request({"preset_save": "fresh"})["status"] == "ok"
        assert json.loads((daemon.directory / "presets.json").read_text())["presets"]


def test_a_reload_brings_the_configs_new_presets(tmp_path: Path) -> None:
    with daemons_in(tmp_path) as make:
        daemon = make(CONFIG_PRESET)
        daemon.start()
        assert daemon.request({"preset_save": "mine"})["status"] == "ok"
        daemon.write_config('[presets.lullaby]\nsound = "pink-noise"\nvolume = 18\n')
        daemon.signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while daemon.status()["presets"] != ["lullaby", "mine"]:
            assert time.monotonic() < deadline, daemon.status()["presets"]
            time.sleep(0.1)
        assert daemon.request({"preset": "lullaby"})["status"] == "ok"
        assert daemon.status()["volume"] == 18
        assert "unknown preset 'deep'" in daemon.request({"preset": "deep"})["error"]
