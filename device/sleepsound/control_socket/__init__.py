"""The local control socket: newline-delimited JSON commands over a UNIX socket.

One command object per line in, one reply line out, in order::

    -> {"action": "play", "sound": "rain", "transaction": 7}
    <- {"status": "ok", "transaction": 7}
    -> {"action": "status"}                 (or {"action": "get"})
    <- {"status": "ok", "state": "playing", "sound": "rain", "volume": 30, ...}

Two sides, each its own module so that neither pulls in the other:
:mod:`~sleepsound.control_socket.server` (the daemon's adapter) and
:mod:`~sleepsound.control_socket.client` (``sleepsound ctl``, scripts, tests). What a
reply says in words for people is :mod:`sleepsound.status_text`, shared with
systemd's status line and the simulator. Where the socket lives is
:mod:`sleepsound.runpaths`.
"""
