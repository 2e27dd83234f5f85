"""One decoder for the command text of every adapter: bytes in, a command or an error out. Pure.

The control socket (a line) and MQTT (a ``<base>/set`` or group ``set`` payload) both
hand what they received to :func:`decode_command`, so the same bytes get the same
reply from both. It returns a checked :class:`~sleepsound.commands.Command` or raises
:class:`~sleepsound.errors.CommandError`, and nothing else, whatever the input: this
is hostile-input code. In order, it refuses

* anything over :data:`MAX_COMMAND_BYTES` (before decoding anything);
* bytes that are not UTF-8, a byte-order mark, an empty or blank command;
* nesting deeper than :data:`MAX_DEPTH` (a command object is nearly flat), measured by a
  scan that never recurses, before the JSON parser could recurse on it;
* ``NaN``/``Infinity``/``-Infinity`` (while parsing: they never become numbers),
  integers longer than :data:`MAX_INT_DIGITS` digits, duplicate keys at any depth;
* lone surrogates (``"\\ud800"``) in any string or key: they are not text, and a
  reply echoing one could not even be encoded;
* then whatever :func:`~sleepsound.commands.parse_command` refuses.

:func:`error_reply` turns the error into the reply document; whatever it echoes
(a key, a transaction) is short and always encodes as UTF-8 JSON. No Python
exception text ever reaches a reply.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from sleepsound.commands import (
    Action,
    Command,
    parse_command,
    reply_error,
    shorten,
    transaction_of,
)
from sleepsound.errors import CommandError

MAX_COMMAND_BYTES: Final = 4096
"""The largest command accepted; the longest real one is under 200 bytes."""
MAX_DEPTH: Final = 3
"""Object/array nesting accepted by the JSON parser: a command is one flat object, but
``program_add``'s program is an object holding a ``days`` list (and a flat setting
given an array still gets a precise "volume must be a number, not an array")."""
MAX_INT_DIGITS: Final = 20
"""Longer integers are refused: no setting needs them, and a transaction is echoed."""
ECHOED_KEY_LIMIT: Final = 64
"""Keys echoed in replies are cut to this: a hostile payload must not flood the reply."""
PAYLOAD_FIELD: Final = "payload"
"""The ``field`` of an error about the command as a whole."""

_EXAMPLE: Final = 'send a JSON object such as {"action": "play"}'
_BOM: Final = "\ufeff"


def decode_command(
    data: bytes | bytearray | memoryview | str,
    *,
    action_aliases: Mapping[str, Action] | None = None,
) -> Command:
    """Decode and check one command; raise :class:`CommandError`, never anything else.

    ``action_aliases`` lets an adapter accept another word for an action (the socket
    takes ``"get"`` for ``"status"``). The error's ``transaction`` is the command's
    own when it had a valid one, so the refusal can still be matched to it.
    """
    try:
        value = decode_value(data)
        if isinstance(value, dict) and action_aliases:
            action = value.get("action")
            if isinstance(action, str) and action in action_aliases:
                value = {**value, "action": action_aliases[action]}
        try:
            return parse_command(value)
        except CommandError as error:
            error.transaction = transaction_of(value)
            raise
    except CommandError:
        raise
    except (RecursionError, MemoryError):  # belt and braces: the depth scan comes first
        raise CommandError(
            f"the command is nested too deeply or too big; {_EXAMPLE}", PAYLOAD_FIELD
        ) from None
    except (ValueError, OverflowError):
        raise CommandError(f"the command could not be read; {_EXAMPLE}", PAYLOAD_FIELD) from None


def decode_value(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode command text into a JSON value, strictly; raise :class:`CommandError` if unfit.

    Only the text is checked here (size, UTF-8, depth, strict JSON, surrogates), not
    what the value means: that is :func:`~sleepsound.commands.parse_command`'s job.
    """
    text = _text(data)
    if text.startswith(_BOM):
        raise CommandError(
            "the command starts with a byte-order mark (BOM); send plain UTF-8 without one",
            PAYLOAD_FIELD,
        )
    if not text.strip():
        raise CommandError(f"the command is empty; {_EXAMPLE}", PAYLOAD_FIELD)
    depth, key = nesting(text)
    if depth > MAX_DEPTH:
        where = _shown(shorten(key, ECHOED_KEY_LIMIT)) if key is not None else PAYLOAD_FIELD
        raise CommandError(f"{where}: nested too deeply; command values are flat", where)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
        )
    except CommandError:
        raise
    except json.JSONDecodeError as error:
        raise CommandError(
            f"the command is not valid JSON ({error.msg} at character {error.pos}); {_EXAMPLE}",
            PAYLOAD_FIELD,
        ) from None
    except (ValueError, RecursionError):
        raise CommandError(f"the command is not valid JSON; {_EXAMPLE}", PAYLOAD_FIELD) from None
    _refuse_surrogates(value)
    return value


def error_reply(error: CommandError) -> dict[str, Any]:
    """The reply document for a refused command, safe to encode whatever the input was.

    The ``field`` is always there (``"payload"`` for the command as a whole) and cut
    to :data:`ECHOED_KEY_LIMIT`; the error's transaction is echoed.
    """
    field = _shown(shorten(error.field or PAYLOAD_FIELD, ECHOED_KEY_LIMIT))
    transaction = error.transaction
    if isinstance(transaction, str):
        transaction = _shown(transaction)
    if not isinstance(transaction, str | int | float | bool):
        transaction = None
    return reply_error(_shown(str(error)), field, transaction=transaction)


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


# -- helpers ---------------------------------------------------------------------------


def _text(data: bytes | bytearray | memoryview | str) -> str:
    if isinstance(data, str):
        size = len(data.encode("utf-8", "surrogatepass"))
    else:
        data = bytes(data)
        size = len(data)
    if size > MAX_COMMAND_BYTES:
        raise CommandError(
            f"the command is {size} bytes; at most {MAX_COMMAND_BYTES} are accepted",
            PAYLOAD_FIELD,
        )
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CommandError(
            f"the command is not UTF-8 text (byte {error.start} is not); {_EXAMPLE}",
            PAYLOAD_FIELD,
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            shown = _shown(shorten(key, ECHOED_KEY_LIMIT))
            raise CommandError(f"{shown} is given twice; give each key once", shown)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise CommandError(
        f"{name} is not a number JSON allows; send a finite number such as 30", PAYLOAD_FIELD
    )


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise CommandError(
            f"a number in the command has {len(digits.lstrip('-'))} digits; "
            f"at most {MAX_INT_DIGITS} are accepted",
            PAYLOAD_FIELD,
        )
    return int(digits)


def _refuse_surrogates(value: object) -> None:
    """Refuse a lone surrogate anywhere; the value is at most :data:`MAX_DEPTH` deep."""
    members = value.items() if isinstance(value, dict) else [(None, value)]
    for key, member in members:
        if key is not None and not _is_text(key):
            raise CommandError(
                "a key holds a lone surrogate (a \\ud800-\\udfff escape without its pair), "
                "which is not text; send valid Unicode",
                PAYLOAD_FIELD,
            )
        stack = [member]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                if not _is_text(item):
                    field = shorten(key, ECHOED_KEY_LIMIT) if key is not None else PAYLOAD_FIELD
                    raise CommandError(
                        f"{field if key is not None else 'the command'} holds a lone surrogate "
                        "(a \\ud800-\\udfff escape without its pair), which is not text; "
                        "send valid Unicode",
                        field,
                    )
            elif isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(text: str) -> str:
    """``text`` safe to echo: a lone surrogate becomes its ``\\udXXX`` spelling."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
