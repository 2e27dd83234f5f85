"""The ``[mqtt]`` section resolved into what the client needs.

:func:`resolve` is pure: defaults filled in (device id, client id, name), the
password taken from the config or from the text of ``password_file`` (read by
:func:`load_settings`, the thin I/O wrapper). The password is kept out of every
``repr`` and log line: :class:`MqttSettings` hides it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from sleepsound.errors import ConfigError
from sleepsound.mqtt.identity import default_device_id, node_id, read_machine_id
from sleepsound.mqtt.topics import Topics

Protocol = Literal["3.1.1", "5"]


@dataclass(frozen=True)
class MqttSettings:
    """Everything the MQTT client needs, with every default decided."""

    host: str
    port: int
    topics: Topics
    node_id: str
    """Home Assistant's id for this device (see :mod:`sleepsound.mqtt.identity`)."""
    client_id: str
    name: str
    """The device's name in Home Assistant."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    protocol: Protocol = "3.1.1"
    keepalive_s: int = 30
    discovery: bool = True

    @property
    def enabled(self) -> bool:
        """Whether MQTT is on (a host is configured)."""
        return bool(self.host)

    def describe(self) -> str:
        """One log line: where we connect and as whom; never the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return (
            f"{scheme}://{user}{self.host}:{self.port} as {self.client_id!r} "
            f"(MQTT {self.protocol}), topics {self.topics.base}/#"
        )


def resolve(
    config: Any,
    *,
    machine_id: str,
    hostname_device_id: str,
    password_from_file: str | None = None,
) -> MqttSettings:
    """Build :class:`MqttSettings` from a :class:`~sleepsound.config.MqttConfig`; pure."""
    device_id = config.device_id or hostname_device_id
    password = config.password or password_from_file or None
    return MqttSettings(
        host=config.host,
        port=config.port,
        topics=Topics(
            prefix=config.prefix,
            device_id=device_id,
            discovery_prefix=config.discovery_prefix,
            groups=tuple(config.groups),
        ),
        node_id=node_id(machine_id, device_id),
        client_id=config.client_id or f"sleepsound-{device_id}",
        name=config.name or f"Sleepsound {device_id}",
        username=config.username or None,
        password=password,
        tls=bool(config.tls or config.ca_file),
        ca_file=config.ca_file or None,
        certfile=config.certfile or None,
        keyfile=config.keyfile or None,
        protocol=config.protocol,
        keepalive_s=config.keepalive_s,
        discovery=config.discovery,
    )


def load_settings(
    config: Any,
    *,
    read_text: Callable[[str], str] | None = None,
    machine_id: str | None = None,
) -> MqttSettings:
    """Resolve ``config`` (``[mqtt]``), reading the password file and the machine id.

    Raises :class:`ConfigError` when ``password_file`` cannot be read or is empty.
    """
    read = read_text or _read_text
    from_file = None
    if config.password_file:
        try:
            lines = read(config.password_file).splitlines()
        except OSError as error:
            raise ConfigError(
                [
                    f"mqtt.password_file: cannot read {config.password_file}: "
                    f"{error.strerror or error}; check the path and that the daemon's user "
                    "may read it"
                ]
            ) from None
        from_file = lines[0] if lines else ""  # exactly the first line: spaces may count
        if not from_file:
            raise ConfigError(
                [f"mqtt.password_file: {config.password_file} is empty; put the password in it"]
            )
    return resolve(
        config,
        machine_id=machine_id if machine_id is not None else read_machine_id(),
        hostname_device_id=default_device_id(),
        password_from_file=from_file,
    )


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read(4096)
