"""Where samples go: ALSA, a real-time clock (optionally recording), or a file.

:func:`open_output` is the one verb the daemon opens its output with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the config and numpy only when an output is opened
    from sleepsound.config import AudioConfig
    from sleepsound.output_table import OutputSetting
    from sleepsound.outputs.base import Output


def open_output(
    audio: AudioConfig, named: OutputSetting | None = None, *, clock_instead: bool = False
) -> Output:
    """Open a named output (``[outputs.NAME]``), or without one the output ``[audio]``
    names: the ALSA device (a sound card, or BlueALSA for ``kind = "bluetooth"``), or
    the clock (recording if set). Rate, format and buffer sizes come from ``[audio]``.

    ``clock_instead`` opens the clock output without recording: the stand-in for a
    sound card that is missing, so the daemon keeps its pace (and its timers) in silence.
    Raises :class:`~sleepsound.errors.DeviceMissingError` when the card is not there and
    :class:`~sleepsound.errors.OutputError` when it is there but unusable (busy, odd format).
    """
    if named is not None:
        kind, device, channels, record = named.kind, named.device, named.channels, named.record
    else:
        kind = "clock" if audio.output == "clock" else "alsa"
        device, channels, record = audio.device, audio.channels, audio.record
    if clock_instead or kind == "clock":
        from sleepsound.outputs.clock import ClockOutput

        return ClockOutput(
            rate=audio.rate,
            channels=channels,
            period_frames=audio.period_frames,
            periods=audio.periods,
            record=None if clock_instead else record,
        )
    from sleepsound.outputs.alsa import AlsaOutput  # alsaaudio only when ALSA is used

    return AlsaOutput(
        device=device,
        rate=audio.rate,
        channels=channels,
        sample_format=audio.format,
        period_frames=audio.period_frames,
        periods=audio.periods,
    )


__all__ = ["open_output"]
