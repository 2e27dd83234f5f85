"""Is the system clock NTP-synchronised? (A Pi without a clock battery boots with a
stale clock until it is.) An adapter: it asks systemd and holds no policy.

:func:`is_synchronised` returns True or False when the system can tell, None when it
cannot (no systemd-timesyncd, no ``timedatectl``: a container); the caller then trusts
the clock and says so once in its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Final

TIMESYNC_FLAG: Final = "/run/systemd/timesync/synchronized"
"""systemd-timesyncd touches this file once it has synchronised the clock."""
TIMEDATECTL_TIMEOUT_S: Final = 2.0


def is_synchronised(flag_path: str = TIMESYNC_FLAG, timedatectl: str | None = None) -> bool | None:
    """True when the clock is synchronised, False when the system says it is not,
    None when there is no way to tell.

    The flag file is enough for True (cheap, no process); otherwise ``timedatectl show
    -p NTPSynchronized --value`` answers (also for chrony or ntpd, through timedated).
    """
    if os.path.exists(flag_path):
        return True
    command = timedatectl or shutil.which("timedatectl")
    if command is None:
        return None
    try:
        result = subprocess.run(
            [command, "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=TIMEDATECTL_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    answer = result.stdout.strip().lower()
    if result.returncode != 0 or answer not in ("yes", "no"):
        return None  # no D-Bus / no timedated (a container): it cannot tell
    return answer == "yes"


__all__ = ["TIMESYNC_FLAG", "is_synchronised"]
