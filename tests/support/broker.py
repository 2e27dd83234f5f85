"""A real, throwaway Mosquitto broker for tests, plus a small MQTT probe client.

Each broker gets its own config, port, log and (optionally) TLS files and password file in a
temporary directory. Nothing here uses the system-wide mosquitto service.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

# Generous: these bound waiting for a process or a network round trip on a loaded machine,
# they are not performance assertions.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
MESSAGE_TIMEOUT_S = 10.0


class BrokerError(RuntimeError):
    """The test broker could not be started (the message includes its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class TlsFiles:
    """A test CA and the server and client certificates it signed (PEM files)."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BrokerError(f"openssl {' '.join(map(str, args))} failed:\n{result.stderr}")


def make_tls_files(directory: Path, hostnames: Iterable[str] = ("localhost",)) -> TlsFiles:
    """Create a CA and server/client certificates in ``directory`` with the openssl CLI.

    The server certificate is valid for 127.0.0.1, ::1 and ``hostnames``; EC keys keep
    generation fast. Valid for two days.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_file = folder / "ca.key", folder / "ca.crt"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", ca_key, "-out", ca_file, "-days", "2",
        "-subj", "/CN=sleepsound test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    names = ["IP:127.0.0.1", "IP:::1", *(f"DNS:{name}" for name in hostnames)]
    issued: dict[str, tuple[Path, Path]] = {}
    for role, usage, extra in (
        ("server", "serverAuth", f"subjectAltName={','.join(names)}"),
        ("client", "clientAuth", "subjectAltName=DNS:sleepsound-test-client"),
    ):
        key, csr, cert = folder / f"{role}.key", folder / f"{role}.csr", folder / f"{role}.crt"
        extensions = folder / f"{role}.ext"
        extensions.write_text(f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n{extra}\n")
        _openssl("req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN=test {role}")
        _openssl(
            "x509", "-req", "-in", csr, "-CA", ca_file, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", extensions,
        )  # fmt: skip
        issued[role] = (cert, key)
    return TlsFiles(ca_file, *issued["server"], *issued["client"])


@dataclass
class MosquittoBroker:
    """One mosquitto process on 127.0.0.1 with its own config in ``directory``.

    Create with :meth:`start` (the ``mosquitto`` fixture does); :meth:`stop` and
    :meth:`start` again to simulate a broker restart on the same port.
    """

    directory: Path
    host: str = "127.0.0.1"
    port: int = 0
    tls: TlsFiles | None = None
    require_client_cert: bool = False
    users: Mapping[str, str] = field(default_factory=dict)
    allow_anonymous: bool = True
    acl: str | None = None
    extra_config: str = ""
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_handle: Any = field(default=None, init=False, repr=False)

    @property
    def config_file(self) -> Path:
        """The mosquitto.conf this broker runs with."""
        return self.directory / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        """mosquitto's log, across restarts."""
        return self.directory / "mosquitto.log"

    @property
    def output_file(self) -> Path:
        """What mosquitto printed before its log was set up (e.g. config errors)."""
        return self.directory / "mosquitto.out"

    @property
    def running(self) -> bool:
        """Whether the mosquitto process is alive."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """Return the broker's output and log so far (connections, errors, refused logins)."""
        return "".join(
            path.read_text(errors="replace")
            for path in (self.output_file, self.log_file)
            if path.exists()
        )

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence false",
            # A file, not stdout: mosquitto flushes its log file per line but not a piped
            # stdout, and a test reading the log must see what already happened.
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto switches to the "mosquitto" user after reading its config and
            # then cannot read files under pytest's private (0700) temp directories.
            lines.append("user root")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_file}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
            ]
            if self.require_client_cert:
                lines.append("require_certificate true")
        if self.users:
            password_file = self.directory / "passwords"
            password_file.unlink(missing_ok=True)
            for user, password in self.users.items():
                flags = ["-b"] if password_file.exists() else ["-c", "-b"]
                subprocess.run(
                    ["mosquitto_passwd", *flags, str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_file.write_text("\n".join(lines) + "\n")

    def start(self) -> MosquittoBroker:
        """Start mosquitto (on the same port as before, if it ran) and wait until it accepts."""
        if self.running:
            return self
        if shutil.which("mosquitto") is None:
            raise BrokerError("mosquitto is not installed: run ./scripts/setup")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.host)
        self._write_config()
        self._log_handle = self.output_file.open("ab")
        self._process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config_file)],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_accepts(self.host, self.port):
            if self._process.poll() is not None:
                self._close_log()
                raise BrokerError(
                    f"mosquitto exited with {self._process.returncode} on port {self.port}:\n"
                    f"{self.log()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"mosquitto did not accept on port {self.port}:\n{self.log()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop mosquitto (clients see the connection drop); the port stays reserved for us."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def client(
        self,
        client_id: str = "",
        username: str | None = None,
        password: str | None = None,
        client_cert: bool = False,
    ) -> mqtt.Client:
        """Return an unconnected paho client (VERSION2 callbacks) set up for this broker."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            client.username_pw_set(username, password)
        if self.tls is not None:
            if client_cert:
                client.tls_set(
                    ca_certs=str(self.tls.ca_file),
                    certfile=str(self.tls.client_cert),
                    keyfile=str(self.tls.client_key),
                )
            else:
                client.tls_set(ca_certs=str(self.tls.ca_file))
        return client


@dataclass(frozen=True)
class Message:
    """One received MQTT message."""

    topic: str
    payload: bytes
    retain: bool
    qos: int

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8."""
        return self.payload.decode()


class MqttProbe:
    """A test's own MQTT client: subscribe, publish, and wait for what arrives.

    ``connect()`` blocks until the broker accepted the connection (or raises with the reason
    code), so a test never races its own setup. Every message lands in :attr:`received`;
    :meth:`wait_for` hands each one out at most once, in arrival order.
    """

    def __init__(self, broker: MosquittoBroker, client_id: str = "", **client_options: Any):
        """Prepare a client for ``broker``; options go to :meth:`MosquittoBroker.client`."""
        self.broker = broker
        self.client = broker.client(client_id=client_id, **client_options)
        self.received: list[Message] = []
        self._unclaimed: list[Message] = []
        self._arrived = threading.Condition()
        self._connected = threading.Event()
        self._connect_reason: Any = None
        self._subscribed: queue.Queue[int] = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connect_reason = reason
        self._connected.set()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        # Before a CONNACK this means refused (e.g. TLS without the client certificate the
        # broker demands): wake connect() now instead of letting it wait for its timeout.
        if not self._connected.is_set():
            self._connect_reason = reason
            self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received = Message(message.topic, message.payload, bool(message.retain), message.qos)
        with self._arrived:
            self.received.append(received)
            self._unclaimed.append(received)
            self._arrived.notify_all()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, properties: Any
    ) -> None:
        self._subscribed.put(mid)

    def connect(self) -> MqttProbe:
        """Connect and start the network loop; raise ``ConnectionError`` if refused."""
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()
        if not self._connected.wait(MESSAGE_TIMEOUT_S):
            raise ConnectionError(f"no CONNACK from the broker:\n{self.broker.log()}")
        reason = self._connect_reason
        if reason is not None and reason.is_failure:
            self.client.loop_stop()
            raise ConnectionError(f"broker refused the connection: {reason}")
        return self

    def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe and wait for the SUBACK, so nothing published afterwards is missed."""
        result, mid = self.client.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"subscribe to {topic!r} failed: {mqtt.error_string(result)}")
        while self._subscribed.get(timeout=MESSAGE_TIMEOUT_S) != mid:
            pass

    def publish(
        self, topic: str, payload: str | bytes, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish and wait until the broker has it (QoS >= 1) or it was sent (QoS 0)."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(MESSAGE_TIMEOUT_S)
        return info

    def wait_for(
        self,
        topic: str | None = None,
        predicate: Callable[[Message], bool] | None = None,
        timeout_s: float = MESSAGE_TIMEOUT_S,
    ) -> Message:
        """Return the oldest unclaimed message on ``topic`` (a filter, wildcards allowed)
        that satisfies ``predicate``, waiting for it if needed.

        Raises ``TimeoutError`` listing what did arrive, so a failing test says what it saw.
        """

        def matches(message: Message) -> bool:
            return (topic is None or mqtt.topic_matches_sub(topic, message.topic)) and (
                predicate is None or predicate(message)
            )

        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while True:
                for index, message in enumerate(self._unclaimed):
                    if matches(message):
                        del self._unclaimed[index]
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(m.topic, m.payload[:200]) for m in self.received]
                    raise TimeoutError(f"no message on {topic!r} matched; received {seen}")
                self._arrived.wait(remaining)

    def clear(self) -> None:
        """Forget unclaimed messages (e.g. retained ones delivered on subscribe)."""
        with self._arrived:
            self._unclaimed.clear()

    def disconnect(self) -> None:
        """Disconnect cleanly and stop the network loop."""
        self.client.disconnect()
        self.client.loop_stop()
