"""``sleepsound run``: the daemon's shell, split by job (see :mod:`.root` for the map).

``from sleepsound.daemon import Daemon, run`` works as before; the parts load when
first asked for, so importing :mod:`sleepsound.daemon.sounds` alone (``sleepsound
mqtt show``) does not pull in the audio engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sleepsound.adapter_host import AdapterHost
    from sleepsound.daemon.adapters import ADAPTER_FACTORIES, Adapter, AdapterFactory
    from sleepsound.daemon.listeners import Listener
    from sleepsound.daemon.root import SHUTDOWN_FADE_S, Daemon, run

_WHERE = {
    "ADAPTER_FACTORIES": "sleepsound.daemon.adapters",
    "Adapter": "sleepsound.daemon.adapters",
    "AdapterFactory": "sleepsound.daemon.adapters",
    "AdapterHost": "sleepsound.adapter_host",
    "Daemon": "sleepsound.daemon.root",
    "Listener": "sleepsound.daemon.listeners",
    "SHUTDOWN_FADE_S": "sleepsound.daemon.root",
    "run": "sleepsound.daemon.root",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'sleepsound.daemon' has no attribute {name!r}")


__all__ = [
    "ADAPTER_FACTORIES",
    "SHUTDOWN_FADE_S",
    "Adapter",
    "AdapterFactory",
    "AdapterHost",
    "Daemon",
    "Listener",
    "run",
]
