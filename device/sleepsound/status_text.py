"""The state document in words for people: pure, no I/O.

One wording everywhere the state is shown: the line ``sleepsound ctl`` prints, the
daemon's ``STATUS=`` for systemd (``systemctl status sleepsound``) and the
simulator's "SILENT" warning. The document is the one
:func:`sleepsound.player.status_document` builds and every adapter reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def document_of(reply: Mapping[str, Any]) -> dict[str, Any]:
    """The state document inside a status reply (the reply without status/transaction)."""
    return {key: value for key, value in reply.items() if key not in ("status", "transaction")}


def status_line(document: Mapping[str, Any], tz: dt.tzinfo | None = None) -> str:
    """One line for people: ``playing rain, volume 30 (max 80), timer 45 min, ends 23:41``."""
    state = document.get("state", "unknown")
    sound = document.get("sound") or "no sound"
    parts = [f"{state.replace('_', ' ')} {sound}" if state != "stopped" else f"stopped ({sound})"]
    if document.get("preset"):
        parts[0] += f" (preset {document['preset']})"
    parts.append(f"volume {document.get('volume')} (max {document.get('max_volume')})")
    timer = document.get("sleep_timer") or 0
    ends = _local_time(document.get("timer_ends_at"), tz)
    if timer and ends:
        parts.append(f"timer {timer} min, ends {ends}")
    elif timer:
        parts.append(f"timer {timer} min")
    else:
        parts.append("timer off")
    layer = document.get("layer")
    if isinstance(layer, Mapping):
        parts.append(f"layer {layer.get('sound')} at {layer.get('volume')}")
    program = document.get("program")
    if isinstance(program, Mapping):
        until = _local_time(program.get("until"), tz)
        phase = str(program.get("phase", "")).replace("_", " ")
        text = f"{program.get('kind')} program {program.get('name')} {phase}"
        parts.append(f"{text} until {until}" if until else text)
    silent = output_silence(document)
    if silent:
        parts.append(silent)
    if document.get("last_error"):
        parts.append(f"last error: {document['last_error']}")
    return ", ".join(parts)


def output_silence(document: Mapping[str, Any]) -> str | None:
    """``SILENT: clock output, nobody hears it`` while the output is not heard, else None."""
    output = document.get("output")
    if not isinstance(output, Mapping) or output.get("audible", True):
        return None
    name = output.get("name") or "no output"
    kind = output.get("kind")
    stand_in = kind in ("alsa", "bluetooth") and "device" in output and output["device"] is None
    if kind == "clock" or name == "clock" or stand_in:
        # Chosen, or standing in for a missing card (no device): nobody hears the clock.
        where = "the clock output (no sound card)"
    elif output.get("connected") is False:
        where = f"{name} (not connected)"
    else:
        where = f"{name} (not writing)"
    return f"SILENT: playing to {where}, nobody hears it"


def _local_time(iso: object, tz: dt.tzinfo | None) -> str | None:
    if not isinstance(iso, str):
        return None
    try:
        when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return when.astimezone(tz).strftime("%H:%M")
