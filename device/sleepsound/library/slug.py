"""Stable ids for sound files: ``Soft Whispers.flac`` -> ``soft-whispers``."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(stem: str) -> str:
    """Return the library id for a file stem (the name without its extension).

    Accents are folded to ASCII, everything else that is not a letter or digit
    becomes one ``-``. A name with no ASCII letters at all (``日本語``) gets a short
    id derived from a hash of the name, so it is still stable and unique.
    """
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_ALNUM.sub("-", folded.lower()).strip("-")
    if slug:
        return slug
    digest = hashlib.sha1(stem.encode("utf-8")).hexdigest()[:8]
    return f"sound-{digest}"


def is_valid_id(name: str) -> bool:
    """Tell whether ``name`` is shaped like a library id (what :func:`slugify` makes)."""
    return bool(name) and slugify(name) == name
