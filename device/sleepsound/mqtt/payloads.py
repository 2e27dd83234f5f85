"""Payloads in and out: MQTT bytes <-> commands, replies, state and events. Pure.

Inbound, :func:`translate` turns one message into either a checked
:class:`~sleepsound.commands.Command` for the command queue or the error reply to
publish at once; nothing that fails here reaches the player, so a bad payload
never changes state. A JSON ``set`` payload goes through the one decoder every
adapter uses (:func:`sleepsound.command_decoder.decode_command`: size cap, UTF-8,
depth, strict JSON, no lone surrogates), so it gets the same reply as the same
line on the control socket.

Every error reply names a ``field``: the offending command key when there is one,
else ``"payload"`` (the message as a whole: not JSON, not UTF-8, too big).

Outbound, :func:`encode` writes compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.command_decoder import (
    ECHOED_KEY_LIMIT,
    MAX_COMMAND_BYTES,
    MAX_DEPTH,
    PAYLOAD_FIELD,
    decode_command,
    error_reply,
    nesting,
)
from sleepsound.commands import Command, parse_plain, reply_error
from sleepsound.errors import CommandError
from sleepsound.mqtt.topics import Route

__all__ = [
    "ECHOED_KEY_LIMIT",
    "MAX_DEPTH",
    "MAX_PAYLOAD_BYTES",
    "MAX_PLAIN_BYTES",
    "PAYLOAD_FIELD",
    "Translation",
    "encode",
    "nesting",
    "translate",
]

MAX_PAYLOAD_BYTES: Final = MAX_COMMAND_BYTES
"""The largest command accepted; the longest real one is under 200 bytes."""
MAX_PLAIN_BYTES: Final = 256
"""The largest bare value on ``set/<key>`` (a number, ``ON``, a sound id)."""


@dataclass(frozen=True)
class Translation:
    """The result of :func:`translate`: a command to queue, or a reply to send now."""

    command: Command | None = None
    reply: dict[str, Any] | None = None


def translate(route: Route, payload: bytes) -> Translation:
    """Turn a command message (``set`` or ``set_key`` route) into a command or an error reply."""
    if route.kind == "set":
        return _translate_json(payload)
    if route.kind == "set_key" and route.key is not None:
        return _translate_plain(route.key, payload)
    raise ValueError(f"not a command route: {route}")


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a state document, reply or event; it never fails to encode."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (a file name's undecodable byte) cannot be UTF-8: spelt as its
    # \udXXX escape it stays valid JSON for the same text, where "strict" would raise.
    return text.encode("utf-8", "backslashreplace")


# -- helpers ---------------------------------------------------------------------------


def _translate_json(payload: bytes) -> Translation:
    try:
        return Translation(command=decode_command(payload))
    except CommandError as error:
        return Translation(reply=error_reply(error))


def _translate_plain(key: str, payload: bytes) -> Translation:
    if len(payload) > MAX_PLAIN_BYTES:
        error = CommandError(f"{key}: the value is too long (at most {MAX_PLAIN_BYTES} bytes)", key)
        return Translation(reply=reply_error(error))
    try:
        return Translation(command=parse_plain(key, payload))
    except CommandError as error:
        return Translation(reply=reply_error(error, error.field or key))
