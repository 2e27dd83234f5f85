"""The engine's source factory with everything the library adds.

``SoundOpener`` is a callable with the engine's factory signature
``(spec, rate, channels) -> Source``. It opens textures, generators and files,
optionally plays long files as shuffled segments, and wraps every source in the
loudness levelling and transient tamer (:class:`LevelledSource`), asking the
:class:`LoudnessService` to measure the sound in the background if it has not
been yet. Opening never waits for a measurement.

Built-in textures open from the presets the library parsed when it loaded
(:class:`~sleepsound.sources.texture_engines.BuiltinOpener`), so opening a sound
reads no preset file. A built-in id may carry parameters (``rain:spells=true``,
``binaural-delta:carrier=180,beat=2.5``): the opener splits the name off and applies
them (:func:`spec_checker` says whether they are valid before anything plays).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from sleepsound.errors import ParameterError, SoundError
from sleepsound.library.levelled import LevelledSource
from sleepsound.library.loudness import TARGET_LUFS
from sleepsound.library.loudness_cache import LoudnessCache
from sleepsound.library.loudness_service import LoudnessService, OpenBuiltin
from sleepsound.library.segments import SEGMENT_S, ShuffledSegments
from sleepsound.sources.base import Source
from sleepsound.sources.filesource import open_file
from sleepsound.sources.presets import Preset, PresetSet
from sleepsound.sources.texture_engines import BuiltinOpener, open_builtin

log = logging.getLogger(__name__)


SpecCheck = Callable[[str], str | None]
"""``check(spec)``: why a parameterised built-in spec cannot play, or ``None``."""

CHECK_RATE = 48000
CHECK_CHANNELS = 2


def spec_checker(presets: Iterable[Preset]) -> SpecCheck:
    """A check for ``id:key=value`` specs of built-in sounds, for the player to call.

    The parameters are known only to the texture or generator that reads them, so
    the check opens the spec once (milliseconds, no levelling, nothing rendered)
    and closes it: the answer is the message a bad parameter raises.
    """
    opener = BuiltinOpener(presets)

    def check(spec: str) -> str | None:
        try:
            opener(spec, CHECK_RATE, CHECK_CHANNELS).close()
        except (SoundError, ParameterError) as error:
            return str(error)
        return None

    return check


def make_loudness_service(
    presets: PresetSet,
    cache_path: Path | None,
    target_lufs: float = TARGET_LUFS,
    *,
    out_channels: int = 2,
    isolate: bool = False,
) -> LoudnessService:
    """The loudness service for a library with these ``presets``, cached at ``cache_path``.

    ``cache_path`` ``None`` keeps measurements in memory only. Built-in sounds are
    rendered from ``presets`` to be measured (see :attr:`LoudnessService.open_builtin`).
    ``out_channels`` is the output's layout; ``isolate`` measures in a worker process
    (the daemon: see :mod:`sleepsound.library.measure_worker`).
    """
    return LoudnessService(
        LoudnessCache(cache_path),
        target_lufs,
        open_builtin=BuiltinOpener(presets.presets),
        builtin_presets={preset.spec: preset.path for preset in presets.presets},
        out_channels=out_channels,
        isolate=isolate,
    )


class SoundOpener:
    """``opener(spec, rate, channels)``: a source at matched loudness, transients tamed.

    ``loudness`` ``None`` switches levelling off (sources play as they are).
    ``non_repeating`` plays files long enough to shuffle (what
    :class:`ShuffledSegments` accepts) as shuffled segments; shorter ones loop as usual.
    Built-in specs open with the service's ``open_builtin`` (else :func:`open_builtin`).
    """

    def __init__(
        self,
        loudness: LoudnessService | None,
        target_lufs: float = TARGET_LUFS,
        non_repeating: bool = False,
        segment_s: float = SEGMENT_S,
    ) -> None:
        """Configure the factory."""
        self.loudness = loudness
        self.target_lufs = loudness.target_lufs if loudness is not None else target_lufs
        self.non_repeating = non_repeating
        self.segment_s = segment_s
        service_builtin = loudness.open_builtin if loudness is not None else None
        self.builtin: OpenBuiltin = service_builtin or open_builtin

    def __call__(self, spec: str, rate: int, channels: int) -> Source:
        """Open ``spec`` for the engine."""
        inner = self._open_inner(spec, rate, channels)
        service = self.loudness
        if service is None:
            return inner
        # Measured as this output plays it: the same channel mapping, cached per layout.
        service.request(spec, urgent=True, out_channels=channels)
        return LevelledSource(
            inner,
            gain_provider=lambda: service.gain_db(spec, channels),
            provisional_db=service.provisional_gain_db(spec),
            target_lufs=self.target_lufs,
        )

    def _open_inner(self, spec: str, rate: int, channels: int) -> Source:
        if self.non_repeating and os.path.isabs(spec):
            # ShuffledSegments decides what is long enough (one open, one rule); a file
            # it refuses, too short or unreadable, loops or reports its problem below.
            try:
                return ShuffledSegments(spec, rate, channels, segment_s=self.segment_s)
            except SoundError:
                pass
        if os.path.isabs(spec):
            return open_file(spec, rate, channels)
        return self.builtin(spec, rate, channels)
