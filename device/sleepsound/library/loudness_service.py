"""Loudness as a service: gains handed out at once, measurements made in the background.

The background worker writes the cache once per batch (when its queue runs dry, at
most every :data:`SAVE_EVERY_S` during a long one, and when it stops), not once per
sound: a folder of 200 new files costs one write, not 200 of a growing file.

Measurements belong to an output layout (its channel count, see
:mod:`sleepsound.library.loudness`). With ``isolate`` (the daemon) the measuring
itself runs in a worker process (:mod:`sleepsound.library.measure_worker`) that lives
for one batch, so pyloudnorm, scipy and the decoded chunks never stay in the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sleepsound.errors import SoundFileError
from sleepsound.library.loudness import (
    BUILTIN_RATE,
    TARGET_LUFS,
    Measurement,
    gain_for,
    measure_file,
    measure_source,
    provisional_gain,
)
from sleepsound.library.loudness_cache import LoudnessCache, builtin_identity, file_identity
from sleepsound.library.measure_worker import WorkerProcess
from sleepsound.sources.base import Source

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0
"""During a long batch the worker writes the cache at most this often (a power cut
then costs at most this much measuring); otherwise once when the batch ends."""


OpenBuiltin = Callable[[str, int, int], Source]
"""Opens a built-in spec (generator name, texture id) *without* loudness levelling."""


class LoudnessService:
    """Hands out gains and measures unmeasured sounds in a background thread.

    :meth:`gain_db` never blocks and never measures: it returns the cached gain or
    ``None``; :meth:`request` queues a measurement (the sound being played first).
    The worker thread runs at a lower OS priority than the audio thread. It writes
    the cache when its queue runs dry, every ``save_every_s`` during a long batch,
    and when it stops: a measurement it has reported done survives a normal stop.
    ``out_channels`` is the output layout asked about when none is named; with
    ``isolate`` the worker thread measures in a worker process (one per batch).
    """

    def __init__(
        self,
        cache: LoudnessCache,
        target_lufs: float = TARGET_LUFS,
        open_builtin: OpenBuiltin | None = None,
        builtin_presets: dict[str, Path | None] | None = None,
        save_every_s: float = SAVE_EVERY_S,
        *,
        out_channels: int = 2,
        isolate: bool = False,
    ) -> None:
        """Set up; call :meth:`start` to measure in the background."""
        self.cache = cache
        self.out_channels = out_channels
        self._worker = WorkerProcess() if isolate else None
        self.target_lufs = target_lufs
        self.save_every_s = save_every_s
        self.open_builtin = open_builtin
        self.builtin_presets = dict(builtin_presets or {})
        self._known: dict[tuple[str, int], tuple[str, Measurement]] = {}
        """Measurements in memory by (spec, layout), with the identity they were taken of."""
        self._builtin_ids: dict[str, str] = {}
        self._queue: queue.PriorityQueue[tuple[int, int, str, int]] = queue.PriorityQueue()
        self._queued: set[tuple[str, int]] = set()
        self._failed: dict[tuple[str, int], str] = {}
        """(spec, layout)s whose measurement failed, with the identity that failed (not
        retried)."""
        self._seq = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.listeners: list[Callable[[str, Measurement], None]] = []

    # -- asking

    def is_builtin(self, spec: str) -> bool:
        """True for generator names and texture ids (anything not an absolute path)."""
        return not os.path.isabs(spec)

    def identity(self, spec: str) -> str:
        """The identity the measurement of ``spec`` must match."""
        if self.is_builtin(spec):
            # Presets do not change while running; hash each one once.
            if spec not in self._builtin_ids:
                self._builtin_ids[spec] = builtin_identity(self._preset_path(spec), spec)
            return self._builtin_ids[spec]
        return file_identity(Path(spec))

    def _preset_path(self, spec: str) -> Path | None:
        """The preset file of a built-in spec, also with parameters (``rain:spells=true``)."""
        if spec in self.builtin_presets:
            return self.builtin_presets[spec]
        return self.builtin_presets.get(spec.partition(":")[0].strip())

    def measurement(self, spec: str, out_channels: int | None = None) -> Measurement | None:
        """The measurement of this version of ``spec`` on this layout (memory, then the
        cache file), if any.

        Checks the file's identity (a ``stat``), so a file that changed since it was
        measured reads as unmeasured. Never measures. ``out_channels`` defaults to the
        service's layout.
        """
        layout = out_channels or self.out_channels
        try:
            identity = self.identity(spec)
        except OSError:
            return None
        known = self._known.get((spec, layout))
        if known is not None and known[0] == identity:
            return known[1]
        found = self.cache.get(spec, identity, layout)
        if found is not None:
            self._known[(spec, layout)] = (identity, found)
        else:
            self._known.pop((spec, layout), None)
        return found

    def gain_db(self, spec: str, out_channels: int | None = None) -> float | None:
        """The measured gain for ``spec`` on this output, or ``None`` while unmeasured.

        Called for every audio block, so it only looks in memory (no file access):
        :meth:`request`, called when a sound is opened, loads what the cache knows.
        """
        known = self._known.get((spec, out_channels or self.out_channels))
        return None if known is None else gain_for(known[1], self.target_lufs)

    def provisional_gain_db(self, spec: str) -> float:
        """The safe gain to play ``spec`` with until it is measured."""
        return provisional_gain(self.target_lufs, self.is_builtin(spec))

    # -- measuring

    def measure_now(
        self, spec: str, *, save: bool = True, out_channels: int | None = None
    ) -> Measurement:
        """Measure ``spec`` for this layout in this thread (unless cached) and cache it.

        ``save=False`` leaves the cache file for a later :meth:`save` (a batch). With
        ``isolate`` the measuring runs in the worker process.
        """
        layout = out_channels or self.out_channels
        identity = self.identity(spec)
        found = self.cache.get(spec, identity, layout)
        if found is None:
            if self._worker is None or threading.current_thread() is self._thread:
                found = self._measure(spec, layout, self._worker)
            else:  # another thread (tests, warm-ups): a worker of its own, closed at once
                worker = WorkerProcess()
                try:
                    found = self._measure(spec, layout, worker)
                finally:
                    worker.close()
            self.cache.put(spec, identity, found, save=save)
        self._known[(spec, layout)] = (identity, found)
        for listener in list(self.listeners):
            listener(spec, found)
        return found

    def _measure(self, spec: str, layout: int, worker: WorkerProcess | None) -> Measurement:
        if worker is not None:
            builtin = self.is_builtin(spec)
            preset = self._preset_path(spec) if builtin else None
            return worker.measure(
                {
                    "spec": spec,
                    "out_channels": layout,
                    "builtin": builtin,
                    "preset": str(preset) if preset else None,
                }
            )
        if self.is_builtin(spec):
            if self.open_builtin is None:
                raise SoundFileError(f"{spec}: no renderer to measure built-in sounds with")
            source = self.open_builtin(spec, BUILTIN_RATE, layout)
            try:
                return measure_source(source)
            finally:
                source.close()
        return measure_file(Path(spec), layout)

    def request(self, spec: str, urgent: bool = False, out_channels: int | None = None) -> None:
        """Load ``spec``'s measurement from the cache, or queue it for measuring."""
        self.request_many((spec,), urgent, out_channels)

    def request_many(
        self, specs: Iterable[str], urgent: bool = False, out_channels: int | None = None
    ) -> None:
        """:meth:`request` each of ``specs``, queued at once so they make one batch."""
        layout = out_channels or self.out_channels
        wanted = [spec for spec in specs if self.measurement(spec, layout) is None]
        with self._lock:
            for spec in wanted:
                key = (spec, layout)
                if key in self._failed:
                    try:
                        if self._failed[key] == self.identity(spec):
                            continue
                    except OSError:
                        continue
                if key in self._queued and not urgent:
                    continue
                self._queued.add(key)
                self._seq += 1
                self._queue.put((0 if urgent else 1, self._seq, spec, layout))

    def forget_missing_files(self) -> int:
        """Drop the cached measurements of files that no longer exist; return how many.

        Call it after a full scan of the sounds folder, so the cache does not grow
        forever. Built-in sounds are kept. The file is written at the next save.
        """
        return len(self.cache.prune(lambda key: self.is_builtin(key) or os.path.exists(key)))

    def save(self) -> bool:
        """Write the cache file if anything is pending; True if it wrote.

        A file that cannot be written is logged, and tried again at the next save.
        """
        try:
            return self.cache.save()
        except OSError as error:
            log.warning("loudness: cannot write the cache %s (%s)", self.cache.path, error)
            return False

    def start(self) -> None:
        """Start the background worker."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="loudness", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the worker after the measurement in progress; write what it measured."""
        self._stop.set()
        self._queue.put((-1, 0, "", 0))
        if self._worker is not None:
            self._worker.kill()  # a measurement in progress is given up, not waited for
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.save()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until the queue is empty (tests, ``sounds analyze``); False on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            with self._lock:
                if not self._queued:
                    return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            # Linux gives each thread its own nice value: measuring yields to playback.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        saved_at = time.monotonic()
        try:
            while not self._stop.is_set():
                _, _, spec, layout = self._queue.get()
                if self._stop.is_set() or not spec:
                    break
                key = (spec, layout)
                try:
                    if self.measurement(spec, layout) is None:
                        self.measure_now(spec, save=False, out_channels=layout)
                except Exception as error:  # a bad file must not end the worker
                    if self._stop.is_set():
                        break  # the worker process was ended on purpose: not the file's fault
                    log.warning("loudness: %s", error)
                    with contextlib.suppress(OSError):
                        self._failed[key] = self.identity(spec)
                finally:
                    with self._lock:
                        batch_done = self._queued <= {key}
                    if batch_done and self._worker is not None:
                        self._worker.close()  # the batch is over: its memory goes back
                    # Saved before the spec leaves the queue, so wait_idle() means "on disk".
                    if batch_done or time.monotonic() - saved_at >= self.save_every_s:
                        self.save()
                        saved_at = time.monotonic()
                    with self._lock:
                        self._queued.discard(key)
        finally:
            if self._worker is not None:
                self._worker.close()
            self.save()
