"""Named outputs as data: what each one is, its ceiling, and which one plays first.

Pure (no I/O). The configuration builds an :class:`OutputTable` from ``[outputs.NAME]``
tables (or, without any, one output called ``default`` from the ``[audio]`` keys);
the player's context carries it, and :mod:`sleepsound.output_switch` decides what a
switch means for the player.

Ceilings: an output worn in or on the ears (headphones, earbuds, a headband) gets a
lower default ceiling than a speaker (:func:`default_ceiling`; the reasoning is in
the README's "Outputs" section). ``[audio] max_volume`` is the house ceiling over
every output: an output's ceiling is the lower of the two, so a lower ceiling always
applies and no output can be louder than the house allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sleepsound.commands import did_you_mean
from sleepsound.dsp.taper import VOLUME_RANGE_DB
from sleepsound.errors import CommandError

DEFAULT_OUTPUT: Final = "default"
"""The name of the one output the ``[audio]`` keys describe when there are no tables."""
KINDS: Final = ("alsa", "bluetooth", "clock")
"""What an output can be: a sound card, a Bluetooth device through BlueALSA, or the
silent real-time clock (demos and tests; it may record)."""
SPEAKER_CEILING: Final = 80.0
"""Default ceiling of a speaker (pillow speaker, bedside speaker): -10 dB on the taper."""
WORN_CEILING: Final = 60.0
"""Default ceiling of an output worn on the ears: -20 dB on the taper, 10 dB under a
speaker's (headphones put the same signal 10-20 dB louder at the eardrum)."""


def default_ceiling(kind: str, worn: bool) -> float:
    """The ceiling an output gets when its table gives no ``max_volume``."""
    return WORN_CEILING if worn else SPEAKER_CEILING


def worn_by_default(kind: str) -> bool:
    """Whether an output of ``kind`` is taken as worn when ``worn`` is not given."""
    return kind == "bluetooth"


@dataclass(frozen=True)
class OutputSetting:
    """One named output, as the configuration settled it."""

    name: str
    kind: str = "alsa"
    """``alsa``, ``bluetooth`` or ``clock`` (:data:`KINDS`)."""
    device: str = "default"
    """The ALSA PCM name (``plughw:CARD=Headphones``, ``bluealsa:DEV=...``)."""
    channels: int = 2
    """2, or 1 for a mono speaker (binaural beds refused or made monaural there)."""
    max_volume: float = SPEAKER_CEILING
    """This output's ceiling, already the lower of its own and the house ceiling."""
    volume: float = 30.0
    """Its start-up volume (until a volume for it is saved); clamped to the ceiling."""
    record: str | None = None
    """Clock outputs: a WAV file to record what would have been played."""
    worn: bool = False
    """In or on the ears (headphones, earbuds, a headband): a lower default ceiling."""
    range_db: float = VOLUME_RANGE_DB
    """Volume 1 is this many dB below volume 100 on this output (a lower bottom when
    larger: 60 puts volume 1 10 dB lower than the usual 50; each step is range_db/100)."""
    keep_alive: str = "off"
    """Bluetooth: ``off`` or ``tone`` (a tone below audibility keeps a headband awake)."""
    off_after_timer: bool = False
    """Bluetooth: disconnect the device when the sleep timer ends."""
    on_disconnect: str = "hold"
    """``hold`` (wait for the device to return) or ``switch:NAME`` (move to another output)."""

    @property
    def switch_on_disconnect(self) -> str | None:
        """The output to move to when this one goes away, or ``None`` (hold)."""
        kind, _, name = self.on_disconnect.partition(":")
        return name if kind == "switch" and name else None

    @property
    def start_volume(self) -> float:
        """The start-up volume, never above the ceiling."""
        return min(self.volume, self.max_volume)


@dataclass(frozen=True)
class OutputTable:
    """Every named output, in config order, and the one that plays by default."""

    outputs: tuple[OutputSetting, ...]
    default: str

    @property
    def names(self) -> tuple[str, ...]:
        """The output names in config order (the Home Assistant select's options)."""
        return tuple(output.name for output in self.outputs)

    def get(self, name: str) -> OutputSetting | None:
        """The output called ``name``, or ``None``."""
        return next((output for output in self.outputs if output.name == name), None)

    def find(self, name: str) -> OutputSetting:
        """The output called ``name``; :class:`CommandError` (field ``output``) if none."""
        found = self.get(name)
        if found is None:
            raise CommandError(
                f"unknown output {name!r}{did_you_mean(name, self.names)}; "
                f"outputs: {', '.join(self.names)} (add [outputs.{name}] to the config)",
                "output",
            )
        return found

    @property
    def first(self) -> OutputSetting:
        """The default output."""
        return self.find(self.default)

    def after(self, name: str) -> OutputSetting:
        """The output after ``name`` in config order, round to the first (``next_output``)."""
        names = self.names
        index = names.index(name) if name in names else -1
        return self.outputs[(index + 1) % len(self.outputs)]

    def starting(self, saved: str | None) -> tuple[OutputSetting, str | None]:
        """The output to start on: the saved one if it still exists, else the default.

        The second value is a log line when a saved output no longer exists.
        """
        if saved is None or saved == self.default:
            return self.first, None
        found = self.get(saved)
        if found is not None:
            return found, None
        return self.first, (
            f"saved output {saved!r} is no longer in the config; "
            f"playing to the default output {self.default!r}"
        )


def single_output(
    *,
    kind: str,
    device: str,
    channels: int,
    max_volume: float,
    volume: float,
    record: str | None,
    range_db: float = VOLUME_RANGE_DB,
) -> OutputTable:
    """The table of one output called ``default``: what the ``[audio]`` keys describe."""
    output = OutputSetting(
        name=DEFAULT_OUTPUT,
        kind=kind,
        device=device,
        channels=channels,
        max_volume=max_volume,
        volume=volume,
        record=record,
        range_db=range_db,
    )
    return OutputTable((output,), DEFAULT_OUTPUT)


__all__ = [
    "DEFAULT_OUTPUT",
    "KINDS",
    "SPEAKER_CEILING",
    "WORN_CEILING",
    "OutputSetting",
    "OutputTable",
    "default_ceiling",
    "single_output",
    "worn_by_default",
]
