"""Next and previous through the library, avoiding recent repeats (pure).

The daemon keeps a play history (a tuple of ids, newest last, the current sound
at the end) and asks these functions what comes next. ``next`` walks forward
through the candidates in catalog order, skipping anything heard in the last few
plays; ``previous`` goes back through the history like a browser's back button,
and only falls back to catalog order when the history runs out.
"""

from __future__ import annotations

from collections.abc import Sequence

HISTORY_KEEP = 50
"""How many plays the history remembers."""
AVOID_RECENT = 3
"""A sound heard in the last this-many plays is skipped when others are available."""


def remember(history: Sequence[str], sound_id: str, keep: int = HISTORY_KEEP) -> tuple[str, ...]:
    """The history after ``sound_id`` starts playing (no entry when it already is current)."""
    if history and history[-1] == sound_id:
        return tuple(history[-keep:])
    return (*history, sound_id)[-keep:]


def next_sound(
    candidates: Sequence[str],
    history: Sequence[str],
    avoid_recent: int = AVOID_RECENT,
) -> tuple[str, tuple[str, ...]] | None:
    """The sound after the current one and the history once it plays; ``None`` if none.

    The current sound is ``history[-1]`` (when it is outside ``candidates`` the
    walk starts at the first candidate). A candidate is skipped if it is among
    the last ``avoid_recent`` plays, unless every candidate is; the current sound
    is never chosen again while there is any other.
    """
    if not candidates:
        return None
    current = history[-1] if history else None
    start = candidates.index(current) + 1 if current in candidates else 0
    order = [candidates[(start + i) % len(candidates)] for i in range(len(candidates))]
    window = min(avoid_recent, len(candidates) - 1)
    recent = set(history[-window:]) if window > 0 else set()
    choice = next((c for c in order if c not in recent), None)
    if choice is None:
        choice = next((c for c in order if c != current), order[0])
    return choice, remember(history, choice)


def previous_sound(
    candidates: Sequence[str], history: Sequence[str]
) -> tuple[str, tuple[str, ...]] | None:
    """The sound before the current one and the history once it plays; ``None`` if none.

    Goes back through the history (dropping the current entry, so pressing
    previous again goes further back); when the history holds nothing usable,
    steps back through the candidates in catalog order.
    """
    if not candidates:
        return None
    trail = list(history)
    current = trail.pop() if trail else None
    while trail:
        earlier = trail[-1]
        if earlier in candidates and earlier != current:
            return earlier, tuple(trail)
        trail.pop()
    if current in candidates:
        choice = candidates[(candidates.index(current) - 1) % len(candidates)]
    else:
        choice = candidates[-1]
    return choice, (choice,)
