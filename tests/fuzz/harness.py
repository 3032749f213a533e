"""A real :class:`vipkeeper.daemon.Daemon` with fake sockets, to drive its receive path.

``Daemon._on_packet`` is what a ``VrrpSocket`` calls for every packet it got.  Here the
daemon is built as ``Daemon._add_instance`` builds it, minus netlink and sockets: sends are
recorded, VIP actions stay queued.  Used by the hypothesis tests (tests/unit) and the
atheris targets (tests/fuzz), so both fuzz the same thing.

Every packet must end up in exactly one counter (:func:`accounted`): the daemon's
``unknown_vrid``, its rt-less ``decode_errors["too_short"]``, or one instance's
``counters.drops[reason]`` / ``counters.adverts_received``.
"""

from __future__ import annotations

import random
import tempfile
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path

from vipkeeper.config.load import parse_string
from vipkeeper.core import codec
from vipkeeper.core.checksum import internet_checksum, pseudo_header_v4, pseudo_header_v6
from vipkeeper.core.events import LinkChanged, Start, TrackingChanged
from vipkeeper.core.instance import VrrpRouter
from vipkeeper.core.params import from_config
from vipkeeper.daemon import Daemon, InstanceRuntime, _now_us
from vipkeeper.io.netlink import LinkInfo
from vipkeeper.io.vrrp_socket import ReceivedPacket

IFINDEX = 2
SRC4 = IPv4Address("10.0.0.1")      # ours
PEER4 = IPv4Address("10.0.0.2")     # VU's unicast peer
SRC6 = IPv6Address("fe80::1")
GROUP4 = IPv4Address("224.0.0.18")
GROUP6 = IPv6Address("ff02::12")
PASSWORD = b"secret1"

CONF = """
vrrp_instance V2 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    version 2
    authentication {
        auth_type PASS
        auth_pass secret1
    }
    virtual_ipaddress {
        10.0.0.51
    }
}
vrrp_instance V3 {
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 0.1
    version 3
    virtual_ipaddress {
        10.0.0.52
        10.0.0.53
    }
}
vrrp_instance VU {
    state MASTER
    interface eth0
    virtual_router_id 53
    priority 100
    advert_int 0.1
    version 3
    unicast_src_ip 10.0.0.1
    unicast_peer {
        10.0.0.2
    }
    check_unicast_src
    virtual_ipaddress {
        10.0.0.54
    }
}
vrrp_instance V6 {
    state BACKUP
    interface eth0
    virtual_router_id 54
    priority 100
    advert_int 0.1
    version 3
    virtual_ipaddress {
        fd00::54
    }
}
"""

_CONFIG = None


def config():
    global _CONFIG
    if _CONFIG is None:
        cfg, diags = parse_string(CONF, path="harness.conf", config_id="h")
        errors = [str(d) for d in diags if d.is_error]
        assert not errors, errors
        _CONFIG = cfg
    return _CONFIG


class FakeSock:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, object, object]] = []

    def send(self, payload: bytes, dst: object, src: object = None) -> bool:
        if len(self.sent) < 1000:
            self.sent.append((payload, dst, src))
        return True


class FakeL2:
    def send(self, frame: bytes) -> bool:
        return True


_STATE_DIR = Path(tempfile.gettempdir()) / "vipkeeper-fuzz-harness"


def build_daemon(masters: frozenset[str] = frozenset({"V2", "VU"})) -> Daemon:
    """A daemon with instances V2 (v2 PASS multicast), V3 (v3 multicast), VU (v3 unicast,
    check_unicast_src), V6 (v3 IPv6); those in ``masters`` are made MASTER."""
    cfg = config()
    d = Daemon(cfg, state_dir=_STATE_DIR)
    link = LinkInfo(ifindex=IFINDEX, ifname="eth0", mac=b"\x02\x00\x00\x00\x00\x01", up=True, mtu=1500)
    sock = FakeSock()
    now = _now_us()
    for inst in cfg.instances:
        src = SRC4 if inst.family == 4 else SRC6
        router = VrrpRouter(from_config(inst))
        router.src_addr = src
        rt = InstanceRuntime(inst, router, link, sock, FakeL2(), src, d._destinations(inst))  # type: ignore[arg-type]
        rt.csum = d._checksum_mode(inst)
        d.instances[inst.name] = rt
        d._by_key[(IFINDEX, inst.family, inst.vrid)] = rt
        d._feed(rt, LinkChanged(up=True), now)
        d._feed(rt, TrackingChanged(offset=0), now)
        d._feed(rt, Start(), now)
        if inst.name in masters:
            deadline = rt.router.next_deadline()
            assert deadline is not None
            d._apply(rt, rt.router.on_timer(deadline))
            d._schedule(rt)
    return d


def accounted(d: Daemon) -> int:
    """Every packet handed to ``_on_packet`` so far, by the counters that counted it."""
    total = d.unknown_vrid + d.decode_errors.get("too_short", 0)
    for rt in d.instances.values():
        c = rt.router.counters
        total += sum(c.drops.values()) + c.adverts_received
    return total


def snapshot(d: Daemon) -> dict[str, tuple]:
    """What a dropped packet must not change."""
    return {
        name: (rt.router.state, rt.router.next_deadline(), rt.router.master_addr, rt.router.master_priority,
               rt.router.effective_priority, rt.router.master_adver_int_cs, rt.actions.qsize())
        for name, rt in d.instances.items()
    }


def received(d: Daemon) -> int:
    return sum(rt.router.counters.adverts_received for rt in d.instances.values())


# ---------------------------------------------------------------- packets


def valid_advert(d: Daemon, name: str, *, priority: int = 200, password: bytes | None = None,
                 src: object = None, dst: object = None) -> ReceivedPacket:
    """A packet instance ``name`` accepts (unless a keyword says otherwise), TTL 255."""
    rt = d.instances[name]
    cfg = rt.cfg
    fam = cfg.family
    if src is None:
        src = PEER4 if fam == 4 else IPv6Address("fe80::2")
    if dst is None:
        dst = rt.dsts[0] if not cfg.unicast else SRC4
    src, dst = ip_address(src), ip_address(dst)
    auth_type, auth_data = rt.router.p.auth_type, rt.router.p.auth_data
    if password is not None:
        auth_data = codec.pass_auth_data(password)
    adv = codec.Advertisement(cfg.version, cfg.vrid, priority, rt.router.p.vips, cfg.advert_int_cs,
                              auth_type, auth_data)
    wire = codec.encode(adv, family=fam, src=src, dst=dst)
    return ReceivedPacket(fam, src, dst, 255, IFINDEX, wire)


def packet_from_bytes(data: bytes) -> ReceivedPacket:
    """Map arbitrary bytes onto a received packet: the first bytes choose the IP facts (so the
    fuzzer can reach instances, peers, groups and TTLs), the rest is the VRRP payload; when the
    payload looks like an advert, its checksum is made right half of the time, so the fuzzer
    gets past the checksum to the per-instance checks."""
    if len(data) < 4:
        data = data.ljust(4, b"\0")
    sel, ttl_sel, addr_sel, fix = data[0], data[1], data[2], data[3]
    payload = bytearray(data[4:])
    family = 6 if sel & 1 else 4
    ttl = 255 if ttl_sel < 200 else ttl_sel
    if family == 4:
        srcs = (PEER4, SRC4, IPv4Address("10.0.0.66"), IPv4Address("0.0.0.0"))
        dsts = (GROUP4, SRC4, IPv4Address("10.0.0.99"), IPv4Address("255.255.255.255"))
    else:
        srcs = (IPv6Address("fe80::2"), SRC6, IPv6Address("2001:db8::66"), IPv6Address("::"))
        dsts = (GROUP6, SRC6, IPv6Address("ff02::1"), IPv6Address("2001:db8::99"))
    src, dst = srcs[addr_sel & 3], dsts[(addr_sel >> 2) & 3]
    if fix & 1 and len(payload) >= 8:
        payload[6:8] = b"\0\0"
        prefix = b""
        if payload[0] >> 4 == 3:
            if family == 6:
                prefix = pseudo_header_v6(src, dst, 112, len(payload))
            else:
                prefix = pseudo_header_v4(src, dst, 112, len(payload))
        csum = internet_checksum(prefix + bytes(payload))
        payload[6:8] = csum.to_bytes(2, "big")
    return ReceivedPacket(family, src, dst, ttl, IFINDEX, bytes(payload))


def random_packet(rng: random.Random, d: Daemon) -> ReceivedPacket:
    """For smoke runs without a fuzzer: valid adverts, mutated adverts, junk."""
    kind = rng.randrange(3)
    if kind == 0:
        return packet_from_bytes(rng.randbytes(rng.randrange(0, 60)))
    name = rng.choice(sorted(d.instances))
    pkt = valid_advert(d, name, priority=rng.randrange(256))
    if kind == 1:
        return pkt
    payload = bytearray(pkt.payload)
    i = rng.randrange(len(payload))
    payload[i] ^= rng.randrange(1, 256)
    return ReceivedPacket(pkt.family, pkt.src, pkt.dst, rng.choice((255, 254, 64, 1)), pkt.ifindex, bytes(payload))
