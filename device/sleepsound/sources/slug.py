"""Stable ids for sound files: ``Soft Whispers.flac`` -> ``soft-whispers``."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from sleepsound.commands import MAX_NAME_CHARS

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(stem: str) -> str:
    """Return the library id for a file stem (the name without its extension).

    Accents are folded to ASCII, everything else that is not a letter or digit
    becomes one ``-``. A name with no ASCII letters at all (``日本語``) gets a short
    id derived from a hash of the name, so it is still stable and unique. An id is
    never longer than commands accept (:data:`~sleepsound.commands.MAX_NAME_CHARS`):
    a longer one is cut and ends in a hash of the whole name, so two long names that
    start alike still get different ids.
    """
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    slug = _NOT_ALNUM.sub("-", folded.lower()).strip("-")
    digest = hashlib.sha1(stem.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    if not slug:
        return f"sound-{digest}"
    if len(slug) > MAX_NAME_CHARS:
        return slug[: MAX_NAME_CHARS - len(digest) - 1].rstrip("-") + "-" + digest
    return slug


def is_valid_id(name: str) -> bool:
    """Tell whether ``name`` is shaped like a library id (what :func:`slugify` makes)."""
    return bool(name) and slugify(name) == name
