"""``use_vmac`` between vipkeeper and keepalived 2.2.7, both directions (issue 13).

Host A runs vipkeeper, host B keepalived, both with ``use_vmac`` on VRID 51; once with
vipkeeper as the higher-priority host, once with keepalived; VRRPv3 over IPv4 and over IPv6.
What a user checks:

1. one holder: the VIP is on the master's macvlan ``vrrp.51`` (mode private, MAC
   00:00:5e:00:01:33, IPv6 00:00:5e:00:02:33), on no other interface of either host;
2. on the wire (the observer's capture): every advert and every gratuitous ARP / unsolicited
   NA has the virtual MAC as its Ethernet source (and ARP sender), from both daemons;
3. failover: the master's link goes down, the VIP moves to the other host's macvlan within
   about Master_Down_Interval; the higher priority comes back and preempts;
4. stop: vipkeeper deletes its macvlan and restores the base interface's ARP settings.

Host A starts with ``net.ipv4.conf.all.rp_filter=1`` (strict): while vipkeeper runs, ``all`` is
0 and every interface at least 1 (the macvlan 0), as keepalived does; all restored at stop.
"""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import time
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance
from lab.netns import Lab
from lab.nodes import time_until
from tests.conftest import require_binary
from tests.netns.test_interop import HIGH, LOW, Side, keepalived_complaints, start, vipkeeper_complaints, vrrp_packets
from vipkeeper.core import codec
from vipkeeper.core.timers import master_down_us

pytestmark = [pytest.mark.netns, pytest.mark.keepalived]

VIPS = {4: "172.20.0.115", 6: "fd00:20::115"}
VRID = 51
VMAC_IF = "vrrp.51"
VMACS = {4: bytes.fromhex("00005e000133"), 6: bytes.fromhex("00005e000233")}  # RFC 5798 §7.3
ADVERT_INT = "0.1"


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_binary("keepalived")
    require_binary("tcpdump")


def conf(priority: int, state: str, vip: str, unicast: tuple[str, str] | None = None) -> str:
    """``unicast``: (own address, peer): unicast with ``vmac_xmit_base`` (keepalived requires it)."""
    return global_defs("vrrp_garp_master_delay 1", "vrrp_garp_master_repeat 2") + vrrp_instance(
        "VI_V", state=state, vrid=VRID, priority=priority, advert_int=ADVERT_INT, version=3,
        unicast_src=unicast[0] if unicast else None, unicast_peers=[unicast[1]] if unicast else (),
        extra=["use_vmac", "vmac_xmit_base"] if unicast else ["use_vmac"], vips=[vip],
    )  # fmt: skip


def where(lab: Lab, vip: str) -> list[tuple[str, str]]:
    """(host, interface) of every interface of the lab's hosts holding ``vip``."""
    out = []
    for host in lab.hosts:
        proc = subprocess.run(["ip", "-n", lab.ns(host), "-j", "addr", "show"], capture_output=True, text=True)
        for link in json.loads(proc.stdout or "[]"):
            for a in link.get("addr_info", []):
                if a.get("local") == vip:
                    out.append((host, link["ifname"]))
    return out


def link_local(lab: Lab, host: str) -> str:
    proc = subprocess.run(
        ["ip", "-n", lab.ns(host), "-j", "-6", "addr", "show", "dev", "eth0", "scope", "link"],
        capture_output=True,
        text=True,
    )
    return next(a["local"] for link in json.loads(proc.stdout) for a in link["addr_info"] if "local" in a)


def links(lab: Lab, host: str) -> dict[str, dict]:
    proc = subprocess.run(["ip", "-n", lab.ns(host), "-d", "-j", "link", "show"], capture_output=True, text=True)
    return {link["ifname"]: link for link in json.loads(proc.stdout or "[]")}


def sysctl(lab: Lab, host: str, key: str) -> str:
    return lab.run(host, "sysctl", "-n", key).stdout.strip()


def announcements(frames: list[tuple[float, bytes]]) -> list[tuple[bytes, bytes, str]]:
    """(Ethernet source, sender MAC, address) of each gratuitous ARP and unsolicited NA captured
    (the NA's target link-layer address option is its sender MAC)."""
    out = []
    for _, f in frames:
        ethertype = struct.unpack_from("!H", f, 12)[0] if len(f) >= 14 else 0
        if ethertype == 0x0806 and len(f) >= 42:
            sha, spa, tpa = f[22:28], f[28:32], f[38:42]
            if spa == tpa:
                out.append((f[6:12], sha, str(ipaddress.IPv4Address(spa))))
        elif ethertype == 0x86DD and len(f) >= 86 and f[20] == 58 and f[54] == 136:  # ICMPv6 NA
            target = str(ipaddress.IPv6Address(f[62:78]))
            opt_mac = f[80:86] if f[78] == 2 else b""
            out.append((f[6:12], opt_mac, target))
    return out


@pytest.mark.parametrize(
    "family, xmit_base",
    [(4, False), (6, False), (4, True)],
    ids=["v4", "v6", "v4-unicast-xmit-base"],
)
@pytest.mark.parametrize("master", ["vipkeeper", "keepalived"])
def test_use_vmac_interop(lab: Lab, tmp_path: Path, master: str, family: int, xmit_base: bool) -> None:
    """``xmit_base``: unicast adverts from the base interface (its own MAC), the VIP and its
    gratuitous ARPs still on the macvlan."""
    vip, vmac = VIPS[family], VMACS[family]
    host_of = {"vipkeeper": "A", "keepalived": "B"}
    ip4 = {k: str(lab.host(h).ip4) for k, h in host_of.items()}
    other = {"vipkeeper": "keepalived", "keepalived": "vipkeeper"}
    uni = {k: (ip4[k], ip4[other[k]]) if xmit_base else None for k in host_of}
    low_kind = "keepalived" if master == "vipkeeper" else "vipkeeper"
    mdi_low_s = master_down_us(3, LOW, 10) / 1e6
    base_arp = {h: (sysctl(lab, h, "net.ipv4.conf.eth0.arp_ignore"), sysctl(lab, h, "net.ipv4.conf.eth0.arp_filter"))
                for h in ("A", "B")}  # fmt: skip
    sources_of = {str(lab.host(h).ip4) if family == 4 else link_local(lab, h): k for k, h in host_of.items()}
    lab.run("A", "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1")
    cap = lab.capture("observer", "ip proto 112 or arp or ip6 proto 112 or icmp6")
    high = start(lab, tmp_path, host_of[master], master, conf(HIGH, "MASTER", vip, uni[master]), HIGH)
    low: Side | None = None
    try:
        # 1. one holder, on its macvlan
        assert lab.wait_for(lambda: where(lab, vip) == [(high.host, VMAC_IF)], 15), high.node.log()
        low = start(lab, tmp_path, host_of[low_kind], low_kind, conf(LOW, "BACKUP", vip, uni[low_kind]), LOW)
        low.wait_backup()
        for host in ("A", "B"):
            vm = links(lab, host)[VMAC_IF]
            assert bytes.fromhex(vm["address"].replace(":", "")) == vmac, vm
            assert vm["linkinfo"]["info_kind"] == "macvlan" and vm["linkinfo"]["info_data"]["mode"] == "private", vm
        vk = high if master == "vipkeeper" else low
        if family == 4:
            assert sysctl(lab, vk.host, "net.ipv4.conf.eth0.arp_ignore") == "1"
            assert sysctl(lab, vk.host, "net.ipv4.conf.vrrp/51.rp_filter") == "0"
            assert sysctl(lab, "A", "net.ipv4.conf.all.rp_filter") == "0"
            assert sysctl(lab, "A", "net.ipv4.conf.eth0.rp_filter") == "1"
        end = time.monotonic() + max(1.0, 2 * mdi_low_s)
        while time.monotonic() < end:  # the backup hears the master through its macvlan
            assert where(lab, vip) == [(high.host, VMAC_IF)]
            time.sleep(0.05)
        assert low.masters() == 0, low.node.log()

        # 3. failover and preemption
        lab.set_link(high.host, False)
        failover = time_until(lambda: where(lab, vip) == [(low.host, VMAC_IF)], 15)
        assert failover is not None, low.node.log()
        assert failover < mdi_low_s + 0.6, failover
        time.sleep(1.5)  # the new master's delayed GARP burst (vrrp_garp_master_delay 1)
        lab.set_link(high.host, True)
        assert lab.wait_for(lambda: where(lab, vip) == [(high.host, VMAC_IF)], 15), high.node.log()
        time.sleep(0.3)
    finally:
        for side in (high, low):
            if side is not None:
                side.terminate()
        for side in (high, low):
            if side is not None:
                assert side.wait_exit() == 0, side.node.log()
    frames = cap.stop()

    # 2. on the wire: every advert and every GARP from the virtual MAC, from both daemons
    sources: dict[str, int] = {}
    for p in vrrp_packets(frames):
        if p.proto != 112:
            continue  # the capture has the NAs (ICMPv6) too
        kind = sources_of[str(p.src)]
        assert p.mac == (lab.mac(host_of[kind]) if xmit_base else vmac), (kind, p.mac.hex(":"))
        adv = codec.decode(p.payload, family=family, src=p.src, dst=p.dst)
        assert adv.vrid == VRID and adv.addresses == (ipaddress.ip_address(vip),), adv
        sources[kind] = sources.get(kind, 0) + 1
    assert sources.get("vipkeeper", 0) >= 3 and sources.get("keepalived", 0) >= 3, sources
    garps = [a for a in announcements(frames) if a[2] == vip]
    assert garps and all(g == (vmac, vmac, vip) for g in garps), garps
    # three times a new master: start, failover, preemption (each sends a burst at once)
    assert len(garps) >= 3, garps

    # 4. stopped: no macvlan left on the vipkeeper host, its base settings back
    assert VMAC_IF not in links(lab, "A")
    assert (sysctl(lab, "A", "net.ipv4.conf.eth0.arp_ignore"), sysctl(lab, "A", "net.ipv4.conf.eth0.arp_filter")) == (
        base_arp["A"]
    )
    if family == 4:
        assert sysctl(lab, "A", "net.ipv4.conf.all.rp_filter") == "1"
        assert sysctl(lab, "A", "net.ipv4.conf.eth0.rp_filter") == "0"
    assert where(lab, vip) == []
    sides = {high.kind: high, low.kind: low}  # type: ignore[union-attr]
    assert keepalived_complaints(sides["keepalived"], tmp_path) == [], sides["keepalived"].node.log()
    assert vipkeeper_complaints(sides["vipkeeper"], tmp_path) == [], sides["vipkeeper"].node.log()


def test_use_vmac_addr_puts_other_interfaces_vips_on_their_own_macvlans(make_lab, tmp_path: Path) -> None:
    """``use_vmac_addr`` (keepalived vrrp.c): the instance on eth0 without a macvlan of its own;
    its VIP with ``dev eth1`` goes on a macvlan on eth1 and its IPv6 eVIP on one on eth0, each
    announced from its macvlan's MAC; the VIP of eth0's family stays on eth0."""
    from lab.netns import Capture

    lab = make_lab(hosts=("A",))
    lab.run("A", "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    for ifname in ("eth1", "eth1p"):
        lab.run("A", "ip", "link", "set", ifname, "up")
    cap1 = Capture(lab, "A", lab.ns("A"), "eth1p", "arp", tmp_path / "eth1p.pcap")
    cap0 = lab.capture("observer", "arp or icmp6")
    conf = global_defs("vrrp_garp_master_delay 1") + vrrp_instance(
        "VI_A", state="MASTER", vrid=VRID, priority=HIGH, advert_int=ADVERT_INT, version=3,
        extra=["use_vmac_addr", ["virtual_ipaddress_excluded {", "    fd00:20::116", "}"]],
        vips=[VIPS[4], "10.9.0.5/24 dev eth1"],
    )  # fmt: skip
    vk = start(lab, tmp_path, "A", "vipkeeper", conf, HIGH)
    try:
        want = [("A", "eth0")]
        assert lab.wait_for(lambda: where(lab, VIPS[4]) == want, 15), vk.node.log()
        assert lab.wait_for(lambda: where(lab, "10.9.0.5") == [("A", "vrrp.51")], 5), vk.node.log()
        assert lab.wait_for(lambda: where(lab, "fd00:20::116") == [("A", "vrrp6.51")], 5), vk.node.log()
        have = links(lab, "A")
        assert have["vrrp.51"]["link"] == "eth1" and have["vrrp6.51"]["link"] == "eth0"
        assert have["vrrp.51"]["address"] == "00:00:5e:00:01:33" and have["vrrp6.51"]["address"] == "00:00:5e:00:02:33"
        time.sleep(0.5)
    finally:
        vk.terminate()
        assert vk.wait_exit() == 0, vk.node.log()
        on_eth1, on_eth0 = announcements(cap1.stop()), announcements(cap0.stop())
    assert ("vrrp.51" not in links(lab, "A")) and ("vrrp6.51" not in links(lab, "A"))
    eth0_mac = lab.mac("A")
    assert [a for a in on_eth1 if a[2] == "10.9.0.5"] and all(
        a == (VMACS[4], VMACS[4], "10.9.0.5") for a in on_eth1 if a[2] == "10.9.0.5"
    ), on_eth1
    nas = [a for a in on_eth0 if a[2] == "fd00:20::116"]
    assert nas and all(a == (VMACS[6], VMACS[6], "fd00:20::116") for a in nas), nas
    arps = [a for a in on_eth0 if a[2] == VIPS[4]]
    assert arps and all(a == (eth0_mac, eth0_mac, VIPS[4]) for a in arps), arps


def test_a_reload_moves_the_vip_to_the_renamed_macvlan(make_lab, tmp_path: Path) -> None:
    """A reload that renames the macvlan (``use_vmac vk51``): the old one is deleted with its
    sockets, the new one holds the VIP, and the daemon goes on (its control socket answers)."""
    from vipkeeper.daemon.control import request

    lab = make_lab(hosts=("A",), observer=False, ipv6=False)
    base = global_defs("vrrp_garp_master_delay 1") + "%s"
    inst = vrrp_instance(
        "VI_R", state="MASTER", vrid=VRID, priority=HIGH, advert_int=ADVERT_INT, version=3,
        extra=["use_vmac"], vips=[VIPS[4]],
    )  # fmt: skip
    vk = start(lab, tmp_path, "A", "vipkeeper", base % inst, HIGH)
    try:
        assert lab.wait_for(lambda: where(lab, VIPS[4]) == [("A", VMAC_IF)], 15), vk.node.log()
        vk.node.write_config(base % inst.replace("use_vmac", "use_vmac vk51"))
        assert request(vk.node.state_dir, "reload", timeout_s=15)["ok"], vk.node.log()
        assert lab.wait_for(lambda: where(lab, VIPS[4]) == [("A", "vk51")], 15), vk.node.log()
        assert VMAC_IF not in links(lab, "A")
        time.sleep(0.5)
        status = request(vk.node.state_dir, "status", timeout_s=5)["status"]
        assert [i["state"] for i in status["instances"]] == ["MASTER"], status
    finally:
        vk.terminate()
        assert vk.wait_exit() == 0, vk.node.log()
    assert "vk51" not in links(lab, "A")
    assert vipkeeper_complaints(vk, tmp_path) == [], vk.node.log()
