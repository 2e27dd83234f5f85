"""``sleepsound sounds``: list the library; ``sleepsound sounds analyze``: measure it.

The listing shows every sound a command can name (built-in and the user's files),
with the loudness measured so far; problems with files (corrupt, duplicate ids,
broken sidecars...) follow on stderr, each naming its file. ``analyze`` measures
every sound not yet in the loudness cache, with a progress bar, so the daemon
never has to.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sleepsound import runpaths
from sleepsound.commands import shorten
from sleepsound.config import load_config
from sleepsound.errors import SoundError
from sleepsound.library.catalog import Catalog, SoundEntry
from sleepsound.library.loudness import Measurement
from sleepsound.library.loudness_service import LoudnessService
from sleepsound.library.opener import make_loudness_service
from sleepsound.library.service import SoundLibrary

BAR_WIDTH = 30


def register(subparsers: Any) -> None:
    """Add ``sounds`` (and ``sounds analyze``)."""
    sounds = subparsers.add_parser(
        "sounds",
        help="list the sound library (add 'analyze' to measure loudness)",
        description="List every sound a command can name: built-in sounds and your files.",
    )
    _add_common(sounds)
    sounds.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sounds.add_argument(
        "--scope",
        default="all",
        help="only these: all, user, builtin, category:<name>, trigger:<name>",
    )
    sounds.set_defaults(func=run_list)
    actions = sounds.add_subparsers(dest="sounds_command", metavar="ACTION")
    analyze = actions.add_parser("analyze", help="measure the loudness of every sound now")
    _add_common(analyze)
    analyze.add_argument(
        "--builtin", action="store_true", help="measure the built-in sounds too (30 s each)"
    )
    analyze.set_defaults(func=run_analyze)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file")
    parser.add_argument("--dir", metavar="DIR", help="sounds folder (default: [sounds] dir)")
    parser.add_argument("--cache", metavar="FILE", help="loudness cache (default: [sounds])")


def _open(args: argparse.Namespace) -> tuple[SoundLibrary, LoudnessService]:
    loaded = load_config(getattr(args, "config", None))
    config = loaded.sounds
    library = SoundLibrary(Path(args.dir or config.dir))
    library.refresh()
    cache = Path(
        runpaths.client_loudness_cache_path(
            args.cache or config.loudness_cache, os.environ, _writable_dir
        )
    )
    return library, make_loudness_service(
        library.presets, cache, config.loudness_lufs, out_channels=loaded.audio.channels
    )


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK)


def run_list(args: argparse.Namespace) -> int:
    """Print the library as a table or JSON; problems go to stderr."""
    library, service = _open(args)
    catalog = library.catalog
    entries = [catalog.get(i) for i in catalog.select(args.scope)]
    if args.json:
        rows = []
        for entry in entries:
            row = entry.to_json()
            row["loudness"] = _loudness_json(service.measurement(entry.spec), service, entry)
            rows.append(row)
        document = {"sounds": rows, "problems": list(catalog.problems)}
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(format_table(entries, service))
        _print_problems(catalog, sys.stderr)
    return 0


def _loudness_json(
    found: Measurement | None, service: LoudnessService, entry: SoundEntry
) -> dict[str, Any] | None:
    if found is None:
        return None
    gain = service.gain_db(entry.spec)
    return {**found.to_json(), "gain_db": None if gain is None else round(gain, 2)}


def format_table(entries: list[SoundEntry], service: LoudnessService) -> str:
    """The library as an aligned text table."""
    # MEASURED is the source as recorded, not what plays: every sound is levelled to
    # the target, and GAIN says by how much (read as "what will play" it misleads).
    header = ("ID", "TITLE", "CATEGORY", "TRIGGERS", "DURATION", "MEASURED", "GAIN")
    rows = [header]
    for entry in entries:
        found = service.measurement(entry.spec)
        rows.append(
            (
                entry.id,
                shorten(entry.meta.title, 32),
                entry.meta.category,
                shorten(", ".join(entry.meta.triggers) or "-", 28),
                _duration(entry.duration_s),
                _lufs(found),
                _gain(service.gain_db(entry.spec, 2) if found is not None else None),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
    return (
        f"{table}\n\nMEASURED is each source's own loudness; every sound plays at "
        f"{service.target_lufs:g} LUFS, GAIN is what is applied to get there."
    )


def _gain(gain_db: float | None) -> str:
    return "-" if gain_db is None else f"{gain_db:+.1f} dB"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "endless"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _lufs(found: Measurement | None) -> str:
    if found is None:
        return "not measured"
    if not math.isfinite(found.lufs):
        return "silent"
    return f"{found.lufs:.1f} LUFS"


def _print_problems(catalog: Catalog, out: TextIO) -> None:
    for problem in catalog.problems:
        print(f"sleepsound: warning: {problem}", file=out)


def run_analyze(args: argparse.Namespace) -> int:
    """Measure every sound not yet measured, with a progress bar on stderr.

    The cache file is written once at the end (also when interrupted), without the
    files that no longer exist.
    """
    library, service = _open(args)
    service.forget_missing_files()
    try:
        status = _analyze(args, library, service)
    finally:
        saved = _save_cache(service)
    return status if saved else 1


def _save_cache(service: LoudnessService) -> bool:
    try:
        service.cache.save()
    except OSError as error:
        print(
            f"sleepsound: error: cannot write the loudness cache {service.cache.path} "
            f"({error.strerror or error}); choose a writable file with --cache",
            file=sys.stderr,
        )
        return False
    return True


def _analyze(args: argparse.Namespace, library: SoundLibrary, service: LoudnessService) -> int:
    catalog = library.catalog
    entries = [e for e in catalog.entries.values() if e.kind == "file" or args.builtin]
    todo = [e for e in entries if service.measurement(e.spec) is None]
    _print_problems(catalog, sys.stderr)
    failures = 0
    audio_s = 0.0
    started = time.monotonic()
    for done, entry in enumerate(todo):
        _progress(done, len(todo), entry.id, sys.stderr)
        try:
            service.measure_now(entry.spec, save=False)
            audio_s += entry.duration_s or 0.0
        except SoundError as error:
            failures += 1
            print(f"\nsleepsound: warning: {entry.id}: {error}", file=sys.stderr)
    _progress(len(todo), len(todo), "", sys.stderr)
    print(file=sys.stderr)
    elapsed = time.monotonic() - started
    print(
        f"measured {len(todo) - failures} of {len(todo)} sound(s) "
        f"({len(entries) - len(todo)} already measured) in {elapsed:.1f} s"
        + (f", {audio_s / 3600:.2f} h of audio" if audio_s else "")
    )
    return 1 if failures else 0


def _progress(done: int, total: int, name: str, out: TextIO) -> None:
    """A one-line progress bar, redrawn in place on a terminal, one line per item otherwise."""
    filled = BAR_WIDTH if total == 0 else BAR_WIDTH * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    line = f"[{bar}] {done}/{total} {name}"
    if out.isatty():
        print(f"\r{line[:100]:<100}", end="", file=out, flush=True)
    elif name:
        print(line, file=out)
