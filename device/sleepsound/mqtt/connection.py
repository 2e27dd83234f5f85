"""The bridge's line to the broker: one paho-mqtt 2.x client, connected in the background.

It owns the client's life cycle and nothing the device says: what goes out comes from
the :class:`~sleepsound.mqtt.outbox.Outbox` through :meth:`MqttConnection.send`, what
comes in and each (re)connect are handed to the callbacks it was given.

* The sound never waits for MQTT. ``connect_async`` + ``loop_start``: a broker
  that is down at boot, or goes away at night, is retried in paho's own thread
  with a growing delay (1 s doubling to 10 s) while playback carries on.
* The Last Will (``offline``, retained) is set before connecting; a clean stop
  publishes ``offline`` itself, since a clean DISCONNECT sends no will.
* After every (re)connect it subscribes (so reconnects renew subscriptions) before
  saying it is connected.
* Callbacks never raise into paho (that would kill its network thread) and never block.
* Credentials are never logged (:class:`~sleepsound.mqtt.settings.MqttSettings`
  hides the password; paho's own log lines carry only flags).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sleepsound.mqtt.outbox import DROPPED
from sleepsound.mqtt.settings import MqttSettings
from sleepsound.mqtt.throttle import LogThrottle
from sleepsound.mqtt.topics import UNAVAILABLE

# The bridge's journal lines keep the name they had when it was one module.
log = logging.getLogger("sleepsound.mqtt.bridge")

_CONNECTION_NOISE: Final = ("Client is not connected",)
"""paho's ERROR line for "there is no socket", whatever the connection state it names
(CONNECTING and CONNECTION_LOST on every turn of an outage, DISCONNECTED once after our
own stop): by then the bridge knows it is disconnected and has said so. A line with a
cause ("failed to receive on socket: Connection reset by peer") is said once per loss
and stays."""


class _QuietConnectionNoise(logging.Filter):
    """Demotes paho's "Client is not connected" errors to DEBUG.

    The bridge says what matters itself, once, at the right level ("connection lost;
    reconnecting", "connected"); paho repeating "Client is not connected" at ERROR on
    every retry of an outage (or once after a stop we asked for) only fills the journal
    with false alarms. At DEBUG (``-vv``) they are still there for whoever digs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Lowers connection noise to DEBUG (kept only when DEBUG is on); others pass."""
        noise = isinstance(record.msg, str) and any(n in record.msg for n in _CONNECTION_NOISE)
        if not noise or record.levelno <= logging.DEBUG:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # The logger's level was checked for ERROR already; handlers check only their own.
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


PAHO_LOGGER: Final = logging.getLogger(f"{log.name}.paho")
"""Where paho's own messages go."""
PAHO_LOGGER.addFilter(_QuietConnectionNoise())

QOS: Final = 1
RECONNECT_DELAY_S: Final = (1, 10)
"""paho's reconnect back-off: the first wait and the cap (it doubles in between)."""
CONNECT_TIMEOUT_S: Final = 5.0
STOP_TIMEOUT_S: Final = 1.0
"""How long a stop waits for the broker to take ``offline`` (shutdown must be quick)."""
MAX_QUEUED: Final = 200
"""Outgoing messages paho may hold; past this a publish is dropped, not queued forever."""
PAHO_ROOM: Final = MAX_QUEUED - 10
"""How many of our messages the outbox lets paho hold: below paho's limit, so paho
itself never refuses one (the margin covers ``stop``'s own ``offline``)."""


class MqttConnection:
    """One paho client: connects in the background, reconnects, stops cleanly.

    ``on_connected()`` runs (in paho's thread) after every accepted connect, once the
    subscriptions are renewed; ``on_message(topic, payload, retained)`` for every
    message; ``on_published(mid)`` when the broker has a message (whatever it said of
    it: a refusal is logged here, once per reason). Exceptions they raise are logged.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_connected: Callable[[], None],
        on_message: Callable[[str, bytes, bool], None],
        on_published: Callable[[int], None],
        reconnect_delay_s: tuple[int, int] = RECONNECT_DELAY_S,
    ) -> None:
        """Prepare; nothing touches the network until :meth:`start`."""
        self.settings = settings
        self.topics = settings.topics
        self._on_connected = on_connected
        self._on_message_cb = on_message
        self._on_published = on_published
        self._reconnect_delay_s = reconnect_delay_s
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._last_refusal: str | None = None
        self._publish_refusals: set[str] = set()
        self._failures = LogThrottle()
        self.error: str | None = None
        """Why MQTT could not start (bad TLS files), for the status; ``None`` when fine."""
        self.connections = 0
        """How many times a connection was accepted (tests and the benchmark read it)."""

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; return at once. Never raises for network trouble.

        A TLS file that cannot be loaded is logged with the fix and leaves MQTT off
        (``error`` says why): the sound matters more than the broker.
        """
        if self._client is not None or not self.settings.enabled:
            return
        try:
            client = self._make_client()
        except (OSError, ssl.SSLError, ValueError) as error:
            self.error = f"MQTT is off: cannot set up TLS: {error}; check [mqtt] ca_file, certfile"
            log.error("%s", self.error)
            return
        self._client = client
        log.info("mqtt: connecting to %s", self.settings.describe())
        if self.settings.protocol == "5":
            client.connect_async(
                self.settings.host,
                self.settings.port,
                keepalive=self.settings.keepalive_s,
                clean_start=True,
            )
        else:
            client.connect_async(
                self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s
            )
        client.loop_start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Say ``offline`` (a clean disconnect sends no will), disconnect, stop the thread."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._connected.is_set():
            info = client.publish(self.topics.availability, UNAVAILABLE, qos=QOS, retain=True)
            # Lost the connection meanwhile? Then the will says offline instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout_s)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()

    @property
    def connected(self) -> bool:
        """Whether the broker has accepted the connection (and it has not dropped)."""
        return self._connected.is_set()

    @property
    def up(self) -> bool:
        """Connected and not stopped: a publish now reaches paho."""
        return self._client is not None and self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected or ``timeout_s`` passed; for tools and tests, not callbacks."""
        return self._connected.wait(timeout_s)

    def send(self, topic: str, payload: bytes, retain: bool) -> int | None:
        """The outbox's way into paho: the message id, or None to try again later."""
        client = self._client
        if client is None or not self._connected.is_set():
            return None  # kept; what is still worth sending goes after the reconnect
        result = client.publish(topic, payload, qos=QOS, retain=retain)
        # NO_CONN: lost just now, but paho keeps a QoS 1 message and sends it on reconnect.
        if result.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return result.mid
        if result.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return None
        allowed, missed = self._failures.allow(time.monotonic())
        if missed:
            log.warning("mqtt: %d more publishes failed (not logged one by one)", missed)
        if allowed:
            log.warning("mqtt: publish on %s failed: %s", topic, mqtt.error_string(result.rc))
        return DROPPED

    # -- paho callbacks (paho's network thread: never block here) --------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        try:
            if reason.is_failure:
                # Refusals repeat on every retry: say it once per distinct reason.
                text = str(reason)
                if text != self._last_refusal:
                    self._last_refusal = text
                    log.error(
                        "mqtt: the broker refused the connection: %s; check [mqtt] "
                        "username, password or password_file, and the broker's ACL",
                        text,
                    )
                return
            self._last_refusal = None
            self.connections += 1
            log.info("mqtt: connected to %s:%d", self.settings.host, self.settings.port)
            self._subscribe(client)
            self._connected.set()
            self._on_connected()
        except Exception:  # a callback that raises would kill paho's thread
            log.exception("mqtt: error after connecting")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected and self._client is not None:
            log.warning("mqtt: connection lost (%s); reconnecting", reason)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.debug("mqtt: %s:%d unreachable; retrying", self.settings.host, self.settings.port)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._on_message_cb(message.topic, bytes(message.payload), bool(message.retain))
        except Exception:  # never let a hostile payload take the network thread down
            log.exception("mqtt: error handling a message on %s", message.topic)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # MQTT 5 reports refusals (e.g. 135 "Not authorized" from an ACL); 3.1.1 cannot.
        # Said once per reason: an ACL that denies the state would deny every change.
        try:
            if reason.is_failure and str(reason) not in self._publish_refusals:
                self._publish_refusals.add(str(reason))
                log.warning("mqtt: the broker refused a publish: %s; check its ACL", reason)
            self._on_published(mid)
        except Exception:  # a callback that raises would kill paho's thread
            log.exception("mqtt: error after a publish")

    # -- setting up ------------------------------------------------------------------------

    def _subscribe(self, client: mqtt.Client) -> None:
        if self.settings.protocol == "5":
            # retainAsPublished: a retained command published while we listen still
            # carries its retain flag, so it is ignored like one found at subscribe time.
            options = SubscribeOptions(qos=QOS, retainAsPublished=True)
            client.subscribe([(topic, options) for topic in self.topics.subscriptions()])
        else:
            client.subscribe([(topic, QOS) for topic in self.topics.subscriptions()])

    def _make_client(self) -> mqtt.Client:
        client = new_client(self.settings)
        client.will_set(self.topics.availability, UNAVAILABLE, qos=QOS, retain=True)
        client.reconnect_delay_set(*self._reconnect_delay_s)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_queued_messages_set(MAX_QUEUED)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        client.on_socket_open = _no_delay
        return client


def new_client(settings: MqttSettings, client_id: str | None = None) -> mqtt.Client:
    """A paho client (VERSION2 callbacks) with the protocol, login and TLS of ``settings``.

    Raises ``OSError``/``ssl.SSLError`` when a TLS file cannot be loaded.
    """
    protocol = mqtt.MQTTv5 if settings.protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=settings.client_id if client_id is None else client_id,
        protocol=protocol,
        # MQTT 5 has clean_start on connect instead; a stale session could replay commands.
        **({} if protocol == mqtt.MQTTv5 else {"clean_session": True}),
    )
    client.enable_logger(PAHO_LOGGER)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set(
            ca_certs=settings.ca_file, certfile=settings.certfile, keyfile=settings.keyfile
        )
    return client


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Turn Nagle's algorithm off: a command's reply and state are small packets that
    would otherwise wait for the broker's delayed ACK (tens of ms per hop)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


__all__ = [
    "MAX_QUEUED",
    "PAHO_LOGGER",
    "PAHO_ROOM",
    "QOS",
    "RECONNECT_DELAY_S",
    "STOP_TIMEOUT_S",
    "MqttConnection",
    "new_client",
]
