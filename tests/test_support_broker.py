"""The mosquitto fixture starts a real broker: plain, TLS, password, ACL, restart."""

from __future__ import annotations

import json
import os
import ssl
import stat

import paho.mqtt.client as mqtt
import pytest

from support.broker import MosquittoBroker, MqttProbe, port_accepts


def test_publish_subscribe_round_trip(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    assert broker.host == "127.0.0.1"
    listener = mqtt_probe(broker, client_id="listener")
    listener.subscribe("sleepsound/test/#")
    talker = mqtt_probe(broker, client_id="talker")
    talker.publish("sleepsound/test/state", json.dumps({"state": "playing"}), retain=True)

    message = listener.wait_for("sleepsound/test/state")
    assert json.loads(message.text) == {"state": "playing"}
    assert "New client connected" in broker.log()


def test_wait_for_keeps_other_messages(mosquitto, mqtt_probe) -> None:
    probe = mqtt_probe(mosquitto())
    probe.subscribe("t/#")
    probe.publish("t/b", "first")
    probe.publish("t/a", "second")
    assert probe.wait_for("t/a").text == "second"
    assert probe.wait_for("t/b").text == "first"
    with pytest.raises(TimeoutError, match="t/a"):
        probe.wait_for("t/none", timeout_s=0.2)


def test_retained_message_reaches_late_subscriber(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    mqtt_probe(broker).publish("dev/availability", "online", retain=True)
    late = mqtt_probe(broker)
    late.subscribe("dev/availability")
    message = late.wait_for("dev/availability")
    assert message.retain
    assert message.text == "online"


def test_restart_on_the_same_port(mosquitto, mqtt_probe) -> None:
    broker = mosquitto()
    port = broker.port
    broker.stop()
    assert not broker.running
    assert not port_accepts(broker.host, port)
    broker.start()
    assert broker.port == port
    probe = mqtt_probe(broker)
    probe.subscribe("x")
    probe.publish("x", "after restart")
    assert probe.wait_for("x").text == "after restart"


def test_two_brokers_get_different_ports(mosquitto) -> None:
    assert mosquitto().port != mosquitto().port


def test_tls_round_trip_and_plain_client_refused(mosquitto, mqtt_probe) -> None:
    broker = mosquitto(tls=True)
    assert broker.tls is not None
    probe = mqtt_probe(broker)
    probe.subscribe("secure/#")
    probe.publish("secure/x", "over tls")
    assert probe.wait_for("secure/x").text == "over tls"

    plain = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    with pytest.raises(OSError):
        # A plain MQTT client talking to a TLS port gets no CONNACK: the broker hangs up.
        plain.connect(broker.host, broker.port, keepalive=5)
        for _ in range(50):
            if plain.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise ConnectionResetError("broker closed the plain connection")
        pytest.fail("a plain client stayed connected to a TLS-only listener")


def test_tls_server_certificate_is_checked(mosquitto, tmp_path) -> None:
    broker = mosquitto(tls=True)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    # Trust the system CAs only: the test CA is not among them, so the handshake fails.
    client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    with pytest.raises(ssl.SSLError):
        client.connect(broker.host, broker.port)


def test_client_certificate_required(mosquitto, mqtt_probe) -> None:
    broker = mosquitto(tls=True, require_client_cert=True)
    probe = mqtt_probe(broker, client_cert=True)
    probe.subscribe("c")
    probe.publish("c", "with client cert")
    assert probe.wait_for("c").text == "with client cert"
    with pytest.raises((OSError, ConnectionError)):
        MqttProbe(broker).connect()


def test_password_auth(mosquitto, mqtt_probe) -> None:
    broker = mosquitto(users={"bedroom": "s3cret pass", "ha": "other"})
    probe = mqtt_probe(broker, username="bedroom", password="s3cret pass")
    probe.subscribe("p")
    probe.publish("p", "authorised")
    assert probe.wait_for("p").text == "authorised"

    with pytest.raises(ConnectionError, match="refused"):
        MqttProbe(broker, username="bedroom", password="wrong").connect()
    with pytest.raises(ConnectionError, match="refused"):
        MqttProbe(broker).connect()
    password_file = broker.directory / "passwords"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert "s3cret" not in password_file.read_text()


def test_acl_limits_topics(mosquitto, mqtt_probe) -> None:
    acl = "user bedroom\ntopic readwrite sleepsound/bedroom/#\n"
    broker = mosquitto(users={"bedroom": "pw"}, acl=acl)
    probe = mqtt_probe(broker, username="bedroom", password="pw")
    probe.subscribe("#")
    probe.publish("elsewhere/x", "denied")  # MQTT 3.1.1: a denied publish "succeeds" silently
    probe.publish("sleepsound/bedroom/x", "allowed")
    assert probe.wait_for().topic == "sleepsound/bedroom/x"


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop only happens as root")
def test_runs_as_root_with_private_files(mosquitto) -> None:
    # pytest's temp dirs are 0700: without "user root", mosquitto would drop to the
    # "mosquitto" user and fail to read the password file there.
    broker: MosquittoBroker = mosquitto(users={"u": "p"})
    assert "user root" in broker.config_file.read_text()
    assert broker.running
