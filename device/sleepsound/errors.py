"""The project's exceptions: one base, a subclass per kind of trouble.

Every message is written for the person who has to fix it: it names what was wrong
and, where there is one, the way out.
"""

from __future__ import annotations


class SleepsoundError(Exception):
    """Base of every error sleepsound raises on purpose."""


class SoundError(SleepsoundError):
    """A sound cannot be played: unknown name, unreadable or corrupt file."""


class UnknownSoundError(SoundError):
    """The name is neither a file, a generator nor a library sound."""


class SoundFileError(SoundError):
    """A sound file exists but cannot be decoded (corrupt, truncated, not audio)."""


class OutputError(SleepsoundError):
    """The audio output cannot be opened or written."""


class DeviceMissingError(OutputError):
    """The ALSA device named in the config is not there (unplugged, misspelt, no card)."""


class MqttError(SleepsoundError):
    """The MQTT broker cannot be reached, or refused us (``sleepsound mqtt ...``)."""


class ControlError(SleepsoundError):
    """The local control socket cannot be set up or reached (daemon not running, in use)."""


class ParameterError(SleepsoundError):
    """A value given on the command line or in a command is out of its allowed range."""


class ConfigError(SleepsoundError):
    """The configuration file has one or more errors (see :attr:`problems`)."""

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        where = f" in {path}" if path else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s){where}:\n{lines}")


class CommandError(SleepsoundError):
    """A command was refused; :attr:`field` names the offending key when there is one.

    :attr:`transaction` is the refused command's own transaction, when it had a valid
    one, so the error reply can still be matched to its command.
    """

    def __init__(self, message: str, field: str | None = None, transaction: object = None) -> None:
        super().__init__(message)
        self.field = field
        self.transaction = transaction


class ProgramError(CommandError):
    """A program (``[[programs]]`` table or a ``program`` command) is not valid.

    :attr:`problems` lists every ``(key, message)`` found, :attr:`field` is the first
    key; ``str()`` reads ``at: "25:00" is not a time of day "HH:MM"; ...``. The config
    prefixes each key with its place (``programs[2].at``); a command reply names it.
    """

    def __init__(self, problems: list[tuple[str, str]], transaction: object = None) -> None:
        self.problems = list(problems)
        text = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
        super().__init__(text, problems[0][0] if problems else None, transaction)
