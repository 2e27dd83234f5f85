"""What a reload means for the named outputs (``[outputs.NAME]``), for the daemon's root.

- A config file refused for other reasons still lowers ceilings: ``[audio] max_volume``
  and each ``[outputs.NAME] max_volume`` that is lower than the running one
  (:func:`salvaged`). A safety setting never waits for the rest of the file.
- A new config that no longer has the output playing moves the sound to the default
  output, with a log line; one that changed it has it reopened (:func:`follow_outputs`).
"""

from __future__ import annotations

import logging

from sleepsound import output_switch
from sleepsound.commands import Command
from sleepsound.config import Config, salvage_ceiling, salvage_document
from sleepsound.daemon.loop import CommandLoop
from sleepsound.daemon.reload import lowered_ceiling
from sleepsound.output_config import lowered_output_ceilings

log = logging.getLogger("sleepsound.daemon")


def salvaged(running: Config, path: str | None) -> Config | None:
    """``running`` with the lower ceilings of the refused file at ``path``, or ``None``."""
    lowered = lowered_ceiling(running, salvage_ceiling(path))
    if lowered is not None:
        log.warning(
            "reload: applying its lower max_volume %g all the same", lowered.audio.max_volume
        )
    refused = salvage_document(path)
    base = lowered or running
    outputs_lowered = lowered_output_ceilings(base, refused) if refused else None
    if outputs_lowered is not None:
        log.warning("reload: applying its lower [outputs] max_volume all the same")
    return outputs_lowered or lowered


def follow_outputs(loop: CommandLoop, old: Config, new: Config, now: float) -> bool:
    """After a reload (``loop`` already has ``new``'s context): whether the output playing
    must be reopened (its table changed, or it is gone and the default takes over)."""
    name = loop.state.output_name
    table = new.named_outputs()
    after = table.get(name)
    if after is not None:
        return old.named_outputs().get(name) != after
    log.warning(
        "reload: output %r is no longer in the config; playing to the default output %r",
        name,
        table.default,
    )
    moved = output_switch.plan(loop.state, Command(output=table.default), now, loop.ctx)
    loop.ctx = moved.ctx
    loop.follow(output_switch.switched(loop.state, moved, loop.state.output), now)
    return True
