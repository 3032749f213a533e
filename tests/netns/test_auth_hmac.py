"""keepalived 2.4 ``auth_hmac`` between vipkeeper hosts, in network namespaces.

1. Every mode (receive-only, permissive, enforce) over VRRPv2 and v3, IPv4 and IPv6, unicast
   and multicast: one holder, failover (link down), preemption, handover (SIGTERM); every
   captured advert carries a trailer exactly when its mode signs, and verifies.
2. A rolling switch of a VRRPv2 PASS cluster to auth_hmac (receive-only, then permissive, then
   enforce, one host at a time, by reload) with the VIP sampled every 20 ms: never two holders,
   never none, and no advert dropped.  keepalived 2.4.3 splits here (it drops PASS as soon
   as auth_hmac is set); vipkeeper keeps PASS until enforce (README "keepalived 2.4").

keepalived 2.4.3 is not in CI (it cannot be fetched there): interoperability with it is
tests/netns/interop_keepalived24.py, run by hand.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.conf import global_defs, section, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node, time_until
from tests.netns.test_interop import BPF, addr_of, link_up, only, steady, vrrp_packets
from vipkeeper.core import codec
from vipkeeper.core.auth_hmac import HmacParams, HmacState, pseudo_header
from vipkeeper.core.constants import AUTH_NONE, AUTH_PASS
from vipkeeper.core.timers import master_down_us, skew_us

pytestmark = [pytest.mark.netns]

KEY_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
VRID = 51
HIGH, LOW = 150, 100


def hmac_block(mode: str) -> list[str]:
    return section(
        "auth_hmac",
        [f"key 1 hex:{KEY_HEX}", "key 2 abcdefghijklmnopqrstuvwxyz0123456789", "active_key 1", f"mode {mode}"],
    )


@dataclass(frozen=True)
class Case:
    mode: str
    version: int
    family: int
    unicast: bool
    advert_int: str

    @property
    def vip(self) -> str:
        return "fd00:20::115" if self.family == 6 else "172.20.0.115"

    @property
    def adv_cs(self) -> int:
        return round(float(self.advert_int) * 100)

    def mdi_s(self, prio: int) -> float:
        return master_down_us(self.version, prio, self.adv_cs) / 1e6

    def conf(self, lab: Lab, me: str, peer: str, prio: int, extra: list[str] | None = None) -> str:
        return global_defs("vrrp_garp_master_delay 1", "vrrp_garp_master_repeat 1") + vrrp_instance(
            "VI_H",
            state="BACKUP",
            vrid=VRID,
            priority=prio,
            advert_int=self.advert_int,
            version=self.version,
            unicast_src=addr_of(lab, me, self.family) if self.unicast else None,
            unicast_peers=[addr_of(lab, peer, self.family)] if self.unicast else (),
            extra=extra if extra is not None else hmac_block(self.mode),
            vips=[self.vip],
        )


CASES = [
    Case("receive-only", 3, 4, True, "0.1"),
    Case("permissive", 3, 6, False, "0.1"),
    Case("enforce", 3, 4, False, "0.1"),
    Case("enforce", 2, 4, True, "1"),
]


def vip_proto(lab: Lab, host: str, vip: str) -> int | None:
    """The IFA_PROTO of ``vip`` on the host (iproute2 here does not print it)."""
    code = (
        "from pyroute2 import IPRoute\n"
        f"a = [m for m in IPRoute().get_addr() if m.get_attr('IFA_ADDRESS') == {vip!r}]\n"
        "print(a[0].get_attr('IFA_PROTO') if a else 'none')\n"
    )
    out = lab.run(host, sys.executable, "-c", code).stdout.strip()
    return None if out in ("none", "None") else int(out)


def start(lab: Lab, tmp_path: Path, host: str, conf: str) -> Node:
    node = Node(lab, host, tmp_path)
    node.write_config(conf)
    node.start(log_level="info")
    return node


def verify_capture(lab: Lab, c: Case, frames: list[tuple[float, bytes]]) -> int:
    """Each advert has a trailer exactly when its sender signs, and it verifies."""
    signs = c.mode != "receive-only"
    params = HmacParams(keys=((1, bytes.fromhex(KEY_HEX)),), active_key=1, anti_replay_time=False)
    n = 0
    for p in vrrp_packets(frames):
        adv = codec.decode(p.payload, family=p.family, src=p.src, dst=p.dst)
        assert bool(adv.trailer) == signs, (c, p)
        if signs:
            v = HmacState(params).verify(
                p.payload[:-28],
                adv.trailer,
                pseudo_header(p.family, c.version, VRID, p.src),
                p.src,
                int(p.ts * 1e6),
                unicast=c.unicast,
            )
            assert v.reason is None, (v, p)
        n += 1
    return n


@pytest.mark.parametrize(
    "c", CASES, ids=lambda c: f"{c.mode}-v{c.version}-ipv{c.family}-{'uni' if c.unicast else 'mc'}"
)
def test_every_mode_one_holder_failover_handover(lab: Lab, tmp_path: Path, c: Case) -> None:
    hosts = ("A", "B")
    cap = lab.capture("observer", BPF)
    a = start(lab, tmp_path, "A", c.conf(lab, "A", "B", HIGH))
    assert lab.wait_for(lambda: only(lab, c.vip, hosts) == ["A"], 15), a.log()
    b = start(lab, tmp_path, "B", c.conf(lab, "B", "A", LOW))
    assert b.wait_log("-> BACKUP", 10), b.log()
    steady(lab, c.vip, hosts, "A", c.mdi_s(LOW) + 0.5)  # B hears A's (signed) adverts

    lab.set_link("A", False)
    failover = time_until(lambda: only(lab, c.vip, hosts) == ["B"], 15)
    assert failover is not None and failover < c.mdi_s(LOW) + 0.6, (failover, b.log())
    link_up(lab, "A")
    assert lab.wait_for(lambda: only(lab, c.vip, hosts) == ["A"], 15), a.log()
    steady(lab, c.vip, hosts, "A", 3 * float(c.advert_int))

    a.send_signal(signal.SIGTERM)
    handover = time_until(lambda: only(lab, c.vip, hosts) == ["B"], 10)
    assert handover is not None and handover < skew_us(c.version, LOW, c.adv_cs) / 1e6 + 0.5, handover
    assert "resigned (priority 0)" in b.log(), b.log()
    b.stop()
    a.stop()
    frames = cap.stop()
    for node in (a, b):
        assert "dropped advert" not in node.log() and "Traceback" not in node.log(), node.log()
    assert verify_capture(lab, c, frames) >= 6


def test_rolling_switch_of_a_pass_cluster_never_splits(lab: Lab, tmp_path: Path) -> None:
    """VRRPv2 PASS unicast, 1 s adverts: each host is reloaded in turn into receive-only,
    permissive, then enforce; after every reload we wait longer than the backup's
    Master_Down_Interval, so a backup dropping the master's adverts would take the VIP."""
    c = Case("", 2, 4, True, "1")
    hosts = ("A", "B")
    passwd = ["authentication {", "    auth_type PASS", "    auth_pass secret", "}"]
    a = start(lab, tmp_path, "A", c.conf(lab, "A", "B", HIGH, passwd))
    assert lab.wait_for(lambda: only(lab, c.vip, hosts) == ["A"], 15), a.log()
    b = start(lab, tmp_path, "B", c.conf(lab, "B", "A", LOW, passwd))
    assert b.wait_log("-> BACKUP", 10), b.log()

    # keepalived >= 2.3.2 tags its VIPs with IFA_PROTO 18 ("keepalived"): so does vipkeeper
    assert vip_proto(lab, "A", c.vip) == 18

    samples: list[list[str]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(only(lab, c.vip, hosts))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cap = lab.capture("observer", BPF)
    try:
        for mode in ("receive-only", "permissive", "enforce"):
            for host, node, prio, peer in (("B", b, LOW, "A"), ("A", a, HIGH, "B")):
                node.conf.write_text(c.conf(lab, host, peer, prio, passwd + hmac_block(mode)))
                before = node.log().count("reloaded ")
                node.send_signal(signal.SIGHUP)
                assert lab.wait_for(lambda n=node, k=before: n.log().count("reloaded ") > k, 10), node.log()
                time.sleep(c.mdi_s(LOW) + 0.5)
    finally:
        stop.set()
        sampler.join(5)
    frames = cap.stop()
    two = [s for s in samples if len(s) > 1]
    none = [s for s in samples if not s]
    assert not two and not none, f"{len(two)} samples with two holders, {len(none)} with none of {len(samples)}"
    assert len(samples) > 500, len(samples)  # 6 reloads x ~3.6 s at 20 ms
    for node in (a, b):
        assert "dropped advert" not in node.log(), node.log()
    assert a.log().count("-> MASTER") == 1 and "-> MASTER" not in b.log()
    # what went on the wire at the end: enforce drops PASS (auth type 0) and signs
    last = [codec.decode(p.payload, family=4, src=p.src, dst=p.dst) for p in vrrp_packets(frames)][-3:]
    assert all(adv.trailer and adv.auth_type == AUTH_NONE for adv in last), last
    first = codec.decode(vrrp_packets(frames)[0].payload, family=4)
    assert first.auth_type == AUTH_PASS and not first.trailer
    b.stop()
    a.stop()
