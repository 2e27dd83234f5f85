"""The program scheduler on a fake clock: DST in London and New York, a leap day, clock
jumps, a device that was off, an unsynchronised clock, skip-next, disabled programs,
and the runtime edits. Every instant is checked in UTC, where a mistake cannot hide."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleepsound.errors import ProgramError
from sleepsound.schedule import (
    REASON_OFF,
    REASON_SKIPPED,
    REASON_UNSYNCED,
    Decision,
    Fire,
    Missed,
    Program,
    SchedulerState,
    add_program,
    merged,
    next_occurrence,
    next_program,
    parse_program,
    program_to_dict,
    remove_program,
    set_enabled,
    skip_next,
    step,
    unskip,
    upcoming,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
GRACE_MIN = 15.0
MINUTE = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def program(**keys: object) -> Program:
    raw: dict[str, object] = {"name": "p", "kind": "bedtime", "at": "22:00", "sound": "rain"}
    raw.update(keys)
    return parse_program(raw)


def wake(**keys: object) -> Program:
    return program(**{"name": "wake", "kind": "wake", "at": "07:00", "fade_min": 20, **keys})


class FakeClock:
    """Steps the scheduler as the daemon would, on a clock the test moves."""

    def __init__(self, programs: Iterable[Program], tz: ZoneInfo) -> None:
        self.programs = tuple(programs)
        self.tz = tz
        self.state = SchedulerState()
        self.log: list[tuple[datetime, Decision]] = []

    def at(self, now: datetime, synced: bool = True) -> tuple[Decision, ...]:
        self.state, decisions = step(self.state, self.programs, now, self.tz, synced, GRACE_MIN)
        self.log.extend((now, decision) for decision in decisions)
        return decisions

    def run(
        self,
        start: datetime,
        end: datetime,
        every: timedelta = MINUTE,
        synced: Callable[[datetime], bool] = lambda _now: True,
    ) -> None:
        now = start
        while now <= end:
            self.at(now, synced(now))
            now += every

    def fires(self) -> list[tuple[datetime, str, datetime]]:
        """(when it fired, program, due) of every Fire so far."""
        return [(t, d.program.name, d.due_utc) for t, d in self.log if isinstance(d, Fire)]

    def missed(self) -> list[tuple[str, datetime, str]]:
        return [
            (d.program.name, d.due_utc, d.reason) for _t, d in self.log if isinstance(d, Missed)
        ]


# -- daylight saving time ----------------------------------------------------------------------


def test_london_wake_across_spring_forward_fires_once_a_day_at_local_seven() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.run(utc(2026, 3, 28, 12), utc(2026, 3, 30, 12))
    # 07:00 BST is 06:00 UTC from the 29th; the rise starts 20 minutes before.
    assert clock.fires() == [
        (utc(2026, 3, 29, 5, 40), "wake", utc(2026, 3, 29, 6)),
        (utc(2026, 3, 30, 5, 40), "wake", utc(2026, 3, 30, 6)),
    ]
    fire = clock.log[0][1]
    assert isinstance(fire, Fire) and fire.start_utc == utc(2026, 3, 29, 5, 40)
    assert fire.late_s == 0


def test_london_0130_on_spring_forward_does_not_exist_and_fires_at_0200_local() -> None:
    clock = FakeClock([program(at="01:30")], LONDON)
    clock.run(utc(2026, 3, 28, 0), utc(2026, 3, 30, 12))
    assert clock.fires() == [
        (utc(2026, 3, 28, 1, 30), "p", utc(2026, 3, 28, 1, 30)),  # GMT
        (utc(2026, 3, 29, 1, 0), "p", utc(2026, 3, 29, 1, 0)),  # the clocks change: 02:00 BST
        (utc(2026, 3, 30, 0, 30), "p", utc(2026, 3, 30, 0, 30)),  # 01:30 BST
    ]
    assert utc(2026, 3, 29, 1).astimezone(LONDON).strftime("%H:%M %Z") == "02:00 BST"


def test_london_0130_on_fall_back_fires_once_the_first_time() -> None:
    clock = FakeClock([program(at="01:30")], LONDON)
    clock.run(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12))
    # 01:30 happens at 00:30 UTC (BST) and again at 01:30 UTC (GMT): only the first.
    assert clock.fires() == [(utc(2026, 10, 25, 0, 30), "p", utc(2026, 10, 25, 0, 30))]


def test_new_york_0230_on_spring_forward_fires_at_0300_local() -> None:
    clock = FakeClock([program(at="02:30")], NEW_YORK)
    clock.run(utc(2026, 3, 8, 0), utc(2026, 3, 8, 12))
    assert clock.fires() == [(utc(2026, 3, 8, 7), "p", utc(2026, 3, 8, 7))]
    assert utc(2026, 3, 8, 7).astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"


def test_new_york_0130_on_fall_back_fires_once() -> None:
    clock = FakeClock([program(at="01:30")], NEW_YORK)
    clock.run(utc(2026, 10, 31, 12), utc(2026, 11, 1, 12))
    # 01:30 EDT = 05:30 UTC, then 01:30 EST = 06:30 UTC: once, the first.
    assert clock.fires() == [(utc(2026, 11, 1, 5, 30), "p", utc(2026, 11, 1, 5, 30))]


def test_new_york_wake_after_fall_back_keeps_its_wall_clock_time() -> None:
    clock = FakeClock([wake(at="06:30", days="weekends")], NEW_YORK)
    clock.run(utc(2026, 10, 31, 0), utc(2026, 11, 2, 0), every=timedelta(seconds=30))
    assert [due.astimezone(NEW_YORK).strftime("%a %H:%M %Z") for _t, _n, due in clock.fires()] == [
        "Sat 06:30 EDT",
        "Sun 06:30 EST",
    ]
    assert [due for _t, _n, due in clock.fires()] == [
        utc(2026, 10, 31, 10, 30),
        utc(2026, 11, 1, 11, 30),
    ]


def test_a_wake_rise_spanning_the_change_still_reaches_volume_at_wall_clock_time() -> None:
    # 03:10 BST on spring-forward day; the rise starts 20 minutes earlier in real time.
    due = next_occurrence(wake(at="03:10"), utc(2026, 3, 29, 0), LONDON)
    assert due == utc(2026, 3, 29, 2, 10)
    clock = FakeClock([wake(at="03:10")], LONDON)
    clock.run(utc(2026, 3, 29, 0), utc(2026, 3, 29, 4))
    assert clock.fires() == [(utc(2026, 3, 29, 1, 50), "wake", due)]


# -- the calendar ------------------------------------------------------------------------------


def test_leap_day_thursdays_and_daily() -> None:
    assert date(2028, 2, 29).weekday() == 1  # a Tuesday
    thursdays = upcoming([program(days=["thu"])], date(2028, 2, 21), 14, LONDON)
    assert [u.due_utc.date() for u in thursdays] == [date(2028, 2, 24), date(2028, 3, 2)]
    daily = upcoming([program(days="daily", at="07:00")], date(2028, 2, 27), 4, LONDON)
    assert [u.due_utc.date() for u in daily] == [
        date(2028, 2, 27),
        date(2028, 2, 28),
        date(2028, 2, 29),
        date(2028, 3, 1),
    ]
    clock = FakeClock([program(days="daily", at="07:00")], LONDON)
    clock.run(utc(2028, 2, 28, 12), utc(2028, 3, 1, 12), every=timedelta(minutes=7))
    assert [due for _t, _n, due in clock.fires()] == [utc(2028, 2, 29, 7), utc(2028, 3, 1, 7)]


def test_days_by_name() -> None:
    start = date(2026, 12, 7)  # a Monday
    dates = {
        spec: [u.due_utc.date().weekday() for u in upcoming([program(days=spec)], start, 7, LONDON)]
        for spec in ("weekdays", "weekends")
    }
    assert dates == {"weekdays": [0, 1, 2, 3, 4], "weekends": [5, 6]}


def test_upcoming_lists_a_wakes_rise_start_and_marks_the_skipped_one() -> None:
    listed = upcoming([wake(), program()], date(2026, 12, 7), 2, LONDON, frozenset({"wake"}))
    assert [(u.program.name, u.due_utc, u.start_utc, u.skipped) for u in listed] == [
        ("wake", utc(2026, 12, 7, 7), utc(2026, 12, 7, 6, 40), True),
        ("p", utc(2026, 12, 7, 22), utc(2026, 12, 7, 22), False),
        ("wake", utc(2026, 12, 8, 7), utc(2026, 12, 8, 6, 40), False),
        ("p", utc(2026, 12, 8, 22), utc(2026, 12, 8, 22), False),
    ]


# -- clock jumps -------------------------------------------------------------------------------


def test_a_forward_jump_into_the_rise_fires_late_once() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.at(utc(2026, 12, 7, 3))
    clock.run(utc(2026, 12, 7, 6, 50), utc(2026, 12, 7, 8))
    assert clock.fires() == [(utc(2026, 12, 7, 6, 50), "wake", utc(2026, 12, 7, 7))]
    fire = clock.log[0][1]
    assert isinstance(fire, Fire) and fire.late_s == 600


def test_a_forward_jump_short_of_the_start_skips_nothing() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.at(utc(2026, 12, 7, 1))
    clock.run(utc(2026, 12, 7, 6, 30), utc(2026, 12, 7, 8))
    assert clock.fires() == [(utc(2026, 12, 7, 6, 40), "wake", utc(2026, 12, 7, 7))]


def test_a_forward_jump_past_the_grace_is_reported_missed() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.at(utc(2026, 12, 7, 3))
    clock.run(utc(2026, 12, 7, 9), utc(2026, 12, 7, 10))
    assert clock.fires() == []
    assert clock.missed() == [("wake", utc(2026, 12, 7, 7), REASON_OFF)]


def test_a_backward_jump_does_not_fire_again() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.run(utc(2026, 12, 7, 6), utc(2026, 12, 7, 9))
    clock.run(utc(2026, 12, 7, 4), utc(2026, 12, 7, 9))  # NTP steps back five hours
    assert clock.fires() == [(utc(2026, 12, 7, 6, 40), "wake", utc(2026, 12, 7, 7))]
    assert clock.missed() == []


def test_a_backward_jump_does_not_skip_a_program_still_ahead() -> None:
    clock = FakeClock([], LONDON)
    clock.at(utc(2026, 12, 7, 10))  # the clock is wrong: hours ahead
    clock.programs = (wake(),)  # a wake added while the clock is wrong
    clock.at(utc(2026, 12, 7, 10, 1))
    clock.run(utc(2026, 12, 7, 5), utc(2026, 12, 7, 8))  # corrected: 07:00 is still ahead
    assert clock.fires() == [(utc(2026, 12, 7, 6, 40), "wake", utc(2026, 12, 7, 7))]


def test_judged_occurrences_are_forgotten_after_two_days() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.run(utc(2026, 12, 1, 0), utc(2026, 12, 10, 0), every=timedelta(minutes=5))
    assert len(clock.fires()) == 9
    assert len(clock.state.judged) <= 3


# -- missed while off, unsynchronised clock ----------------------------------------------------


@pytest.mark.parametrize(
    ("boot", "expected"),
    [
        (utc(2026, 12, 7, 6, 45), "fire"),  # during the rise
        (utc(2026, 12, 7, 7, 14), "fire"),  # 14 minutes late: within the grace
        (utc(2026, 12, 7, 7, 15), "missed"),  # 15 minutes late: not less than the grace
        (utc(2026, 12, 7, 8, 30), "missed"),
    ],
)
def test_a_wake_due_while_the_device_was_off(boot: datetime, expected: str) -> None:
    clock = FakeClock([wake()], LONDON)
    clock.run(boot, boot + timedelta(hours=1))
    if expected == "fire":
        assert clock.fires() == [(boot, "wake", utc(2026, 12, 7, 7))]
        fire = clock.log[0][1]
        assert isinstance(fire, Fire) and fire.late_s == (boot - utc(2026, 12, 7, 6, 40)).seconds
    else:
        assert clock.fires() == []
        assert clock.missed() == [("wake", utc(2026, 12, 7, 7), REASON_OFF)]


def test_a_program_missed_long_ago_is_not_reported_at_boot() -> None:
    clock = FakeClock([wake()], LONDON)
    clock.at(utc(2026, 12, 7, 13))
    assert clock.log == []


def test_nothing_fires_on_an_unsynchronised_clock() -> None:
    clock = FakeClock([wake(), program()], LONDON)
    clock.run(utc(2026, 12, 7, 0), utc(2026, 12, 8, 0), synced=lambda _now: False)
    assert clock.log == []


def test_a_wake_fires_after_sync_within_the_grace() -> None:
    clock = FakeClock([wake()], LONDON)
    synced_at = utc(2026, 12, 7, 7, 5)
    clock.run(utc(2026, 12, 7, 6), utc(2026, 12, 7, 8), synced=lambda now: now >= synced_at)
    assert clock.fires() == [(synced_at, "wake", utc(2026, 12, 7, 7))]


def test_a_wake_past_the_grace_at_sync_is_missed_because_of_the_clock() -> None:
    clock = FakeClock([wake()], LONDON)
    synced_at = utc(2026, 12, 7, 7, 30)
    clock.run(utc(2026, 12, 7, 6), utc(2026, 12, 7, 8), synced=lambda now: now >= synced_at)
    assert clock.fires() == []
    assert clock.missed() == [("wake", utc(2026, 12, 7, 7), REASON_UNSYNCED)]


def test_a_stale_boot_clock_then_ntp_step_fires_nothing_twice() -> None:
    # A Pi without a clock battery boots at yesterday's shutdown time, then NTP steps.
    clock = FakeClock([wake()], LONDON)
    clock.run(utc(2026, 12, 6, 23), utc(2026, 12, 6, 23, 10), synced=lambda _now: False)
    clock.run(utc(2026, 12, 7, 6, 55), utc(2026, 12, 7, 8))
    assert clock.fires() == [(utc(2026, 12, 7, 6, 55), "wake", utc(2026, 12, 7, 7))]
    assert clock.missed() == []


# -- skip-next, disabled, edits while running --------------------------------------------------


def test_skip_next_consumes_exactly_the_next_occurrence() -> None:
    clock = FakeClock([wake(), program(name="other", at="06:50")], LONDON)
    clock.state = replace(clock.state, skip_next=frozenset({"wake"}))
    first = next_program(clock.state, clock.programs, utc(2026, 12, 7, 0), LONDON)
    assert first is not None and (first[0].name, first[1]) == ("other", utc(2026, 12, 7, 6, 50))
    later = next_program(clock.state, [wake()], utc(2026, 12, 7, 0), LONDON)
    assert later is not None and later[1] == utc(2026, 12, 8, 7)  # tomorrow's
    clock.run(utc(2026, 12, 7, 0), utc(2026, 12, 9, 0))
    assert clock.missed() == [("wake", utc(2026, 12, 7, 7), REASON_SKIPPED)]
    assert [(n, due) for _t, n, due in clock.fires()] == [
        ("other", utc(2026, 12, 7, 6, 50)),
        ("wake", utc(2026, 12, 8, 7)),  # its rise starts at 06:40, before the other
        ("other", utc(2026, 12, 8, 6, 50)),
    ]
    assert clock.state.skip_next == frozenset()


def test_a_disabled_program_never_fires() -> None:
    clock = FakeClock([wake(enabled=False)], LONDON)
    clock.run(utc(2026, 12, 7, 0), utc(2026, 12, 8, 12), every=timedelta(minutes=2))
    assert clock.log == []
    assert next_program(clock.state, clock.programs, utc(2026, 12, 7), LONDON) is None
    assert upcoming(clock.programs, date(2026, 12, 7), 7, LONDON) == []


def test_a_program_set_just_after_its_time_waits_for_the_next_day() -> None:
    clock = FakeClock([], LONDON)
    clock.at(utc(2026, 12, 7, 7, 4))
    clock.programs = (wake(),)  # set at 07:04 for 07:00
    clock.run(utc(2026, 12, 7, 7, 5), utc(2026, 12, 8, 8))
    assert clock.missed() == []
    assert clock.fires() == [(utc(2026, 12, 8, 6, 40), "wake", utc(2026, 12, 8, 7))]


def test_next_program_is_the_earliest_due_and_skips_the_rising_one() -> None:
    programs = [wake(), program(name="nap", at="14:00")]
    state = SchedulerState()
    found = next_program(state, programs, utc(2026, 12, 7, 3), LONDON)
    assert found is not None and (found[0].name, found[1]) == ("wake", utc(2026, 12, 7, 7))
    state, _ = step(state, programs, utc(2026, 12, 7, 6, 41), LONDON, True, GRACE_MIN)
    found = next_program(state, programs, utc(2026, 12, 7, 6, 41), LONDON)
    assert found is not None and (found[0].name, found[1]) == ("nap", utc(2026, 12, 7, 14))


def test_next_occurrence_is_strictly_after() -> None:
    assert next_occurrence(wake(), utc(2026, 12, 7, 7), LONDON) == utc(2026, 12, 8, 7)
    assert next_occurrence(wake(days=["sun"]), utc(2026, 12, 7, 7), LONDON) == utc(2026, 12, 13, 7)


def test_program_to_dict_round_trips() -> None:
    for p in (wake(then_after_min=10, then_volume=60, snooze_min=5), program(days=["mon", "thu"])):
        assert parse_program(program_to_dict(p)) == p


def test_edits() -> None:
    config = (wake(), program(name="wind down"))
    stored = add_program((), program(name="nap", at="14:00"))
    stored = add_program(stored, program(name="nap", at="14:30"))  # replaces by name
    assert [(p.name, p.at.strftime("%H:%M")) for p in stored] == [("nap", "14:30")]
    stored = set_enabled(stored, config, "wake", False)  # a config program: a stored copy
    in_force = merged(config, stored)
    assert [(p.name, p.enabled) for p in in_force] == [
        ("wake", False),
        ("wind down", True),
        ("nap", True),
    ]
    stored = remove_program(stored, config, "wake")  # the config's version comes back
    assert merged(config, stored)[0].enabled is True
    with pytest.raises(ProgramError, match="'wind down' is written in the config file"):
        remove_program(stored, config, "wind down")
    with pytest.raises(
        ProgramError, match=r"no program 'wakee' \(did you mean 'wake'\?\)"
    ) as caught:
        set_enabled(stored, config, "wakee", True)
    assert caught.value.field == "name"
    skips = skip_next(frozenset(), merged(config, stored), "wake")
    assert skips == {"wake"} and unskip(skips, config, "wake") == frozenset()
    with pytest.raises(ProgramError, match="there are no programs yet"):
        skip_next(frozenset(), (), "wake")


def test_no_grace_still_fires_on_time_on_a_slow_loop() -> None:
    state, decisions = step(
        SchedulerState(), [program()], utc(2026, 12, 7, 21, 59), LONDON, True, 0
    )
    assert decisions == ()
    # The loop's next turn comes 20 s after 22:00: on time, even with grace_min = 0.
    state, decisions = step(state, [program()], utc(2026, 12, 7, 22, 0, 20), LONDON, True, 0)
    assert [type(d) for d in decisions] == [Fire]
    state, decisions = step(SchedulerState(), [program()], utc(2026, 12, 7, 22, 2), LONDON, True, 0)
    assert [(type(d), d.reason) for d in decisions if isinstance(d, Missed)] == [
        (Missed, REASON_OFF)
    ]


def test_days_take_full_names_in_any_case() -> None:
    assert program(days=["Monday", "THU"]).days == {0, 3}
    with pytest.raises(ProgramError, match=r"days\[0\]: 'mo' is not a day"):
        program(days=["mo"])


ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "UTC"]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45, 59]),
    after=st.datetimes(datetime(2025, 1, 1), datetime(2030, 12, 31)),
)
def test_every_due_time_is_the_wall_clock_time_or_the_end_of_its_gap(
    zone: str, hour: int, minute: int, after: datetime
) -> None:
    tz = ZoneInfo(zone)
    p = program(at=f"{hour:02d}:{minute:02d}")
    after_utc = after.replace(tzinfo=UTC)
    due = next_occurrence(p, after_utc, tz)
    assert after_utc < due <= after_utc + timedelta(days=1, hours=1)
    local = due.astimezone(tz)
    wall = datetime.combine(local.date(), p.at)
    if (local.hour, local.minute) != (hour, minute):
        # Only in a spring-forward gap, and then at its end: a minute earlier in real
        # time the clock read before the gap, and the wall time never happened that day.
        before = (due - timedelta(seconds=1)).astimezone(tz)
        assert before.utcoffset() != local.utcoffset()
        assert before.replace(tzinfo=None) < wall < local.replace(tzinfo=None)
    else:
        # Existing (once or twice): the first instant with that wall time (fold 0;
        # astimezone marks the repeat of a fall-back hour with fold 1).
        assert local.fold == 0
