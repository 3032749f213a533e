"""vipkeeper and keepalived 2.2.7 in one VRRP cluster: wire interoperability, both directions.

Host A runs vipkeeper, host B keepalived, same VRID and VIP; every combination runs twice,
once with vipkeeper as the higher-priority host and once with keepalived.  One scenario
per test, back to back:

1. steady state: the higher-priority host holds the VIP, alone, for longer than the
   other's Master_Down_Interval (so the backup must be accepting its adverts);
2. master loss (its link goes down): the VIP moves within about Master_Down_Interval;
3. the higher-priority host returns (link up) and preempts;
4. SIGTERM on the master: the priority-0 advert hands over in about Skew_Time;
5. neither side complained about the other's packets (keepalived's log, vipkeeper's log);
6. every VRRP packet captured on the observer decodes with vipkeeper's codec.

Timings are printed as ``TIMING ...`` lines (``pytest -s`` shows them).

Also here: a misconfigured third host (wrong password, VRRPv2 interval, version) is refused
by both daemons and logged once per 10 s by vipkeeper; ``v3_checksum_as_v2``, which
keepalived 2.2.7 does not know, between two vipkeeper hosts.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node, time_until
from tests.conftest import require_binary
from vipkeeper.core import codec
from vipkeeper.core.constants import AUTH_NONE, AUTH_PASS, VRRP_GROUP_V4
from vipkeeper.core.timers import master_down_us, skew_us
from vipkeeper.errors import DecodeError

pytestmark = [pytest.mark.netns, pytest.mark.keepalived]

VIP4 = "172.20.0.115"
VIP6 = "fd00:20::115"
VRID = 51
HIGH, LOW = 150, 100
BPF = "ip proto 112 or ip6 proto 112 or ip proto 51"

# What keepalived logs when it refuses or doubts a packet (vrrp.c vrrp_check_packet and
# friends use these words); matched case-insensitively on every line of its log.
KA_COMPLAINT = re.compile(r"invalid|checksum|auth|interval|mismatch|wrong version|ipsec", re.I)
# ... except its own sends failing while its link is down (IPv6: its source address is gone)
KA_NOT_ABOUT_PEER = ("send advert error", "Cant send advert to")


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_binary("keepalived")
    require_binary("tcpdump")


# ------------------------------------------------------------------ combinations


@dataclass(frozen=True)
class Combo:
    version: int
    advert_int: str
    family: int = 4
    unicast: bool = False
    auth_pass: str | None = None
    vk_extra: tuple[str, ...] = ()  # extra vrrp_instance lines for vipkeeper
    ka_extra: tuple[str, ...] = ()  # ... for keepalived
    old_checksum: bool = False  # v3 unicast checksums use 224.0.0.18 (both sides)
    vk_log_expect: tuple[str, ...] = ()  # vipkeeper must log these
    masters: tuple[str, ...] = ("vipkeeper", "keepalived")  # which side is the higher priority

    @property
    def advert_cs(self) -> int:
        return round(float(self.advert_int) * 100)

    @property
    def adv_s(self) -> float:
        return self.advert_cs / 100

    @property
    def vip(self) -> str:
        return VIP6 if self.family == 6 else VIP4

    def mdi_s(self, priority: int) -> float:
        return master_down_us(self.version, priority, self.advert_cs) / 1e6

    def skew_s(self, priority: int) -> float:
        return skew_us(self.version, priority, self.advert_cs) / 1e6


COMBOS: dict[str, Combo] = {
    # the user's seed: VRRPv2, PASS, unicast, 1 s
    "v2-pass-unicast": Combo(2, "1", unicast=True, auth_pass="1111"),
    "v2-mcast-noauth": Combo(2, "1"),
    "v3-mcast-v4": Combo(3, "0.1"),
    "v3-unicast-v4": Combo(3, "0.1", unicast=True),
    "v3-mcast-v6": Combo(3, "0.1", family=6),
    "v3-unicast-v6": Combo(3, "0.1", family=6, unicast=True),
    # keepalived's old_unicast_checksum (pseudo-header destination 224.0.0.18) on both sides
    "v3-unicast-v4-old-checksum": Combo(
        3,
        "0.1",
        unicast=True,
        old_checksum=True,
        vk_extra=("old_unicast_checksum",),
        ka_extra=("old_unicast_checksum",),
    ),
    # keepalived has old_unicast_checksum, vipkeeper the default: it switches on the first
    # advert it hears, as keepalived 2.2.7 does.  (Not the other way round: a backup
    # configured for the old checksum refuses a modern master's adverts and takes over
    # until the master hears it and switches, keepalived with keepalived included.)
    "v3-unicast-v4-old-checksum-auto": Combo(
        3,
        "0.1",
        unicast=True,
        old_checksum=True,
        ka_extra=("old_unicast_checksum",),
        vk_log_expect=("uses the old VRRPv3 unicast checksum",),
        masters=("keepalived",),
    ),
}

CASES = [
    pytest.param(name, master, id=f"{name}-{master}-master")
    for name, combo in COMBOS.items()
    for master in combo.masters
]


def instance_conf(
    c: Combo,
    *,
    me: str,
    peer: str,
    priority: int,
    state: str,
    extra: tuple[str, ...] = (),
    version: int | None = None,
    advert_int: str | None = None,
    auth_pass: str | None = None,
) -> str:
    """One keepalived.conf, read unchanged by both daemons."""
    return global_defs("vrrp_garp_master_delay 1", "vrrp_garp_master_repeat 2") + vrrp_instance(
        "VI_T",
        state=state,
        vrid=VRID,
        priority=priority,
        advert_int=advert_int or c.advert_int,
        version=version or c.version,
        unicast_src=me if c.unicast else None,
        unicast_peers=[peer] if c.unicast else (),
        auth_pass=auth_pass or c.auth_pass,
        extra=extra,
        vips=[c.vip],
    )


# ------------------------------------------------------------------ daemons


@dataclass
class Side:
    node: Node
    kind: str  # "vipkeeper" or "keepalived"
    priority: int

    @property
    def host(self) -> str:
        return self.node.host

    def masters(self) -> int:
        needle = "-> MASTER" if self.kind == "vipkeeper" else "Entering MASTER STATE"
        return self.node.log().count(needle)

    def wait_backup(self, timeout_s: float = 10) -> None:
        needle = "-> BACKUP" if self.kind == "vipkeeper" else "Entering BACKUP STATE"
        assert self.node.wait_log(needle, timeout_s), self.node.log()

    def heard_priority_zero(self) -> bool:
        needle = "resigned (priority 0)" if self.kind == "vipkeeper" else "Backup received priority 0 advertisement"
        return needle in self.node.log()

    def terminate(self) -> None:
        self.node.send_signal(signal.SIGTERM)

    def wait_exit(self) -> int:
        assert self.node.proc is not None
        rc = self.node.proc.wait(15)
        self.node.stop()  # closes the log (the process is gone: no second signal)
        return rc


def addr_of(lab: Lab, host: str, family: int) -> str:
    h = lab.host(host)
    return str(h.ip6 if family == 6 else h.ip4)


def start(lab: Lab, tmp_path: Path, host: str, kind: str, conf: str, priority: int) -> Side:
    node = Node(lab, host, tmp_path, kind=kind)
    node.write_config(conf)
    node.start()
    return Side(node, kind, priority)


def link_up(lab: Lab, host: str) -> None:
    """The host's link comes back, and its static IPv6 address with it.

    The kernel deletes IPv6 addresses when a link goes down (keep_addr_on_down is 0) and
    only recreates the link-local one: a host's network configuration adds the static one
    again, which IPv6 unicast VRRP needs as its source.
    """
    lab.set_link(host, True)
    h = lab.host(host)
    if h.ip6 and h.ip6 not in lab.addresses(host):
        lab.run(host, "ip", "addr", "add", f"{h.ip6}/64", "dev", h.ifname, "nodad")


def only(lab: Lab, vip: str, hosts: tuple[str, ...]) -> list[str]:
    """The hosts among ``hosts`` that hold ``vip``."""
    return [h for h in lab.holders(vip) if h in hosts]


def steady(lab: Lab, vip: str, hosts: tuple[str, ...], want: str, duration_s: float) -> None:
    """``want`` holds the VIP, alone among ``hosts``, at every sample for ``duration_s``."""
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        got = only(lab, vip, hosts)
        assert got == [want], f"VIP holders {got}, expected only {want}"
        time.sleep(0.02)


# ------------------------------------------------------------------ logs


def keepalived_complaints(side: Side, tmp_path: Path, allowed: tuple[str, ...] = ()) -> list[str]:
    out = []
    for line in side.node.log().splitlines():
        text = line.replace(str(tmp_path), "")  # the config path may contain any word
        if KA_COMPLAINT.search(text) and not any(a in text for a in allowed + KA_NOT_ABOUT_PEER):
            out.append(line)
    return out


def vipkeeper_complaints(side: Side, tmp_path: Path) -> list[str]:
    out = []
    for line in side.node.log().splitlines():
        text = line.replace(str(tmp_path), "")
        if "dropped" in text or "Traceback" in text or " ERROR " in text:
            out.append(line)
    return out


# ------------------------------------------------------------------ packets


@dataclass(frozen=True)
class Packet:
    ts: float
    mac: bytes
    family: int
    src: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    ttl: int
    proto: int
    payload: bytes


def vrrp_packets(frames: list[tuple[float, bytes]]) -> list[Packet]:
    """The IPv4/IPv6 protocol-112 (and IPv4 AH) packets among captured Ethernet frames."""
    out = []
    for ts, f in frames:
        ethertype = struct.unpack_from("!H", f, 12)[0] if len(f) >= 14 else 0
        if ethertype == 0x0800:
            hdr = codec.parse_ipv4_header(f[14 : 14 + struct.unpack_from("!H", f, 16)[0]])
            out.append(Packet(ts, f[6:12], 4, hdr.src, hdr.dst, hdr.ttl, hdr.proto, hdr.payload))
        elif ethertype == 0x86DD and len(f) >= 54:
            plen, nh, hops = struct.unpack_from("!HBB", f, 18)
            src = ipaddress.IPv6Address(f[22:38])
            dst = ipaddress.IPv6Address(f[38:54])
            out.append(Packet(ts, f[6:12], 6, src, dst, hops, nh, f[54 : 54 + plen]))
    return out


def decode_packet(p: Packet, old_checksum: bool) -> codec.Advertisement:
    assert p.proto == 112, f"IP protocol {p.proto} from {p.src}"
    dst = VRRP_GROUP_V4 if (old_checksum and p.family == 4 and not p.dst.is_multicast) else p.dst
    return codec.decode(p.payload, family=p.family, src=p.src, dst=dst)


def check_capture(lab: Lab, c: Combo, frames: list[tuple[float, bytes]], sides: dict[str, Side]) -> dict[str, int]:
    """Every VRRP packet decodes; each host's adverts carry its configuration."""
    by_mac = {lab.mac(s.host): s for s in sides.values()}
    counts: dict[str, int] = {}
    zero: dict[str, int] = {}
    failures = []
    for p in vrrp_packets(frames):
        side = by_mac.get(p.mac)
        assert side is not None, f"VRRP packet from an unknown host: {p.src}"
        try:
            adv = decode_packet(p, c.old_checksum)
        except DecodeError as exc:
            failures.append(f"{side.kind} {p.src} -> {p.dst}: {exc.reason}: {exc}")
            continue
        counts[side.kind] = counts.get(side.kind, 0) + 1
        assert adv.version == c.version and adv.vrid == VRID, adv
        assert adv.addresses == (ipaddress.ip_address(c.vip),), adv
        assert adv.advert_int_cs == c.advert_cs, adv
        assert adv.priority in (0, side.priority), (side.kind, adv)
        if adv.priority == 0:
            zero[side.kind] = zero.get(side.kind, 0) + 1
        if c.version == 2:
            want = (AUTH_PASS, c.auth_pass.encode().ljust(8, b"\0")) if c.auth_pass else (AUTH_NONE, bytes(8))
            assert (adv.auth_type, adv.auth_data) == want, (side.kind, adv)
        if c.unicast:
            peer = next(s for s in sides.values() if s is not side)
            assert p.dst == ipaddress.ip_address(addr_of(lab, peer.host, c.family)), p
        else:
            assert p.dst.is_multicast and p.ttl == 255, p
        if p.family == 6 and not c.unicast:
            assert p.src.is_link_local, p  # RFC 5798 §5.1.2.1
    assert not failures, "\n".join(failures)
    assert counts.get("keepalived", 0) >= 3 and counts.get("vipkeeper", 0) >= 3, counts
    assert zero.get("keepalived") and zero.get("vipkeeper"), f"priority-0 adverts seen: {zero}"
    return counts


# ------------------------------------------------------------------ the scenario


@pytest.mark.parametrize("name, master", CASES)
def test_interop(lab: Lab, tmp_path: Path, name: str, master: str) -> None:
    c = COMBOS[name]
    vip = c.vip
    hosts = ("A", "B")
    addr_a, addr_b = addr_of(lab, "A", c.family), addr_of(lab, "B", c.family)
    prio = {"vipkeeper": HIGH if master == "vipkeeper" else LOW}
    prio["keepalived"] = LOW if master == "vipkeeper" else HIGH
    confs = {
        "vipkeeper": instance_conf(
            c,
            me=addr_a,
            peer=addr_b,
            priority=prio["vipkeeper"],
            state="MASTER" if master == "vipkeeper" else "BACKUP",
            extra=c.vk_extra,
        ),
        "keepalived": instance_conf(
            c,
            me=addr_b,
            peer=addr_a,
            priority=prio["keepalived"],
            state="MASTER" if master == "keepalived" else "BACKUP",
            extra=c.ka_extra,
        ),
    }
    host_of = {"vipkeeper": "A", "keepalived": "B"}
    low_kind = "keepalived" if master == "vipkeeper" else "vipkeeper"
    cap = lab.capture("observer", BPF)

    # 1. steady state: the higher-priority host first, then the other
    t0 = time.monotonic()
    high = start(lab, tmp_path, host_of[master], master, confs[master], HIGH)
    assert lab.wait_for(lambda: only(lab, vip, hosts) == [high.host], 15), high.node.log()
    t_start = time.monotonic() - t0
    # a non-owner with state MASTER waits Master_Down_Interval first, like keepalived 2.2.7
    assert t_start > c.mdi_s(HIGH) - 0.05, t_start
    low = start(lab, tmp_path, host_of[low_kind], low_kind, confs[low_kind], LOW)
    sides = {"vipkeeper": high if master == "vipkeeper" else low}
    sides["keepalived"] = low if master == "vipkeeper" else high
    low.wait_backup()
    # longer than the backup's Master_Down_Interval: it must be hearing the master
    steady(lab, vip, hosts, high.host, max(1.0, c.mdi_s(LOW) + c.adv_s))
    assert low.masters() == 0, low.node.log()

    # 2. master loss: its link goes down
    lab.set_link(high.host, False)
    failover = time_until(lambda: only(lab, vip, hosts) == [low.host], 15)
    assert failover is not None, low.node.log()
    # the backup's down timer ran from the master's last advert (0..1 interval before)
    assert c.mdi_s(LOW) - c.adv_s - 0.05 < failover < c.mdi_s(LOW) + 0.6, failover

    # 3. the higher-priority host returns and preempts
    link_up(lab, high.host)
    preempt = time_until(lambda: only(lab, vip, hosts) == [high.host], 15)
    assert preempt is not None, high.node.log() + low.node.log()
    assert preempt < c.mdi_s(HIGH) + 0.6 + c.adv_s, preempt
    steady(lab, vip, hosts, high.host, max(0.5, 3 * c.adv_s))

    # 4. SIGTERM on the master: priority 0, the backup takes over after Skew_Time
    high.terminate()
    handover = time_until(lambda: only(lab, vip, hosts) == [low.host], 10)
    assert handover is not None, low.node.log()
    assert handover < c.skew_s(LOW) + 0.5, handover
    assert handover < c.mdi_s(LOW) - c.adv_s, "handover must not wait for the down timer"
    assert high.wait_exit() == 0, high.node.log()
    assert low.heard_priority_zero(), low.node.log()
    assert high.host not in lab.holders(vip), "the stopped master released the VIP"

    # the last master stops too (its priority-0 advert ends the capture)
    low.terminate()
    assert low.wait_exit() == 0, low.node.log()
    assert lab.holders(vip) == []
    time.sleep(0.2)
    frames = cap.stop()

    # 5. no complaints, either side
    ka, vk = sides["keepalived"], sides["vipkeeper"]
    assert keepalived_complaints(ka, tmp_path) == [], ka.node.log()
    assert vipkeeper_complaints(vk, tmp_path) == [], vk.node.log()
    for needle in c.vk_log_expect:
        assert needle in vk.node.log(), vk.node.log()

    # 6. every packet decodes
    counts = check_capture(lab, c, frames, sides)
    print(
        f"TIMING {name} master={master}: start {t_start:.3f}s, failover {failover:.3f}s "
        f"(Master_Down_Interval {c.mdi_s(LOW):.3f}s), preempt {preempt:.3f}s "
        f"(Master_Down_Interval {c.mdi_s(HIGH):.3f}s), handover {handover:.3f}s "
        f"(skew {c.skew_s(LOW):.3f}s); packets {counts}"
    )


# ------------------------------------------------------------------ misconfigured third host

MISCONFIG = {
    # what C gets wrong: (C's daemon, instance_conf overrides, vipkeeper's log text, keepalived's log text)
    "password": ("keepalived", dict(auth_pass="2222"), "auth_failure (wrong password)", "received an invalid passwd!"),
    # (a keepalived master re-arms its advert timer on every packet it receives for its VRID,
    # refused ones included: with a 2 s interval among 1 s adverts it would never send again)
    "interval": (
        "vipkeeper",
        dict(advert_int="2"),
        "interval_mismatch (advert interval 2s, ours 1s)",
        "advertisement interval mismatch mine=1 sec rcv'd=2 sec",
    ),
    "version": (
        "keepalived",
        dict(version=3),
        "version_mismatch (version 3, expected 2)",
        "wrong version. Received 3 and expect 2",
    ),
}


@pytest.mark.parametrize("what", list(MISCONFIG))
def test_misconfigured_third_host_is_refused_and_logged_once(make_lab, tmp_path: Path, what: str) -> None:
    """A: vipkeeper (150, master), B: keepalived (100), C (200) with one setting wrong, of
    the kind keepalived refuses too.  C thinks it is alone and takes the VIP, but the pair
    ignores it: A stays master, B backup.  vipkeeper names the problem in one WARNING per
    10 s (the repeats go to DEBUG)."""
    lab = make_lab(hosts=("A", "B", "C"))
    c = Combo(2, "1", auth_pass="1111")
    c_kind, overrides, vk_text, ka_text = MISCONFIG[what]
    cap = lab.capture("observer", BPF)
    a = start(lab, tmp_path, "A", "vipkeeper", instance_conf(c, me="", peer="", priority=150, state="MASTER"), 150)
    assert lab.wait_for(lambda: only(lab, VIP4, ("A", "B")) == ["A"], 15), a.node.log()
    b = start(lab, tmp_path, "B", "keepalived", instance_conf(c, me="", peer="", priority=100, state="BACKUP"), 100)
    b.wait_backup()
    bad = start(
        lab, tmp_path, "C", c_kind, instance_conf(c, me="", peer="", priority=200, state="MASTER", **overrides), 200
    )
    # C hears nothing it accepts: it becomes master after its Master_Down_Interval ...
    assert lab.wait_for(lambda: bad.masters() == 1, 15), bad.node.log()
    # ... and keeps advertising, priority 200, while the pair carries on
    steady(lab, VIP4, ("A", "B"), "A", 4.5)
    assert "C" in lab.holders(VIP4)
    assert a.masters() == 1 and "MASTER ->" not in a.node.log(), a.node.log()
    assert b.masters() == 0, b.node.log()

    c_ip = lab.host("C").ip4
    lines = [ln for ln in a.node.log().splitlines() if f"dropped advert from {c_ip}" in ln]
    warnings = [ln for ln in lines if " WARNING " in ln]
    assert len(warnings) == 1, lines
    assert f"(VI_T) dropped advert from {c_ip}: {vk_text}" in warnings[0]
    assert len(lines) >= 2, "C advertised more than once: the repeats are rate-limited"
    assert all(" DEBUG " in ln for ln in lines if ln not in warnings)
    # keepalived refuses the same adverts, for the same reason
    assert f"(VI_T) {ka_text}" in b.node.log(), b.node.log()
    # and A's and B's adverts pass each other's checks: nothing else was dropped
    assert [ln for ln in a.node.log().splitlines() if "dropped" in ln and c_ip not in ln] == []
    assert keepalived_complaints(b, tmp_path, allowed=(ka_text,)) == [], b.node.log()

    # every packet on the wire, C's included, decodes (what is wrong is for the instance
    # to judge, not the codec)
    for side in (bad, b, a):
        side.terminate()
        assert side.wait_exit() == 0, side.node.log()
    time.sleep(0.2)
    seen: dict[str, set[tuple[int, int, bytes]]] = {}
    macs = {lab.mac(h): h for h in ("A", "B", "C")}
    for p in vrrp_packets(cap.stop()):
        adv = decode_packet(p, old_checksum=False)
        seen.setdefault(macs[p.mac], set()).add((adv.version, adv.advert_int_cs, adv.auth_data))
    assert seen["A"] == {(2, 100, b"1111".ljust(8, b"\0"))}, seen
    assert "B" not in seen, "B stayed backup: it never advertised"
    want_c = {
        "password": (2, 100, b"2222".ljust(8, b"\0")),
        "interval": (2, 200, b"1111".ljust(8, b"\0")),
        "version": (3, 100, b""),
    }[what]
    assert seen["C"] == {want_c}, seen


# ------------------------------------------------------------------ v3_checksum_as_v2


def test_keepalived_2_2_7_has_no_v3_checksum_as_v2(lab: Lab, tmp_path: Path) -> None:
    """keepalived 2.3 added v3_checksum_as_v2; 2.2.7 does not know the keyword, so it can
    only talk to a vipkeeper using it through... nothing: this mode is vipkeeper-to-vipkeeper
    (or to other vendors') only.  If this test fails, keepalived was upgraded: add the mode
    to COMBOS."""
    c = Combo(3, "0.1")
    conf = tmp_path / "keepalived.conf"
    conf.write_text(instance_conf(c, me="", peer="", priority=100, state="BACKUP", extra=("v3_checksum_as_v2",)))
    out = lab.run("B", "keepalived", "-t", "-l", "-f", str(conf), check=False)
    assert "Unknown keyword 'v3_checksum_as_v2'" in out.stdout + out.stderr, out


def test_v3_checksum_as_v2_between_two_vipkeepers(lab: Lab, tmp_path: Path) -> None:
    c = Combo(3, "0.1")
    cap = lab.capture("observer", BPF)
    extra = ("v3_checksum_as_v2",)
    a = start(
        lab,
        tmp_path,
        "A",
        "vipkeeper",
        instance_conf(c, me="", peer="", priority=HIGH, state="MASTER", extra=extra),
        HIGH,
    )
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10), a.node.log()
    b = start(
        lab,
        tmp_path,
        "B",
        "vipkeeper",
        instance_conf(c, me="", peer="", priority=LOW, state="BACKUP", extra=extra),
        LOW,
    )
    b.wait_backup()
    steady(lab, VIP4, ("A", "B"), "A", c.mdi_s(LOW) + 0.5)
    lab.set_link("A", False)
    assert time_until(lambda: lab.holders(VIP4) == ["B"], 5) is not None, b.node.log()
    b.terminate()
    assert b.wait_exit() == 0
    a.terminate()
    assert a.wait_exit() == 0
    packets = vrrp_packets(cap.stop())
    assert {p.mac for p in packets} == {lab.mac("A"), lab.mac("B")}
    for p in packets:
        adv = codec.decode(p.payload, family=4, src=p.src, dst=p.dst, v3_checksum_pseudo=False)
        assert adv.priority in (0, HIGH, LOW) and adv.advert_int_cs == 10
        with pytest.raises(DecodeError):  # what keepalived 2.2.7 computes
            codec.decode(p.payload, family=4, src=p.src, dst=p.dst)
    for side in (a, b):
        assert vipkeeper_complaints(side, tmp_path) == [], side.node.log()
