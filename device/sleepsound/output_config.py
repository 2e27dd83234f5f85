"""The ``[outputs.NAME]`` config tables: their schema, checks, and the output table.

Registered in :data:`sleepsound.config.SECTIONS` as ``"outputs"``; each named table
describes one output::

    [audio]
    output_default = "pillow"

    [outputs.pillow]             # a mono pillow speaker
    device = "plughw:CARD=Device"
    channels = 1

    [outputs.headphones]         # worn: a lower default ceiling
    device = "plughw:CARD=Headphones"
    worn = true
    range_db = 60                # a lower bottom: volume 1 is 59.4 dB down

    [outputs.headband]           # a Bluetooth sleep headband through BlueALSA
    kind = "bluetooth"
    device = "bluealsa:DEV=00:11:22:33:44:55,PROFILE=a2dp"
    on_disconnect = "switch:pillow"

Without any table, the ``[audio]`` keys (``output``, ``device``, ``channels``,
``max_volume``, ``volume``, ``record``, ``range_db``) describe one output called
``default``, exactly as before. :func:`output_table` turns a checked
:class:`~sleepsound.config.Config` into the pure
:class:`~sleepsound.output_table.OutputTable` the player and the daemon use.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from sleepsound.config import (
    AudioConfig,
    Config,
    SectionSpec,
    number_schema,
)
from sleepsound.output_table import (
    DEFAULT_OUTPUT,
    KINDS,
    OutputSetting,
    OutputTable,
    default_ceiling,
    single_output,
    worn_by_default,
)
from sleepsound.outputs.bluealsa_name import (
    check_bluealsa_pcm,
    is_bluealsa_pcm,
    parse_bluealsa_pcm,
)

SWITCH_PREFIX: Final = "switch:"
BLUETOOTH_ONLY: Final = ("keep_alive", "off_after_timer")
"""Keys that only mean something for ``kind = "bluetooth"``."""


@dataclass(frozen=True)
class OutputConfig:
    """One ``[outputs.NAME]`` table; ``None`` means "the default for its kind"."""

    kind: str = "alsa"
    """``"alsa"`` (a sound card), ``"bluetooth"`` (BlueALSA) or ``"clock"`` (silent)."""
    device: str = "default"
    """The ALSA PCM name, by name (``plughw:CARD=Headphones``, ``bluealsa:DEV=...``)."""
    channels: int = 2
    """2, or 1 for a mono speaker."""
    max_volume: float | None = None
    """This output's ceiling; unset: 60 if worn, 80 for a speaker. Never above
    ``[audio] max_volume`` (the house ceiling)."""
    volume: float | None = None
    """Its start-up volume (until one is saved); unset: ``[audio] volume``."""
    record: str | None = None
    """``kind = "clock"`` only: a WAV file recording what would have been played."""
    worn: bool | None = None
    """In or on the ears (headphones, earbuds, headband); unset: true for bluetooth."""
    range_db: float | None = None
    """Volume 1 is this many dB below 100 here; unset: ``[audio] range_db`` (50)."""
    keep_alive: str = "off"
    """Bluetooth: ``"off"`` or ``"tone"`` (keeps a headband from switching itself off)."""
    off_after_timer: bool = False
    """Bluetooth: disconnect the device when the sleep timer ends."""
    on_disconnect: str = "hold"
    """When the device goes away: ``"hold"`` (wait for it to return: nothing moves to a
    speaker by itself, which could wake a partner) or ``"switch:NAME"``."""


@dataclass(frozen=True)
class OutputsConfig:
    """``[outputs]``: the named tables in file order."""

    tables: tuple[tuple[str, OutputConfig], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The output names in file order."""
        return tuple(name for name, _ in self.tables)


OUTPUT_SCHEMA: Final[dict[str, Any]] = {
    "kind": {"enum": list(KINDS)},
    "device": {"type": "string", "minLength": 1},
    "channels": {"enum": [1, 2]},
    "max_volume": number_schema(1, 100),
    "volume": number_schema(0, 100),
    "record": {"type": "string", "minLength": 1},
    "worn": {"type": "boolean"},
    "range_db": number_schema(50, 90),
    "keep_alive": {"enum": ["off", "tone"]},
    "off_after_timer": {"type": "boolean"},
    "on_disconnect": {
        "type": "string",
        "pattern": r"^(hold|switch:[a-z0-9][a-z0-9_-]{0,31})$",
        "x-means": '"hold" or "switch:NAME" (another output\'s name)',
    },
}


def _collect(tables: Mapping[str, OutputConfig]) -> OutputsConfig:
    return OutputsConfig(tuple(tables.items()))


def _check_tables(section: Mapping[str, Any]) -> list[str]:
    problems = []
    names = [name for name, table in section.items() if isinstance(table, Mapping)]
    for name, table in section.items():
        if not isinstance(table, Mapping):
            continue
        kind = table.get("kind", OutputConfig.kind)
        where = f"outputs.{name}"
        if "record" in table and kind != "clock":
            problems.append(f'{where}.record: only works with kind = "clock"; remove it')
        if kind != "bluetooth":
            problems.extend(
                f'{where}.{key}: only for kind = "bluetooth"; remove it or set kind'
                for key in BLUETOOTH_ONLY
                if key in table
            )
        if kind == "clock" and "on_disconnect" in table:
            problems.append(f"{where}.on_disconnect: a clock output never disconnects; remove it")
        device = table.get("device", OutputConfig.device)
        if kind == "bluetooth" and isinstance(device, str):
            problem = check_bluealsa_pcm(device)
            if problem is not None:
                problems.append(f"{where}.device: {problem}")
        target = table.get("on_disconnect")
        if isinstance(target, str) and target.startswith(SWITCH_PREFIX):
            other = target.removeprefix(SWITCH_PREFIX)
            if other == name:
                problems.append(
                    f"{where}.on_disconnect: {target!r} names this output itself; "
                    'name another output or use "hold"'
                )
            elif other not in names:
                problems.append(
                    f"{where}.on_disconnect: no output called {other!r}; "
                    f"outputs: {', '.join(names)}"
                )
    return problems


def _check_document(data: Mapping[str, Any]) -> list[str]:
    section = data.get("outputs")
    names = list(section) if isinstance(section, Mapping) and section else [DEFAULT_OUTPUT]
    problems = []
    audio = data.get("audio")
    wanted = audio.get("output_default") if isinstance(audio, Mapping) else None
    if isinstance(wanted, str) and wanted not in names:
        problems.append(
            f"audio.output_default: no output called {wanted!r}; outputs: {', '.join(names)} "
            f"(add an [outputs.{wanted}] table, or name one of these)"
        )
    # A gesture bound to {"output": NAME}: a name that does not exist is a mistake now,
    # not a refusal at night when the button is pressed.
    for where, name in _bound_outputs(data.get("controls"), "controls"):
        if name not in names:
            problems.append(f"{where}: no output called {name!r}; outputs: {', '.join(names)}")
    return problems


def _bound_outputs(value: object, where: str) -> Iterator[tuple[str, str]]:
    """(key path, name) of every ``output = NAME`` in a command under ``value``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == "output" and isinstance(item, str):
                yield f"{where}.output", item
            else:
                yield from _bound_outputs(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bound_outputs(item, f"{where}[{index}]")


def _advise_document(data: Mapping[str, Any]) -> list[str]:
    section = data.get("outputs")
    audio = data.get("audio")
    if not isinstance(section, Mapping) or not section:
        return []
    warnings = []
    if isinstance(audio, Mapping):
        ignored = [key for key in ("output", "device", "channels", "record") if key in audio]
        warnings.extend(
            f"audio.{key}: not used when [outputs] tables are given; "
            f"set it in an [outputs.NAME] table instead"
            for key in ignored
        )
    config_audio = _audio_of(audio)
    for name, table in section.items():
        if isinstance(table, Mapping) and table.get("off_after_timer") is True:
            device = str(table.get("device", OutputConfig.device))
            if is_bluealsa_pcm(device) and parse_bluealsa_pcm(device).any_device:
                warnings.append(
                    f"outputs.{name}.off_after_timer: the device names no headband "
                    "(DEV=XX:XX:XX:XX:XX:XX), so there is none to disconnect; add its address"
                )
    for name, table in section.items():
        if not isinstance(table, Mapping):
            continue
        setting = _setting(name, _table_config(table), config_audio)
        volume = table.get("volume")
        if isinstance(volume, int | float) and volume > setting.max_volume:
            warnings.append(
                f"outputs.{name}.volume: {volume:g} is above this output's ceiling "
                f"{setting.max_volume:g}; starting at {setting.max_volume:g}"
            )
    return warnings


def _audio_of(audio: object) -> AudioConfig:
    if not isinstance(audio, Mapping):
        return AudioConfig()
    keys = ("max_volume", "volume", "range_db")
    return AudioConfig(**{k: float(audio[k]) for k in keys if k in audio})


def _table_config(table: Mapping[str, Any]) -> OutputConfig:
    numbers = ("max_volume", "volume", "range_db")
    values = {k: (float(v) if k in numbers else v) for k, v in table.items()}
    return OutputConfig(**values)


OUTPUTS_SECTION: Final = SectionSpec(
    OUTPUT_SCHEMA,
    OutputConfig,
    _check_tables,
    named=_collect,
    check_document=_check_document,
    advise_document=_advise_document,
)
"""The ``[outputs]`` section's spec (see :data:`sleepsound.config.SECTIONS`)."""


def _setting(name: str, table: OutputConfig, audio: AudioConfig) -> OutputSetting:
    worn = table.worn if table.worn is not None else worn_by_default(table.kind)
    own = table.max_volume if table.max_volume is not None else default_ceiling(table.kind, worn)
    return OutputSetting(
        name=name,
        kind=table.kind,
        device=table.device,
        channels=table.channels,
        # The house ceiling bounds every output: the lower of the two always applies.
        max_volume=min(own, audio.max_volume),
        volume=table.volume if table.volume is not None else audio.volume,
        record=table.record,
        worn=worn,
        range_db=table.range_db if table.range_db is not None else audio.range_db,
        keep_alive=table.keep_alive,
        off_after_timer=table.off_after_timer,
        on_disconnect=table.on_disconnect,
    )


def lowered_output_ceilings(running: Config, refused: Mapping[str, Any]) -> Config | None:
    """``running`` with the lower ``[outputs.NAME] max_volume`` values of a refused file.

    A lower ceiling is a safety setting: like ``[audio] max_volume``
    (:func:`sleepsound.config.salvage_ceiling`) it applies even from a config file that
    is refused for other reasons. ``refused`` is that file's decoded TOML; only valid
    numbers for outputs the running config has, and lower than they are now, are taken.
    ``None`` when nothing is lowered.
    """
    section = refused.get("outputs")
    if not isinstance(section, Mapping):
        return None
    current = running.named_outputs()
    tables = dict(running.section("outputs").tables)
    lowered = False
    for name, table in section.items():
        value = table.get("max_volume") if isinstance(table, Mapping) else None
        setting = current.get(name) if isinstance(name, str) else None
        if name not in tables or setting is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float) and 1 <= value < setting.max_volume:
            tables[name] = replace(tables[name], max_volume=float(value))
            lowered = True
    if not lowered:
        return None
    section_config = OutputsConfig(tuple(tables.items()))
    return replace(running, extra={**running.extra, "outputs": section_config})


def output_table(config: Config) -> OutputTable:
    """The named outputs of a checked config (one called ``default`` without tables)."""
    audio = config.audio
    tables = config.section("outputs").tables
    if not tables:
        return single_output(
            kind="clock" if audio.output == "clock" else "alsa",
            device=audio.device,
            channels=audio.channels,
            max_volume=audio.max_volume,
            volume=audio.volume,
            record=audio.record,
            range_db=audio.range_db,
        )
    settings = tuple(_setting(name, table, audio) for name, table in tables)
    return OutputTable(settings, audio.output_default or tables[0][0])


__all__ = [
    "OUTPUTS_SECTION",
    "OutputConfig",
    "OutputsConfig",
    "lowered_output_ceilings",
    "output_table",
]
