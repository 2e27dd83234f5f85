"""The outbox's rules, driven through its own ``send`` interface (the broker's side is
in test_mqtt_flood.py): the latest state always goes out, one at a time; replies wait
in order and are bounded; availability and discovery go first. And the burst guard
and the log budget (pure)."""

from __future__ import annotations

import threading

import pytest

from sleepsound.mqtt.burst import BurstGuard
from sleepsound.mqtt.outbox import DROPPED, Outbox
from sleepsound.mqtt.throttle import LogThrottle


class Broker:
    """Takes what the outbox sends, with room for ``room`` unacknowledged messages."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str, bytes]] = []
        self.unacked: list[int] = []
        self.connected = True
        self._mid = 0

    def send(self, topic: str, payload: bytes, retain: bool) -> int | None:
        """What the bridge's ``_send`` does with paho."""
        if not self.connected:
            return None
        self._mid += 1
        self.sent.append((self._mid, topic, payload))
        self.unacked.append(self._mid)
        return self._mid

    def ack_all(self, outbox: Outbox) -> None:
        """Acknowledge everything, including what the acks make the outbox send."""
        while self.unacked:
            outbox.published(self.unacked.pop(0))

    def payloads(self, topic: str) -> list[bytes]:
        """What went out on ``topic``, in order."""
        return [payload for _, t, payload in self.sent if t == topic]


def test_the_state_is_coalesced_and_the_latest_always_goes_out() -> None:
    broker = Broker()
    outbox = Outbox(broker.send, room=5)
    for volume in range(100):
        outbox.set_state("state", f"{volume}".encode())
    # One state in flight (the first); the rest collapsed into the latest, waiting.
    assert broker.payloads("state") == [b"0"]
    broker.ack_all(outbox)
    assert broker.payloads("state") == [b"0", b"99"]
    assert outbox.settled


def test_replies_wait_in_order_for_room_and_none_is_lost() -> None:
    broker = Broker()
    outbox = Outbox(broker.send, room=3)
    for number in range(50):
        assert outbox.put("response", f"{number}".encode(), retain=False)
        outbox.set_state("state", f"s{number}".encode())
    assert len(broker.unacked) == 3  # never more than the room
    broker.ack_all(outbox)
    assert broker.payloads("response") == [f"{n}".encode() for n in range(50)]
    assert broker.payloads("state")[-1] == b"s49"
    assert outbox.settled


def test_a_full_outbox_drops_and_counts_replies_but_never_availability() -> None:
    broker = Broker()
    broker.connected = False
    outbox = Outbox(broker.send, room=3, limit=10)
    results = [outbox.put("response", b"r", retain=False) for _ in range(15)]
    assert results.count(False) == 5 and outbox.dropped == 5
    assert outbox.put("availability", b"online", retain=True, droppable=False)
    broker.connected = True
    outbox.pump()
    broker.ack_all(outbox)
    # Availability jumps the queue of replies; then the ten kept replies.
    assert [topic for _, topic, _ in broker.sent] == ["availability"] + ["response"] * 10


def test_not_connected_keeps_the_latest_state_for_later() -> None:
    broker = Broker()
    broker.connected = False
    outbox = Outbox(broker.send, room=3)
    outbox.set_state("state", b"old")
    outbox.set_state("state", b"new")
    assert broker.sent == [] and outbox.backlog == 1
    broker.connected = True
    outbox.pump()
    assert broker.payloads("state") == [b"new"]


def test_a_message_refused_for_good_is_not_retried() -> None:
    sent: list[bytes] = []

    def refuse_first(topic: str, payload: bytes, retain: bool) -> int | None:
        sent.append(payload)
        return DROPPED if payload == b"bad" else len(sent)

    outbox = Outbox(refuse_first, room=3)
    outbox.put("response", b"bad", retain=False)
    outbox.put("response", b"good", retain=False)
    assert sent == [b"bad", b"good"]


def test_an_ack_racing_the_send_frees_the_state_slot() -> None:
    # paho's thread can acknowledge a message before publish() has returned its id.
    outbox: Outbox

    def send_and_ack_at_once(topic: str, payload: bytes, retain: bool) -> int | None:
        worker = threading.Thread(target=outbox.published, args=(7,))
        worker.start()
        worker.join()
        return 7

    outbox = Outbox(send_and_ack_at_once, room=3)
    outbox.set_state("state", b"first")
    assert outbox.settled  # not waiting forever for an ack that already came


@pytest.mark.parametrize("burst", [1, 5])
def test_the_log_budget_allows_a_burst_then_counts_and_summarises_once(burst: int) -> None:
    throttle = LogThrottle(interval_s=60.0, burst=burst)
    allowed = [throttle.allow(100.0 + index * 0.01) for index in range(1000)]
    assert [ok for ok, _ in allowed].count(True) == burst
    assert all(missed == 0 for _, missed in allowed)
    ok, missed = throttle.allow(161.0)  # a new window: the held-back count, once
    assert ok and missed == 1000 - burst
    assert throttle.allow(161.5) == (burst > 1, 0)
    assert throttle.take_suppressed() == (0 if burst > 1 else 1)


def test_the_burst_guard_refuses_past_the_backlog_and_summarises_once_it_is_over() -> None:
    guard = BurstGuard(busy_at=10)
    admitted = [guard.admit(backlog=0) for _ in range(10)]
    assert all(ok for ok, _ in admitted) and guard.awaiting == 10
    refused = [guard.admit(backlog=0) for _ in range(50)]
    assert not any(ok for ok, _ in refused)
    assert [line for _, line in refused if line is not None] == [refused[0][1]]  # said once
    assert guard.over(settled=True, dropped=0) is None  # ten are still awaited
    for _ in range(10):
        guard.answered()
    assert guard.over(settled=False, dropped=0) is None  # replies still going out
    summary = guard.over(settled=True, dropped=3)
    assert summary is not None and "50 commands were refused as busy" in summary
    assert "3 replies or events dropped" in summary
    assert guard.over(settled=True, dropped=0) is None  # once
    assert guard.admit(backlog=9) == (True, None)  # room again
    assert guard.admit(backlog=9)[0] is False  # the outbox's backlog counts too


def test_refusals_of_bad_commands_are_logged_within_a_budget() -> None:
    guard = BurstGuard()
    lines = [line for n in range(100) for line in guard.refused(n * 0.1, "set", "bad")]
    assert lines == ["mqtt: refused a command on set: bad"] * 5
    later = guard.refused(100.0, "set/volume", "not a number")
    assert later == [
        "mqtt: 95 more commands were refused (not logged one by one)",
        "mqtt: refused a command on set/volume: not a number",
    ]
