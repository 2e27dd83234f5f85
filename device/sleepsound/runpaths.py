"""Where the control socket and the saved state live when the config does not say.

Pure: the environment and a file test are passed in. Under systemd the unit's
``RuntimeDirectory=``/``StateDirectory=`` hand us ``$RUNTIME_DIRECTORY`` and
``$STATE_DIRECTORY``, ``$CACHE_DIRECTORY`` (``/run/sleepsound``, ``/var/lib/sleepsound``,
``/var/cache/sleepsound``); run by hand,
the daemon uses places its user can write (``$XDG_RUNTIME_DIR``, ``$XDG_STATE_HOME``,
``$XDG_CACHE_HOME``, then ``/tmp``, ``~/.local/state`` and ``~/.cache``), so
``sleepsound run`` works without root.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final

SYSTEM_SOCKET: Final = "/run/sleepsound/control.sock"
"""The socket of the systemd service (``RuntimeDirectory=sleepsound``)."""
SOCKET_NAME: Final = "control.sock"
STATE_NAME: Final = "state.json"
LOUDNESS_NAME: Final = "loudness.json"
SYSTEM_CACHE_DIR: Final = "/var/cache/sleepsound"
"""The cache directory of the systemd service (``CacheDirectory=sleepsound``)."""


def daemon_socket_path(configured: str | None, environ: Mapping[str, str]) -> str:
    """The socket the daemon listens on: ``[socket] path``, else its runtime directory."""
    if configured:
        return configured
    runtime = _first(environ.get("RUNTIME_DIRECTORY"))
    if runtime:
        return os.path.join(runtime, SOCKET_NAME)
    return user_socket_path(environ)


def client_socket_paths(
    configured: str | None, environ: Mapping[str, str], exists: Callable[[str], bool]
) -> list[str]:
    """Sockets ``sleepsound ctl`` tries, best first (the first that exists, else all).

    A user's shell has no ``$RUNTIME_DIRECTORY``, so ``ctl`` looks for a daemon run by
    hand (the user's own socket) and for the systemd service's socket.
    """
    if configured:
        return [configured]
    candidates = [daemon_socket_path(None, environ)]
    if SYSTEM_SOCKET not in candidates:
        candidates.append(SYSTEM_SOCKET)
    present = [path for path in candidates if exists(path)]
    return present[:1] or candidates


def user_socket_path(environ: Mapping[str, str]) -> str:
    """A socket path the user can create: ``$XDG_RUNTIME_DIR`` or a per-user ``/tmp`` folder."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "sleepsound", SOCKET_NAME)
    return os.path.join("/tmp", f"sleepsound-{os.getuid()}", SOCKET_NAME)


def state_file_path(configured: str | None, environ: Mapping[str, str]) -> str:
    """The saved-state file: ``[state] file``, else the state directory, else the user's."""
    if configured:
        return configured
    return _service_file(STATE_NAME, environ, "STATE_DIRECTORY", "XDG_STATE_HOME", ".local/state")


def cache_file_path(name: str, environ: Mapping[str, str]) -> str:
    """A cache file: ``$CACHE_DIRECTORY`` under systemd, else ``$XDG_CACHE_HOME/sleepsound``."""
    return _service_file(name, environ, "CACHE_DIRECTORY", "XDG_CACHE_HOME", ".cache")


def loudness_cache_path(configured: str | None, environ: Mapping[str, str]) -> str:
    """The daemon's loudness cache: ``[sounds] loudness_cache``, else its cache directory."""
    if configured:
        return configured
    return cache_file_path(LOUDNESS_NAME, environ)


def client_loudness_cache_path(
    configured: str | None, environ: Mapping[str, str], writable: Callable[[str], bool]
) -> str:
    """The loudness cache ``sleepsound sounds`` fills: the one the daemon will read.

    The configured file if set; else the service's (:data:`SYSTEM_CACHE_DIR`) when this
    user may write there (``sudo -u sleepsound sleepsound sounds analyze``), else the
    one a daemon run by this user reads.
    """
    if configured:
        return configured
    if not environ.get("CACHE_DIRECTORY") and writable(SYSTEM_CACHE_DIR):
        return os.path.join(SYSTEM_CACHE_DIR, LOUDNESS_NAME)
    return loudness_cache_path(None, environ)


def _service_file(
    name: str, environ: Mapping[str, str], systemd_var: str, xdg_var: str, home_default: str
) -> str:
    """``name`` in systemd's directory for the unit, else in the user's XDG one."""
    service_dir = _first(environ.get(systemd_var))
    if service_dir:
        return os.path.join(service_dir, name)
    base = environ.get(xdg_var) or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), home_default
    )
    return os.path.join(base, "sleepsound", name)


def _first(value: str | None) -> str | None:
    # systemd joins several directories with ':' when a unit lists more than one.
    return value.split(":")[0] if value else None
