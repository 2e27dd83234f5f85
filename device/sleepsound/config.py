"""The configuration: one TOML file, every key optional, checked all at once.

Where it comes from (:func:`resolve_config_path`, the same for every sub-command):
``--config PATH``, else ``$SLEEPSOUND_CONFIG``, else the user's
``~/.config/sleepsound/config.toml`` (``$XDG_CONFIG_HOME``) if it exists, else
``/etc/sleepsound/config.toml`` if it exists, else the built-in defaults. A path given
explicitly (option or variable) must exist.

Checking (:func:`parse_config`) uses a JSON schema per section, kept below as data.
Every problem is collected before anything is reported, each with its key path and,
for an unknown key, the nearest known one::

    audio.max_volume: 150 is greater than the maximum of 100
    audio.voluem: unknown key (did you mean 'volume'?)

and :class:`~sleepsound.errors.ConfigError` carries them all (``problems``).

The result is a frozen :class:`Config` with one frozen dataclass per section; the
defaults documented on those classes are the defaults, and the shipped
``data/config.example.toml`` lists each one (a test keeps the two equal).

Adding a section is one edit: put a :class:`SectionSpec` (the JSON schema of its
keys, the dataclass to build, an optional cross-field check) into :data:`SECTIONS`.
A module that owns its section may keep the spec itself and register it lazily
as ``"controls": "sleepsound.controls.config:SECTION"`` (imported on first use, so
there is no import cycle); read it back with ``config.section("controls")``.
Adding a key to a section is one property in its schema plus one dataclass field.

Its layer: an adapter (it reads the file and checks it with jsonschema), not the core.
The core never imports it; the player gets its values through
``PlayerContext.from_config(config, ...)``, so these dataclasses stay their one owner.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
import math
import os
import stat
import tomllib
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema

from sleepsound import favourites
from sleepsound.commands import TIMER_PRESETS_MIN, did_you_mean, type_name
from sleepsound.errors import ConfigError, ProgramError
from sleepsound.schedule import Program, parse_program

DEFAULT_PATH: Final = "/etc/sleepsound/config.toml"
ENV_VAR: Final = "SLEEPSOUND_CONFIG"
USER_CONFIG: Final = "sleepsound/config.toml"
"""The user's config, under ``$XDG_CONFIG_HOME`` (``~/.config``): no root needed."""
PROGRAMS: Final = "programs"
"""The one top-level array of tables: ``[[programs]]`` (each checked by
:func:`sleepsound.schedule.parse_program`, the parser runtime edits use too)."""
MAX_CONFIG_BYTES: Final = 1024 * 1024
"""A real config is a few KiB; more means the wrong file (or ``/dev/zero``)."""

# -- sections: the typed result ----------------------------------------------------------


@dataclass(frozen=True)
class AudioConfig:
    """``[audio]``: where the sound goes and how it moves."""

    output: str = "alsa"
    """``"alsa"`` (a sound card) or ``"clock"`` (paced silence sink: tests, no card)."""
    device: str = "default"
    """ALSA device name (``plughw:CARD=Headphones``); by name, never by card index."""
    record: str | None = None
    """Clock output only: a WAV file to record what would have been played."""
    volume: float = 30.0
    """Start-up volume 0–100, used when there is no saved state (first boot); one above
    ``max_volume`` starts at the ceiling (a warning, never an error)."""
    max_volume: float = 80.0
    """The ceiling no command can pass (0–100): safe levels for a whole night."""
    fade_in_s: float = 3.0
    """How long play takes to rise from silence."""
    fade_out_s: float = 5.0
    """How long stop takes to fall to silence."""
    crossfade_s: float = 4.0
    """How long a change of sound overlaps the old and the new."""
    rate: int = 48000
    channels: int = 2
    period_frames: int = 1024
    periods: int = 4
    format: str = "auto"
    """Sample format written to the device: ``"auto"``, ``"S16_LE"`` or ``"S32_LE"``."""
    output_default: str | None = None
    """The named output (``[outputs.NAME]``) played to at first start; unset: the first
    table, or ``default`` (the output these ``[audio]`` keys describe) without tables."""
    range_db: float = 50.0
    """Volume 1 is this many dB below volume 100 (every output that sets none)."""


@dataclass(frozen=True)
class SleepConfig:
    """``[sleep]``: the sleep timer."""

    timer_min: float | None = None
    """Minutes every play starts its timer with (0 = no timer). Unset: each play
    uses the last timer you chose, which is saved across restarts."""
    fade_min: float = 10.0
    """The timer's final minutes fade to silence (the whole timer if it is shorter)."""
    presets_min: tuple[float, ...] = TIMER_PRESETS_MIN
    """What ``timer_cycle`` (a press of the timer button) steps through, then off
    (15, 30, 45, 60, 90)."""


@dataclass(frozen=True)
class SoundsConfig:
    """``[sounds]``: the library."""

    dir: str = "/var/lib/sleepsound/sounds"
    """Where sound files live."""
    default: str = "pink-noise"
    """The sound played when none has been chosen yet (a library id or generator)."""
    rescan_s: float = 3.0
    """How often the folder is checked for files dropped in or removed."""
    rotation: str = "all"
    """What next/previous step through: all, user, builtin, category:<name>, trigger:<name>."""
    non_repeating: bool = False
    """Play long files (over 3 segments) as shuffled segments joined by crossfades."""
    segment_s: float = 45.0
    """Segment length in non-repeating mode."""
    loudness_lufs: float = -23.0
    """Every sound is levelled to this loudness before the volume knob (EBU R128: -23)."""
    loudness_cache: str | None = None
    """Where measured loudness is kept (regenerated if lost). Unset:
    ``$CACHE_DIRECTORY/loudness.json`` under systemd (``/var/cache/sleepsound``), else
    ``$XDG_CACHE_HOME/sleepsound/loudness.json`` (see :mod:`sleepsound.runpaths`)."""
    mono_binaural: str = "monaural"
    """Binaural beds on a mono output: "monaural" (play the monaural beat) or "refuse"."""


@dataclass(frozen=True)
class SocketConfig:
    """``[socket]``: the local control socket (``sleepsound ctl``, scripts).

    Called ``[control]`` before, too close to ``[controls]`` (the pins); the old name
    still works, with a warning (:data:`RENAMED_SECTIONS`).
    """

    path: str | None = None
    """Unset: ``$RUNTIME_DIRECTORY/control.sock`` under systemd (``/run/sleepsound``),
    else ``$XDG_RUNTIME_DIR/sleepsound/control.sock`` (see :mod:`sleepsound.runpaths`)."""


@dataclass(frozen=True)
class StateConfig:
    """``[state]``: the saved state (volume, sound, timer, layer)."""

    file: str | None = None
    """Unset: ``$STATE_DIRECTORY/state.json`` under systemd (``/var/lib/sleepsound``),
    else ``$XDG_STATE_HOME/sleepsound/state.json`` (see :mod:`sleepsound.runpaths`)."""
    save_delay_s: float = 5.0
    """Save once the settings have been still this long (SD cards wear)."""


@dataclass(frozen=True)
class MqttConfig:
    """``[mqtt]``: Home Assistant and friends."""

    host: str = ""
    """Broker host name; empty switches MQTT off."""
    port: int = 1883
    """1883 plain, 8883 TLS."""
    username: str = ""
    password: str = field(default="", repr=False)
    """Prefer ``password_file``: a config file is often world-readable."""
    password_file: str = ""
    """A file holding only the password (first line), readable by the daemon."""
    tls: bool = False
    """Speak TLS; implied by ``ca_file``. Without ``ca_file`` the system CAs are trusted."""
    ca_file: str = ""
    certfile: str = ""
    """Client certificate (PEM), for brokers that require one."""
    keyfile: str = ""
    """The client certificate's key (PEM)."""
    client_id: str = ""
    """Unique per device; empty means ``sleepsound-<device_id>``."""
    protocol: str = "3.1.1"
    """``"3.1.1"`` or ``"5"``."""
    keepalive_s: int = 30
    prefix: str = "sleepsound"
    """Topics live under ``<prefix>/<device_id>/``."""
    device_id: str = ""
    """The id in topics (letters, digits, - and _); empty: a slug of the host name."""
    name: str = ""
    """The device's name in Home Assistant; empty: ``Sleepsound <device_id>``."""
    groups: tuple[str, ...] = ()
    """Group names: also obey ``<prefix>/group/<name>/set``."""
    discovery: bool = True
    """Announce the device to Home Assistant (MQTT discovery)."""
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class ScheduleConfig:
    """``[schedule]``: how programs (``[[programs]]``) keep time."""

    timezone: str | None = None
    """An IANA zone (``"Europe/London"``) for the programs' ``at``. Unset: the system's
    local time (``$TZ`` honoured, else ``/etc/localtime``); see :mod:`sleepsound.local_time`."""
    require_clock_sync: bool = True
    """Fire programs only once the clock is NTP-synchronised (a Pi without a clock
    battery boots with a stale clock). False for boxes with a real-time clock."""
    grace_min: float = 15.0
    """A program that came due while the clock was unsynchronised or the device off
    still plays if it is less than this late; otherwise it is skipped with an event."""
    snooze_min: float = 9.0
    """How long a wake's snooze lasts, unless the program sets its own."""


# -- sections: the schemas ---------------------------------------------------------------


def number_schema(low: float, high: float) -> dict[str, Any]:
    """JSON schema of a number from ``low`` to ``high`` (for every section's keys)."""
    return {"type": "number", "minimum": low, "maximum": high}


def integer_schema(low: int, high: int) -> dict[str, Any]:
    """JSON schema of a whole number from ``low`` to ``high``."""
    return {"type": "integer", "minimum": low, "maximum": high}


_PATH: Final = {"type": "string", "minLength": 1}
OUTPUT_NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,31}$"
"""What a named output's name looks like (``[outputs.pillow]``)."""
_MEANS: Final = "x-means"
"""Our schema annotation: what a ``pattern`` asks for, in words, for its message."""
_SOUND_ID: Final = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    # an id, never a path: no slashes, no leading dot, no ".."
    "pattern": r"^(?!\.)(?!.*\.\.)[^/\\\x00-\x1f]+$",
    _MEANS: "a sound id such as 'rain'",
}

AUDIO_SCHEMA: Final[dict[str, Any]] = {
    "output": {"enum": ["alsa", "clock"]},
    "device": {"type": "string", "minLength": 1},
    "record": _PATH,
    "volume": number_schema(0, 100),
    "max_volume": number_schema(1, 100),
    "fade_in_s": number_schema(0, 600),
    "fade_out_s": number_schema(0, 600),
    "crossfade_s": number_schema(0, 600),
    "rate": integer_schema(8000, 192000),
    "channels": integer_schema(1, 8),
    "period_frames": integer_schema(64, 65536),
    "periods": integer_schema(2, 32),
    "format": {"enum": ["auto", "S16_LE", "S32_LE"]},
    "output_default": {
        "type": "string",
        "pattern": OUTPUT_NAME_PATTERN,
        _MEANS: "an output name such as 'pillow' (lower-case letters, digits, - and _)",
    },
    "range_db": number_schema(50, 90),
}

SLEEP_SCHEMA: Final[dict[str, Any]] = {
    "timer_min": number_schema(0, 720),
    "fade_min": number_schema(0, 720),
    "presets_min": {
        "type": "array",
        "items": {"type": "number", "minimum": 1, "maximum": 720},
        "minItems": 1,
        "maxItems": 12,
        "uniqueItems": True,
    },
}

SOUNDS_SCHEMA: Final[dict[str, Any]] = {
    "dir": _PATH,
    "default": _SOUND_ID,
    "rescan_s": number_schema(0.5, 3600),
    "rotation": {
        "type": "string",
        "pattern": r"^(all|user|builtin|category:[a-z0-9][a-z0-9_-]*|trigger:[a-z_]+)$",
        _MEANS: "all, user, builtin, category:<name> or trigger:<name>",
    },
    "non_repeating": {"type": "boolean"},
    "segment_s": number_schema(10, 3600),
    "loudness_lufs": number_schema(-40, -10),
    "loudness_cache": _PATH,
    "mono_binaural": {"enum": ["monaural", "refuse"]},
}
_TOPIC: Final = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$",
    _MEANS: "a topic such as 'sleepsound' or 'home/sleepsound' (no spaces, + or #)",
}
SOCKET_SCHEMA: Final[dict[str, Any]] = {"path": _PATH}
STATE_SCHEMA: Final[dict[str, Any]] = {"file": _PATH, "save_delay_s": number_schema(0, 3600)}
MQTT_SCHEMA: Final[dict[str, Any]] = {
    "host": {"type": "string"},
    "port": integer_schema(1, 65535),
    "username": {"type": "string", "maxLength": 256},
    "password": {"type": "string", "maxLength": 256},
    "password_file": _PATH,
    "tls": {"type": "boolean"},
    "ca_file": _PATH,
    "certfile": _PATH,
    "keyfile": _PATH,
    "client_id": {
        "type": "string",
        "pattern": r"^[A-Za-z0-9_.-]{0,64}$",
        _MEANS: "at most 64 letters, digits, '.', '-' and '_'",
    },
    "protocol": {"enum": ["3.1.1", "5"]},
    "keepalive_s": integer_schema(5, 3600),
    # Topic levels: no wildcards (+ #), no empty levels.
    "prefix": _TOPIC,
    "device_id": {
        "type": "string",
        "pattern": r"^[A-Za-z0-9_-]{0,64}$",
        _MEANS: "letters, digits, - and _",
    },
    "name": {"type": "string", "maxLength": 64},
    "groups": {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_-]{1,64}$",
            _MEANS: "a group name of letters, digits, - and _",
        },
        "maxItems": 16,
        "uniqueItems": True,
    },
    "discovery": {"type": "boolean"},
    "discovery_prefix": _TOPIC,
}


SCHEDULE_SCHEMA: Final[dict[str, Any]] = {
    "timezone": {"type": "string", "minLength": 1},
    "require_clock_sync": {"type": "boolean"},
    "grace_min": number_schema(0, 720),
    "snooze_min": number_schema(1, 60),
}


def _check_schedule(table: Mapping[str, Any]) -> list[str]:
    name = table.get("timezone")
    if not isinstance(name, str):
        return []
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zones = sorted(zoneinfo.available_timezones())
        hint = did_you_mean(name, zones) or did_you_mean(name.replace(" ", "_"), zones)
        return [
            f"schedule.timezone: {name!r} is not a time zone{hint}; use an IANA name such as "
            '"Europe/London" or "America/New_York", or leave it unset for the system\'s'
        ]
    return []


PRESETS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "propertyNames": {
        "pattern": favourites.NAME_PATTERN,
        "maxLength": favourites.MAX_PRESET_NAME_CHARS,
        _MEANS: "a preset name such as 'rainy-night' (lower-case letters, digits, single dashes)",
    },
    "additionalProperties": {
        "type": "object",
        "properties": {
            "sound": _SOUND_ID,
            "volume": number_schema(0, 100),
            "layer": _SOUND_ID,
            "layer_volume": number_schema(0, 100),
            "sleep_timer": number_schema(0, 720),
        },
        "required": ["sound"],
        "additionalProperties": False,
    },
}
"""``[presets.NAME]``: one table per preset (:mod:`sleepsound.favourites`); the names are
the user's, so this is not a :class:`SectionSpec` (whose keys are fixed)."""


def _check_presets(data: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, table in _table(data.get("presets")).items():
        timer = _table(table).get("sleep_timer")
        if _is_number(timer) and 0 < timer < 1:
            problems.append(f"presets.{name}.sleep_timer: use 0 (off) or 1 to 720 minutes")
    return problems


def _check_mqtt(table: Mapping[str, Any]) -> list[str]:
    problems = []
    if table.get("password") and table.get("password_file"):
        problems.append("mqtt.password_file: give password or password_file, not both")
    if (table.get("password") or table.get("password_file")) and not table.get("username"):
        problems.append('mqtt.username: a password needs a username; add username = "..."')
    if table.get("keyfile") and not table.get("certfile"):
        problems.append("mqtt.keyfile: goes with certfile (the client certificate); add it")
    prefix = str(table.get("prefix", MqttConfig.prefix))
    discovery = str(table.get("discovery_prefix", MqttConfig.discovery_prefix))
    if prefix == discovery or prefix.startswith(discovery + "/"):
        problems.append(
            f"mqtt.prefix: {prefix!r} is under discovery_prefix {discovery!r}; "
            "Home Assistant reads everything there as discovery, choose another prefix"
        )
    return problems


def _check_sleep(table: Mapping[str, Any]) -> list[str]:
    # A timer of 1e-300 minutes would end every play at once (the command refuses it too).
    timer = table.get("timer_min")
    if isinstance(timer, int | float) and 0 < timer < 1:
        return [f"sleep.timer_min: {timer:g} is below 1 minute; use 0 (no timer) or 1 to 720"]
    return []


def _check_audio(table: Mapping[str, Any]) -> list[str]:
    problems = []
    if "record" in table and table.get("output", AudioConfig.output) != "clock":
        problems.append('audio.record: only works with output = "clock"; remove it or switch')
    return problems


def _advise_audio(table: Mapping[str, Any]) -> list[str]:
    # A start-up volume above the ceiling is clamped, never refused: refusing it would
    # keep an old, higher ceiling in force (or the device off) over a safety setting.
    volume = table.get("volume", AudioConfig.volume)
    ceiling = table.get("max_volume", AudioConfig.max_volume)
    if _is_number(volume) and _is_number(ceiling) and volume > ceiling:
        given = "audio.volume" if "volume" in table else "audio.volume (default)"
        return [
            f"{given}: {volume:g} is above audio.max_volume {ceiling:g}; "
            f"starting at {ceiling:g} (lower volume to silence this warning)"
        ]
    return []


@dataclass(frozen=True)
class SectionSpec:
    """One ``[section]``: the schema of its keys, its dataclass, a cross-field check."""

    properties: Mapping[str, Any]
    """JSON schema per key; every key is optional, unknown keys are errors."""
    build: type
    """Frozen dataclass whose fields are the keys (and whose defaults are theirs)."""
    check: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Problems that span keys, given the raw table once its keys passed the schema."""
    advise: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Warnings about a valid table (what will be adjusted, and how): never refusals."""
    named: Callable[[Mapping[str, Any]], Any] | None = None
    """Set for a section of named tables (``[outputs.pillow]``): ``properties`` are the
    keys of each table, ``build`` makes one table, and this makes the section from
    ``{name: built table}`` (also given ``{}`` when the section is absent)."""
    check_document: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Problems that span sections (a name in ``[audio]`` that ``[outputs]`` must
    define), given the whole document once every section passed its schema."""
    advise_document: Callable[[Mapping[str, Any]], list[str]] | None = None
    """Warnings that span sections, given the whole (valid) document."""


SECTIONS: dict[str, SectionSpec | str] = {
    "audio": SectionSpec(AUDIO_SCHEMA, AudioConfig, _check_audio, _advise_audio),
    "sleep": SectionSpec(SLEEP_SCHEMA, SleepConfig, _check_sleep),
    "sounds": SectionSpec(SOUNDS_SCHEMA, SoundsConfig),
    "socket": SectionSpec(SOCKET_SCHEMA, SocketConfig),
    "state": SectionSpec(STATE_SCHEMA, StateConfig),
    "mqtt": SectionSpec(MQTT_SCHEMA, MqttConfig, _check_mqtt),
    "schedule": SectionSpec(SCHEDULE_SCHEMA, ScheduleConfig, _check_schedule),
    "controls": "sleepsound.controls.schema:CONTROLS_SECTION",
    "led": "sleepsound.controls.schema:LED_SECTION",
    "outputs": "sleepsound.output_config:OUTPUTS_SECTION",
    "web": "sleepsound.web.settings:WEB_SECTION",
}
"""Every known section. Values are specs or ``"module:ATTRIBUTE"`` names of one."""


@dataclass(frozen=True)
class RenamedSection:
    """An old section name that still works: its keys are read into the new section."""

    new: str
    """The section's name now."""
    keys: Mapping[str, str]
    """Old key -> new key; each old key is checked by its new key's schema."""
    why: str
    """Why it was renamed, for the warning."""


RENAMED_SECTIONS: Final[Mapping[str, RenamedSection]] = {
    "control": RenamedSection(
        "socket", {"socket": "path"}, "so it is not mistaken for [controls] (the pins)"
    ),
}
"""Old section names read as their new ones, with a warning (never a refusal: an
upgrade must not stop a device over a name). Giving both is an error."""


@dataclass(frozen=True)
class Config:
    """The whole, checked configuration; sections outside the core are in ``extra``."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    sleep: SleepConfig = field(default_factory=SleepConfig)
    sounds: SoundsConfig = field(default_factory=SoundsConfig)
    socket: SocketConfig = field(default_factory=SocketConfig)
    state: StateConfig = field(default_factory=StateConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    programs: tuple[Program, ...] = ()
    """``[[programs]]``: the bedtime and wake programs written in the file (the runtime
    ones are stored beside the state file: :mod:`sleepsound.program_store`)."""
    presets: Mapping[str, favourites.Preset] = field(default_factory=dict)
    """``[presets.NAME]`` tables by name (sorted)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = field(default=None, compare=False)
    """The file it came from, ``None`` for the built-in defaults."""
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """What the file asks for that will be adjusted (each with its key path); the
    daemon logs them at start and reload, ``check-config`` prints them."""

    def section(self, name: str) -> Any:
        """The dataclass of section ``name`` (core or contributed); its defaults if absent."""
        if name in _CORE:
            return getattr(self, name)
        if name in self.extra:
            return self.extra[name]
        return _build(_spec(name), {})

    def named_outputs(self) -> Any:
        """Every named output and the default one (an ``output_table.OutputTable``):
        the ``[outputs.NAME]`` tables, or one output called ``default`` from ``[audio]``."""
        # By name, as SECTIONS registers it: that module imports this one.
        return importlib.import_module("sleepsound.output_config").output_table(self)


_CORE: Final = frozenset(f.name for f in dataclasses.fields(Config)) - {
    "programs",
    "presets",
    "extra",
    "path",
    "warnings",
}


# -- lookup and loading --------------------------------------------------------------------


def resolve_config_path(
    cli_path: str | None,
    environ: Mapping[str, str],
    exists: Callable[[str], bool],
) -> str | None:
    """Which file to read: ``--config``, ``$SLEEPSOUND_CONFIG``, the user's, the system's.

    ``None`` means "no file: built-in defaults". An explicit path is returned
    whether or not it exists (reading it then reports the mistake).
    """
    if cli_path:
        return cli_path
    if environ.get(ENV_VAR):
        return environ[ENV_VAR]
    user = user_config_path(environ)
    if user and exists(user):
        return user
    if exists(DEFAULT_PATH):
        return DEFAULT_PATH
    return None


def user_config_path(environ: Mapping[str, str]) -> str | None:
    """``$XDG_CONFIG_HOME/sleepsound/config.toml``, else ``~/.config/...``; None without a home."""
    base = environ.get("XDG_CONFIG_HOME")
    if not base:
        home = environ.get("HOME")
        if not home:
            return None
        base = os.path.join(home, ".config")
    return os.path.join(base, USER_CONFIG)


def load_config(cli_path: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and check the configuration; raise :class:`ConfigError` on any problem."""
    path = resolve_config_path(cli_path, os.environ if environ is None else environ, os.path.exists)
    if path is None:
        return defaults()
    data = _read_capped(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(["the config file is not UTF-8 text"], path) from None
    return parse_toml(text, path)


def _read_capped(path: str) -> bytes:
    """The file's bytes; refuse a device, pipe or folder and anything over the cap.

    ``--config /dev/zero`` must not read without end: the type is checked on the
    open descriptor (non-blocking, so a FIFO without a writer cannot hang us) and
    at most one byte past the cap is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise ConfigError([f"cannot read the config file: {error.strerror}"], path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(
                [
                    "the config is not a regular file (a device, pipe or folder); "
                    "point --config (or $SLEEPSOUND_CONFIG) at a .toml file"
                ],
                path,
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise ConfigError([f"cannot read the config file: {error.strerror}"], path) from None
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            [
                f"the config file is larger than {MAX_CONFIG_BYTES // 1024} KiB; "
                "do --config (or $SLEEPSOUND_CONFIG) name the right file?"
            ],
            path,
        )
    return b"".join(chunks)


def salvage_document(path: str | None) -> Mapping[str, Any] | None:
    """The decoded TOML of a config file refused for other reasons (unchecked), or ``None``
    when it cannot be read or is not TOML: where lower ceilings are salvaged from."""
    if path is None:
        return None
    try:
        return tomllib.loads(_read_capped(path).decode("utf-8"))
    except (ConfigError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def salvage_ceiling(path: str | None) -> float | None:
    """A valid ``[audio] max_volume`` from a config file refused for other reasons.

    A lower ceiling is a safety setting and must not wait for the rest of the file to
    be fixed: a reload that refuses the file still applies it (see the daemon). ``None``
    when the file cannot be read, is not TOML, or has no valid ``max_volume``.
    """
    data = salvage_document(path)
    if data is None:
        return None
    audio = data.get("audio")
    value = audio.get("max_volume") if isinstance(audio, Mapping) else None
    if not _is_number(value) or not math.isfinite(value) or not 1 <= value <= 100:
        return None
    return float(value)


def defaults() -> Config:
    """The built-in configuration: every section, contributed ones too, at its defaults."""
    return parse_config({})


def parse_toml(text: str, path: str | None = None) -> Config:
    """Parse and check TOML text; raise :class:`ConfigError` with every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"not valid TOML: {error}"], path) from None
    return parse_config(data, path)


def parse_config(data: Mapping[str, Any], path: str | None = None) -> Config:
    """Check a decoded document and build the :class:`Config`; pure.

    Raises :class:`ConfigError` listing every problem, each with its key path.
    """
    specs = {name: _spec(name) for name in SECTIONS}
    problems = _problems(data, specs)
    if problems:
        raise ConfigError(problems, path)
    data, advice = _read_renamed(data)
    built = {name: _build(spec, data.get(name, {})) for name, spec in specs.items()}
    core = {name: built.pop(name) for name in list(built) if name in _CORE}
    advice += [
        warning
        for name, spec in specs.items()
        if spec.advise is not None
        for warning in spec.advise(_table(data.get(name)))
    ]
    advice += [
        warning
        for spec in specs.values()
        if spec.advise_document is not None
        for warning in spec.advise_document(data)
    ]
    presets = {
        name: favourites.from_table(name, table, f"presets.{name}")
        for name, table in sorted(_table(data.get("presets")).items())
    }
    programs = tuple(parse_program(table) for table in data.get(PROGRAMS, ()))
    return Config(
        **core, programs=programs, presets=presets, extra=built, path=path, warnings=tuple(advice)
    )


def schema() -> dict[str, Any]:
    """The JSON schema of the whole file (for documentation and editors)."""
    sections = {name: _section_schema(spec) for name, spec in ((n, _spec(n)) for n in SECTIONS)}
    sections["presets"] = PRESETS_SCHEMA
    for old, renamed in RENAMED_SECTIONS.items():
        # Each old key takes what its new key takes, so its problems name the old key.
        properties = _spec(renamed.new).properties
        sections[old] = {
            "type": "object",
            "properties": {key: properties[new] for key, new in renamed.keys.items()},
            "additionalProperties": False,
            "deprecated": True,
        }
    sections[PROGRAMS] = {"type": "array", "items": {"type": "object"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": sections,
        "additionalProperties": False,
    }


# -- helpers ---------------------------------------------------------------------------------


def _spec(name: str) -> SectionSpec:
    entry = SECTIONS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = getattr(importlib.import_module(module), attribute)
        SECTIONS[name] = entry
    assert isinstance(entry, SectionSpec), f"SECTIONS[{name!r}] is not a SectionSpec"
    return entry


def _problems(data: Mapping[str, Any], specs: Mapping[str, SectionSpec]) -> list[str]:
    problems: list[str] = []
    validator = jsonschema.Draft202012Validator(schema())
    reported: set[str] = set()
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        where = _key_path(error.absolute_path)
        if error.validator != "additionalProperties":
            if where in reported:
                continue  # 4.5 for a whole number 8000-192000: one line, not two
            reported.add(where)
        problems.extend(_describe(error, data, specs))
    problems.extend(
        f"{key_path}: {value} is not a finite number" for key_path, value in _non_finite(data)
    )
    problems.extend(
        f"{old}: [{old}] and [{renamed.new}] are both given; [{old}] is the old name of "
        f"[{renamed.new}]: keep [{renamed.new}] and remove [{old}]"
        for old, renamed in RENAMED_SECTIONS.items()
        if old in data and renamed.new in data
    )
    given = {p.split(":")[0] for p in problems}
    problems.extend(
        p for p in _program_problems(data.get(PROGRAMS)) if p.split(":")[0] not in given
    )
    # Cross-field checks only look at keys that passed the schema on their own.
    bad = {p.split(":")[0] for p in problems}
    for name, spec in specs.items():
        table = data.get(name)
        if spec.check is None or not isinstance(table, Mapping):
            continue
        clean = {k: v for k, v in table.items() if f"{name}.{k}" not in bad}
        problems.extend(spec.check(clean))
    if not problems:
        problems.extend(_check_presets(data))
        for spec in specs.values():
            if spec.check_document is not None:
                problems.extend(spec.check_document(data))
    return problems


def _section_schema(spec: SectionSpec) -> dict[str, Any]:
    """The JSON schema of one section: a table of keys, or a table of named tables."""
    keys = {"type": "object", "properties": dict(spec.properties), "additionalProperties": False}
    if spec.named is None:
        return keys
    return {
        "type": "object",
        "properties": {},
        "propertyNames": {
            "pattern": OUTPUT_NAME_PATTERN,
            _MEANS: "a name of lower-case letters, digits, - and _ (at most 32)",
        },
        "additionalProperties": keys,
    }


def _describe(
    error: jsonschema.ValidationError,
    data: Mapping[str, Any],
    specs: Mapping[str, SectionSpec],
) -> Iterator[str]:
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        for key in error.instance:
            if key not in known:
                yield _unknown_key(where, str(key), specs, known)
        return
    if where == PROGRAMS and error.validator == "type":
        yield f"{where}: must be an array of tables ([[programs]]), not {type_name(error.instance)}"
        return
    if error.validator == "type" and len(error.absolute_path) == 1:
        yield f"{where}: must be a table ([{where}]), not {type_name(error.instance)}"
        return
    if error.validator in ("pattern", "anyOf", "oneOf") and _MEANS in error.schema:
        yield f"{where}: {_shown(error.instance)} is not {error.schema[_MEANS]}"
        return
    wanted = _wanted(_key_name(error.absolute_path), error.schema)
    if error.validator in _VALUE_CHECKS and wanted:
        yield f"{where}: must be {wanted}, not {_shown(error.instance)}"
        return
    if error.validator == "minLength" and error.validator_value == 1:
        yield f"{where}: must not be empty"
        return
    if error.validator == "required":
        missing = ", ".join(k for k in error.validator_value if k not in error.instance)
        example = ' (e.g. sound = "rain")' if missing == "sound" else ""
        yield f"{where}: needs {missing}{example}"
        return
    if error.validator == "uniqueItems":
        yield f"{where}: {_shown(error.instance)} lists a value twice; give each value once"
        return
    yield f"{where or '(top level)'}: {error.message}"


# Schema checks whose failure means "this is not the kind of value the key takes": all
# are worded from the key's schema, so every key of every type reads the same way.
_VALUE_CHECKS: Final = frozenset(
    {"type", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
)
_UNITS: Final = (
    ("_s", "seconds"),
    ("_min", "minutes"),
    ("_lufs", "LUFS"),
    ("_db", "decibels"),
    ("_bpm", "per minute"),
)
"""Key name endings (the house naming rule) and the unit they promise, for messages."""


def _wanted(key: str, schema: Mapping[str, Any]) -> str | None:
    """What a key takes, in words for people: "a number of seconds from 0 to 600"."""
    if "enum" in schema:
        choices = [_shown(choice) for choice in schema["enum"]]
        return "one of " + ", ".join(choices[:-1]) + " or " + choices[-1]
    kind = schema.get("type")
    if kind in ("number", "integer"):
        text = "a whole number" if kind == "integer" else "a number"
        unit = next((name for end, name in _UNITS if key.endswith(end)), None)
        if unit:
            text += f" of {unit}"
        high = schema.get("maximum")
        if "exclusiveMinimum" in schema and high is not None:
            return f"{text} above {schema['exclusiveMinimum']:g}, up to {high:g}"
        if "minimum" in schema and high is not None:
            return f"{text} from {schema['minimum']:g} to {high:g}"
        return text
    if kind == "string":
        return f"text in quotes ({schema[_MEANS]})" if _MEANS in schema else "text in quotes"
    if kind == "boolean":
        return "true or false (without quotes)"
    if kind == "array":
        items = _wanted(key, schema.get("items", {}))
        return f"a list in brackets, each {items}" if items else "a list in brackets"
    if kind == "object":
        return "a table"
    return None


def _key_name(path: Any) -> str:
    """The last named key of a path (``presets_min`` for ``sleep.presets_min[0]``)."""
    names = [part for part in path if isinstance(part, str)]
    return names[-1] if names else ""


def _shown(value: object) -> str:
    """A value as it would be written in TOML: ``"slow"``, ``true``, ``[15, 15]``."""
    if isinstance(value, Mapping):
        return "a table"
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _unknown_key(
    section: str, key: str, specs: Mapping[str, SectionSpec], known: Mapping[str, Any]
) -> str:
    owners = [name for name, spec in specs.items() if key in spec.properties]
    if not section:
        if difflib.get_close_matches(key, [PROGRAMS], n=1, cutoff=0.6):
            return f"[{key}]: unknown section (did you mean [[{PROGRAMS}]]?)"
        hint = difflib.get_close_matches(key, list(specs), n=1, cutoff=0.6)
        if hint:
            return f"[{key}]: unknown section (did you mean [{hint[0]}]?)"
        if owners:
            return f"{key}: keys belong in a section (did you mean [{owners[0]}] {key}?)"
        return f"{key}: unknown section; sections are " + ", ".join(f"[{n}]" for n in specs)
    # ``known`` is the table's own keys: also right for nested tables ([controls.encoder]).
    hint = did_you_mean(key, list(known))
    if hint:
        return f"{section}.{key}: unknown key{hint}"
    if owners:
        return f"{section}.{key}: unknown key (did you mean [{owners[0]}] {key}?)"
    renamed = [(r.new, r.keys[key]) for r in RENAMED_SECTIONS.values() if key in r.keys]
    if renamed and section not in RENAMED_SECTIONS:
        return f"{section}.{key}: unknown key (did you mean [{renamed[0][0]}] {renamed[0][1]}?)"
    return f"{section}.{key}: unknown key; [{section}] knows " + ", ".join(known)


def _non_finite(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, float]]:
    # TOML allows nan and inf, and they slip through minimum/maximum (comparisons are false).
    if isinstance(value, float) and not math.isfinite(value):
        yield _key_path(path), value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_finite(item, (*path, index))


def _read_renamed(data: Mapping[str, Any]) -> tuple[Mapping[str, Any], list[str]]:
    """``data`` with old section names read as their new ones, and a warning for each.

    Called once the document passed every check, so each old section is a table of
    known keys and its new section is not also given.
    """
    if not any(old in data for old in RENAMED_SECTIONS):
        return data, []
    moved = dict(data)
    warnings = []
    for old, renamed in RENAMED_SECTIONS.items():
        if old not in moved:
            continue
        table = _table(moved.pop(old))
        moved[renamed.new] = {renamed.keys[key]: value for key, value in table.items()}
        given = [f"[{old}] {key} is now [{renamed.new}] {renamed.keys[key]}" for key in table]
        where = f"{old}.{next(iter(table))}" if len(table) == 1 else old
        what = ", ".join(given) or f"[{old}] is now [{renamed.new}]"
        warnings.append(
            f"{where}: {what}, {renamed.why}; rename it (the old name still works for now)"
        )
    return moved, warnings


def _build(spec: SectionSpec, table: Mapping[str, Any]) -> Any:
    if spec.named is not None:
        return spec.named({name: _build_keys(spec, _table(t)) for name, t in table.items()})
    return _build_keys(spec, table)


def _build_keys(spec: SectionSpec, table: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for key, value in table.items():
        kind = spec.properties.get(key, {}).get("type")
        if kind == "integer":
            value = int(value)
        elif kind == "number":
            value = float(value)
        elif kind == "array":
            items = spec.properties[key].get("items", {}).get("type")
            value = tuple(float(v) if items == "number" else v for v in value)
        values[key] = value
    return spec.build(**values)


def _program_problems(tables: object) -> list[str]:
    """Each ``[[programs]]`` table checked by the programs' own parser, keys prefixed
    with its place (``programs[2].at``); names must be unique."""
    if not isinstance(tables, list):
        return []  # not an array: the schema said so
    problems: list[str] = []
    first_of: dict[str, int] = {}
    for index, table in enumerate(tables):
        if not isinstance(table, Mapping):
            continue  # the schema said so
        where = f"{PROGRAMS}[{index}]"
        try:
            program = parse_program(table)
        except ProgramError as error:
            problems.extend(
                f"{where}.{key}: {message}" if key else f"{where}: {message}"
                for key, message in error.problems
            )
            continue
        if program.name in first_of:
            problems.append(
                f"{where}.name: {program.name!r} is already the name of "
                f"{PROGRAMS}[{first_of[program.name]}]; give each program its own name"
            )
        else:
            first_of[program.name] = index
    return problems


def _key_path(path: Any) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _table(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
