"""Loudness: measured once per sound, cached, turned into a gain.

Method (ITU-R BS.1770-4 via pyloudnorm)
---------------------------------------
pyloudnorm's :class:`~pyloudnorm.Meter` K-weights the audio and computes the
loudness of 400 ms gating blocks (75 % overlap). We never hand it a whole file:

* files whose peaks stand more than 20 dB above their loudness are measured as
  the tamer (:mod:`levelled`) will play them, so taming does not leave them
  quieter than the rest;
* files up to ``whole_file_max_s`` (20 min) are read in 10.3 s chunks that start
  every 10 s, so the chunks' gating blocks tile the file exactly (only the
  K-weighting filter restarts at each chunk, which moves the result by far less
  than 0.1 LU);
* longer files are measured on a bounded, deterministic sample: ``excerpts``
  (60) excerpts of ``excerpt_s`` (10 s) spread evenly from start to end, i.e.
  10 minutes of audio whatever the file's length. Sleep material is steady, so the
  sample lands well within 1 LU of the full measurement; memory stays at one
  chunk.

The block loudnesses of all chunks are pooled and gated once, as BS.1770 does for
one long signal: absolute gate at -70 LUFS, relative gate 10 LU below the
absolute-gated mean. Stereo files are also measured as their mono downmix, so the
gain is right on a mono output too. Files shorter than a gating block are
measured as the loop they are played as.

Results are cached against the file's identity (path, size, mtime_ns) in a JSON
file written atomically; built-in sounds are measured by rendering 30 s of them.
The background worker writes the file once per batch (when its queue runs dry, at
most every :data:`SAVE_EVERY_S` during a long one, and when it stops), not once per
sound: a folder of 200 new files costs one write, not 200 of a growing file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sleepsound.errors import SoundFileError
from sleepsound.library.levelled import CEILING_ABOVE_LOUDNESS_DB, make_tamer
from sleepsound.sources.base import Source

log = logging.getLogger(__name__)

TARGET_LUFS = -23.0
"""EBU R128 programme loudness: every sound is brought here before the volume knob."""
PROVISIONAL_LUFS = -14.0
"""What an unmeasured file is assumed to be: loud (a mastered track), so it starts quiet."""
MAX_BOOST_DB = 40.0
MAX_CUT_DB = -40.0
BLOCK_S = 0.4
HOP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
CACHE_VERSION = 1
RENDER_VERSION = 1
"""Bump when the built-in renderers change so their cached loudness is remeasured."""
BUILTIN_RENDER_S = 30.0
BUILTIN_RATE = 48000
SAVE_EVERY_S = 60.0
"""During a long batch the worker writes the cache at most this often (a power cut
then costs at most this much measuring); otherwise once when the batch ends."""


@dataclass(frozen=True)
class Measurement:
    """The loudness of one sound."""

    lufs: float
    """Integrated loudness of the sound as it is (its own channels); -inf when silent."""
    lufs_mono: float
    """Integrated loudness of its mono downmix (equal to ``lufs`` for mono sources)."""
    peak_db: float
    """Highest sample peak seen while measuring, dBFS."""
    channels: int
    method: str
    """``whole`` or ``sampled NxTs`` (see the module docstring)."""
    measured_s: float
    """Seconds of audio the measurement looked at."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (infinities as ``None``)."""
        data = asdict(self)
        for key in ("lufs", "lufs_mono", "peak_db"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        """Inverse of :meth:`to_json`."""
        fields = dict(data)
        for key in ("lufs", "lufs_mono", "peak_db"):
            if fields.get(key) is None:
                fields[key] = -math.inf
        return cls(
            lufs=float(fields["lufs"]),
            lufs_mono=float(fields["lufs_mono"]),
            peak_db=float(fields["peak_db"]),
            channels=int(fields["channels"]),
            method=str(fields["method"]),
            measured_s=float(fields["measured_s"]),
        )


# ---------------------------------------------------------------- pure core


def gated_loudness(block_lufs: np.ndarray) -> float:
    """Integrated loudness (LUFS) from BS.1770 gating-block loudnesses (pure).

    ``block_lufs`` are the loudness values of 400 ms blocks (channel-weighted
    sums, as pyloudnorm's ``blockwise_loudness``). Returns ``-inf`` for silence.
    """
    blocks = np.asarray(block_lufs, dtype=np.float64)
    blocks = blocks[np.isfinite(blocks) & (blocks >= ABSOLUTE_GATE_LUFS)]
    if blocks.size == 0:
        return -math.inf
    power = 10.0 ** ((blocks + 0.691) / 10.0)
    relative_gate = -0.691 + 10.0 * math.log10(power.mean()) + RELATIVE_GATE_LU
    kept = power[blocks > relative_gate]
    if kept.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(kept.mean())


def plan_reads(
    frames: int,
    rate: int,
    whole_file_max_s: float = 1200.0,
    excerpts: int = 60,
    excerpt_s: float = 10.0,
    chunk_s: float = 10.0,
) -> tuple[list[tuple[int, int]], str]:
    """Which (start, length) frame ranges to measure, and the method's name (pure)."""
    block = round(BLOCK_S * rate)
    hop = round(HOP_S * rate)
    if frames <= whole_file_max_s * rate:
        step = round(chunk_s * rate)
        reads = []
        for start in range(0, frames, step):
            length = min(step + block - hop, frames - start)
            if length >= block or start == 0:
                reads.append((start, length))
        return reads, "whole"
    length = round(excerpt_s * rate)
    starts = np.linspace(0, frames - length, excerpts).round().astype(np.int64)
    return [(int(s), length) for s in starts], f"sampled {excerpts}x{excerpt_s:g}s"


def effective_lufs(measurement: Measurement, out_channels: int) -> float:
    """The loudness a sound has on an output with ``out_channels`` channels (pure).

    A mono sound duplicated onto two speakers is 3 dB louder in BS.1770 terms; a
    stereo sound on a mono output is heard as its downmix.
    """
    if out_channels == 1:
        return measurement.lufs_mono
    if measurement.channels == 1:
        return measurement.lufs + 10.0 * math.log10(out_channels)
    return measurement.lufs


def gain_for(measurement: Measurement, target_lufs: float, out_channels: int) -> float:
    """Gain (dB) that brings the sound to ``target_lufs`` on this output (pure).

    The gain is bounded: a near-silent file is not boosted by more than
    :data:`MAX_BOOST_DB` (that would raise its hiss), and a silent one gets 0 dB.
    """
    loudness = effective_lufs(measurement, out_channels)
    if not math.isfinite(loudness):
        return 0.0
    return float(np.clip(target_lufs - loudness, MAX_CUT_DB, MAX_BOOST_DB))


def provisional_gain(target_lufs: float, builtin: bool) -> float:
    """The gain to start with before a sound has been measured (pure).

    Built-in sounds are designed at the target; a file is assumed to be loud, so
    it starts too quiet rather than too loud and ramps up once measured.
    """
    return 0.0 if builtin else min(0.0, target_lufs - PROVISIONAL_LUFS)


# ---------------------------------------------------------------- measuring


class _Accumulator:
    """Pools pyloudnorm block loudnesses over chunks, for a sound and its downmix."""

    def __init__(self, rate: int, channels: int) -> None:
        # pyloudnorm pulls in scipy.signal (~75 MB, a second of start-up on a Pi): load it
        # only when something is actually measured, in the background measurer.
        import pyloudnorm

        self.meter = pyloudnorm.Meter(rate, block_size=BLOCK_S)
        self.rate = rate
        self.channels = channels
        self.blocks: list[np.ndarray] = []
        self.mono_blocks: list[np.ndarray] = []
        self.peak = 0.0
        self.seconds = 0.0

    def add(self, data: np.ndarray) -> None:
        data = np.asarray(data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        data = data[:, :2]  # BS.1770 weights >2 channels differently; we play stereo at most
        self.seconds += len(data) / self.rate
        if len(data) == 0:
            return
        self.peak = max(self.peak, float(np.max(np.abs(data))))
        block = round(BLOCK_S * self.rate)
        if len(data) < block:  # a short loop: measure it as it is heard, repeated
            data = np.tile(data, (math.ceil(block / len(data)), 1))[:block]
        self.blocks.append(self._blocks(data))
        if data.shape[1] > 1:
            self.mono_blocks.append(self._blocks(data.mean(axis=1)))

    def _blocks(self, data: np.ndarray) -> np.ndarray:
        self.meter.integrated_loudness(data)
        return np.asarray(self.meter.blockwise_loudness, dtype=np.float64)

    def result(self, method: str) -> Measurement:
        lufs = gated_loudness(np.concatenate(self.blocks)) if self.blocks else -math.inf
        mono = gated_loudness(np.concatenate(self.mono_blocks)) if self.mono_blocks else lufs
        peak_db = 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf
        return Measurement(lufs, mono, peak_db, self.channels, method, self.seconds)


def measure_file(path: Path, **plan: Any) -> Measurement:
    """Measure a sound file's loudness without loading it whole (see module docstring).

    When the file has transients that the tamer will cut (peaks more than
    :data:`CEILING_ABOVE_LOUDNESS_DB` above its loudness), the loudness that counts
    is the one heard *after* taming: the reads are measured again through the same
    limiter playback uses, up to twice, until the figure settles. ``plan`` takes
    :func:`plan_reads` keywords. Raises :class:`SoundFileError`.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            reads, method = plan_reads(f.frames, f.samplerate, **plan)
            result = _measure_reads(f, reads, method, None)
            peak_db = result.peak_db
            for _ in range(2):
                if not math.isfinite(result.lufs):
                    break
                if peak_db - result.lufs <= CEILING_ABOVE_LOUDNESS_DB:
                    break
                tamed = _measure_reads(f, reads, method + ", tamed", result.lufs)
                settled = abs(tamed.lufs - result.lufs) < 0.05
                result = replace(tamed, peak_db=peak_db)
                if settled:
                    break
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as error:
        raise SoundFileError(f"{path.name}: cannot measure loudness ({error})") from error
    return result


def _measure_reads(
    f: sf.SoundFile, reads: list[tuple[int, int]], method: str, tamed_at: float | None
) -> Measurement:
    """Measure the planned reads; ``tamed_at`` (LUFS) runs them through the tamer first."""
    channels = min(f.channels, 2)
    acc = _Accumulator(f.samplerate, channels)
    for start, length in reads:
        f.seek(start)
        data = f.read(length, dtype="float32", always_2d=True)[:, :channels]
        if tamed_at is not None and len(data):
            data = _tame_like_playback(data, f.samplerate, tamed_at)
        acc.add(data)
    return acc.result(method)


def _tame_like_playback(data: np.ndarray, rate: int, loudness: float) -> np.ndarray:
    """``data`` as the tamer leaves it when the sound is levelled from ``loudness``."""
    gain = 10.0 ** ((TARGET_LUFS - loudness) / 20.0)
    tamer = make_tamer(rate, data.shape[1], TARGET_LUFS)
    latency = tamer.latency_frames
    padded = np.concatenate([data * np.float32(gain), np.zeros((latency, data.shape[1]), "f4")])
    return tamer.process(padded)[latency:] / np.float32(gain)


def measure_source(source: Source, seconds: float = BUILTIN_RENDER_S) -> Measurement:
    """Measure ``seconds`` of an endless source, read in 10 s blocks."""
    acc = _Accumulator(source.rate, min(source.channels, 2))
    remaining = round(seconds * source.rate)
    step = 10 * source.rate
    while remaining > 0:
        n = min(step, remaining)
        acc.add(source.read(n))
        remaining -= n
    return acc.result(f"rendered {seconds:g}s")


# ---------------------------------------------------------------- the cache


def file_identity(path: Path) -> str:
    """What ties a measurement to one version of a file: size and mtime_ns."""
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def builtin_identity(preset_path: Path | None, spec: str) -> str:
    """Identity of a built-in sound: its preset file's content and the renderer version."""
    content = preset_path.read_bytes() if preset_path and preset_path.is_file() else b""
    digest = hashlib.sha1(content + spec.encode()).hexdigest()[:16]
    return f"builtin:{RENDER_VERSION}:{digest}"


CacheWriter = Callable[[Path, dict[str, Any]], None]
"""Writes a cache document to a path (the file system boundary of :class:`LoudnessCache`)."""


def write_json_atomically(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON to ``path``: temporary file, fsync, rename.

    A power cut leaves either the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".loudness-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class LoudnessCache:
    """Measurements keyed by spec (file path or built-in spec) and identity.

    The file is JSON, rewritten atomically (:func:`write_json_atomically`). A cache
    that cannot be read is started afresh with a warning. :meth:`put` writes at
    once unless told ``save=False``; then :meth:`save` writes everything pending
    in one go.
    """

    def __init__(self, path: Path | None, writer: CacheWriter = write_json_atomically) -> None:
        """Load the cache at ``path``; ``None`` keeps it in memory only.

        ``writer`` writes the file (tests wrap it to count the writes).
        """
        self.path = path
        self._writer = writer
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        if path is not None and path.exists():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                if document.get("version") == CACHE_VERSION:
                    self._entries = dict(document.get("entries", {}))
            except (OSError, ValueError, AttributeError) as error:
                log.warning("loudness cache %s unreadable (%s); measuring afresh", path, error)

    def get(self, key: str, identity: str) -> Measurement | None:
        """The cached measurement for ``key`` if it was taken of this ``identity``."""
        entry = self._entries.get(key)
        if entry is None or entry.get("identity") != identity:
            return None
        try:
            return Measurement.from_json(entry["measurement"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def dirty(self) -> bool:
        """True while something is stored that the file does not have yet."""
        return self._dirty

    def put(self, key: str, identity: str, measurement: Measurement, *, save: bool = True) -> None:
        """Store a measurement; write the cache file now unless ``save`` is False."""
        with self._lock:
            self._entries[key] = {"identity": identity, "measurement": measurement.to_json()}
            self._dirty = True
            if save:
                self._save()

    def prune(self, keep: Callable[[str], bool]) -> list[str]:
        """Forget every entry whose key ``keep`` rejects; return those keys.

        The file is written at the next :meth:`save` (or :meth:`put`).
        """
        with self._lock:
            gone = [key for key in self._entries if not keep(key)]
            for key in gone:
                del self._entries[key]
            self._dirty = self._dirty or bool(gone)
        return gone

    def save(self) -> bool:
        """Write the file if anything changed since the last write; True if it wrote.

        Raises :class:`OSError` when the file cannot be written (it stays pending).
        """
        with self._lock:
            if not self._dirty:
                return False
            self._save()
            return self.path is not None

    def _save(self) -> None:
        """Write the file (the lock is held); memory-only caches just stay clean."""
        if self.path is not None:
            self._writer(self.path, {"version": CACHE_VERSION, "entries": dict(self._entries)})
        self._dirty = False


# ---------------------------------------------------------------- the service

OpenBuiltin = Callable[[str, int, int], Source]
"""Opens a built-in spec (generator name, texture id) *without* loudness levelling."""


class LoudnessService:
    """Hands out gains and measures unmeasured sounds in a background thread.

    :meth:`gain_db` never blocks and never measures: it returns the cached gain or
    ``None``; :meth:`request` queues a measurement (the sound being played first).
    The worker thread runs at a lower OS priority than the audio thread. It writes
    the cache when its queue runs dry, every ``save_every_s`` during a long batch,
    and when it stops: a measurement it has reported done survives a normal stop.
    """

    def __init__(
        self,
        cache: LoudnessCache,
        target_lufs: float = TARGET_LUFS,
        open_builtin: OpenBuiltin | None = None,
        builtin_presets: dict[str, Path | None] | None = None,
        save_every_s: float = SAVE_EVERY_S,
    ) -> None:
        """Set up; call :meth:`start` to measure in the background."""
        self.cache = cache
        self.target_lufs = target_lufs
        self.save_every_s = save_every_s
        self.open_builtin = open_builtin
        self.builtin_presets = dict(builtin_presets or {})
        self._known: dict[str, tuple[str, Measurement]] = {}
        """Measurements in memory with the identity they were taken of."""
        self._builtin_ids: dict[str, str] = {}
        self._queue: queue.PriorityQueue[tuple[int, int, str]] = queue.PriorityQueue()
        self._queued: set[str] = set()
        self._failed: dict[str, str] = {}
        """Specs whose measurement failed, with the identity that failed (not retried)."""
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
                self._builtin_ids[spec] = builtin_identity(self.builtin_presets.get(spec), spec)
            return self._builtin_ids[spec]
        return file_identity(Path(spec))

    def measurement(self, spec: str) -> Measurement | None:
        """The measurement of this version of ``spec`` (memory, then the cache file), if any.

        Checks the file's identity (a ``stat``), so a file that changed since it was
        measured reads as unmeasured. Never measures.
        """
        try:
            identity = self.identity(spec)
        except OSError:
            return None
        known = self._known.get(spec)
        if known is not None and known[0] == identity:
            return known[1]
        found = self.cache.get(spec, identity)
        if found is not None:
            self._known[spec] = (identity, found)
        else:
            self._known.pop(spec, None)
        return found

    def gain_db(self, spec: str, out_channels: int) -> float | None:
        """The measured gain for ``spec`` on this output, or ``None`` while unmeasured.

        Called for every audio block, so it only looks in memory (no file access):
        :meth:`request`, called when a sound is opened, loads what the cache knows.
        """
        known = self._known.get(spec)
        return None if known is None else gain_for(known[1], self.target_lufs, out_channels)

    def provisional_gain_db(self, spec: str) -> float:
        """The safe gain to play ``spec`` with until it is measured."""
        return provisional_gain(self.target_lufs, self.is_builtin(spec))

    # -- measuring

    def measure_now(self, spec: str, *, save: bool = True) -> Measurement:
        """Measure ``spec`` in this thread (unless cached) and cache it.

        ``save=False`` leaves the cache file for a later :meth:`save` (a batch).
        """
        identity = self.identity(spec)
        found = self.cache.get(spec, identity)
        if found is None:
            if self.is_builtin(spec):
                if self.open_builtin is None:
                    raise SoundFileError(f"{spec}: no renderer to measure built-in sounds with")
                source = self.open_builtin(spec, BUILTIN_RATE, 2)
                try:
                    found = measure_source(source)
                finally:
                    source.close()
            else:
                found = measure_file(Path(spec))
            self.cache.put(spec, identity, found, save=save)
        self._known[spec] = (identity, found)
        for listener in list(self.listeners):
            listener(spec, found)
        return found

    def request(self, spec: str, urgent: bool = False) -> None:
        """Load ``spec``'s measurement from the cache, or queue it for measuring."""
        self.request_many((spec,), urgent)

    def request_many(self, specs: Iterable[str], urgent: bool = False) -> None:
        """:meth:`request` each of ``specs``, queued at once so they make one batch."""
        wanted = [spec for spec in specs if self.measurement(spec) is None]
        with self._lock:
            for spec in wanted:
                if spec in self._failed:
                    try:
                        if self._failed[spec] == self.identity(spec):
                            continue
                    except OSError:
                        continue
                if spec in self._queued and not urgent:
                    continue
                self._queued.add(spec)
                self._seq += 1
                self._queue.put((0 if urgent else 1, self._seq, spec))

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
        self._queue.put((-1, 0, ""))
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
                _, _, spec = self._queue.get()
                if self._stop.is_set() or not spec:
                    break
                try:
                    if self.measurement(spec) is None:
                        self.measure_now(spec, save=False)
                except Exception as error:  # a bad file must not end the worker
                    log.warning("loudness: %s", error)
                    with contextlib.suppress(OSError):
                        self._failed[spec] = self.identity(spec)
                finally:
                    with self._lock:
                        batch_done = self._queued <= {spec}
                    # Saved before the spec leaves the queue, so wait_idle() means "on disk".
                    if batch_done or time.monotonic() - saved_at >= self.save_every_s:
                        self.save()
                        saved_at = time.monotonic()
                    with self._lock:
                        self._queued.discard(spec)
        finally:
            self.save()
