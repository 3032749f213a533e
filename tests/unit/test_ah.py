"""``auth_type AH``: keepalived's IPsec AH (core.ipsec_ah) and its use by VrrpNode.

Golden bytes: a packet keepalived 2.2.7 sent in the lab (unicast, auth_pass "secret"),
and ICVs recomputed here by hand from RFC 2104 (HMAC) over the bytes RFC 2402 §3.3.3 and
keepalived's vrrp.c say are covered, with hashlib's plain MD5 (not the hmac module).
"""

from __future__ import annotations

import hashlib
import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.linked import LinkedNodes
from vipkeeper.core import codec, ipsec_ah
from vipkeeper.core.codec import Advertisement, pass_auth_data
from vipkeeper.core.constants import AUTH_AH, AUTH_PASS, IPPROTO_AH
from vipkeeper.core.events import DROP_REASONS, AdvertDropped, Received, State, Transmit
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams
from vipkeeper.errors import DecodeError

US = 1_000_000
KEY = pass_auth_data("secret")  # keepalived's key: the auth_pass, NUL padded to 8 bytes
KA_SRC = ipaddress.IPv4Address("172.20.0.113")
VK_SRC = ipaddress.IPv4Address("172.20.0.112")
VIP = ipaddress.IPv4Address("172.20.0.115")

# keepalived 2.2.7, 172.20.0.113 -> 172.20.0.112 (unicast), VRID 51, priority 100, auth_pass
# "secret": its first advert (IP id 1, AH sequence number 1), as captured (IP header included)
KA_UNICAST = bytes.fromhex(
    "45c0004000010000ff3361c0ac140071ac140070"  # IPv4: TOS 0xc0, id 1, no DF, TTL 255, proto 51
    "70040000ac14007100000001"  # AH: next header 112, payload len 4, SPI = source, seq 1
    "1eeede065db580c53b57356e"  # ICV: HMAC-MD5-96
    "213364010201cc42ac1400730000000000000000"  # VRRPv2: auth type 2, auth data zero
)


def hand_hmac_md5(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 §2 with MD5, written out: MD5(K ^ opad, MD5(K ^ ipad, text))."""
    k = key.ljust(64, b"\0")
    inner = hashlib.md5(bytes(b ^ 0x36 for b in k) + msg).digest()
    return hashlib.md5(bytes(b ^ 0x5C for b in k) + inner).digest()


def covered(packet: bytes, *, zero_ttl: bool) -> bytes:
    """What the ICV covers, by hand: IPv4 header with TOS, flags/offset, checksum (and TTL
    for unicast) zeroed, the AH header with a zero ICV, the VRRP message."""
    ip = bytearray(packet[:20])
    ip[1] = 0
    ip[6:8] = b"\0\0"
    ip[10:12] = b"\0\0"
    if zero_ttl:
        ip[8] = 0
    return bytes(ip) + packet[20:32] + bytes(12) + packet[44:]


# ------------------------------------------------------------------ the AH layer


def test_keepalived_packet_verifies_by_hand_and_with_the_core() -> None:
    assert hand_hmac_md5(KEY, covered(KA_UNICAST, zero_ttl=True))[:12] == KA_UNICAST[32:44]
    hdr, vrrp = ipsec_ah.parse(KA_UNICAST[20:])
    assert (hdr.next_header, hdr.payload_len, ipaddress.IPv4Address(hdr.spi), hdr.seq) == (112, 4, KA_SRC, 1)
    assert ipsec_ah.verify(KEY, KA_UNICAST[:20], KA_UNICAST[20:], hdr, KA_SRC, unicast=True) is None
    adv = codec.decode(vrrp, family=4, allow_auth_ah=True)
    assert (adv.vrid, adv.priority, adv.auth_type, adv.auth_data, adv.addresses) == (51, 100, 2, bytes(8), (VIP,))


def test_seal_reproduces_keepalived_byte_for_byte() -> None:
    vrrp = KA_UNICAST[44:]
    got = ipsec_ah.seal(vrrp, src=KA_SRC, dst=VK_SRC, key=KEY, seq=1, ident=1, ttl=255, unicast=True)
    assert got == KA_UNICAST


def test_multicast_icv_covers_the_ttl_golden() -> None:
    adv = Advertisement(2, 51, 150, (VIP,), 100, AUTH_AH)
    vrrp = codec.encode(adv, family=4)
    group = ipaddress.IPv4Address("224.0.0.18")
    pkt = ipsec_ah.seal(vrrp, src=VK_SRC, dst=group, key=KEY, seq=7, ident=3, ttl=255, unicast=False)
    assert pkt[:20] == bytes.fromhex("45c0004000030000ff33") + pkt[10:12] + VK_SRC.packed + group.packed
    assert pkt[20:32] == bytes.fromhex("70040000ac14007000000007")
    assert pkt[32:44] == hand_hmac_md5(KEY, covered(pkt, zero_ttl=False))[:12]
    assert pkt[32:44].hex() == "f115455ee1348558b8d49660"
    hdr, _ = ipsec_ah.parse(pkt[20:])
    assert ipsec_ah.verify(KEY, pkt[:20], pkt[20:], hdr, VK_SRC, unicast=False) is None
    # multicast: a changed TTL breaks it; unicast receivers zero the TTL, so it would not
    ttl_254 = pkt[:8] + b"\xfe" + pkt[9:20]
    assert ipsec_ah.verify(KEY, ttl_254, pkt[20:], hdr, VK_SRC, unicast=False) is not None


def test_mutable_fields_do_not_count_and_the_rest_does() -> None:
    hdr, _ = ipsec_ah.parse(KA_UNICAST[20:])
    ip = bytearray(KA_UNICAST[:20])
    ip[1], ip[6], ip[8], ip[10] = 0, 0x40, 64, 0  # TOS, DF, TTL (unicast), checksum
    assert ipsec_ah.verify(KEY, bytes(ip), KA_UNICAST[20:], hdr, KA_SRC, unicast=True) is None
    ip = bytearray(KA_UNICAST[:20])
    ip[5] = 2  # the Identification is covered
    assert "HMAC" in (ipsec_ah.verify(KEY, bytes(ip), KA_UNICAST[20:], hdr, KA_SRC, unicast=True) or "")
    assert "HMAC" in (
        ipsec_ah.verify(pass_auth_data("other"), KA_UNICAST[:20], KA_UNICAST[20:], hdr, KA_SRC, unicast=True) or ""
    )
    body = bytearray(KA_UNICAST[20:])
    body[24 + 2] = 200  # the VRRP priority
    assert ipsec_ah.verify(KEY, KA_UNICAST[:20], bytes(body), hdr, KA_SRC, unicast=True) is not None
    # a good ICV from another source address: the SPI must be the source
    assert "SPI" in (ipsec_ah.verify(KEY, KA_UNICAST[:20], KA_UNICAST[20:], hdr, VK_SRC, unicast=True) or "")


@pytest.mark.parametrize(
    "payload, why",
    [
        (KA_UNICAST[20:40], "shorter"),
        (bytes([6]) + KA_UNICAST[21:], "next header 6"),
        (KA_UNICAST[20:21] + bytes([5]) + KA_UNICAST[22:], "payload length 5"),
    ],
)
def test_parse_refuses_what_keepalived_would_not_send(payload: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why) as err:
        ipsec_ah.parse(payload)
    assert err.value.reason == "bad_ah"


def test_sequence_counter_keepalived_rules() -> None:
    s = ipsec_ah.AhSequence()
    assert [s.next_round() for _ in range(3)] == [(1, 1), (2, 2), (3, 3)]
    assert s.accept(3) is not None and s.accept(2) is not None  # replays
    assert s.accept(10) is None and s.seq == 10
    assert s.next_round()[0] == 11  # a new master continues the numbering it heard
    s.master_heard_lower(40)
    assert s.next_round()[0] == 42
    s.master_heard_lower(0xFFFFFFFF)  # keepalived's uint32 wraps (found by the hypothesis test below)
    assert s.next_round()[0] == 1
    s.seq, s.ip_id = ipsec_ah.SEQ_CYCLED, 0xFFFF
    assert s.next_round() == (0xFFFFFFFE, 1)  # IP id skips 0
    assert s.next_round()[0] == 0xFFFFFFFE and s.cycled  # stuck: peers drop it as a replay
    s.becoming_master()
    assert (s.seq, s.cycled) == (0, False)


# ------------------------------------------------------------------ VrrpNode with AH


def params(name: str = "VI_T", priority: int = 100, auth: int = AUTH_AH, unicast: tuple = ()) -> RouterParams:
    return RouterParams(
        name=name,
        vrid=51,
        version=2,
        family=4,
        base_priority=priority,
        advert_int_cs=100,
        vips=(VIP,),
        unicast_peers=unicast,
        auth_type=auth,
        auth_data=KEY,
    )


def backup_node(p: RouterParams) -> VrrpNode:
    node = VrrpNode()
    node.add_router(p, RouterLink(2, VK_SRC, bytes(6)))
    node.start(0)
    return node


def master_adverts(p: RouterParams, rounds: int) -> tuple[VrrpNode, list[Transmit]]:
    """An address owner (priority 255, state MASTER) and its first ``rounds`` advert rounds."""
    node = VrrpNode()
    node.add_router(
        RouterParams(**{**_fields(p), "base_priority": 255, "want_master": True}), RouterLink(2, VK_SRC, bytes(6))
    )
    sent = transmits(node.start(0))
    t = 0
    while len(sent) < rounds * len(p.destinations):
        t += 1 * US
        sent += transmits(node.on_timer(t))
    assert node.router(p.name).state is State.MASTER
    return node, sent


def ka_packet(seq: int, ident: int, priority: int = 100, key: bytes = KEY) -> Received:
    adv = Advertisement(2, 51, priority, (VIP,), 100, AUTH_AH)
    vrrp = codec.encode(adv, family=4)
    pkt = ipsec_ah.seal(vrrp, src=KA_SRC, dst=VK_SRC, key=key, seq=seq, ident=ident, ttl=255, unicast=True)
    return Received(4, KA_SRC, VK_SRC, 255, 2, pkt[20:], pkt[:20])


def drops(effects: list) -> list[str]:
    return [e.reason for e in effects if isinstance(e, AdvertDropped)]


def test_node_accepts_keepalived_capture_and_refuses_its_replay() -> None:
    node = backup_node(params(unicast=(KA_SRC,)))
    pkt = Received(4, KA_SRC, VK_SRC, 255, 2, KA_UNICAST[20:], KA_UNICAST[:20])
    assert drops(node.receive(pkt, 1 * US)) == []
    assert node.router("VI_T").counters.adverts_received == 1
    assert drops(node.receive(pkt, 2 * US)) == ["auth_failure"]  # replay: same sequence number
    assert drops(node.receive(ka_packet(1, 9), 3 * US)) == ["auth_failure"]  # older
    assert drops(node.receive(ka_packet(2, 9, key=pass_auth_data("wrong")), 3 * US)) == ["auth_failure"]
    assert drops(node.receive(ka_packet(2, 9), 3 * US)) == []
    assert node.accounted() == node.received == 5


def test_node_auth_type_mismatch_both_ways() -> None:
    ah_node = backup_node(params(unicast=(KA_SRC,)))
    plain = codec.encode(Advertisement(2, 51, 100, (VIP,), 100, AUTH_PASS, KEY), family=4)
    assert drops(ah_node.receive(Received(4, KA_SRC, VK_SRC, 255, 2, plain), US)) == ["auth_type_mismatch"]
    pass_node = backup_node(params(auth=AUTH_PASS, unicast=(KA_SRC,)))
    assert drops(pass_node.receive(ka_packet(1, 1), US)) == ["auth_type_mismatch"]
    bad = ka_packet(1, 1)
    short = Received(4, KA_SRC, VK_SRC, 255, 2, bytes([6]) + bad.payload[1:], bad.ip_header)
    assert drops(ah_node.receive(short, US)) == ["bad_ah"]
    assert ah_node.decode_errors == {"bad_ah": 1}
    assert ah_node.accounted() == ah_node.received == 2


def transmits(effects: list) -> list[Transmit]:
    return [e for e in effects if isinstance(e, Transmit)]


def test_adverts_are_whole_ip_packets_with_a_rising_sequence() -> None:
    _node, sent = master_adverts(params(), 3)
    seqs = []
    for t in sent:
        assert t.ip_packet and t.dst == ipaddress.IPv4Address("224.0.0.18")
        hdr = codec.parse_ipv4_header(t.payload)
        assert (hdr.proto, hdr.ttl, hdr.src) == (IPPROTO_AH, 255, VK_SRC)
        ah, vrrp = ipsec_ah.parse(hdr.payload)
        assert ipsec_ah.verify(KEY, t.payload[:20], hdr.payload, ah, VK_SRC, unicast=False) is None
        adv = codec.decode(vrrp, family=4, allow_auth_ah=True)
        assert (adv.auth_type, adv.auth_data) == (AUTH_AH, bytes(8))  # the password is never sent
        seqs.append((ah.seq, struct.unpack_from("!H", t.payload, 4)[0]))
    assert seqs == [(i, i) for i in range(1, len(sent) + 1)]


def test_unicast_ttl_in_ah_header_and_icv() -> None:
    p = RouterParams(**{**_fields(params(unicast=(KA_SRC,))), "unicast_ttl": 7})
    _node, (t,) = master_adverts(p, 1)
    assert t.payload[8] == 7 and t.ttl == 7
    ah, _ = ipsec_ah.parse(t.payload[20:])
    assert ipsec_ah.verify(KEY, t.payload[:20], t.payload[20:], ah, VK_SRC, unicast=True) is None


def _fields(p: RouterParams) -> dict:
    return {f: getattr(p, f) for f in p.__slots__}  # type: ignore[attr-defined]


def test_cluster_failover_and_handover_keep_one_numbering() -> None:
    """Real nodes over the fake link: the backup follows the master's numbers, takes over
    with the next one, and the old master (restarted: counter 0) accepts that."""
    net = LinkedNodes()
    net.add("A", "172.20.0.112", params("VI_T", 150))
    net.add("B", "172.20.0.113", params("VI_T", 100))
    net.start()
    net.run_for(5 * US)
    assert net.masters() == ["A"]
    b = net.hosts["B"]
    assert b.router.counters.adverts_received >= 1 and not b.router.counters.drops
    a_last = _seq(net.hosts["A"].wire[-1])
    net.kill("A")
    net.run_for(4 * US)
    assert net.masters() == ["B"]
    assert _seq(b.wire[0]) == a_last + 1  # B continued A's numbering
    # A comes back empty (a restart) and preempts: B accepts A's adverts
    net.hosts["A"].node = VrrpNode()
    net.hosts["A"].node.add_router(params("VI_T", 150), RouterLink(2, VK_SRC, bytes(6)))
    net.hosts["A"].alive = True
    net.hosts["A"].wire.clear()
    net.start("A")
    net.run_for(6 * US)
    assert net.masters() == ["A"]
    assert not net.hosts["A"].router.counters.drops and not b.router.counters.drops


def _seq(t: Transmit) -> int:
    return struct.unpack_from("!I", t.payload, 20 + 8)[0]


# ------------------------------------------------------------------ hostile input


def _hostile_node(master: bool) -> VrrpNode:
    if master:
        node, _sent = master_adverts(params(), 1)
        return node
    return backup_node(params())


@st.composite
def hostile_ah(draw: st.DrawFn) -> Received:
    """A valid AH advert from a peer (or arbitrary bytes), then a few changes."""
    if draw(st.booleans()):
        head = draw(st.binary(max_size=40))
        body = draw(st.one_of(st.binary(max_size=80), st.just(KA_UNICAST[20:])))
        return Received(4, KA_SRC, GROUP, draw(st.integers(0, 255)), 2, body, head)
    adv = Advertisement(2, 51, draw(st.integers(0, 255)), (VIP,), 100, AUTH_AH)
    pkt = bytearray(
        ipsec_ah.seal(
            codec.encode(adv, family=4),
            src=KA_SRC,
            dst=GROUP,
            key=KEY if draw(st.booleans()) else pass_auth_data(draw(st.binary(max_size=8))),
            seq=draw(st.integers(0, 2**32 - 1)),
            ident=1,
            ttl=255,
            unicast=False,
        )
    )
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["flip", "truncate", "extend"]))
        if op == "flip":
            pkt[draw(st.integers(0, len(pkt) - 1))] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            del pkt[draw(st.integers(20, len(pkt))) :]
        else:
            pkt += draw(st.binary(min_size=1, max_size=20))
    return Received(4, KA_SRC, GROUP, 255, 2, bytes(pkt[20:]), bytes(pkt[:20]))


GROUP = ipaddress.IPv4Address("224.0.0.18")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans(), st.lists(hostile_ah(), min_size=1, max_size=10))
def test_hostile_ah_packets_never_raise_and_are_counted_once(master: bool, packets: list[Received]) -> None:
    node = _hostile_node(master)
    for i, pkt in enumerate(packets):
        before = node.accounted()
        node.receive(pkt, (10 + i) * US)  # must not raise
        assert node.accounted() == before + 1
        assert set(node.router("VI_T").counters.drops) <= DROP_REASONS
        assert set(node.decode_errors) <= DROP_REASONS


def test_reload_keeps_the_sequence_counter() -> None:
    """keepalived vrrp.c (reload): "Keep ipsec AH seq_number"; a PASS instance turned AH starts one."""
    node = backup_node(params(unicast=(KA_SRC,)))
    assert drops(node.receive(ka_packet(41, 1), US)) == []
    node.reconfigure("VI_T", params(unicast=(KA_SRC,), priority=120), RouterLink(2, VK_SRC, bytes(6)), 2 * US)
    assert drops(node.receive(ka_packet(41, 2), 3 * US)) == ["auth_failure"]  # still a replay
    node.reconfigure("VI_T", params(auth=AUTH_PASS, unicast=(KA_SRC,)), RouterLink(2, VK_SRC, bytes(6)), 4 * US)
    assert drops(node.receive(ka_packet(42, 3), 5 * US)) == ["auth_type_mismatch"]
    node.reconfigure("VI_T", params(unicast=(KA_SRC,)), RouterLink(2, VK_SRC, bytes(6)), 6 * US)
    assert drops(node.receive(ka_packet(1, 4), 7 * US)) == []  # a new counter
