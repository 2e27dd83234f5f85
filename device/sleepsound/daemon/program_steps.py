"""Programs in the command loop: runtime edits answered, the schedule's decisions applied.

The command loop (:mod:`sleepsound.daemon.loop`) owns the player's state; the schedule
(:class:`~sleepsound.daemon.programs.DaemonSchedule`) owns the programs. This module is
the glue between them, kept out of the loop so the loop stays about commands and
effects: :func:`edit` answers a ``program_*`` command, :func:`step` turns the
scheduler's decisions into player outcomes (a program started, or skipped with an
event), each carried out by the loop's :meth:`follow` in turn.
"""

from __future__ import annotations

from typing import Any, Protocol

from sleepsound import program_player
from sleepsound.commands import Command, reply_error
from sleepsound.daemon.programs import DaemonSchedule, StartProgram
from sleepsound.errors import CommandError
from sleepsound.player import Outcome, PlayerContext, PlayerState
from sleepsound.schedule import Program


class PlayerOwner(Protocol):
    """What :func:`step` needs of the command loop: the state, and its effect runner."""

    state: PlayerState
    ctx: PlayerContext

    def follow(self, outcome: Outcome, now: float) -> Outcome:
        """Take the outcome's state and carry out its effects."""
        ...


def edit(
    schedule: DaemonSchedule | None, command: Command, owner: PlayerOwner | None = None
) -> tuple[dict[str, Any], bool]:
    """Apply ``command``'s program edit: the reply, and whether it was applied (the
    status document's ``next_program`` and ``programs`` may have changed then). With
    ``owner``, an added program naming a sound or preset the player does not know is
    refused."""
    assert command.program_edit is not None
    key, value = command.program_edit

    def playable(program: Program) -> str | None:
        if owner is None:
            return None
        return program_player.program_problem(program, owner.state, owner.ctx)

    try:
        if schedule is None:
            raise CommandError("this daemon runs no programs", key)
        return schedule.edit(key, value, command.transaction, check=playable), True
    except CommandError as error:
        return reply_error(error, transaction=command.transaction), False


def step(schedule: DaemonSchedule, owner: PlayerOwner, now: float) -> None:
    """Step the schedule at monotonic ``now`` and start or report what it decided."""
    for decision in schedule.step(now):
        if isinstance(decision, StartProgram):
            start = program_player.start(
                owner.state, decision.start, decision.due_s, now, owner.ctx
            )
            owner.follow(start, now)
        else:
            reason = f"{decision.reason} (due {decision.at})"
            skip = program_player.skipped(
                owner.state, decision.name, decision.kind, reason, owner.ctx
            )
            owner.follow(skip, now)


__all__ = ["PlayerOwner", "edit", "step"]
