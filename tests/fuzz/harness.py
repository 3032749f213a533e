"""A real :class:`vipkeeper.core.node.VrrpNode`, built from a config, to drive its receive path.

``VrrpNode.receive`` is what the daemon calls for every packet a raw VRRP socket got; the
node is built as the daemon builds it (``config.to_params``), without root, sockets or
netlink.  Used by the hypothesis tests (tests/unit) and the atheris targets (tests/fuzz), so
both fuzz the same thing.

Every packet must end up in exactly one counter (``VrrpNode.accounted``): the node's
``unknown_vrid``, its instance-less ``decode_errors["too_short"]``, or one router's
``counters.drops[reason]`` / ``counters.adverts_received``.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address, ip_address

from vipkeeper.config.load import parse_string
from vipkeeper.config.model import VrrpInstance
from vipkeeper.config.to_params import router_params, sync_groups
from vipkeeper.core import codec
from vipkeeper.core.checksum import internet_checksum, pseudo_header_v4, pseudo_header_v6
from vipkeeper.core.events import AdvertDropped, Effect, Received, TrackingChanged
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink
from vipkeeper.core.router import VrrpRouter

IFINDEX = 2
SRC4 = IPv4Address("10.0.0.1")  # ours
PEER4 = IPv4Address("10.0.0.2")  # VU's unicast peer
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


MAC = b"\x02\x00\x00\x00\x00\x01"
T0_US = 1_000_000_000  # the fake clock's start


class Harness:
    """One host's node with the harness config's instances, on a fake clock."""

    def __init__(self, masters: frozenset[str]) -> None:
        cfg = config()
        self.cfgs: dict[str, VrrpInstance] = {i.name: i for i in cfg.instances}
        self.node = VrrpNode()
        self.node.set_sync_groups(sync_groups(cfg))
        self.now_us = T0_US
        for inst in cfg.instances:
            src = SRC4 if inst.family == 4 else SRC6
            self.node.add_router(router_params(inst, cfg.global_defs), RouterLink(IFINDEX, src, MAC))
            self.node.set_tracking(inst.name, TrackingChanged(offset=0), self.now_us)
        self.node.start(self.now_us)
        for name in sorted(masters):  # let their down timers run out, one by one
            deadline = self.router(name).next_deadline()
            assert deadline is not None
            self.now_us = max(self.now_us, deadline)
            self.node.on_timer(self.now_us)
            assert self.router(name).state.value == "MASTER", name

    def router(self, name: str) -> VrrpRouter:
        return self.node.router(name)

    def receive(self, pkt: Received) -> list[Effect]:
        return self.node.receive(pkt, self.now_us)


def build(masters: frozenset[str] = frozenset({"V2", "VU"})) -> Harness:
    """A node with instances V2 (v2 PASS multicast), V3 (v3 multicast), VU (v3 unicast,
    check_unicast_src), V6 (v3 IPv6); those in ``masters`` are made MASTER."""
    return Harness(masters)


def snapshot(h: Harness) -> dict[str, tuple]:
    """What a dropped packet must not change."""
    return {
        name: (
            r.state,
            r.next_deadline(),
            r.master_addr,
            r.master_priority,
            r.effective_priority,
            r.master_adver_int_cs,
        )
        for name, r in ((n, h.router(n)) for n in h.cfgs)
    }


def received(h: Harness) -> int:
    return sum(h.router(n).counters.adverts_received for n in h.cfgs)


def only_drops(effects: list[Effect]) -> bool:
    """A dropped packet's only effect is the drop itself (a log line): nothing sent, no VIP moved."""
    return all(isinstance(e, AdvertDropped) for e in effects)


# ---------------------------------------------------------------- packets


def valid_advert(
    h: Harness, name: str, *, priority: int = 200, password: bytes | None = None, src: object = None, dst: object = None
) -> Received:
    """A packet instance ``name`` accepts (unless a keyword says otherwise), TTL 255."""
    cfg = h.cfgs[name]
    p = h.router(name).params
    fam = cfg.family
    if src is None:
        src = PEER4 if fam == 4 else IPv6Address("fe80::2")
    if dst is None:
        dst = p.destinations[0] if not cfg.unicast else SRC4
    src, dst = ip_address(src), ip_address(dst)
    auth_type, auth_data = p.auth_type, p.auth_data
    if password is not None:
        auth_data = codec.pass_auth_data(password)
    adv = codec.Advertisement(cfg.version, cfg.vrid, priority, p.vips, cfg.advert_int_cs, auth_type, auth_data)
    wire = codec.encode(adv, family=fam, src=src, dst=dst)
    return Received(fam, src, dst, 255, IFINDEX, wire)


def packet_from_bytes(data: bytes) -> Received:
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
    return Received(family, src, dst, ttl, IFINDEX, bytes(payload))


def random_packet(rng: random.Random, h: Harness) -> Received:
    """For smoke runs without a fuzzer: valid adverts, mutated adverts, junk."""
    kind = rng.randrange(3)
    if kind == 0:
        return packet_from_bytes(rng.randbytes(rng.randrange(0, 60)))
    name = rng.choice(sorted(h.cfgs))
    pkt = valid_advert(h, name, priority=rng.randrange(256))
    if kind == 1:
        return pkt
    payload = bytearray(pkt.payload)
    i = rng.randrange(len(payload))
    payload[i] ^= rng.randrange(1, 256)
    return Received(pkt.family, pkt.src, pkt.dst, rng.choice((255, 254, 64, 1)), pkt.ifindex, bytes(payload))
