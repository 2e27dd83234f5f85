"""The ``sleepsound`` command: one entry point, a sub-command per job.

Each sub-command lives in a module of this package that exposes ``register(subparsers)``;
it sets ``func`` on its parser, a callable taking the parsed arguments and returning
the exit status. Errors the user can fix (:class:`SleepsoundError`) become one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from sleepsound import __version__
from sleepsound.errors import SleepsoundError

# Modules that contribute sub-commands, in the order `--help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "sleepsound.cli.audio",
    "sleepsound.cli.run",
    "sleepsound.cli.ctl",
    "sleepsound.cli.mqtt",
    "sleepsound.cli.sounds",
    "sleepsound.cli.programs",
)

EXIT_USAGE = 2
EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="sleepsound",
        description="A bedside sleep-sound player: ASMR and sleep sounds that never click.",
    )
    parser.add_argument("--version", action="version", version=f"sleepsound {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeatable)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if argv is None:
        # A real command line: keep mpg123's notes off the terminal and the journal.
        # In-process callers (tests) keep their own stderr.
        from sleepsound import decoder_chatter

        decoder_chatter.install()
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="sleepsound: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except SleepsoundError as error:
        print(f"sleepsound: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
