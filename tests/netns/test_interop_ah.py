"""``auth_type AH`` between vipkeeper and keepalived 2.2.7, both directions, and what
``mcast_dst_ip`` and ``unicast_ttl`` put on the wire.

One cluster per direction (host A vipkeeper, host B keepalived, VRRPv2 with IPsec AH,
auth_pass "ah-pass"), the scenario of tests/netns/test_interop.py on it:

1. steady state: the higher-priority host holds the VIP alone for longer than the other's
   Master_Down_Interval (the backup accepts its AH adverts);
2. master loss (link down): the VIP moves within about Master_Down_Interval, the new master
   continuing the AH sequence numbers it heard;
3. the higher-priority host returns and preempts (its adverts are not replays);
4. SIGTERM on the master: its priority-0 advert hands over in about Skew_Time;
5. the stopped host restarts (sequence counter 0), learns the numbering and preempts again;
6. neither daemon complained about the other's packets;
7. on the wire (captured on the observer): every packet is IP protocol 51, its HMAC-MD5-96
   ICV verifies with the password (recomputed here), SPI = source, each sender's sequence
   numbers rise; the VRRP inside says auth type 2 with zero auth data; and

   * vipkeeper-master direction: multicast with ``mcast_dst_ip 224.0.0.19`` on both: every
     advert of both daemons goes to 224.0.0.19 with TTL 255;
   * keepalived-master direction: unicast with ``unicast_ttl 64`` on both: every advert of
     both daemons has TTL 64 (keepalived zeroes the TTL in the unicast ICV).

And ``unicast_ttl`` on plain VRRPv3 adverts, IPv4 and IPv6, from both daemons.
"""

from __future__ import annotations

import ipaddress
import re
import time
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import time_until
from tests.conftest import require_binary
from tests.netns.test_interop import (
    Side,
    keepalived_complaints,
    link_up,
    only,
    start,
    steady,
    vipkeeper_complaints,
    vrrp_packets,
)
from vipkeeper.core import codec, ipsec_ah
from vipkeeper.core.codec import pass_auth_data
from vipkeeper.core.constants import AUTH_AH, IPPROTO_AH
from vipkeeper.core.timers import master_down_us, skew_us

REPLAY_RE = re.compile(r"IPSEC-AH : sequence number (\d+) already processed\. Packet dropped\. Local\((\d+)\)")
pytestmark = [pytest.mark.netns, pytest.mark.keepalived]

VIP = "172.20.0.115"
VRID = 51
HIGH, LOW = 150, 100
PASSWORD = "ah-pass"
GROUP = "224.0.0.19"
UNICAST_TTL = 64
BPF = "ip proto 112 or ip proto 51"
ADV_S = 1.0


def mdi_s(priority: int) -> float:
    return master_down_us(2, priority, 100) / 1e6


def skew_s(priority: int) -> float:
    return skew_us(2, priority, 100) / 1e6


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_binary("keepalived")
    require_binary("tcpdump")


def conf(*, unicast: bool, me: str, peer: str, priority: int) -> str:
    """One keepalived.conf, read unchanged by both daemons (state BACKUP: keepalived clears an
    initial MASTER with AH anyway)."""
    extra = (f"unicast_ttl {UNICAST_TTL}",) if unicast else (f"mcast_dst_ip {GROUP}",)
    return global_defs("vrrp_garp_master_delay 1", "vrrp_garp_master_repeat 2") + vrrp_instance(
        "VI_AH",
        state="BACKUP",
        vrid=VRID,
        priority=priority,
        advert_int=1,
        version=2,
        unicast_src=me if unicast else None,
        unicast_peers=[peer] if unicast else (),
        auth_type="AH",
        auth_pass=PASSWORD,
        extra=extra,
        vips=[VIP],
    )


def check_wire(lab: Lab, frames: list, sides: dict[str, Side], unicast: bool) -> dict[str, int]:
    """Every captured packet is AH as keepalived defines it, checked from the bytes."""
    by_mac = {lab.mac(s.host): s for s in sides.values()}
    key = pass_auth_data(PASSWORD)
    seqs: dict[str, list[int]] = {}
    heads = [f[14 : 14 + (f[14] & 0x0F) * 4] for _, f in frames if f[12:14] == b"\x08\x00"]
    packets = vrrp_packets(frames)
    assert len(heads) == len(packets)
    for p, head in zip(packets, heads, strict=True):
        side = by_mac[p.mac]
        assert p.proto == IPPROTO_AH, f"{side.kind} sent IP protocol {p.proto}"
        ah, vrrp = ipsec_ah.parse(p.payload)
        assert ipsec_ah.verify(key, head, p.payload, ah, p.src, unicast=unicast) is None, (side.kind, p)  # type: ignore[arg-type]
        adv = codec.decode(vrrp, family=4, allow_auth_ah=True)
        assert (adv.vrid, adv.auth_type, adv.auth_data) == (VRID, AUTH_AH, bytes(8)), (side.kind, adv)
        assert adv.priority in (0, side.priority) and adv.addresses == (ipaddress.IPv4Address(VIP),), adv
        if unicast:
            peer = next(s for s in sides.values() if s is not side)
            assert (str(p.dst), p.ttl) == (str(lab.host(peer.host).ip4), UNICAST_TTL), (side.kind, p)
        else:
            assert (str(p.dst), p.ttl) == (GROUP, 255), (side.kind, p)
        seqs.setdefault(side.kind, []).append(ah.seq)
    for kind, numbers in seqs.items():
        assert numbers == sorted(set(numbers)), f"{kind}'s sequence numbers do not rise: {numbers}"
    counts = {kind: len(numbers) for kind, numbers in seqs.items()}
    assert counts.get("vipkeeper", 0) >= 3 and counts.get("keepalived", 0) >= 3, counts
    return counts


@pytest.mark.parametrize(
    "master, unicast",
    [
        pytest.param("vipkeeper", False, id="vipkeeper-master-multicast"),
        pytest.param("keepalived", True, id="keepalived-master-unicast"),
    ],
)
def test_ah_mixed_cluster(lab: Lab, tmp_path: Path, master: str, unicast: bool) -> None:
    hosts = ("A", "B")
    host_of = {"vipkeeper": "A", "keepalived": "B"}
    low_kind = "keepalived" if master == "vipkeeper" else "vipkeeper"
    addr = {k: str(lab.host(h).ip4) for k, h in host_of.items()}
    prio = {master: HIGH, low_kind: LOW}
    confs = {
        k: conf(unicast=unicast, me=addr[k], peer=addr[low_kind if k == master else master], priority=prio[k])
        for k in host_of
    }
    cap = lab.capture("observer", BPF)

    # 1. steady state
    t0 = time.monotonic()
    high = start(lab, tmp_path, host_of[master], master, confs[master], HIGH)
    assert lab.wait_for(lambda: only(lab, VIP, hosts) == [high.host], 15), high.node.log()
    t_start = time.monotonic() - t0
    low = start(lab, tmp_path, host_of[low_kind], low_kind, confs[low_kind], LOW)
    sides = {master: high, low_kind: low}
    low.wait_backup()
    steady(lab, VIP, hosts, high.host, mdi_s(LOW) + ADV_S)
    assert low.masters() == 0, low.node.log()

    # 2. master loss
    lab.set_link(high.host, False)
    failover = time_until(lambda: only(lab, VIP, hosts) == [low.host], 15)
    assert failover is not None, low.node.log()
    assert mdi_s(LOW) - ADV_S - 0.05 < failover < mdi_s(LOW) + 0.6, failover

    # 3. the higher-priority host returns and preempts
    link_up(lab, high.host)
    preempt = time_until(lambda: only(lab, VIP, hosts) == [high.host], 15)
    assert preempt is not None, high.node.log() + low.node.log()
    assert preempt < mdi_s(HIGH) + 0.6 + ADV_S, preempt
    if master == "vipkeeper":  # it heard keepalived's adverts (to mcast_dst_ip) and accepted them
        assert f"preempting lower-priority master {addr['keepalived']}" in high.node.log(), high.node.log()
    steady(lab, VIP, hosts, high.host, 3 * ADV_S)

    # 4. SIGTERM handover
    high.terminate()
    handover = time_until(lambda: only(lab, VIP, hosts) == [low.host], 10)
    assert handover is not None, low.node.log()
    assert handover < skew_s(LOW) + 0.5, handover
    assert high.wait_exit() == 0, high.node.log()
    assert low.heard_priority_zero(), low.node.log()

    # 5. restart: the stopped host comes back with its sequence counter at 0, learns the
    #    master's numbering from its adverts and preempts (its adverts are no replays)
    high.node.start()
    back = time_until(lambda: only(lab, VIP, hosts) == [high.host], 20)
    assert back is not None, high.node.log() + low.node.log()
    steady(lab, VIP, hosts, high.host, 2 * ADV_S)
    high.terminate()
    assert high.wait_exit() == 0, high.node.log()
    assert lab.wait_for(lambda: only(lab, VIP, hosts) == [low.host], 5), low.node.log()
    low.terminate()
    assert low.wait_exit() == 0, low.node.log()
    assert lab.holders(VIP) == []
    time.sleep(0.2)
    frames = cap.stop()

    # 6. no complaints
    ka, vk = sides["keepalived"], sides["vipkeeper"]
    # keepalived, MASTER when its link went down, counted one more sequence number for the
    # priority-0 advert it tried to send on entering FAULT; the new master (which heard only
    # the advert before) numbers its adverts from that same number on, so keepalived, back,
    # drops as replays the new master's adverts numbered up to its own counter: the one it
    # spent, and any sent while keepalived's link was still down.  keepalived does the same to
    # a keepalived peer.  Nothing else may be dropped.
    replay = "IPSEC-AH : sequence number"
    assert keepalived_complaints(ka, tmp_path, allowed=(replay,)) == [], ka.node.log()
    replays = [(int(s), int(local)) for s, local in REPLAY_RE.findall(ka.node.log())]
    if master == "vipkeeper":
        assert replays == [], ka.node.log()
    else:
        seqs = [s for s, _ in replays]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True, ka.node.log()
        assert all(s <= local for s, local in replays), ka.node.log()  # only numbers it had counted
        assert len(replays) <= 3, ka.node.log()  # at advert_int 1: the link comes back within ~2 s
    assert vipkeeper_complaints(vk, tmp_path) == [], vk.node.log()

    # 7. the wire
    counts = check_wire(lab, frames, sides, unicast)
    print(
        f"TIMING AH master={master} unicast={unicast}: start {t_start:.3f}s, failover {failover:.3f}s "
        f"(Master_Down_Interval {mdi_s(LOW):.3f}s), preempt {preempt:.3f}s, handover {handover:.3f}s "
        f"(skew {skew_s(LOW):.3f}s), back after restart {back:.3f}s; packets {counts}"
    )


def test_unicast_ttl_without_ah_ipv4_and_ipv6(lab: Lab, tmp_path: Path) -> None:
    """``unicast_ttl`` on plain VRRPv3 adverts (IPv4: an IP_TTL control message; IPv6: an
    IPV6_HOPLIMIT one), vipkeeper beside keepalived: both put the same TTL / hop limit on
    the wire, and both accept the other's adverts (unicast: no TTL 255 check)."""
    ttl = 9
    body = (("U4", 61, 4, "172.20.0.161"), ("U6", 62, 6, "fd00:20::162"))

    def confs(me: str, prio: int) -> str:
        peer = "B" if me == "A" else "A"
        out = global_defs()
        for name, vrid, fam, vip in body:
            src = lab.host(me).ip6 if fam == 6 else lab.host(me).ip4
            dst = lab.host(peer).ip6 if fam == 6 else lab.host(peer).ip4
            out += vrrp_instance(
                name,
                state="BACKUP",
                vrid=vrid,
                priority=prio,
                advert_int="0.1",
                version=3,
                unicast_src=str(src),
                unicast_peers=[str(dst)],
                extra=(f"unicast_ttl {ttl}",),
                vips=[vip],
            )
        return out

    cap = lab.capture("observer", "ip proto 112 or ip6 proto 112")
    vk = start(lab, tmp_path, "A", "vipkeeper", confs("A", HIGH), HIGH)
    assert lab.wait_for(lambda: {h for _, _, _, v in body for h in lab.holders(v)} == {"A"}, 15), vk.node.log()
    ka = start(lab, tmp_path, "B", "keepalived", confs("B", LOW), LOW)
    ka.wait_backup()
    steady(lab, "172.20.0.161", ("A", "B"), "A", 1.0)  # keepalived accepts TTL-9 adverts
    vk.terminate()
    assert vk.wait_exit() == 0, vk.node.log()
    assert lab.wait_for(lambda: {h for _, _, _, v in body for h in lab.holders(v)} == {"B"}, 5), ka.node.log()
    time.sleep(0.5)  # keepalived's adverts, as master
    ka.terminate()
    assert ka.wait_exit() == 0, ka.node.log()
    seen = {(lab.mac("A"), 4): 0, (lab.mac("A"), 6): 0, (lab.mac("B"), 4): 0, (lab.mac("B"), 6): 0}
    for p in vrrp_packets(cap.stop()):
        assert not p.dst.is_multicast and p.ttl == ttl, p
        seen[(p.mac, p.family)] += 1
    assert all(seen.values()), seen
    assert keepalived_complaints(ka, tmp_path) == [], ka.node.log()
    assert vipkeeper_complaints(vk, tmp_path) == [], vk.node.log()
