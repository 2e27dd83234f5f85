"""Topic names and routing: which topic means what. Pure.

Everything the device publishes or obeys lives under ``<prefix>/<device_id>``
(the *base*), Zigbee2MQTT style; group commands under ``<prefix>/group/<name>``;
Home Assistant's birth message on ``<discovery_prefix>/status``. Nothing of ours
goes under the discovery prefix except the discovery configs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

AVAILABLE: Final = "online"
UNAVAILABLE: Final = "offline"

RouteKind = Literal["set", "set_key", "get", "ha_status"]


@dataclass(frozen=True)
class Route:
    """What an incoming topic asks for.

    ``set``: a JSON command; ``set_key``: a bare value for command key ``key``;
    ``get``: re-publish the state; ``ha_status``: Home Assistant's birth/last will.
    ``group`` names the group a command came through (``None``: our own topic).
    """

    kind: RouteKind
    key: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Topics:
    """Every topic of one device, from the ``[mqtt]`` settings."""

    prefix: str
    device_id: str
    discovery_prefix: str = "homeassistant"
    groups: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        """``<prefix>/<device_id>``."""
        return f"{self.prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        """Retained ``online``/``offline``; the Last Will says ``offline``."""
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        """The retained JSON state document."""
        return f"{self.base}/state"

    @property
    def set(self) -> str:
        """JSON commands (several keys at once)."""
        return f"{self.base}/set"

    @property
    def get(self) -> str:
        """Any message here makes the device re-publish its state."""
        return f"{self.base}/get"

    @property
    def response(self) -> str:
        """The JSON reply to each command."""
        return f"{self.base}/response"

    @property
    def event(self) -> str:
        """Button gestures, timer expiry, playback errors (not retained)."""
        return f"{self.base}/event"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces ``online`` after it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def set_key(self, key: str) -> str:
        """The plain-value command topic for ``key`` (``<base>/set/volume``)."""
        return f"{self.set}/{key}"

    def group_set(self, group: str) -> str:
        """The JSON command topic shared by every device in ``group``."""
        return f"{self.prefix}/group/{group}/set"

    def subscriptions(self) -> tuple[str, ...]:
        """The topic filters to subscribe to (after every connect)."""
        filters = [self.set, f"{self.set}/+", self.get, self.ha_status]
        for group in self.groups:
            filters += [self.group_set(group), f"{self.group_set(group)}/+"]
        return tuple(filters)

    def route(self, topic: str) -> Route | None:
        """What ``topic`` asks for, or ``None`` if it is none of ours."""
        if topic == self.set:
            return Route("set")
        if topic == self.get:
            return Route("get")
        if topic == self.ha_status:
            return Route("ha_status")
        key = _child(topic, self.set)
        if key is not None:
            return Route("set_key", key=key)
        for group in self.groups:
            shared = self.group_set(group)
            if topic == shared:
                return Route("set", group=group)
            key = _child(topic, shared)
            if key is not None:
                return Route("set_key", key=key, group=group)
        return None


def _child(topic: str, parent: str) -> str | None:
    """The single level below ``parent`` in ``topic`` (``a/set/volume`` -> ``volume``)."""
    head = parent + "/"
    if not topic.startswith(head):
        return None
    rest = topic[len(head) :]
    return rest if rest and "/" not in rest else None
