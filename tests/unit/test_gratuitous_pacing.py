"""``garp_interval`` / ``gna_interval`` (and the global ``vrrp_garp_interval`` /
``vrrp_gna_interval``) as keepalived applies them (vrrp_arp.c send_gratuitous_arp,
vrrp_ndisc.c): the spacing of every gratuitous ARP / unsolicited NA on an interface,
ARPs and NAs each on their own, across instances; not only the spacing of the rounds."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv6Address

from vipkeeper.core.events import Gratuitous
from vipkeeper.core.frames import gratuitous_arp, unsolicited_na
from vipkeeper.daemon.effects import GratuitousPacer, VipActions

MAC = bytes.fromhex("020000000001")
ARP1, ARP2 = gratuitous_arp(MAC, IPv4Address("10.0.0.5")), gratuitous_arp(MAC, IPv4Address("10.0.0.6"))
NA1 = unsolicited_na(MAC, IPv6Address("fd00::5"))


class FakeL2:
    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []

    def send(self, frame: bytes) -> bool:
        self.sent.append((asyncio.get_running_loop().time(), frame))
        return True


def actions(name: str, l2: FakeL2, pacer: GratuitousPacer | None, garp_s: float, gna_s: float) -> VipActions:
    v = VipActions(name, (), 2, "eth0", netlink=None, l2=l2, is_master=lambda n: True)  # type: ignore[arg-type]
    v.pacer, v.garp_interval_s, v.gna_interval_s = pacer, garp_s, gna_s
    return v


def gaps(sent: list[tuple[float, bytes]], kind: set[bytes]) -> list[float]:
    times = [t for t, f in sent if f in kind]
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_every_packet_is_spaced_arps_and_nas_apart() -> None:
    l2 = FakeL2()

    async def main() -> None:
        v = actions("VI_1", l2, GratuitousPacer(), 0.05, 0.02)
        await v._gratuitous(Gratuitous("VI_1", 2, (ARP1, ARP2, NA1), 2, 50_000))

    asyncio.run(main())
    assert [f for _, f in l2.sent] == [ARP1, ARP2, NA1, ARP1, ARP2, NA1]  # every repeat is sent
    assert all(g >= 0.049 for g in gaps(l2.sent, {ARP1, ARP2})), gaps(l2.sent, {ARP1, ARP2})
    assert len(gaps(l2.sent, {ARP1, ARP2})) == 3
    assert gaps(l2.sent, {NA1})[0] >= 0.019


def test_two_instances_on_one_interface_share_the_spacing() -> None:
    l2 = FakeL2()

    async def main() -> None:
        pacer = GratuitousPacer()
        a, b = actions("VI_1", l2, pacer, 0.03, 0), actions("VI_2", l2, pacer, 0.03, 0)
        await asyncio.gather(
            a._gratuitous(Gratuitous("VI_1", 2, (ARP1,), 3, 30_000)),
            b._gratuitous(Gratuitous("VI_2", 2, (ARP2,), 3, 30_000)),
        )

    asyncio.run(main())
    assert len(l2.sent) == 6
    assert all(g >= 0.029 for g in gaps(l2.sent, {ARP1, ARP2})), gaps(l2.sent, {ARP1, ARP2})


def test_without_an_interval_a_round_goes_out_at_once() -> None:
    l2 = FakeL2()

    async def main() -> None:
        await actions("VI_1", l2, GratuitousPacer(), 0, 0)._gratuitous(Gratuitous("VI_1", 2, (ARP1, ARP2), 1))

    asyncio.run(main())
    assert [f for _, f in l2.sent] == [ARP1, ARP2]
