"""TLS and password login against a Mosquitto configured by the test (generated
certificates, a real password file), and credentials never in the logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sleepsound.config import MqttConfig
from sleepsound.errors import ConfigError
from sleepsound.mqtt.bridge import MqttBridge
from sleepsound.mqtt.settings import load_settings
from support.waiting import wait_for
from test_mqtt_helpers import WAIT_S, HomeAssistant, PlayerLoop, running_device, settings_for

SECRET = "correct horse battery staple"


def _assert_works(broker, mqtt_probe, settings, **probe_options) -> None:
    with running_device(broker, settings=settings) as (bridge, _):
        assert bridge.wait_connected(WAIT_S), broker.log()
        ha = HomeAssistant(mqtt_probe(broker, **probe_options), "sleepsound/bedroom")
        ha.wait_online()
        assert ha.ask({"action": "play", "volume": 20}) == {"status": "ok"}
        assert ha.state(lambda d: d["state"] == "playing")["volume"] == 20


def test_password_login(mosquitto, mqtt_probe, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(users={"bedroom": SECRET, "ha": "ha-pass"})
    settings = settings_for(broker, username="bedroom", password=SECRET)
    assert SECRET not in repr(settings) and SECRET not in settings.describe()
    _assert_works(broker, mqtt_probe, settings, username="ha", password="ha-pass")
    assert SECRET not in caplog.text


def test_password_file(mosquitto, mqtt_probe, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(users={"bedroom": SECRET, "ha": "ha-pass"})
    secret_file = tmp_path / "mqtt-password"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    config = MqttConfig(
        host=broker.host,
        port=broker.port,
        device_id="bedroom",
        username="bedroom",
        password_file=str(secret_file),
    )
    settings = load_settings(config, machine_id="test-machine")
    assert settings.password == SECRET  # the first line, without its newline
    _assert_works(broker, mqtt_probe, settings, username="ha", password="ha-pass")
    assert SECRET not in caplog.text


def test_unreadable_password_file_is_a_config_error(tmp_path: Path) -> None:
    config = MqttConfig(host="h", username="u", password_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"mqtt\.password_file: cannot read"):
        load_settings(config, machine_id="m")
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        load_settings(MqttConfig(host="h", username="u", password_file=str(empty)), machine_id="m")


def test_wrong_password_is_refused_logged_once_and_never_shown(
    mosquitto, mqtt_probe, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(users={"bedroom": SECRET})
    wrong = "wrong-pass-9876"
    settings = settings_for(broker, username="bedroom", password=wrong)
    loop = PlayerLoop().start()
    bridge = MqttBridge(settings, loop.submit, reconnect_delay_s=(1, 1))
    bridge.start()
    try:
        # The broker refuses; the bridge retries, and meanwhile the player obeys others.
        _wait_for(lambda: broker.log().count("not authorised") >= 2, broker, "two refusals")
        assert not bridge.connected
        replies: list[dict] = []
        loop.submit({"action": "play"}, replies.append)
        _wait_for(lambda: replies, broker, "the player's reply")
        assert loop.state.state.value == "playing"
    finally:
        bridge.stop()
        loop.stop()
    refusals = [r for r in caplog.records if "refused the connection" in r.getMessage()]
    assert len(refusals) == 1  # once, not on every retry
    assert "password" in refusals[0].getMessage()  # ...and it says what to check
    assert wrong not in caplog.text and SECRET not in caplog.text


def test_tls_with_the_test_ca(mosquitto, mqtt_probe) -> None:
    broker = mosquitto(tls=True)
    settings = settings_for(broker, ca_file=str(broker.tls.ca_file))
    assert settings.tls
    _assert_works(broker, mqtt_probe, settings)


def test_tls_client_certificate_and_password(mosquitto, mqtt_probe, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    broker = mosquitto(
        tls=True, require_client_cert=True, users={"bedroom": SECRET, "ha": "ha-pass"}
    )
    tls = broker.tls
    settings = settings_for(
        broker,
        ca_file=str(tls.ca_file),
        certfile=str(tls.client_cert),
        keyfile=str(tls.client_key),
        username="bedroom",
        password=SECRET,
        protocol="5",
    )
    _assert_works(broker, mqtt_probe, settings, client_cert=True, username="ha", password="ha-pass")
    assert SECRET not in caplog.text


def test_tls_refuses_an_unknown_server(mosquitto, tmp_path: Path) -> None:
    # Our own CA, not the one that signed the broker: the handshake must fail.
    from support.broker import make_tls_files

    other = make_tls_files(tmp_path / "other-ca")
    broker = mosquitto(tls=True)
    settings = settings_for(broker, ca_file=str(other.ca_file))
    loop = PlayerLoop().start()
    bridge = MqttBridge(settings, loop.submit, reconnect_delay_s=(1, 1))
    bridge.start()
    try:
        assert not bridge.wait_connected(3.0)
    finally:
        bridge.stop()
        loop.stop()


def test_missing_ca_file_leaves_mqtt_off_but_says_why(tmp_path: Path, caplog) -> None:
    config = MqttConfig(host="127.0.0.1", port=1, ca_file=str(tmp_path / "nope.crt"))
    settings = load_settings(config, machine_id="m")
    bridge = MqttBridge(settings, PlayerLoop().submit)
    bridge.start()  # does not raise: the sound matters more than the broker
    assert bridge.error is not None and "ca_file" in bridge.error
    assert "ca_file" in caplog.text
    bridge.stop()


def _wait_for(condition, broker, what: str) -> None:
    """Wait for ``condition()``; a failure shows the broker's log."""
    wait_for(broker.log, lambda _: condition(), what, describe=lambda log: f"broker log:\n{log}")


def test_mqtt5_acl_refusal_is_logged_once(mosquitto, mqtt_probe, caplog) -> None:
    caplog.set_level(logging.WARNING)
    acl = (
        "user bedroom\n"
        "topic read sleepsound/bedroom/set\n"
        "topic read sleepsound/bedroom/set/+\n"
        "topic write sleepsound/bedroom/response\n"
        "topic write sleepsound/bedroom/availability\n"
        "user ha\n"
        "topic readwrite #\n"
    )
    broker = mosquitto(users={"bedroom": SECRET, "ha": "ha-pass"}, acl=acl)
    settings = settings_for(broker, username="bedroom", password=SECRET, protocol="5")
    with running_device(broker, settings=settings):
        ha = HomeAssistant(
            mqtt_probe(broker, username="ha", password="ha-pass"), "sleepsound/bedroom"
        )
        ha.wait_online()
        for volume in (10, 11, 12):  # each changes the state, whose publish is denied
            assert ha.ask({"volume": volume}) == {"status": "ok"}
        assert not [m for m in ha.probe.received if m.topic.endswith("/state")]
    refusals = [r for r in caplog.records if "refused a publish" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert "ACL" in refusals[0].getMessage()
