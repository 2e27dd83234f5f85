"""Payloads in and out: MQTT bytes <-> commands, replies, state and events. Pure.

Inbound, :func:`translate` turns one message into either a checked
:class:`~sleepsound.commands.Command` for the command queue or the error reply to
publish at once; nothing that fails here reaches the player, so a bad payload
never changes state. It is hostile-input code: the size is capped before
anything is decoded, bytes must be UTF-8, JSON must be strict (no ``NaN``, no
duplicate keys) and shallow (a command object is flat, so anything nested deeper
than :data:`MAX_DEPTH` is refused before the parser could recurse on it).

Every error reply names a ``field``: the offending command key when there is one,
else ``"payload"`` (the message as a whole: not JSON, not UTF-8, too big).

Outbound, :func:`encode` writes compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sleepsound.commands import (
    Command,
    parse_command,
    parse_plain,
    reply_error,
    shorten,
    transaction_of,
)
from sleepsound.errors import CommandError
from sleepsound.mqtt.topics import Route

MAX_PAYLOAD_BYTES: Final = 4096
"""The largest command accepted; the longest real one is under 200 bytes."""
ECHOED_KEY_LIMIT: Final = 64
"""Keys echoed in replies are cut to this: a hostile payload must not flood the reply."""
MAX_PLAIN_BYTES: Final = 256
"""The largest bare value on ``set/<key>`` (a number, ``ON``, a sound id)."""
MAX_DEPTH: Final = 2
"""Object/array nesting accepted by the JSON parser (a command is one flat object;
one level more still gets a precise "volume must be a number, not an array")."""

PAYLOAD_FIELD: Final = "payload"
"""The ``field`` of an error about the message as a whole."""


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


def decode_json_command(payload: bytes) -> Any:
    """Decode a ``/set`` payload into a JSON value; raise :class:`CommandError` if unfit.

    Checks, in order: size, UTF-8, nesting depth, strict JSON.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(
            f"the command is {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
            PAYLOAD_FIELD,
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(
            'the command is not UTF-8 text; send a JSON object such as {"action": "play"}',
            PAYLOAD_FIELD,
        ) from None
    depth, key = nesting(text)
    if depth > MAX_DEPTH:
        where = shorten(key, ECHOED_KEY_LIMIT) if key is not None else PAYLOAD_FIELD
        raise CommandError(f"{where}: nested too deeply; command values are flat", where)
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except CommandError:
        raise
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CommandError(
            f"the command is not valid JSON ({_reason(error)}); send an object such as "
            '{"action": "play"}',
            PAYLOAD_FIELD,
        ) from None


def nesting(text: str) -> tuple[int, str | None]:
    """The deepest ``[``/``{`` nesting in JSON ``text`` and the top-level key it is under.

    A scan of characters, outside strings; it never recurses, so it is safe on
    hostile input. The key is the last complete string seen at depth 1 of a
    top-level object (the key of the member that goes deepest), or ``None``.
    """
    depth = deepest = 0
    key: str | None = None
    deepest_key: str | None = None
    in_string = escaped = False
    start = 0
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                if depth == 1:
                    key = text[start:index]
        elif char == '"':
            in_string, start = True, index + 1
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, deepest_key = depth, key
        elif char in "]}":
            depth -= 1
    # Only an object has keys: a string inside a top-level array names nothing.
    top_is_object = text.lstrip().startswith("{")
    return deepest, deepest_key if deepest > 1 and top_is_object else None


def encode(document: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a state document, reply or event."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# -- helpers ---------------------------------------------------------------------------


def _translate_json(payload: bytes) -> Translation:
    try:
        raw = decode_json_command(payload)
    except CommandError as error:
        return Translation(
            reply=reply_error(error, shorten(error.field or PAYLOAD_FIELD, ECHOED_KEY_LIMIT))
        )
    try:
        return Translation(command=parse_command(raw))
    except CommandError as error:
        field = shorten(error.field or PAYLOAD_FIELD, ECHOED_KEY_LIMIT)
        return Translation(reply=reply_error(error, field, transaction=transaction_of(raw)))


def _translate_plain(key: str, payload: bytes) -> Translation:
    if len(payload) > MAX_PLAIN_BYTES:
        error = CommandError(f"{key}: the value is too long (at most {MAX_PLAIN_BYTES} bytes)", key)
        return Translation(reply=reply_error(error))
    try:
        return Translation(command=parse_plain(key, payload))
    except CommandError as error:
        return Translation(reply=reply_error(error, error.field or key))


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise CommandError(
                f"{shorten(key, ECHOED_KEY_LIMIT)} is given twice; give each key once", key
            )
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _reason(error: BaseException) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at character {error.pos}"
    if isinstance(error, RecursionError):
        return "nested too deeply"
    return str(error)[:80]
