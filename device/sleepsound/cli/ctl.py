"""``sleepsound ctl ...``: talk to the running daemon over its control socket::

    sleepsound ctl play [SOUND] [--volume V] [--timer MIN]
    sleepsound ctl stop | toggle | next | previous
    sleepsound ctl volume 40 | +5 | -5
    sleepsound ctl timer 45 | off
    sleepsound ctl layer on | off | SOUND [--volume V]
    sleepsound ctl output NAME | next | list
    sleepsound ctl preset save | play | remove NAME
    sleepsound ctl preset list
    sleepsound ctl status [--json]
    sleepsound ctl send '{"action": "play", "fade": 10}'
    sleepsound ctl snooze | dismiss                 # while a wake program runs
    sleepsound ctl program list | add | remove | enable | disable | skip | unskip ...

Each prints the resulting status line (as ``ctl status`` does), after any warning.
A refused command exits 1 with the reason on one line; a daemon that cannot be
reached exits 3 naming the socket.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Final

from sleepsound import runpaths
from sleepsound.cli import ctl_program
from sleepsound.cli.args import finite_number
from sleepsound.command_decoder import decode_value
from sleepsound.config import Config, load_config
from sleepsound.control_socket.client import CLIENT_TIMEOUT_S, request
from sleepsound.errors import CommandError, ConfigError, ControlError
from sleepsound.status_text import document_of, status_line

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_UNREACHABLE: Final = 3
PRESET_VERBS: Final = {
    "save": "preset_save",
    "play": "preset",
    "remove": "preset_remove",
    "list": "",
}
"""``ctl preset VERB`` -> the command key it sends (``list`` reads the status document)."""


def register(subparsers: Any) -> None:
    """Add ``ctl`` and its actions."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--socket", metavar="PATH", default=argparse.SUPPRESS, help="the daemon's control socket"
    )
    common.add_argument(
        "--config", metavar="PATH", default=argparse.SUPPRESS, help="read the socket path here"
    )
    common.add_argument(
        "--timeout",
        metavar="S",
        type=finite_number,
        default=argparse.SUPPRESS,
        help=f"seconds to wait for an answer (default {CLIENT_TIMEOUT_S:g})",
    )
    ctl = subparsers.add_parser("ctl", parents=[common], help="control the running daemon")
    actions = ctl.add_subparsers(dest="ctl_action", metavar="ACTION", required=True)

    play = actions.add_parser("play", parents=[common], help="start playing (or change sound)")
    play.add_argument("sound", nargs="?", metavar="SOUND", help="a sound id or generator name")
    play.add_argument("--volume", type=finite_number, metavar="V", help="volume 0-100")
    play.add_argument("--timer", type=_minutes, metavar="MIN", help="sleep timer, 0/off = none")
    play.add_argument("--fade", type=finite_number, metavar="S", help="fade-in seconds")
    stop = actions.add_parser("stop", parents=[common], help="fade out and stop")
    stop.add_argument("--fade", type=finite_number, metavar="S", help="fade-out seconds")
    actions.add_parser("toggle", parents=[common], help="play if stopped, else stop")
    actions.add_parser("next", parents=[common], help="the next sound")
    actions.add_parser("previous", parents=[common], help="the previous sound")
    actions.add_parser("snooze", parents=[common], help="snooze the wake that rings")
    actions.add_parser("dismiss", parents=[common], help="end the wake that rings")
    ctl_program.register(actions, common)
    volume = actions.add_parser("volume", parents=[common], help="set (40) or step (+5, -5)")
    volume.add_argument("value", metavar="V|+N|-N", help="absolute 0-100, or a step")
    timer = actions.add_parser("timer", parents=[common], help="sleep timer in minutes (off = 0)")
    timer.add_argument("minutes", type=_minutes, metavar="MIN")
    layer = actions.add_parser("layer", parents=[common], help="a bed under the main sound")
    layer.add_argument("layer", metavar="on|off|SOUND")
    layer.add_argument("--volume", type=finite_number, metavar="V", help="layer volume 0-100")
    output = actions.add_parser(
        "output", parents=[common], help="switch to a named output, the next one, or list them"
    )
    output.add_argument("output", metavar="NAME|next|list")
    preset = actions.add_parser(
        "preset", parents=[common], help="save what plays as NAME, play it, list or remove"
    )
    preset.add_argument("verb", choices=PRESET_VERBS, metavar="save|play|list|remove")
    preset.add_argument("name", nargs="?", metavar="NAME", help="e.g. rainy-night")
    status = actions.add_parser("status", parents=[common], help="what is playing")
    status.add_argument("--json", action="store_true", help="the state document as JSON")
    send = actions.add_parser("send", parents=[common], help="send a raw JSON command")
    send.add_argument("command", metavar="JSON")
    ctl.set_defaults(func=control)


def control(args: argparse.Namespace) -> int:
    """``sleepsound ctl ACTION``: one command to the daemon, one line back."""
    try:
        command = _command(args)
    except argparse.ArgumentTypeError as error:
        print(f"sleepsound: {error}", file=sys.stderr)
        return 2
    timeout_s = getattr(args, "timeout", CLIENT_TIMEOUT_S)
    try:
        path = _socket_path(args)
        reply = request(path, command, timeout_s)
    except ControlError as error:
        print(f"sleepsound: {error}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if reply.get("status") != "ok":
        print(f"sleepsound: {_one_line(str(reply.get('error', reply)))}", file=sys.stderr)
        return EXIT_REFUSED
    if reply.get("warning"):
        print(f"sleepsound: {_one_line(str(reply['warning']))}", file=sys.stderr)
    if args.ctl_action == "program":
        print("\n".join(ctl_program.lines(reply)))
        return EXIT_OK
    if args.ctl_action == "output" and args.output == "list":
        print(_output_list(document_of(reply)))
        return EXIT_OK
    if args.ctl_action == "preset" and args.verb == "list":
        document = document_of(reply)
        names = document.get("presets") or []
        for name in names:
            print(f"{name} *" if name == document.get("preset") else name)
        if not names:
            print("no presets yet: `sleepsound ctl preset save NAME` saves what plays")
        return EXIT_OK
    if args.ctl_action == "status":
        document = document_of(reply)
        print(json.dumps(document) if args.json else status_line(document))
        return EXIT_OK
    # Say what the command did, as `ctl status` would: silence reads as "nothing happened".
    # Commands are applied in order on one queue, so this status follows the command.
    try:
        after = request(path, {"action": "status"}, timeout_s)
    except ControlError as error:
        print(f"sleepsound: done, but no status: {error}", file=sys.stderr)
        return EXIT_OK
    print(status_line(document_of(after)))
    return EXIT_OK


def _command(args: argparse.Namespace) -> dict[str, Any]:
    action = args.ctl_action
    if action == "play":
        command: dict[str, Any] = {"action": "play"}
        for key, value in (
            ("sound", args.sound),
            ("volume", args.volume),
            ("sleep_timer", args.timer),
            ("fade", args.fade),
        ):
            if value is not None:
                command[key] = value
        return command
    if action == "stop":
        return {"action": "stop"} if args.fade is None else {"action": "stop", "fade": args.fade}
    if action in ("toggle", "next", "previous", "status", "snooze", "dismiss"):
        return {"action": action}
    if action == "program":
        return ctl_program.command(args)
    if action == "volume":
        return _volume(args.value)
    if action == "timer":
        return {"sleep_timer": args.minutes}
    if action == "layer":
        command = {"layer": args.layer}
        if args.volume is not None:
            command["layer_volume"] = args.volume
        return command
    if action == "output":
        if args.output == "list":
            return {"action": "status"}
        if args.output == "next":
            return {"action": "next_output"}
        return {"output": args.output}
    if action == "preset":
        if args.verb == "list":
            if args.name is not None:
                raise argparse.ArgumentTypeError("ctl preset list takes no NAME")
            return {"action": "status"}
        if args.name is None:
            raise argparse.ArgumentTypeError(
                f"ctl preset {args.verb} needs a NAME, e.g. rainy-night"
            )
        return {PRESET_VERBS[args.verb]: args.name}
    if action == "send":
        try:  # the daemon's own strict decoder: nothing it would refuse is sent
            raw = decode_value(args.command)
        except CommandError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        if not isinstance(raw, dict):
            raise argparse.ArgumentTypeError('give a JSON object, e.g. \'{"action": "play"}\'')
        return raw
    raise AssertionError(f"unhandled ctl action {action}")


def _output_list(document: dict[str, Any]) -> str:
    """The named outputs, one a line, the one playing marked ``*`` (as presets are)."""
    current = document.get("output", {}).get("name")
    names = document.get("outputs") or [current]
    return "\n".join(f"{name} *" if name == current else name for name in names)


def _volume(text: str) -> dict[str, Any]:
    value = finite_number(text)
    key = "volume_step" if text.strip().startswith(("+", "-")) else "volume"
    return {key: int(value) if value.is_integer() else value}


def _socket_path(args: argparse.Namespace) -> str:
    socket = getattr(args, "socket", None)
    if socket:
        return str(socket)
    configured = _config_for_ctl(getattr(args, "config", None)).socket.path
    paths = runpaths.client_socket_paths(configured, os.environ, os.path.exists)
    if len(paths) > 1:
        raise ControlError(
            f"the sleepsound daemon is not running (no socket at {' or '.join(paths)})"
        )
    return paths[0]


def _config_for_ctl(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as error:
        # ctl only wants the socket path: a broken config should not stop a "stop".
        print(
            f"sleepsound: the config has {len(error.problems)} problem(s) (see "
            "`sleepsound check-config`); using the default socket",
            file=sys.stderr,
        )
        return Config()


def _minutes(text: str) -> float:
    if text.strip().lower() == "off":
        return 0
    value = finite_number(text)
    return int(value) if value.is_integer() else value


def _one_line(text: str) -> str:
    return " ".join(text.split())
