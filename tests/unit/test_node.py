"""VrrpNode, the host's whole VRRP endpoint, without root: demux, what goes on the wire,
checksum dialects, sync groups, reconfiguration and removal.

The node is driven as the daemon drives it (packets and a clock in, effects out); every
assertion is about what an operator would see: which instance is MASTER, what was sent to
whom, which VIPs were added or announced.
"""

from __future__ import annotations

import ast
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

import pytest

import vipkeeper.core
from tests.unit.linked import IFINDEX, MAC, US, LinkedNodes, params
from vipkeeper.core import codec
from vipkeeper.core.constants import VRRP_GROUP_V4
from vipkeeper.core.events import (
    AddVips,
    AdvertDropped,
    ChecksumSwitched,
    DelVips,
    Gratuitous,
    GroupStateChanged,
    LinkStateChanged,
    Received,
    State,
    StateChanged,
    TrackingChanged,
    Transmit,
)
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink
from vipkeeper.errors import DecodeError

ME = IPv4Address("10.0.0.1")
PEER = IPv4Address("10.0.0.2")
PEER2 = IPv4Address("10.0.0.3")


def node_with(*ps, src=ME) -> VrrpNode:
    node = VrrpNode()
    for p in ps:
        node.add_router(p, RouterLink(IFINDEX, src if p.family == 4 else IPv6Address("fe80::1"), MAC))
        node.set_tracking(p.name, TrackingChanged(offset=0), 0)
    return node


def advert(p, priority: int, *, src=PEER, dst=None, pseudo_dst=None) -> Received:
    dst = dst if dst is not None else (p.destinations[0] if not p.unicast else ME)
    adv = codec.Advertisement(p.version, p.vrid, priority, p.vips, p.advert_int_cs, p.auth_type, p.auth_data)
    wire = codec.encode(adv, family=p.family, src=src, dst=pseudo_dst or dst)
    return Received(p.family, src, dst, 255, IFINDEX, wire)


def become_master(node: VrrpNode, name: str) -> list:
    d = node.router(name).next_deadline()
    assert d is not None
    out = node.on_timer(d)
    assert node.router(name).state is State.MASTER
    return out


def transmits(effects) -> list[Transmit]:
    return [e for e in effects if isinstance(e, Transmit)]


# ---------------------------------------------------------------- purity


CORE = Path(vipkeeper.core.__file__).parent


@pytest.mark.parametrize("module", sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__"))
def test_core_modules_are_sans_io(module: str) -> None:
    """No sockets, clock, asyncio, subprocesses or logging in core/, and nothing from the
    config, the I/O shell or the daemon: an adapter (config.to_params) feeds it."""
    banned = {"socket", "os", "time", "asyncio", "subprocess", "select", "threading", "pyroute2", "logging"}
    banned_pkgs = ("vipkeeper.config", "vipkeeper.io", "vipkeeper.daemon", "vipkeeper.checks", "vipkeeper.cli")
    tree = ast.parse((CORE / f"{module}.py").read_text())
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            assert n.level == 0, f"{module}: relative import"
            names = [n.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in banned, (module, name)
            assert not name.startswith(banned_pkgs), (module, name)


# ---------------------------------------------------------------- demux and accounting


def test_demux_by_interface_family_and_vrid() -> None:
    v4 = params("V4", vrid=7, version=3, advert_int_cs=100)
    v6 = params("V6", vrid=7, version=3, family=6, advert_int_cs=100, vips=(IPv6Address("fd00::7"),))
    node = node_with(v4, v6)
    node.start(0)
    node.receive(advert(v4, 200), 10)
    assert node.router("V4").master_addr == PEER and node.router("V4").counters.adverts_received == 1
    assert node.router("V6").counters.adverts_received == 0
    node.receive(advert(v6, 200, src=IPv6Address("fe80::2")), 20)
    assert node.router("V6").master_addr == IPv6Address("fe80::2")
    # the same VRID on another interface is not ours
    other_if = advert(v4, 200)
    out = node.receive(Received(4, PEER, other_if.dst, 255, IFINDEX + 1, other_if.payload), 30)
    assert node.unknown_vrid == 1 and [e.reason for e in out] == ["unknown_vrid"]
    assert node.accounted() == node.received == 3


def test_every_packet_lands_in_exactly_one_counter() -> None:
    p = params("VI_1", version=2, auth_type=1, auth_data=b"secret\0\0")
    node = node_with(p)
    node.start(0)
    good = advert(p, 150)
    packets = [
        good,
        Received(4, PEER, good.dst, 255, IFINDEX, b"\x21"),  # too short
        Received(4, PEER, good.dst, 64, IFINDEX, good.payload),  # bad TTL
        Received(4, ME, good.dst, 255, IFINDEX, good.payload),  # our own address
        Received(4, PEER, good.dst, 255, IFINDEX, good.payload[:-1] + b"x"),
    ]  # checksum
    for i, pkt in enumerate(packets):
        node.receive(pkt, 10 + i)
    c = node.router("VI_1").counters
    assert c.adverts_received == 1
    assert c.drops == {"bad_ttl": 1, "own_address": 1, "bad_checksum": 1}
    assert node.decode_errors == {"too_short": 1, "bad_checksum": 1}
    assert node.accounted() == node.received == len(packets)


# ---------------------------------------------------------------- on the wire


def test_master_sends_one_advert_per_unicast_peer_with_its_own_checksum() -> None:
    p = params("VU", version=3, advert_int_cs=100, unicast_peers=(PEER, PEER2), want_master=True)
    node = node_with(p)
    node.start(0)
    out = become_master(node, "VU")
    sent = transmits(out)
    assert [t.dst for t in sent] == [PEER, PEER2]
    for t in sent:
        assert (t.src, t.ifindex, t.family, t.instance) == (ME, IFINDEX, 4, "VU")
        adv = codec.decode(t.payload, family=4, src=ME, dst=t.dst)  # pseudo-header with that peer
        assert adv.priority == 100 and adv.addresses == p.vips
    assert out.index(sent[-1]) < next(i for i, e in enumerate(out) if isinstance(e, AddVips))
    assert [type(e) for e in out if not isinstance(e, Transmit)] == [StateChanged, AddVips, Gratuitous]
    # the advert timer: the same bytes again one interval later, from the encoder's cache
    again = transmits(node.on_timer(node.next_deadline()))
    assert [t.payload for t in again] == [t.payload for t in sent]
    assert again[0].payload is sent[0].payload


def test_gratuitous_burst_carries_keepalived_frames_for_every_vip() -> None:
    p = params(
        "VI_1",
        want_master=True,
        garp_master_repeat=3,
        garp_interval_us=2000,
        excluded_vips=(IPv4Address("172.20.0.200"),),
    )
    node = node_with(p)
    node.start(0)
    (g,) = [e for e in become_master(node, "VI_1") if isinstance(e, Gratuitous)]
    assert (g.count, g.interval_us, g.ifindex) == (3, 2000, IFINDEX)
    assert [f[28:32] for f in g.frames] == [ip_address("172.20.0.115").packed, ip_address("172.20.0.200").packed]
    assert all(f[6:12] == MAC and f[12:14] == b"\x08\x06" for f in g.frames)


def test_old_unicast_checksum_peer_switches_the_dialect_both_ways() -> None:
    """keepalived "Setting unicast VRRPv3 checksum to old version" (old_unicast_checksum auto)."""
    p = params("VU", version=3, advert_int_cs=100, unicast_peers=(PEER,), base_priority=100)
    node = node_with(p)
    node.start(0)
    out = node.receive(advert(p, 200, pseudo_dst=VRRP_GROUP_V4), 10)
    assert out[0] == ChecksumSwitched("VU", PEER, VRRP_GROUP_V4)
    assert node.router("VU").counters.adverts_received == 1
    # from now on we send that way too: our advert verifies with the group, not the peer
    node.receive(advert(p, 0, pseudo_dst=VRRP_GROUP_V4), 20)  # the master resigns
    sent = transmits(node.on_timer(node.next_deadline()))
    assert [t.dst for t in sent] == [PEER]
    codec.decode(sent[0].payload, family=4, src=ME, dst=VRRP_GROUP_V4)
    with pytest.raises(codec.DecodeError):
        codec.decode(sent[0].payload, family=4, src=ME, dst=PEER)


def test_never_mode_refuses_the_old_checksum() -> None:
    p = params("VU", version=3, advert_int_cs=100, unicast_peers=(PEER,), checksum_mode="never")
    node = node_with(p)
    node.start(0)
    out = node.receive(advert(p, 200, pseudo_dst=VRRP_GROUP_V4), 10)
    assert [e.reason for e in out if isinstance(e, AdvertDropped)] == ["bad_checksum"]


def test_link_down_is_reported_once_per_instance_and_resigns() -> None:
    p = params("VI_1", want_master=True)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    out = node.set_link(IFINDEX, False, 5 * US)
    assert out[0] == LinkStateChanged("VI_1", False)
    assert [codec.decode(t.payload, family=4).priority for t in transmits(out)] == [0]
    assert DelVips("VI_1") in out and node.router("VI_1").state is State.FAULT
    assert node.set_link(IFINDEX, False, 6 * US) == []
    assert node.set_link(IFINDEX + 1, True, 6 * US) == []


# ---------------------------------------------------------------- sync groups


def group_node() -> tuple[VrrpNode, object, object]:
    a = params("A", vrid=1, want_master=True)
    b = params("B", vrid=2, vips=(IPv4Address("172.20.0.116"),))
    node = node_with(a, b)
    node.set_sync_groups({"G": ("A", "B")})
    return node, a, b


def test_sync_group_member_becoming_master_takes_the_others_along() -> None:
    node, a, b = group_node()
    node.start(0)
    out = become_master(node, "A")
    assert node.router("B").state is State.MASTER
    assert sorted(e.instance for e in out if isinstance(e, AddVips)) == ["A", "B"]
    assert out.count(GroupStateChanged("G", State.MASTER)) == 1
    # one falling back to BACKUP takes the others to BACKUP (keepalived vrrp_sync.c)
    out = node.receive(advert(a, 200), 10 * US)
    assert node.router("A").state is State.BACKUP and node.router("B").state is State.BACKUP
    assert [e.instance for e in out if isinstance(e, DelVips)] == ["A", "B"]
    assert GroupStateChanged("G", State.BACKUP) in out


def test_sync_group_fault_in_one_member_holds_all_in_fault() -> None:
    node, a, b = group_node()
    node.start(0)
    become_master(node, "A")
    out = node.set_tracking("B", TrackingChanged(offset=0, faults=frozenset({"chk"})), 5 * US)
    assert node.router("A").state is State.FAULT and node.router("B").state is State.FAULT
    assert GroupStateChanged("G", State.FAULT) in out
    assert {e.instance for e in out if isinstance(e, DelVips)} == {"A", "B"}
    node.set_tracking("B", TrackingChanged(offset=0), 6 * US)
    assert node.router("A").state is State.BACKUP and node.router("B").state is State.BACKUP


def test_sync_group_over_a_link_pair_one_master_per_group() -> None:
    """Two hosts, each with a two-member group: the whole group fails over together."""
    net = LinkedNodes()
    for host, addr, prio in (("X", "10.0.0.1", 200), ("Y", "10.0.0.2", 100)):
        h = net.add(host, addr, params("A", vrid=1, base_priority=prio))
        h.node.add_router(
            params("B", vrid=2, base_priority=prio, vips=(IPv4Address("172.20.0.116"),)),
            RouterLink(IFINDEX, h.addr, MAC),
        )
        h.node.set_sync_groups({"G": ("A", "B")})
    net.start()
    net.run_for(10 * US)
    x, y = net.hosts["X"].node, net.hosts["Y"].node
    assert [x.router(n).state for n in "AB"] == [State.MASTER, State.MASTER]
    assert [y.router(n).state for n in "AB"] == [State.BACKUP, State.BACKUP]
    net.feed("X", TrackingChanged(offset=0, faults=frozenset({"chk"})))
    net.run_for(10 * US)
    assert [x.router(n).state for n in "AB"] == [State.FAULT, State.FAULT]
    assert [y.router(n).state for n in "AB"] == [State.MASTER, State.MASTER]


# ---------------------------------------------------------------- reload and removal


def test_reconfigure_keeps_a_master_and_announces_added_vips() -> None:
    p = params("VI_1", want_master=True, garp_master_repeat=2)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    new = params(
        "VI_1-renamed",
        want_master=True,
        garp_master_repeat=2,
        base_priority=120,
        vips=(IPv4Address("172.20.0.115"), IPv4Address("172.20.0.117")),
    )
    out = node.reconfigure("VI_1", new, RouterLink(IFINDEX, ME, MAC), 5 * US)
    r = node.router("VI_1-renamed")
    assert "VI_1" not in node and r.state is State.MASTER and r.effective_priority == 120
    (g,) = [e for e in out if isinstance(e, Gratuitous)]
    assert g.instance == "VI_1-renamed" and g.count == 2 and len(g.frames) == 2
    sent = transmits(node.on_timer(node.next_deadline()))
    adv = codec.decode(sent[0].payload, family=4)
    assert adv.priority == 120 and len(adv.addresses) == 2 and sent[0].instance == "VI_1-renamed"


def test_reconfigure_cannot_move_a_router_or_take_a_used_name() -> None:
    a, b = params("A", vrid=1), params("B", vrid=2)
    node = node_with(a, b)
    with pytest.raises(ValueError):
        node.reconfigure("A", params("A", vrid=3), RouterLink(IFINDEX, ME, MAC), 0)
    with pytest.raises(ValueError):
        node.reconfigure("A", params("B", vrid=1), RouterLink(IFINDEX, ME, MAC), 0)
    assert "A" in node and "B" in node


def test_remove_router_resigns_and_frees_the_vrid() -> None:
    p = params("VI_1", want_master=True)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    out = node.remove_router("VI_1", 5 * US)
    assert [codec.decode(t.payload, family=4).priority for t in transmits(out)] == [0]
    assert DelVips("VI_1") in out and "VI_1" not in node
    assert node.next_deadline() is None
    out = node.receive(advert(p, 100), 6 * US)
    assert node.unknown_vrid == 1
    node.add_router(p, RouterLink(IFINDEX, ME, MAC))  # the VRID is free again


def test_shutdown_resigns_every_master_once() -> None:
    a, b = params("A", vrid=1, want_master=True), params("B", vrid=2, base_priority=50)
    node = node_with(a, b)
    node.start(0)
    become_master(node, "A")
    assert node.router("B").state is State.BACKUP
    out = node.shutdown(10 * US)
    assert [(t.instance, codec.decode(t.payload, family=4).priority) for t in transmits(out)] == [("A", 0)]
    assert [e.new for e in out if isinstance(e, StateChanged)] == [State.STOP, State.STOP]
    assert node.next_deadline() is None


def test_a_repeated_advert_skips_only_the_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A master repeats the same bytes: the node decodes them once, and still runs every
    per-instance check and counter on each copy; anything that differs is decoded again."""
    p = params("VI_1", version=3, advert_int_cs=100)
    node = node_with(p)
    node.start(0)
    calls = []
    real = codec.decode
    monkeypatch.setattr(codec, "decode", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    good = advert(p, 150)
    for i in range(5):
        node.receive(good, (i + 1) * US)
    assert len(calls) == 1 and node.router("VI_1").counters.adverts_received == 5
    assert node.router("VI_1").next_deadline() == 5 * US + node.router("VI_1").master_down_us()
    # the same bytes with TTL 64: no decoding, but the router's TTL check still drops it
    out = node.receive(Received(4, PEER, good.dst, 64, IFINDEX, good.payload), 6 * US)
    assert [e.reason for e in out] == ["bad_ttl"] and len(calls) == 1
    # from another source, or one byte changed: decoded (and validated) again
    node.receive(advert(p, 150, src=PEER2), 7 * US)
    assert len(calls) == 2
    flipped = good.payload[:-1] + bytes([good.payload[-1] ^ 1])
    out = node.receive(Received(4, PEER, good.dst, 255, IFINDEX, flipped), 8 * US)
    assert [e.reason for e in out] == ["bad_checksum"] and len(calls) == 3
    node.receive(good, 9 * US)  # the cache still holds the last advert that decoded (PEER2's)
    assert len(calls) == 4 and node.accounted() == node.received == 9


def test_a_removed_router_keeps_its_packets_accounted() -> None:
    """Found by the simulator: accounted() forgot the packets a removed router had counted."""
    p = params("VI_1", version=3, advert_int_cs=100)
    node = node_with(p)
    node.start(0)
    node.receive(advert(p, 150), US)
    node.receive(Received(4, PEER, p.group, 64, IFINDEX, advert(p, 150).payload), 2 * US)
    node.remove_router("VI_1", 3 * US)
    assert node.accounted() == node.received == 2


def test_fast_preempt_ignores_a_late_lower_advert_after_a_higher_master() -> None:
    """Found by the simulator: a fast_preempt backup (166) that just yielded to a master at 174
    took the VIP on a late advert at 160 from a router that had yielded too."""
    p = params("VI_1", version=3, advert_int_cs=50, base_priority=166, fast_preempt=True)
    node = node_with(p)
    node.start(0)
    node.receive(advert(p, 174, src=PEER), 100_000)
    node.receive(advert(p, 160, src=PEER2), 130_000)
    r = node.router("VI_1")
    assert r.state is State.BACKUP
    # the same lower advert once the higher master has gone quiet for a Master_Down_Interval: preempt
    node.receive(advert(p, 160, src=PEER2), 100_000 + r.master_down_us())
    assert r.state is State.MASTER


def test_a_reload_into_nopreempt_stops_a_preemption_in_progress() -> None:
    """Found by the simulator: a backup discarding a lower master's adverts (preempting) kept its
    running down timer through a reload that set nopreempt, and took over the live master."""
    p = params("VI_1", version=3, advert_int_cs=100, base_priority=200)
    node = node_with(p)
    node.start(0)
    r = node.router("VI_1")
    for t in range(1, 4):  # a live lower master: discarded while we may preempt
        node.receive(advert(p, 74), t * US)
    assert r.state is State.BACKUP and r.next_deadline() < 4 * US
    node.reconfigure("VI_1", params("VI_1", version=3, advert_int_cs=100, base_priority=149, nopreempt=True),
                     RouterLink(IFINDEX, ME, MAC), int(3.1 * US))  # fmt: skip
    for t in range(4, 10):
        node.on_timer(t * US)
        node.receive(advert(p, 74), t * US)  # its adverts now re-arm the timer: nopreempt
    assert r.state is State.BACKUP and r.master_addr == PEER


# ---------------------------------------------------------------- source address (address events)


def test_source_address_leaving_is_fault_and_its_return_recovers() -> None:
    """keepalived_netlink.c netlink_if_address_filter: down_instance, then try_up_instance."""
    p = params("VI_1", want_master=True)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    out = node.set_source("VI_1", None, 5 * US)
    r = node.router("VI_1")
    assert r.state is State.FAULT and DelVips("VI_1") in out
    assert [codec.decode(t.payload, family=4).priority for t in transmits(out)] == [0]
    assert r.faults == {f"source address {ME} not on the interface"}
    assert node.set_source("VI_1", None, 6 * US) == []  # no change, no effect
    assert node.set_source("nope", None, 6 * US) == []
    node.set_source("VI_1", ME, 7 * US)
    assert r.state is State.BACKUP and not r.faults
    assert node.set_link(IFINDEX, True, 7 * US) == []  # the link was never down


def test_a_new_source_address_is_used_for_the_adverts() -> None:
    new = IPv4Address("10.0.0.9")
    p = params("VI_1", want_master=True, version=3, advert_int_cs=100)
    node = node_with(p)
    node.start(0)
    become_master(node, "VI_1")
    node.set_source("VI_1", None, 5 * US)
    node.set_source("VI_1", new, 6 * US)
    assert node.link("VI_1").src == new and node.router("VI_1").src_addr == new
    out = become_master(node, "VI_1")
    [t] = transmits(out)
    assert t.src == new
    # VRRPv3's checksum covers the pseudo-header with the source (RFC 5798 §5.2.8): the new one
    assert codec.decode(t.payload, family=4, src=new, dst=t.dst).priority == p.base_priority
    with pytest.raises(DecodeError):
        codec.decode(t.payload, family=4, src=ME, dst=t.dst)


# ---------------------------------------------------------------- repeated adverts (issue 14)


def test_repeated_identical_adverts_are_counted_and_any_difference_is_checked_again() -> None:
    p = params("VI_1", version=3, advert_int_cs=100)
    node = node_with(p)
    node.start(0)
    good = advert(p, 150)
    r = node.router("VI_1")
    for i in range(3):  # the same bytes: decoded and checked once, counted every time
        assert node.receive(good, (i + 1) * US) == []
    assert r.counters.adverts_received == 3 and r.state is State.BACKUP
    low_ttl = Received(good.family, good.src, good.dst, 254, good.ifindex, good.payload)
    out = node.receive(low_ttl, 4 * US)  # same bytes, another TTL: the checks run again
    assert [e.reason for e in out if isinstance(e, AdvertDropped)] == ["bad_ttl"]
    flipped = bytearray(good.payload)
    flipped[-1] ^= 1  # another VIP byte, checksum now wrong: the decoder sees it
    bad = Received(good.family, good.src, good.dst, 255, good.ifindex, bytes(flipped))
    assert [e.reason for e in node.receive(bad, 5 * US) if isinstance(e, AdvertDropped)] == ["bad_checksum"]
    assert node.receive(good, 6 * US) == []
    # A reload that changes the VIPs: the very same bytes no longer pass
    p2 = params("VI_1", version=3, advert_int_cs=100, vips=(ip_address("172.20.0.116"),))
    node.reconfigure("VI_1", p2, RouterLink(IFINDEX, ME, MAC), 7 * US)
    assert [e.reason for e in node.receive(good, 8 * US) if isinstance(e, AdvertDropped)] == ["addr_list"]
    assert r.counters.adverts_received == 4
    assert r.counters.drops == {"bad_ttl": 1, "bad_checksum": 1, "addr_list": 1}
    assert node.accounted() == node.received == 7
