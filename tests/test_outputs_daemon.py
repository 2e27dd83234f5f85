"""Named outputs in the running daemon: ``ctl output``, the saved choice and volumes, and a
saved output that is gone from the config. Both outputs are clock outputs recording WAVs
(real-time paced), so only what a user sees is checked here; how a switch sounds is
tested through ALSA in ``test_output_switch.py``."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from daemon_helpers import DaemonProcess, mqtt_section, read_recording
from support.waiting import wait_until
from test_mqtt_helpers import HomeAssistant

pytestmark = pytest.mark.slow


def outputs(daemon: DaemonProcess, *names: str) -> str:
    tables = {
        "pillow": "volume = 40\n",
        "headphones": "worn = true\n",
    }
    return "".join(
        f'[outputs.{name}]\nkind = "clock"\nrecord = "{daemon.directory / name}.wav"\n'
        + tables.get(name, "")
        for name in names
    )


def test_the_chosen_output_and_each_outputs_volume_survive_a_restart(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(outputs(daemon, "pillow", "headphones"))
    daemon.start()
    doc = daemon.status()
    assert doc["output"]["name"] == "pillow" and doc["output"]["kind"] == "clock"
    assert (doc["volume"], doc["max_volume"], doc["outputs"]) == (40, 80, ["pillow", "headphones"])

    code, out, _ = daemon.ctl("output", "headphones")
    assert code == 0, out
    doc = daemon.status()
    # A worn output's default ceiling is 60; its start-up volume is [audio] volume (30).
    assert (doc["output"]["name"], doc["volume"], doc["max_volume"]) == ("headphones", 30, 60)
    assert daemon.request({"volume": 25})["status"] == "ok"
    code, out, _ = daemon.ctl("output", "list")
    assert code == 0 and out.splitlines() == ["pillow", "headphones *"]
    assert daemon.request({"action": "play"})["status"] == "ok"
    assert daemon.terminate() == 0
    saved = json.loads(daemon.state_file.read_text())
    assert saved["output"] == "headphones" and saved["output_volumes"] == {"pillow": 40}
    # The switch opened the headphones' output: its recording exists and has sound.
    samples, _ = read_recording(daemon.directory / "headphones.wav")
    assert len(samples) > 0

    daemon.start()
    doc = daemon.status()
    assert (doc["output"]["name"], doc["volume"]) == ("headphones", 25)
    assert daemon.request({"action": "next_output"})["status"] == "ok"
    doc = daemon.status()
    assert (doc["output"]["name"], doc["volume"], doc["max_volume"]) == ("pillow", 40, 80)
    assert daemon.terminate() == 0


def test_a_saved_output_gone_from_the_config_falls_back_to_the_default_with_a_log_line(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(outputs(daemon, "pillow", "headphones"))
    daemon.state_file.write_text(
        json.dumps(
            {"version": 1, "volume": 20, "output": "headband", "output_volumes": {"pillow": 35}}
        )
    )
    daemon.start()
    doc = daemon.status()
    assert (doc["output"]["name"], doc["volume"]) == ("pillow", 35)
    assert "saved output 'headband' is no longer in the config" in daemon.log_text()
    code, _, err = daemon.ctl("output", "headband")
    assert code == 1 and "unknown output 'headband'" in err
    assert daemon.terminate() == 0


def test_the_single_output_config_still_works_and_says_default(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.start()
    doc = daemon.status()
    assert doc["output"]["name"] == "default" and doc["outputs"] == ["default"]
    code, out, _ = daemon.ctl("output", "list")
    assert code == 0 and out == "default *\n"
    reply = daemon.request({"output": "default"})
    assert reply["status"] == "ok" and "already playing" in reply["warning"]
    assert daemon.terminate() == 0


def test_a_reload_applies_a_lower_output_ceiling_and_moves_off_a_removed_output(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(outputs(daemon, "pillow", "headphones"))
    daemon.start()
    assert daemon.request({"output": "headphones", "volume": 55})["status"] == "ok"
    assert daemon.request({"action": "play"})["status"] == "ok"

    daemon.write_config(outputs(daemon, "pillow", "headphones") + "max_volume = 45\n")
    reload(daemon)
    doc = daemon.status()
    assert (doc["output"]["name"], doc["volume"], doc["max_volume"]) == ("headphones", 45, 45)

    daemon.write_config(outputs(daemon, "pillow"))
    reload(daemon)
    doc = daemon.status()
    assert (doc["output"]["name"], doc["volume"], doc["max_volume"]) == ("pillow", 40, 80)
    assert doc["outputs"] == ["pillow"] and doc["state"] == "playing"
    assert "output 'headphones' is no longer in the config" in daemon.log_text()
    assert daemon.terminate() == 0


def reload(daemon: DaemonProcess) -> None:
    """SIGHUP, and wait until the daemon has finished reloading."""
    before = daemon.log_text().count("config reloaded from")
    daemon.signal(signal.SIGHUP)
    wait_until(
        lambda: daemon.log_text().count("config reloaded from") > before, "the reload to finish"
    )


def test_a_lower_output_ceiling_applies_even_from_a_refused_config(
    make_daemon: Callable[..., DaemonProcess],
) -> None:
    daemon = make_daemon()
    daemon.write_config(outputs(daemon, "pillow", "headphones"))
    daemon.start()
    assert daemon.request({"output": "headphones", "volume": 55})["status"] == "ok"

    broken = outputs(daemon, "pillow", "headphones") + "max_volume = 35\nvolumee = 3\n"
    daemon.write_config(broken)
    before = daemon.log_text().count("keeping the running config")
    daemon.signal(signal.SIGHUP)
    wait_until(
        lambda: daemon.log_text().count("keeping the running config") > before, "the refusal"
    )
    doc = wait_until(lambda: (d := daemon.status())["max_volume"] == 35 and d, "the ceiling")
    assert (doc["output"]["name"], doc["volume"]) == ("headphones", 35)
    assert "outputs.headphones.volumee: unknown key" in daemon.log_text()
    assert "lower [outputs] max_volume all the same" in daemon.log_text()
    assert daemon.terminate() == 0


def test_home_assistants_output_select_lists_the_outputs_and_switches(
    make_daemon: Callable[..., DaemonProcess], mosquitto, mqtt_probe
) -> None:
    broker = mosquitto()
    daemon = make_daemon()
    daemon.write_config(outputs(daemon, "pillow", "headphones") + mqtt_section(broker))
    discovery = mqtt_probe(broker)
    topic = "homeassistant/select/+/output/config"
    discovery.subscribe(topic)
    daemon.start()
    select = json.loads(discovery.wait_for(topic, None, 30.0).payload)
    assert select["options"] == ["pillow", "headphones"]
    assert select["command_topic"] == "sleepsound/bedroom/set/output"
    home = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
    home.wait_online()

    assert home.ask("headphones", key="output")["status"] == "ok"
    doc = home.state(lambda d: d["output"]["name"] == "headphones")
    assert (doc["max_volume"], doc["outputs"]) == (60, ["pillow", "headphones"])
    refused = home.ask("headband", key="output")
    assert refused["status"] == "error" and refused["field"] == "output"
    assert daemon.status()["output"]["name"] == "headphones"
    assert daemon.terminate() == 0
