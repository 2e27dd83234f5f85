"""``sleepsound run`` and ``sleepsound check-config``.

``run`` is what systemd starts (``--simulate``: with mock pins and a terminal view);
``check-config`` lists every problem in the config file. ``ctl`` is
:mod:`sleepsound.cli.ctl`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Final

from sleepsound.config import load_config
from sleepsound.errors import ConfigError

EXIT_OK: Final = 0
EXIT_CONFIG: Final = 78
"""EX_CONFIG: the unit's RestartPreventExitStatus=78 stops a restart loop on a bad config."""

SYSLOG_PRIORITY: Final = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def register(subparsers: Any) -> None:
    """Add ``run`` and ``check-config``."""
    run = subparsers.add_parser(
        "run", help="run the player daemon in the foreground (what systemd starts)"
    )
    run.add_argument("--config", metavar="PATH", help="config file (default: see check-config)")
    run.add_argument(
        "--simulate",
        action="store_true",
        help="no GPIO needed: mock pins and a terminal view; keys press the button and "
        "turn the knob (space, d, l, +/-, Enter; q quits)",
    )
    run.set_defaults(func=run_daemon)

    check = subparsers.add_parser(
        "check-config", help="check the config file and list every problem in it"
    )
    check.add_argument("--config", metavar="PATH", help="config file to check")
    check.set_defaults(func=check_config)


# -- run and check-config -------------------------------------------------------------------


def run_daemon(args: argparse.Namespace) -> int:
    """``sleepsound run``: load the config, then serve until SIGTERM."""
    _setup_daemon_logging(args.verbose)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        _print_problems(error)
        return EXIT_CONFIG
    if getattr(args, "simulate", False):
        from sleepsound.cli.simulator import run_simulated

        return run_simulated(config, args.config)
    from sleepsound.daemon import Daemon  # numpy and the engine only for the daemon

    return Daemon(config, config_arg=args.config).run()


def check_config(args: argparse.Namespace) -> int:
    """``sleepsound check-config``: every problem with its key path, or "config OK"."""
    try:
        config = load_config(args.config)
    except ConfigError as error:
        _print_problems(error)
        return EXIT_CONFIG
    for warning in config.warnings:
        print(f"sleepsound: warning: {warning}", file=sys.stderr)
    from sleepsound.controls.pin_check import header_problems

    wiring = header_problems(config.section("controls"), config.section("led"))
    if wiring:
        # The daemon would start (a wiring mistake never stops the sound), but these
        # controls would stay off: that is worth a failing check before wiring the Pi.
        _print_problems(ConfigError(wiring, config.path))
        print("  (the daemon still starts and plays; these controls stay off)", file=sys.stderr)
        return EXIT_CONFIG
    print(f"config OK: {config.path or 'built-in defaults (no config file)'}")
    return EXIT_OK


def _print_problems(error: ConfigError) -> None:
    where = f" in {error.path}" if error.path else ""
    print(f"sleepsound: {len(error.problems)} config problem(s){where}:", file=sys.stderr)
    for problem in error.problems:
        print(f"  {problem}", file=sys.stderr)


def _setup_daemon_logging(verbose: int) -> None:
    root = logging.getLogger()
    if verbose == 0:
        root.setLevel(logging.INFO)  # a daemon's journal should say what it does
    if os.environ.get("JOURNAL_STREAM"):
        # journald reads "<N>" prefixes as priorities and adds time and unit itself.
        for handler in root.handlers:
            handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))


class _JournalFormatter(logging.Formatter):
    """Prefixes each record with its syslog priority (``<3>`` for errors)."""

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, behind the priority prefix."""
        priority = SYSLOG_PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{super().format(record)}"
