"""BlueALSA PCM names: parse and check ``bluealsa:DEV=XX:XX:XX:XX:XX:XX,PROFILE=a2dp``.

Pure: no I/O, so ``check-config`` can say what is wrong with a headband's ``device``
before anything is opened. The grammar is the one the predefined ``bluealsa`` PCM of
Debian 12's ``bluez-alsa-utils`` 4.0 accepts (``/etc/alsa/conf.d/20-bluealsa.conf``,
``bluealsa-plugins(7)``): parameters ``DEV PROFILE CODEC VOL SOFTVOL DELAY SRV``, given

- by name, in any order: ``bluealsa:DEV=01:23:45:67:89:AB,PROFILE=a2dp,VOL=60``;
- by position, in that order, defaults implied only at the end:
  ``bluealsa:01:23:45:67:89:AB`` or ``bluealsa:01:23:45:67:89:AB,a2dp``;
- or not at all: ``bluealsa`` alone is the most recently connected device, A2DP.

``DEV=00:00:00:00:00:00`` (the default) means "the most recently connected device": fine
with one headband, surprising with two. It is accepted (:func:`check_bluealsa_pcm` returns
``None``); :attr:`BlueAlsaPcm.any_device` tells, so a caller can warn, and
:attr:`BlueAlsaPcm.disconnect_address` is then ``None``: ``off_after_timer`` needs an
address to disconnect.

The name is handed to alsa-lib and written to logs; anything that is not plainly one of
these values (quotes, spaces, newlines, braces, semicolons, non-ASCII look-alikes) is
refused, so a config value can never smuggle ALSA configuration syntax in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sleepsound.errors import ParameterError

__all__ = [
    "ANY_DEVICE",
    "PARAMETERS",
    "PROFILES",
    "BlueAlsaNameError",
    "BlueAlsaPcm",
    "check_bluealsa_pcm",
    "is_bluealsa_pcm",
    "parse_bluealsa_pcm",
]

PREFIX = "bluealsa"

PARAMETERS: tuple[str, ...] = ("DEV", "PROFILE", "CODEC", "VOL", "SOFTVOL", "DELAY", "SRV")
"""The predefined PCM's parameters, in their positional order."""

PROFILES: tuple[str, ...] = ("a2dp", "sco")
"""``a2dp`` (stereo music: what a headband wants) or ``sco`` (hands-free/headset, mono)."""

ANY_DEVICE = "00:00:00:00:00:00"
"""BlueALSA's "most recently connected device"."""

EXAMPLE = "bluealsa:DEV=01:23:45:67:89:AB,PROFILE=a2dp"

_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
_CODEC = re.compile(r"[A-Za-z0-9_-]{1,32}(?::[0-9A-Fa-f]{2,64})?")
_VOLUME = re.compile(r"(?:unchanged|(?:100|[1-9]?[0-9])[+-]?|[+-])")
_SOFTVOL = ("on", "off", "yes", "no", "true", "false", "unchanged")
_DELAY = re.compile(r"-?[0-9]{1,7}")
_SERVICE = re.compile(r"org\.bluealsa(?:\.[A-Za-z0-9_]{1,32})?")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9:=,._+-]*")


@dataclass(frozen=True)
class BlueAlsaPcm:
    """A checked BlueALSA PCM name, split into what sleepsound uses."""

    address: str
    """The headband's Bluetooth address, upper case (``ANY_DEVICE`` when not given)."""
    profile: str
    """``a2dp`` or ``sco`` (lower case)."""
    options: tuple[tuple[str, str], ...] = ()
    """The other parameters given (``VOL``, ``SOFTVOL``...), upper-case keys, as written."""

    @property
    def any_device(self) -> bool:
        """True when the name picks whichever device connected last, not one headband."""
        return self.address == ANY_DEVICE

    @property
    def disconnect_address(self) -> str | None:
        """The address ``bluetoothctl disconnect`` takes (None when no device is named)."""
        return None if self.any_device else self.address


class BlueAlsaNameError(ParameterError):
    """Why a name is not a BlueALSA PCM name sleepsound accepts (the user's fix included)."""


def is_bluealsa_pcm(name: str) -> bool:
    """True when ``name`` is meant as a BlueALSA PCM (``bluealsa`` or ``bluealsa:...``)."""
    return name.strip() == PREFIX or name.strip().startswith(PREFIX + ":")


def check_bluealsa_pcm(name: str) -> str | None:
    """What is wrong with ``name`` as a headband's ``device`` (None when nothing is).

    The text names the part that is wrong and shows the form to use, e.g.
    ``bluealsa PCM 'bluealsa:DEV=12:34,PROFILE=a2dp': DEV '12:34' is not a Bluetooth
    address ...``.
    """
    try:
        parse_bluealsa_pcm(name)
    except BlueAlsaNameError as problem:
        return str(problem)
    return None


def parse_bluealsa_pcm(name: str) -> BlueAlsaPcm:
    """Split a BlueALSA PCM name.

    Raises :class:`BlueAlsaNameError` with :func:`check_bluealsa_pcm`'s text.
    """
    if not isinstance(name, str):
        raise BlueAlsaNameError(f"a BlueALSA device must be text like {EXAMPLE!r}, got {name!r}")
    shown = repr(name)
    if not _SAFE_TEXT.fullmatch(name):
        bad = sorted({char for char in name if not _SAFE_TEXT.fullmatch(char)})
        raise BlueAlsaNameError(
            f"bluealsa PCM {shown}: it contains {', '.join(repr(c) for c in bad)}; "
            f"a BlueALSA name has only letters, digits and ':=,._+-', like {EXAMPLE!r}"
        )
    if name == PREFIX:
        return BlueAlsaPcm(ANY_DEVICE, "a2dp")
    if not name.startswith(PREFIX + ":"):
        raise BlueAlsaNameError(
            f"bluealsa PCM {shown} does not start with 'bluealsa:'; "
            f"write it like {EXAMPLE!r} (find the address with `bluetoothctl devices`)"
        )
    values = _split_arguments(name[len(PREFIX) + 1 :], shown)
    for key, value in values.items():
        _check_value(key, value, shown)
    address = values.get("DEV", ANY_DEVICE).upper()
    profile = values.get("PROFILE", "a2dp").lower()
    options = tuple(
        (key, values[key]) for key in PARAMETERS if key in values and key not in ("DEV", "PROFILE")
    )
    return BlueAlsaPcm(address, profile, options)


def _split_arguments(text: str, shown: str) -> dict[str, str]:
    """ALSA's argument list: all ``KEY=value`` or all positional, never empty in between."""
    if not text:
        raise BlueAlsaNameError(
            f"bluealsa PCM {shown}: nothing after 'bluealsa:'; write {EXAMPLE!r}"
        )
    parts = text.split(",")
    named = ["=" in part for part in parts]
    if any(named) and "" in parts:
        raise BlueAlsaNameError(f"bluealsa PCM {shown}: an empty part (a stray ','); remove it")
    if any(named) and not all(named):
        raise BlueAlsaNameError(
            f"bluealsa PCM {shown}: mixes KEY=value and bare values; "
            f"name every parameter, like {EXAMPLE!r}"
        )
    values: dict[str, str] = {}
    if all(named):
        for part in parts:
            key, _, value = part.partition("=")
            key = key.strip().upper()
            if key not in PARAMETERS:
                raise BlueAlsaNameError(
                    f"bluealsa PCM {shown}: unknown parameter {key or '(empty)'!r}; "
                    f"BlueALSA knows {', '.join(PARAMETERS)}"
                )
            if key in values:
                raise BlueAlsaNameError(f"bluealsa PCM {shown}: {key} is given twice; keep one")
            values[key] = value
        return values
    if len(parts) > len(PARAMETERS):
        raise BlueAlsaNameError(
            f"bluealsa PCM {shown}: {len(parts)} values, BlueALSA takes at most "
            f"{len(PARAMETERS)} ({', '.join(PARAMETERS)})"
        )
    for key, value in zip(PARAMETERS, parts, strict=False):
        if not value:
            raise BlueAlsaNameError(
                f"bluealsa PCM {shown}: {key} is empty; positional values can only be "
                f"left out at the end, so name them instead, like {EXAMPLE!r}"
            )
        values[key] = value
    return values


def _check_value(key: str, value: str, shown: str) -> None:
    """Raise when ``value`` is not one BlueALSA takes for ``key``."""
    where = f"bluealsa PCM {shown}: {key}"
    if key == "DEV" and not _ADDRESS.fullmatch(value):
        raise BlueAlsaNameError(
            f"{where} {value!r} is not a Bluetooth address; use six hex pairs like "
            f"01:23:45:67:89:AB (`bluetoothctl devices` lists them; device names do not work)"
        )
    if key == "PROFILE" and value.lower() not in PROFILES:
        raise BlueAlsaNameError(
            f"{where} {value!r} is not a profile; use a2dp (stereo, for a headband) or sco"
        )
    if key == "CODEC" and not _CODEC.fullmatch(value):
        raise BlueAlsaNameError(f"{where} {value!r} is not a codec name (sbc, aac, aptx, ...)")
    if key == "VOL" and not _VOLUME.fullmatch(value):
        raise BlueAlsaNameError(f"{where} {value!r} is not a volume; use 0-100, optionally + or -")
    if key == "SOFTVOL" and value.lower() not in _SOFTVOL:
        raise BlueAlsaNameError(f"{where} {value!r} is not on, off or unchanged")
    if key == "DELAY" and not _DELAY.fullmatch(value):
        raise BlueAlsaNameError(f"{where} {value!r} is not a whole number")
    if key == "SRV" and not _SERVICE.fullmatch(value):
        raise BlueAlsaNameError(f"{where} {value!r} is not a BlueALSA service name (org.bluealsa)")
