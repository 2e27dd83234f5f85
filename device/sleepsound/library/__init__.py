"""The sound library: built-in presets, the user's sound folder, loudness and variety.

Entry points for the daemon:

* :class:`~sleepsound.library.service.SoundLibrary` — the live catalog (ids ->
  entries), rescanned when files are dropped in or removed;
  ``library.resolve(id)`` gives the engine's source spec.
* :class:`~sleepsound.library.opener.SoundOpener` — the engine's source factory:
  ``opener(spec, rate, channels)`` opens any spec at matched loudness.
* :mod:`~sleepsound.library.rotation` — next/previous without recent repeats.
* :mod:`~sleepsound.library.beds` — whether a bed may play on this output.
"""
