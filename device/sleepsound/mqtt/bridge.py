"""The MQTT adapter: a thin paho-mqtt 2.x shell around the pure topic, payload and
discovery modules. It holds no policy: commands go to the daemon's queue, state
and events come back through :meth:`MqttBridge.on_status` and
:meth:`MqttBridge.on_event`.

The rules it keeps (see ``docs/mqtt.md``):

* The sound never waits for MQTT. ``connect_async`` + ``loop_start``: a broker
  that is down at boot, or goes away at night, is retried in paho's own thread
  with a growing delay (1 s doubling to 10 s) while playback carries on.
* The Last Will (``offline``, retained) is set before connecting; a clean stop
  publishes ``offline`` itself, since a clean DISCONNECT sends no will.
* After every (re)connect: subscribe (so reconnects renew subscriptions), then
  publish availability, discovery and the state in full. While disconnected only
  replies wait (in the outbox); state is re-published whole on connect instead, and
  events, being of their moment, are dropped.
* Callbacks never block: a message is routed and translated (pure, bounded by the
  size cap) and the command put on the daemon's queue; bad payloads are answered
  here, at once, and never reach the player.
* A burst never leaves a wrong state behind: everything outgoing goes through an
  :class:`~sleepsound.mqtt.outbox.Outbox` (the latest state always goes out once paho
  has room; replies wait in order). A :class:`~sleepsound.mqtt.burst.BurstGuard`
  refuses a new command as busy at once when too many are still unanswered, so the
  backlog stays bounded, and the log gets a few lines and a count instead of a line
  per command.
* Commands that arrive retained are ignored, with a warning saying how to clear
  them: a stale retained "play" must not start the sound at 3 a.m.
* Credentials are never logged (:class:`~sleepsound.mqtt.settings.MqttSettings`
  hides the password; paho's own log lines carry only flags).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sleepsound import __version__
from sleepsound.commands import Command, reply_error
from sleepsound.mqtt.burst import BUSY_ERROR, BurstGuard
from sleepsound.mqtt.discovery import DeviceInfo, discovery_messages
from sleepsound.mqtt.outbox import DROPPED, Outbox
from sleepsound.mqtt.payloads import PAYLOAD_FIELD, encode, translate
from sleepsound.mqtt.settings import MqttSettings
from sleepsound.mqtt.throttle import LogThrottle
from sleepsound.mqtt.topics import AVAILABLE, UNAVAILABLE, Route

log = logging.getLogger(__name__)


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


PAHO_LOGGER: Final = logging.getLogger(f"{__name__}.paho")
"""Where paho's own messages go."""
PAHO_LOGGER.addFilter(_QuietConnectionNoise())

Reply = Callable[[dict[str, Any]], None]
"""Called (from any thread) with the reply to a submitted command."""

STATUS_QUERY: Final = Command(action="status")
QOS: Final = 1
REBIRTH_DELAY_S: Final = (1.0, 5.0)
"""Home Assistant's birth message is answered after a random delay in this range, so a
house full of devices does not answer all at once."""
RECONNECT_DELAY_S: Final = (1, 10)
"""paho's reconnect back-off: the first wait and the cap (it doubles in between)."""
CONNECT_TIMEOUT_S: Final = 5.0
STOP_TIMEOUT_S: Final = 1.0
"""How long a stop waits for the broker to take ``offline`` (shutdown must be quick)."""
_REPLY_KEYS: Final = frozenset({"status", "warning", "transaction"})
MAX_QUEUED: Final = 200
"""Outgoing messages paho may hold; past this a publish is dropped, not queued forever."""
PAHO_ROOM: Final = MAX_QUEUED - 10
"""How many of our messages the outbox lets paho hold: below paho's limit, so paho
itself never refuses one (the margin covers ``stop``'s own ``offline``)."""


class Submit(Protocol):
    """The daemon's command entry point: thread-safe, puts on the one command queue."""

    def __call__(self, command: Command | Mapping[str, Any], reply: Reply, /) -> None:
        """Queue ``command``; ``reply`` gets the reply dict once it has run."""


class MqttBridge:
    """The device on the MQTT bus: state out, commands in, Home Assistant discovery.

    Typical use by the daemon (a listener of its status and events)::

        bridge = MqttBridge(settings, daemon.submit, sounds=catalogue_ids)
        bridge.start()                  # returns at once; connects in the background
        ...                             # daemon calls bridge.on_status / on_event
        bridge.stop()                   # offline, disconnect

    ``on_status``, ``on_event`` and ``set_sounds`` may be called from any thread.
    """

    def __init__(
        self,
        settings: MqttSettings,
        submit: Submit,
        *,
        sounds: Sequence[str] = (),
        version: str = __version__,
        rebirth_delay_s: tuple[float, float] = REBIRTH_DELAY_S,
        reconnect_delay_s: tuple[int, int] = RECONNECT_DELAY_S,
        rng: random.Random | None = None,
    ) -> None:
        """Prepare the client; nothing touches the network until :meth:`start`."""
        self.settings = settings
        self.topics = settings.topics
        self._submit = submit
        self._device = DeviceInfo(settings.node_id, settings.name, version)
        self._rebirth_delay_s = rebirth_delay_s
        self._reconnect_delay_s = reconnect_delay_s
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._status: Mapping[str, Any] | None = None
        self._sounds: tuple[str, ...] = tuple(sounds)
        self._published_sounds: tuple[str, ...] | None = None
        self._connected = threading.Event()
        self._rebirth: threading.Timer | None = None
        self._last_refusal: str | None = None
        self._publish_refusals: set[str] = set()
        self._client: mqtt.Client | None = None
        self._outbox = Outbox(self._send, room=PAHO_ROOM)
        self._burst = BurstGuard()
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
        with self._lock:
            if self._rebirth is not None:
                self._rebirth.cancel()
                self._rebirth = None
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

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected or ``timeout_s`` passed; for tools and tests, not callbacks."""
        return self._connected.wait(timeout_s)

    # -- the daemon's listener interface ------------------------------------------------------

    def on_status(self, doc: Mapping[str, Any]) -> None:
        """The state document changed (or was asked for): publish it, retained."""
        with self._lock:
            self._status = dict(doc)
        if self.connected:
            self._outbox.set_state(self.topics.state, encode(doc))

    def on_event(self, event: Mapping[str, Any] | Any) -> None:
        """Publish an event (``{"event_type": …}``, or an object with ``.payload``).

        Not retained, and dropped while disconnected: an event is of its moment.
        """
        payload = event if isinstance(event, Mapping) else event.payload
        if self.connected:
            self._outbox.put(self.topics.event, encode(payload), retain=False)

    def set_sounds(self, sounds: Sequence[str]) -> None:
        """The library changed: re-publish the sound select's options if they differ."""
        with self._lock:
            self._sounds = tuple(sounds)
            changed = self._sounds != self._published_sounds
        if changed and self.connected:
            self._publish_discovery(only="sound")

    def republish(self) -> None:
        """Publish availability, discovery and state now (what every connect does)."""
        if self._client is None or not self.connected:
            return
        self._publish(self.topics.availability, AVAILABLE.encode(), retain=True)
        self._publish_discovery()
        self._republish_state()
        self._outbox.pump()  # replies that waited out a reconnect

    def on_sounds(self, sounds: Sequence[str]) -> None:
        """Listener hook: the daemon's sound ids changed (same as :meth:`set_sounds`)."""
        self.set_sounds(sounds)

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
            self.republish()
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
            self._handle(message.topic, bytes(message.payload), bool(message.retain))
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
            self._outbox.published(mid)
            with self._lock:
                summary = self._burst.over(self._outbox.settled, self._outbox.dropped)
                if summary is not None:
                    self._outbox.dropped = 0
            if summary is not None:
                log.warning("%s", summary)
        except Exception:  # a callback that raises would kill paho's thread
            log.exception("mqtt: error after a publish")

    # -- the work ---------------------------------------------------------------------------

    def _handle(self, topic: str, payload: bytes, retained: bool) -> None:
        route = self.topics.route(topic)
        if route is None:
            return
        if route.kind == "ha_status":
            if payload.strip() == AVAILABLE.encode():
                self._schedule_rebirth()
            return
        if retained:
            log.warning(
                "mqtt: ignored a retained command on %s (commands must not be retained); "
                "clear it with: mosquitto_pub -r -n -t '%s'",
                topic,
                topic,
            )
            return
        if route.kind == "get":
            self._republish_state()
            return
        self._command(route, payload)

    def _command(self, route: Route, payload: bytes) -> None:
        translation = translate(route, payload)
        if translation.reply is not None:
            where = route.group or route.key or "set"
            with self._lock:
                lines = self._burst.refused(time.monotonic(), where, translation.reply["error"])
            for line in lines:
                log.info("%s", line)
            self._send_reply(translation.reply)
        elif translation.command is not None:
            self._run(translation.command)

    def _run(self, command: Command) -> None:
        """Submit a command, or refuse it as busy when too much is still unanswered."""
        with self._lock:
            admitted, line = self._burst.admit(self._outbox.backlog)
        if line is not None:
            log.warning("%s", line)
        if admitted:
            self._submit(command, self._command_reply)
        else:
            busy = reply_error(BUSY_ERROR, PAYLOAD_FIELD, transaction=command.transaction)
            self._send_reply(busy)

    def _command_reply(self, reply: dict[str, Any]) -> None:
        with self._lock:
            self._burst.answered()
        self._send_reply(reply)

    def _send_reply(self, reply: dict[str, Any]) -> None:
        try:
            payload = encode(reply)
        except UnicodeEncodeError:
            # Text echoed from the command (a transaction, a key) held a lone surrogate,
            # which UTF-8 cannot carry; JSON's \u escapes can: still the one true reply.
            payload = json.dumps(reply, separators=(",", ":")).encode("ascii")
        # Kept while disconnected: the broker gets it after the reconnect.
        self._outbox.put(self.topics.response, payload, retain=False)

    def _republish_state(self) -> None:
        with self._lock:
            status = self._status
        if status is None:
            self._submit(STATUS_QUERY, self._status_reply)  # no state yet: ask the daemon
        elif self.connected:
            self._outbox.set_state(self.topics.state, encode(status))

    def _status_reply(self, reply: Mapping[str, Any]) -> None:
        # The daemon answers a status query with the document merged into the reply;
        # it calls on_status only when the document changed.
        if reply.get("status") == "ok" and "state" in reply:
            self.on_status({k: v for k, v in reply.items() if k not in _REPLY_KEYS})

    def _schedule_rebirth(self) -> None:
        low, high = self._rebirth_delay_s
        with self._lock:
            if self._rebirth is not None and self._rebirth.is_alive():
                return
            timer = threading.Timer(self._rng.uniform(low, high), self._rebirth_now)
            timer.daemon = True
            self._rebirth = timer
        timer.start()

    def _rebirth_now(self) -> None:
        try:
            self.republish()
        except Exception:
            log.exception("mqtt: error re-publishing for Home Assistant")

    def _publish_discovery(self, only: str | None = None) -> None:
        if not self.settings.discovery:
            return
        with self._lock:
            sounds = self._sounds
            self._published_sounds = sounds
        for topic, config in discovery_messages(self.topics, self._device, sounds):
            if only is None or topic.endswith(f"/{only}/config"):
                self._publish(topic, encode(config), retain=True)

    def _publish(self, topic: str, payload: bytes, *, retain: bool) -> None:
        """Availability and discovery: few, and never dropped for a full outbox."""
        if self._client is None or not self._connected.is_set():
            return  # re-published in full on the next connect
        self._outbox.put(topic, payload, retain=retain, droppable=False)

    def _send(self, topic: str, payload: bytes, retain: bool) -> int | None:
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
