"""What switching to another named output means for the player; pure.

A switch (``{"output": "headphones"}`` or ``{"action": "next_output"}``) is planned
here and carried out by the daemon::

    plan = output_switch.plan(state, command, now_s, ctx)    # CommandError: refused
    # the shell opens plan.target (nothing changes if it cannot), fades the old
    # output out over plan.fade_s, and starts the new one with plan.scene
    outcome = output_switch.switched(state, plan, info)      # state, ctx: plan.ctx

What it decides: each output keeps its own volume (the one it had when last chosen,
else its start-up volume), clamped to the new output's ceiling; the context becomes
the new output's (ceiling, channels, taper), so a mono output's rules apply to the
layer at once (a binaural bed is switched off there when the config refuses it);
the new output fades in from silence at that volume.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from sleepsound import player
from sleepsound.commands import Command
from sleepsound.output_table import OutputSetting, OutputTable
from sleepsound.player import Outcome, OutputInfo, PlayerContext, PlayerState
from sleepsound.scene import Scene

SWITCH_FADE_S: Final = 1.0
"""The old output fades out this long, and the new one fades in this long."""


@dataclass(frozen=True)
class SwitchPlan:
    """A switch the player agreed to; the shell carries it out."""

    target: OutputSetting
    state: PlayerState
    """The player's state once the switch is done."""
    ctx: PlayerContext
    """The context for the new output."""
    scene: Scene
    """What the new output starts with (fading in from silence)."""
    fade_s: float
    """How long the old output fades out."""
    warnings: tuple[str, ...] = ()
    same: bool = False
    """The output asked for is the one playing: nothing to do."""


def wants_switch(command: Command) -> bool:
    """Whether ``command`` asks for another output."""
    return command.output is not None or command.action == "next_output"


def rest_of(command: Command) -> Command | None:
    """``command`` without its output part (applied after the switch), or ``None``."""
    action = None if command.action == "next_output" else command.action
    rest = replace(command, output=None, action=action)
    if rest.action is None and not rest.has_setters:
        return None
    return rest


def context_for(ctx: PlayerContext, target: OutputSetting) -> PlayerContext:
    """``ctx`` for ``target``: its ceiling, start volume, channels and taper."""
    return replace(
        ctx,
        output_name=target.name,
        max_volume=target.max_volume,
        start_volume=target.start_volume,
        out_channels=target.channels,
        range_db=target.range_db,
        keep_alive=target.keep_alive == "tone",
    )


def plan(state: PlayerState, command: Command, now_s: float, ctx: PlayerContext) -> SwitchPlan:
    """Plan the switch ``command`` asks for; :class:`CommandError` (``output``) if unknown."""
    table = ctx.outputs or OutputTable((), state.output_name)
    if command.output is not None:
        target = table.find(command.output)
    else:
        target = table.after(state.output_name) if table.outputs else table.find("")
    new_ctx = context_for(ctx, target)
    if target.name == state.output_name:
        warning = f"already playing to output {target.name!r}"
        scene = player.scene_for(state, ctx, 0.0)
        return SwitchPlan(target, state, ctx, scene, 0.0, (warning,), same=True)
    volumes = dict(state.output_volumes)
    volumes[state.output_name] = state.volume
    volume = volumes.pop(target.name, target.start_volume)
    warnings = []
    if volume > target.max_volume:
        warnings.append(
            f"volume clamped to output {target.name!r}'s max_volume {target.max_volume:g}"
        )
    moved = replace(
        state,
        output_name=target.name,
        output_volumes=tuple(sorted(volumes.items())),
        volume=min(volume, target.max_volume),
    )
    # The new output's rules: a layer it cannot play is switched off (a binaural bed
    # on a mono speaker when the config refuses it), a volume above it is clamped.
    fitted = player.reconfigure(moved, now_s, new_ctx).state
    if moved.layer.on and not fitted.layer.on:
        warnings.append(f"the layer is off: output {target.name!r} cannot play it")
    fade_s = SWITCH_FADE_S if state.audible else 0.0
    scene = player.scene_for(fitted, new_ctx, SWITCH_FADE_S)
    if scene.sleep_fade is not None and fitted.sleep_fade is not None:
        # The new output's engine starts the final fade where it has got to by now.
        elapsed = max(0.0, now_s - fitted.sleep_fade.start_s)
        scene = replace(scene, sleep_fade=replace(scene.sleep_fade, elapsed_s=elapsed))
    return SwitchPlan(target, fitted, new_ctx, scene, fade_s, tuple(warnings))


def on_disconnect(ctx: PlayerContext) -> str | None:
    """The output to move to when the one playing goes away (``on_disconnect =
    "switch:NAME"``), or ``None``: hold, and wait for it (nothing moves to a speaker by
    itself: that could wake a partner)."""
    current = ctx.outputs.get(ctx.output_name) if ctx.outputs else None
    return current.switch_on_disconnect if current is not None else None


def disconnect_after_timer(ctx: PlayerContext) -> OutputSetting | None:
    """The Bluetooth output to disconnect now that the sleep timer ended (its
    ``off_after_timer``: radio quiet for the rest of the night), or ``None``."""
    current = ctx.outputs.get(ctx.output_name) if ctx.outputs else None
    if current is not None and current.kind == "bluetooth" and current.off_after_timer:
        return current
    return None


def switched(old: PlayerState, done: SwitchPlan, info: OutputInfo) -> Outcome:
    """The shell moved the sound to ``done.target``: the new state, published and saved."""
    new = replace(done.state, output=info)
    if old.output.problem is not None and old.last_error == old.output.problem:
        new = replace(new, last_error=None)  # the old output's trouble is not the new one's
    effects: tuple[player.Effect, ...] = (player.PublishStatus(),)
    if player.saved_view(old) != player.saved_view(new):
        effects += (player.SaveState(player.saved_view(new)),)
    return Outcome(new, effects)


__all__ = [
    "SWITCH_FADE_S",
    "SwitchPlan",
    "context_for",
    "disconnect_after_timer",
    "on_disconnect",
    "plan",
    "rest_of",
    "switched",
    "wants_switch",
]
