"""Waiting in tests: poll for an outcome instead of sleeping and hoping.

The machine the tests run on is shared and often loaded, so a test never asserts how
long something took: it waits for the outcome a user would notice, and the timeout is
only a safety net for an outcome that never comes. When it does run out, the failure
names what was awaited and the last value seen, so the report says what went wrong::

    wait_until(lambda: daemon.status()["state"] == "playing", "the daemon to play")
    doc = wait_for(daemon.status, lambda d: d["volume"] > 50, "the volume to rise")
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")

WAIT_S: Final = 30.0
"""Default safety net: far longer than anything takes even on a loaded machine."""

POLL_S: Final = 0.05
"""How often the condition is checked: a probe may be a whole ``sleepsound ctl status``,
so not so often that waiting itself loads the machine."""

_MAX_SHOWN: Final = 2000
"""A long last value (a whole log) is cut to its end, where the news is."""


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else "..." + text[-_MAX_SHOWN:]


def wait_for(
    read: Callable[[], T],
    accept: Callable[[T], object],
    what: str,
    *,
    timeout_s: float = WAIT_S,
    interval_s: float = POLL_S,
    describe: Callable[[T], str] = repr,
) -> T:
    """Call ``read()`` until ``accept`` takes its value; return that value.

    Raises :class:`AssertionError` after ``timeout_s`` naming ``what`` and showing the
    last value read (through ``describe``: a summary can say more than a long repr).
    The value is read once more after the deadline has passed, so a slow machine that
    got there in the end is not failed. Exceptions from ``read`` or ``accept`` are not
    caught: a broken probe fails at once, with its own traceback.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"gave up after {timeout_s:g} s waiting for {what}; "
                f"last seen: {_cut(describe(value))}"
            )
        time.sleep(interval_s)


def wait_until(
    condition: Callable[[], T],
    what: str = "the condition",
    *,
    timeout_s: float = WAIT_S,
    interval_s: float = POLL_S,
) -> T:
    """Call ``condition()`` until it returns something truthy; return that.

    Use :func:`wait_for` when the failure should show more than the falsy result (the
    document or log that was checked rather than ``False``).
    """
    if not isinstance(what, str):
        # The old daemon_helpers.wait_until took the timeout second: make a stale call loud.
        raise TypeError(f"what must say what is awaited, not {what!r}; pass timeout_s=...")
    return wait_for(condition, bool, what, timeout_s=timeout_s, interval_s=interval_s)
