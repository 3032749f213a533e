"""vipkeeper clusters in network namespaces: real sockets, real VIPs.

Every test asserts what an operator checks: which host has the VIP (``ip
addr``), which daemon says MASTER (its log), and what went on the wire
(captured on an observer host).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import Node, time_until, wait_single_holder
from lab.seed import mirror_of_seed, seed_dir, seed_node

VIP4 = "172.20.0.115"
VIP6 = "fd00:20::115"

pytestmark = pytest.mark.netns


def instance_conf(
    *,
    priority: int,
    state: str = "BACKUP",
    version: int = 3,
    advert_int: str = "0.05",
    vip: str = VIP4,
    extra: Sequence[str] = (),
    unicast: tuple[str, str] | None = None,
    track_script: Sequence[str] = (),
    globals: Sequence[str] = (),
) -> str:
    """VI_T, VRID 42, one VIP; ``unicast`` is (source, peer)."""
    return global_defs("vrrp_garp_master_delay 1", *globals) + vrrp_instance(
        "VI_T",
        state=state,
        vrid=42,
        priority=priority,
        advert_int=advert_int,
        version=version,
        unicast_src=unicast[0] if unicast else None,
        unicast_peers=unicast[1:] if unicast else (),
        extra=extra,
        vips=[vip],
        track_script=track_script,
    )


def start(lab: Lab, tmp_path: Path, host: str, conf: str, **kw) -> Node:
    n = Node(lab, host, tmp_path)
    n.write_config(conf)
    n.start(**kw)
    return n


def wait_master(node: Node, timeout_s: float = 10) -> None:
    assert node.wait_log("-> MASTER", timeout_s), node.log()


def arp_senders(frames: list[tuple[float, bytes]], vip: str) -> list[tuple[float, bytes]]:
    """(time, sender MAC) of gratuitous ARPs for ``vip`` in captured Ethernet frames."""
    want = bytes(int(x) for x in vip.split("."))
    out = []
    for ts, f in frames:
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[28:32] == want and f[38:42] == want:
            out.append((ts, f[6:12]))
    return out


# ---------------------------------------------------------------- the seed


def test_seed_config_unchanged_vip_on_a_then_b_after_a_dies(lab, tmp_path):
    """The user's keepalived.conf and check script, byte for byte, on host A;
    the mirror on B.  The script path resolves per host (private /var/lib):
    A is a primary (pg_isready says accepting), B a standby (standby.signal)."""
    conf_a = (seed_dir() / "keepalived.conf").read_text()
    nodes = {
        "A": seed_node(lab, "A", tmp_path, conf_a, standby=False),
        "B": seed_node(lab, "B", tmp_path, mirror_of_seed(conf_a), standby=True),
    }
    for n in nodes.values():
        n.start(private_var_lib=True)
    # Both start together and, as with keepalived, A's state MASTER waits Master_Down_Interval
    # (3.594 s at 104) like B (3.613 s at 99): if B's process started first it may hold the
    # VIP for a moment before A preempts it.
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 15), nodes["A"].log() + nodes["B"].log()
    assert nodes["A"].wait_log("effective priority 100 -> 104", 10), nodes["A"].log()
    # B's check fails (standby): 99; A 104.
    time.sleep(3)
    assert lab.holders(VIP4) == ["A"]
    cap = lab.capture("observer", "arp")
    lab.set_link("A", False)
    took = time_until(lambda: lab.holders(VIP4) == ["B"], 15)
    assert took is not None, nodes["B"].log()
    frames = cap.stop()
    senders = arp_senders(frames, VIP4)
    assert senders and senders[0][1] == lab.mac("B"), "B announces the VIP with gratuitous ARP"
    # Master_Down_Interval for priority 99 at advert_int 1: 3 + 157/256 = 3.61 s
    # after A's last advert (which was up to 1 s before the link went down).
    assert 2.0 < took < 6.0, took
    print(f"seed failover: VIP on B {took:.3f}s after A's link went down")
    assert "-> FAULT" in nodes["A"].log()


# ---------------------------------------------------------------- elections


@pytest.mark.parametrize(
    "version, advert_int, vip, unicast",
    [
        (2, "1", VIP4, None),
        (3, "0.05", VIP4, None),
        (3, "0.05", VIP6, None),
        (3, "0.05", VIP4, ("172.20.0.112", "172.20.0.113")),
    ],
    ids=["v2-mcast", "v3-mcast", "v3-ipv6", "v3-unicast"],
)
def test_election_failover_preempt_handover(lab, tmp_path, version, advert_int, vip, unicast):
    uni_a = unicast
    uni_b = (unicast[1], unicast[0]) if unicast else None
    a = start(
        lab, tmp_path, "A", instance_conf(priority=150, version=version, advert_int=advert_int, vip=vip, unicast=uni_a)
    )
    wait_master(a)
    b = start(
        lab, tmp_path, "B", instance_conf(priority=100, version=version, advert_int=advert_int, vip=vip, unicast=uni_b)
    )
    assert b.wait_log("-> BACKUP", 10), b.log()
    time.sleep(10 * float(advert_int))
    assert wait_single_holder(lab, vip, 15) == ["A"], a.log() + b.log()
    assert "-> MASTER" not in b.log()

    # master loss: A's link goes down
    lab.set_link("A", False)
    took = time_until(lambda: lab.holders(vip) == ["B"], 15)
    assert took is not None, b.log()
    interval = float(advert_int)
    # ≈ Master_Down_Interval (3 intervals + skew) after A's last advert.
    assert took < 3 * interval + 1.0 + 1.0, took

    # A returns with the higher priority: it preempts.
    lab.set_link("A", True)
    assert lab.wait_for(lambda: lab.holders(vip) == ["A"], 3 * interval + 10), a.log() + b.log()

    # SIGTERM on the master: priority-0 handover, fast (skew time, not the
    # down interval: v2 0.61 s, v3 at 50 ms 0.03 s; generous bounds).
    t0 = time.monotonic()
    assert a.stop(signal.SIGTERM) == 0
    took = time_until(lambda: lab.holders(vip) == ["B"], 10)
    assert took is not None, b.log()
    took = time.monotonic() - t0
    assert took < (1.5 if version == 2 else 0.5), took
    assert "resigned (priority 0)" in b.log()
    assert "A" not in lab.holders(vip), "A released the VIP on exit"


def test_nopreempt_keeps_the_backup_in_charge(lab, tmp_path):
    a = start(lab, tmp_path, "A", instance_conf(priority=150, extra=["nopreempt"]))
    wait_master(a)
    b = start(lab, tmp_path, "B", instance_conf(priority=100))
    assert b.wait_log("-> BACKUP", 10)
    assert wait_single_holder(lab, VIP4, 10) == ["A"]
    lab.set_link("A", False)
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 10)
    lab.set_link("A", True)
    time.sleep(2)  # 10 advert intervals
    assert lab.holders(VIP4) == ["B"], a.log()


def test_sigkill_and_restart_removes_stale_vip_and_converges(lab, tmp_path):
    a = start(lab, tmp_path, "A", instance_conf(priority=150))
    b = start(lab, tmp_path, "B", instance_conf(priority=100))
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10)
    a.kill()
    # keepalived's known hole: the VIP stays on the killed host...
    assert VIP4 in lab.addresses("A")
    assert lab.wait_for(lambda: sorted(lab.holders(VIP4)) == ["A", "B"], 10)
    a.start()
    assert a.wait_log("stale VIP", 10), a.log()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10), a.log() + b.log()
    assert wait_single_holder(lab, VIP4, 1) == ["A"]


def test_two_daemons_refuse_one_state_dir(lab, tmp_path):
    a = start(lab, tmp_path, "A", instance_conf(priority=150))
    assert a.wait_log("started", 10)
    second = Node(lab, "A", tmp_path)
    second.start()
    assert second.proc.wait(10) == 1
    assert "another vipkeeper is running" in second.log()
