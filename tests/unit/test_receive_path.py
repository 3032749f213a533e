"""Fuzzing the host's receive path: ``VrrpNode.receive`` with fake received packets, no root.

test_codec_properties.py fuzzes ``codec.decode`` alone; here the same kind of input goes
through the whole sans-IO endpoint (VRID demux, checksum dialect, decode, per-instance
checks, the router, the timer heap), with instances in MASTER and BACKUP.  Properties:

- nothing raises;
- every packet is counted exactly once (``VrrpNode.accounted``), under the reason that
  describes it;
- a dropped packet changes nothing: state, deadlines, what the instance knows of the
  master, the size of the timer heap; its only effect is the drop (nothing sent, no VIP).
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness as h
from vipkeeper.core.events import DROP_REASONS, Received, State

masters = st.sets(st.sampled_from(["V2", "V3", "VU", "V6"])).map(frozenset)


@st.composite
def mutated_advert(draw: st.DrawFn, d) -> Received:
    """A valid advert for one of the instances, then a few field or byte changes."""
    name = draw(st.sampled_from(sorted(d.cfgs)))
    fam = d.cfgs[name].family
    addr = (
        st.builds(IPv4Address, st.integers(0, 2**32 - 1))
        if fam == 4
        else st.builds(IPv6Address, st.integers(0, 2**128 - 1))
    )
    kw = {"priority": draw(st.integers(0, 255))}
    if draw(st.booleans()):
        kw["src"] = draw(st.one_of(addr, st.sampled_from([h.PEER4, h.SRC4] if fam == 4 else [h.SRC6])))
    if draw(st.booleans()):
        kw["dst"] = draw(addr)
    if name == "V2" and draw(st.booleans()):
        kw["password"] = draw(st.binary(max_size=10))
    pkt = h.valid_advert(d, name, **kw)
    payload = bytearray(pkt.payload)
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "extend", "vrid"]))
        if op == "flip" and payload:
            payload[draw(st.integers(0, len(payload) - 1))] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del payload[draw(st.integers(0, len(payload))) :]
        elif op == "extend":
            payload += draw(st.binary(min_size=1, max_size=20))
        elif op == "vrid" and len(payload) > 1:
            payload[1] = draw(st.integers(0, 255))
    ttl = draw(st.sampled_from([255, 255, 254, 64, 1, 0]))
    return Received(pkt.family, pkt.src, pkt.dst, ttl, pkt.ifindex, bytes(payload))


def _feed_and_check(d, pkt: Received) -> None:
    before, heap_before, rx_before = d.node.accounted(), d.node.timer_queue_len, h.received(d)
    snap = h.snapshot(d)
    effects = d.receive(pkt)  # must not raise
    assert d.node.accounted() == before + 1, "every packet is counted exactly once"
    for name in d.cfgs:  # ... under a reason of the one documented set
        assert set(d.router(name).counters.drops) <= DROP_REASONS, d.router(name).counters.drops
    assert set(d.node.decode_errors) <= DROP_REASONS, d.node.decode_errors
    if h.received(d) == rx_before:  # dropped
        assert h.snapshot(d) == snap, "a dropped packet changed an instance"
        assert h.only_drops(effects), effects
        assert d.node.timer_queue_len == heap_before, "a dropped packet grew the timer heap"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masters, st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_arbitrary_bytes_through_on_packet(ms, blobs) -> None:
    d = h.build(ms)
    for blob in blobs:
        _feed_and_check(d, h.packet_from_bytes(blob))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masters, st.data())
def test_mutated_adverts_through_on_packet(ms, data) -> None:
    d = h.build(ms)
    for _ in range(data.draw(st.integers(1, 20))):
        _feed_and_check(d, data.draw(mutated_advert(d)))


# ---------------------------------------------------------------- one reason per defect


def _count(d, name: str | None, reason: str) -> int:
    if name is None:
        return d.node.unknown_vrid if reason == "unknown_vrid" else d.node.decode_errors.get(reason, 0)
    return d.router(name).counters.drops.get(reason, 0)


def _expect(d, pkt: Received, name: str | None, reason: str) -> None:
    before = _count(d, name, reason)
    _feed_and_check(d, pkt)
    assert _count(d, name, reason) == before + 1, (reason, d.node.accounted())


def _with(pkt: Received, **kw) -> Received:
    fields = {f: getattr(pkt, f) for f in ("family", "src", "dst", "ttl", "ifindex", "payload")}
    fields.update(kw)
    return Received(**fields)


@settings(max_examples=100, deadline=None)
@given(
    masters,
    st.integers(0, 254),
    st.binary(min_size=1, max_size=8).filter(lambda p: p.rstrip(b"\0") != h.PASSWORD),
    st.integers(1, 255).filter(lambda v: v not in (51, 52, 53, 54)),
    st.builds(IPv4Address, st.integers(0, 2**32 - 1)).filter(lambda a: a not in (h.PEER4, h.SRC4)),
    st.integers(0, 255),
)
def test_each_defect_is_counted_under_its_reason(ms, ttl, password, vrid, stranger, prio) -> None:
    d = h.build(ms)
    states = {n: d.router(n).state for n in d.cfgs}
    good = h.valid_advert(d, "V3", priority=prio)
    _expect(d, _with(good, ttl=ttl), "V3", "bad_ttl")
    bad_sum = bytearray(good.payload)
    bad_sum[6] ^= 0xFF
    _expect(d, _with(good, payload=bytes(bad_sum)), "V3", "bad_checksum")
    _expect(d, _with(good, payload=good.payload[:5]), "V3", "bad_length")
    _expect(d, _with(good, payload=good.payload[:1]), None, "too_short")
    _expect(d, h.valid_advert(d, "V2", priority=prio, password=password), "V2", "auth_failure")
    foreign = bytearray(good.payload)
    foreign[1] = vrid
    _expect(d, _with(good, payload=bytes(foreign)), None, "unknown_vrid")
    _expect(d, h.valid_advert(d, "VU", priority=255, src=stranger), "VU", "not_a_peer")
    _expect(d, h.valid_advert(d, "VU", priority=255, src=h.SRC4, dst=h.PEER4), "VU", "own_address")
    _expect(d, h.valid_advert(d, "V3", priority=prio, dst=h.SRC4), "V3", "wrong_cast")
    assert {n: d.router(n).state for n in d.cfgs} == states


def test_a_flood_of_dropped_packets_keeps_the_timer_heap_small() -> None:
    """Regression: every packet used to push a timer-heap entry, also when the deadline did not
    move, so under a flood the heap held (packet rate x timer horizon) stale entries: with
    advert_int 1 s, a 10,000 packet/s flood kept ~36,000 entries per BACKUP instance."""
    d = h.build(frozenset({"V2"}))
    good = h.valid_advert(d, "V3", priority=200)
    bad = [
        _with(good, ttl=64),
        h.valid_advert(d, "VU", priority=255, src=IPv4Address("10.9.9.9")),
        h.valid_advert(d, "V2", priority=255, password=b"wrong"),
    ]
    start = d.node.timer_queue_len
    for i in range(30_000):
        d.receive(bad[i % 3])
    assert d.node.timer_queue_len <= start + 1
    assert d.node.accounted() == 30_000
    assert d.router("V2").state is State.MASTER


@pytest.mark.parametrize("masters_", [frozenset(), frozenset({"V2", "V3", "VU", "V6"})])
def test_accepted_adverts_still_move_the_deadline(masters_) -> None:
    """The other side of the heap fix: a packet that moves a deadline is still scheduled."""
    d = h.build(masters_)
    r = d.router("V3")
    before = r.next_deadline()
    d.now_us += 1000
    d.receive(h.valid_advert(d, "V3", priority=200))
    assert r.state is State.BACKUP
    deadline = r.next_deadline()
    assert deadline is not None and deadline > (before or 0)
    assert d.node.next_deadline() is not None and d.node.next_deadline() <= deadline
    # the node wakes for V3's new deadline: run the clock there and V3 takes over
    d.now_us = deadline
    d.node.on_timer(d.now_us)
    assert r.state is State.MASTER
