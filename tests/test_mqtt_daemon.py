"""``sleepsound run`` with ``[mqtt]`` end to end: a real daemon subprocess, a real
Mosquitto, Home Assistant's side played by a test client. The Last Will on SIGKILL,
a broker restart while playing (reconnect, re-publish, no gap in the recorded sound),
a group scene reaching two daemons, no credentials in the log."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from daemon_helpers import (
    DaemonProcess,
    block_levels_db,
    daemons_in,
    mqtt_section,
    read_recording,
    wait_until,
)
from test_mqtt_helpers import WAIT_S, HomeAssistant

pytestmark = pytest.mark.slow

SILENT_DB = -85.0
"""Below this a 20 ms block is silence (dither sits near -96 dBFS)."""
SECRET = "night-owl-passphrase"


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory: ``make_daemon(broker, device_id, extra_mqtt="")``; all killed afterwards."""
    with daemons_in(tmp_path) as make:

        def make_on(broker, device_id: str = "bedroom", extra_mqtt: str = "") -> DaemonProcess:
            return make(mqtt_section(broker, device_id, extra_mqtt), device_id)

        yield make_on


def _device(mqtt_probe, broker, device_id: str = "bedroom") -> HomeAssistant:
    ha = HomeAssistant(mqtt_probe(broker), f"sleepsound/{device_id}")
    ha.wait_online()
    return ha


def test_the_daemon_on_mqtt_obeys_and_reports(mosquitto, mqtt_probe, make_daemon) -> None:
    broker = mosquitto()
    daemon = make_daemon(broker).start()
    ha = _device(mqtt_probe, broker)
    assert ha.state()["state"] == "stopped"
    assert ha.ask({"action": "play", "sound": "brown-noise", "volume": 22}) == {"status": "ok"}
    doc = ha.state(lambda d: d["state"] == "playing")
    assert (doc["sound"], doc["volume"]) == ("brown-noise", 22)
    assert daemon.status()["volume"] == 22  # the same player the local socket talks to
    # Home Assistant style, and the sound select's options are the daemon's sounds.
    assert ha.ask("30", key="volume") == {"status": "ok"}
    assert ha.state(lambda d: d["volume"] == 30)["volume"] == 30
    watcher = mqtt_probe(broker)
    watcher.subscribe("homeassistant/select/+/sound/config")
    select = json.loads(watcher.wait_for(None, None, WAIT_S).payload)
    assert "brown-noise" in select["options"] and "pink-noise" in select["options"]
    # A bad payload: an error naming the field, and the daemon plays on.
    reply = ha.ask(b"\x00\xff{{{")
    assert reply["status"] == "error" and reply["field"] == "payload"
    assert daemon.status()["state"] == "playing"
    # A clean stop says offline itself (a clean disconnect sends no will).
    assert daemon.terminate() == 0
    ha.probe.wait_for("sleepsound/bedroom/availability", lambda m: m.text == "offline", WAIT_S)


def test_sigkill_leaves_offline_by_the_will(mosquitto, mqtt_probe, make_daemon) -> None:
    broker = mosquitto()
    daemon = make_daemon(broker).start()
    ha = _device(mqtt_probe, broker)
    daemon.kill()  # SIGKILL: no chance to say anything
    offline = ha.probe.wait_for(
        "sleepsound/bedroom/availability", lambda m: m.text == "offline", WAIT_S
    )
    assert offline.text == "offline"
    late = mqtt_probe(broker)  # and it stays so, retained, for whoever looks later
    late.subscribe("sleepsound/bedroom/availability")
    message = late.wait_for("sleepsound/bedroom/availability", None, WAIT_S)
    assert message.retain and message.text == "offline"


def test_broker_restart_while_playing_reconnects_republishes_without_a_gap(
    mosquitto, mqtt_probe, make_daemon
) -> None:
    broker = mosquitto()
    daemon = make_daemon(broker).start()
    ha = _device(mqtt_probe, broker)
    assert ha.ask({"action": "play", "sound": "pink-noise", "volume": 50}) == {"status": "ok"}
    ha.state(lambda d: d["state"] == "playing")
    time.sleep(1.0)  # some steady sound before the outage (not a timing assertion)

    broker.stop()  # no persistence: everything retained is gone with it
    time.sleep(2.0)  # the daemon plays on without a broker
    assert daemon.status()["state"] == "playing"
    broker.start()

    # A fresh client after the restart finds availability, state and discovery again:
    # only a re-publish by the daemon can have put them back.
    after = HomeAssistant(mqtt_probe(broker), "sleepsound/bedroom")
    after.wait_online()
    assert after.state(lambda d: d["state"] == "playing")["volume"] == 50
    watcher = mqtt_probe(broker)
    watcher.subscribe("homeassistant/switch/+/playback/config")
    assert json.loads(watcher.wait_for(None, None, WAIT_S).payload)["name"] is None
    assert after.ask({"volume": 45}) == {"status": "ok"}  # and it obeys again
    after.state(lambda d: d["volume"] == 45)
    time.sleep(1.0)
    assert after.ask({"action": "stop", "fade": 0.5}) == {"status": "ok"}
    after.state(lambda d: d["state"] == "stopped")
    assert daemon.terminate() == 0

    samples, rate = read_recording(daemon.record)
    levels = block_levels_db(samples, rate)
    sounding = np.flatnonzero(levels > SILENT_DB)
    assert len(sounding), "nothing was recorded"
    # Between the end of the fade-in and the start of the fade-out (0.5 s each,
    # 25 blocks), not one 20 ms block fell silent: no gap across the outage.
    playing = levels[sounding[0] + 25 : sounding[-1] - 25]
    assert len(playing) * 0.02 > 3.0, "the recording is shorter than the test played"
    assert np.all(playing > SILENT_DB), f"a dropout at block {np.argmin(playing)}"
    assert "reconnect" in daemon.log_text() or "connection lost" in daemon.log_text()


def test_a_group_scene_reaches_two_daemons(mosquitto, mqtt_probe, make_daemon) -> None:
    broker = mosquitto()
    groups = 'groups = ["upstairs"]\n'
    first = make_daemon(broker, "kids", groups).start()
    second = make_daemon(broker, "guest", groups).start()
    devices = [_device(mqtt_probe, broker, name) for name in ("kids", "guest")]
    scene = {"action": "play", "sound": "rain", "volume": 18, "sleep_timer": 30}
    mqtt_probe(broker).publish("sleepsound/group/upstairs/set", json.dumps(scene))
    for ha in devices:
        doc = ha.state(lambda d: d["state"] == "playing")
        assert (doc["sound"], doc["volume"], doc["sleep_timer"]) == ("rain", 18, 30)
    assert first.status()["state"] == second.status()["state"] == "playing"
    # Two daemons on one machine still have distinct Home Assistant ids.
    watcher = mqtt_probe(broker)
    watcher.subscribe("homeassistant/switch/#")
    configs = [json.loads(watcher.wait_for(None, None, WAIT_S).payload) for _ in range(2)]
    assert len({c["unique_id"] for c in configs}) == 2
    assert len({c["device"]["identifiers"][0] for c in configs}) == 2


def test_password_login_and_no_credentials_in_the_log(
    mosquitto, mqtt_probe, make_daemon, tmp_path: Path
) -> None:
    broker = mosquitto(users={"bedroom": SECRET, "ha": "ha-pass"})
    wrong_file, right_file = tmp_path / "wrong", tmp_path / "right"
    wrong_file.write_text("not-the-" + SECRET + "\n")
    right_file.write_text(SECRET + "\n")

    # A wrong password: refused, said once in the log with what to check, never shown.
    refused = make_daemon(
        broker, "refused", f'username = "bedroom"\npassword_file = "{wrong_file}"\n'
    ).start()
    wait_until(lambda: "refused the connection" in refused.log_text(), timeout_s=WAIT_S)
    assert refused.status()["state"] == "stopped"  # the daemon itself is fine
    assert refused.terminate() == 0

    # The right one: in, and obeying.
    daemon = make_daemon(
        broker, extra_mqtt=f'username = "bedroom"\npassword_file = "{right_file}"\n'
    ).start()
    ha = HomeAssistant(mqtt_probe(broker, username="ha", password="ha-pass"), "sleepsound/bedroom")
    ha.wait_online()
    assert ha.ask({"action": "play"}) == {"status": "ok"}
    wait_until(lambda: daemon.status()["state"] == "playing")
    assert daemon.terminate() == 0
    for log in (refused.log_text(), daemon.log_text()):
        assert SECRET not in log
    assert "password" in refused.log_text()  # the hint names what to check
