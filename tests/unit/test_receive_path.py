"""Fuzzing the daemon's receive path: ``Daemon._on_packet`` with fake received packets.

test_codec_properties.py fuzzes ``codec.decode`` alone; here the same kind of input goes
through what the daemon does with it (VRID lookup, decode, per-instance checks, the engine,
the timer heap), with instances in MASTER and BACKUP.  Properties:

- nothing raises;
- every packet is counted exactly once (``harness.accounted``), under the reason that
  describes it;
- a dropped packet changes nothing: state, deadlines, what the instance knows of the
  master, queued VIP actions, and the size of the daemon's timer heap.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import harness as h
from vipkeeper.core.events import State
from vipkeeper.io.vrrp_socket import ReceivedPacket

masters = st.sets(st.sampled_from(["V2", "V3", "VU", "V6"])).map(frozenset)


@st.composite
def mutated_advert(draw: st.DrawFn, d) -> ReceivedPacket:
    """A valid advert for one of the instances, then a few field or byte changes."""
    name = draw(st.sampled_from(sorted(d.instances)))
    fam = d.instances[name].cfg.family
    addr = st.builds(IPv4Address, st.integers(0, 2**32 - 1)) if fam == 4 else st.builds(
        IPv6Address, st.integers(0, 2**128 - 1))
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
            del payload[draw(st.integers(0, len(payload))):]
        elif op == "extend":
            payload += draw(st.binary(min_size=1, max_size=20))
        elif op == "vrid" and len(payload) > 1:
            payload[1] = draw(st.integers(0, 255))
    ttl = draw(st.sampled_from([255, 255, 254, 64, 1, 0]))
    return ReceivedPacket(pkt.family, pkt.src, pkt.dst, ttl, pkt.ifindex, bytes(payload))


def _feed_and_check(d, pkt: ReceivedPacket) -> None:
    before, heap_before, rx_before = h.accounted(d), len(d._heap), h.received(d)
    snap = h.snapshot(d)
    d._on_packet(pkt)  # must not raise
    assert h.accounted(d) == before + 1, "every packet is counted exactly once"
    if h.received(d) == rx_before:  # dropped
        assert h.snapshot(d) == snap, "a dropped packet changed an instance"
        assert len(d._heap) == heap_before, "a dropped packet grew the timer heap"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masters, st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_arbitrary_bytes_through_on_packet(ms, blobs) -> None:
    d = h.build_daemon(ms)
    for blob in blobs:
        _feed_and_check(d, h.packet_from_bytes(blob))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(masters, st.data())
def test_mutated_adverts_through_on_packet(ms, data) -> None:
    d = h.build_daemon(ms)
    for _ in range(data.draw(st.integers(1, 20))):
        _feed_and_check(d, data.draw(mutated_advert(d)))


# ---------------------------------------------------------------- one reason per defect


def _count(d, name: str | None, reason: str) -> int:
    if name is None:
        return d.unknown_vrid if reason == "unknown_vrid" else d.decode_errors.get(reason, 0)
    return d.instances[name].router.counters.drops.get(reason, 0)


def _expect(d, pkt: ReceivedPacket, name: str | None, reason: str) -> None:
    before = _count(d, name, reason)
    _feed_and_check(d, pkt)
    assert _count(d, name, reason) == before + 1, (reason, h.accounted(d))


def _with(pkt: ReceivedPacket, **kw) -> ReceivedPacket:
    fields = {f: getattr(pkt, f) for f in ("family", "src", "dst", "ttl", "ifindex", "payload")}
    fields.update(kw)
    return ReceivedPacket(**fields)


@settings(max_examples=100, deadline=None)
@given(masters, st.integers(0, 254), st.binary(min_size=1, max_size=8).filter(lambda p: p.rstrip(b"\0") != h.PASSWORD),
       st.integers(1, 255).filter(lambda v: v not in (51, 52, 53, 54)),
       st.builds(IPv4Address, st.integers(0, 2**32 - 1)).filter(lambda a: a not in (h.PEER4, h.SRC4)),
       st.integers(0, 255))
def test_each_defect_is_counted_under_its_reason(ms, ttl, password, vrid, stranger, prio) -> None:
    d = h.build_daemon(ms)
    states = {n: rt.router.state for n, rt in d.instances.items()}
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
    assert {n: rt.router.state for n, rt in d.instances.items()} == states


def test_a_flood_of_dropped_packets_keeps_the_timer_heap_small() -> None:
    """Regression: every packet used to push a timer-heap entry, also when the deadline did not
    move, so under a flood the heap held (packet rate x timer horizon) stale entries: with
    advert_int 1 s, a 10,000 packet/s flood kept ~36,000 entries per BACKUP instance."""
    d = h.build_daemon(frozenset({"V2"}))
    good = h.valid_advert(d, "V3", priority=200)
    bad = [_with(good, ttl=64), h.valid_advert(d, "VU", priority=255, src=IPv4Address("10.9.9.9")),
           h.valid_advert(d, "V2", priority=255, password=b"wrong")]
    start = len(d._heap)
    for i in range(30_000):
        d._on_packet(bad[i % 3])
    assert len(d._heap) <= start + 1
    assert h.accounted(d) == 30_000
    assert d.instances["V2"].router.state is State.MASTER


@pytest.mark.parametrize("masters_", [frozenset(), frozenset({"V2", "V3", "VU", "V6"})])
def test_accepted_adverts_still_move_the_deadline(masters_) -> None:
    """The other side of the heap fix: a packet that moves a deadline is still scheduled."""
    d = h.build_daemon(masters_)
    rt = d.instances["V3"]
    d._on_packet(h.valid_advert(d, "V3", priority=200))
    assert rt.router.state is State.BACKUP
    deadline = rt.router.next_deadline()
    assert deadline is not None and any(e[0] == deadline and e[2] == "V3" for e in d._heap)
