"""vipkeeper.io.netlink: against a real kernel in a lab namespace, and the monitor loop with a fake."""

from __future__ import annotations

import asyncio

import pytest

from tests.netns.helpers import run_json, start
from vipkeeper.io import linuxconst as lc
from vipkeeper.io.netlink import LinkEvent, LinkInfo, Netlink, parse_link_message

pytestmark = pytest.mark.netns


def test_link_by_name(lab):
    got = run_json(lab, "A", "netlink_probe.py", "link", "eth0")["link"]
    ref = lab.link("A")
    assert got == {"ifindex": ref["ifindex"], "ifname": "eth0", "mac": lab.mac("A").hex(), "up": True, "mtu": 1500}
    assert run_json(lab, "A", "netlink_probe.py", "link", "nope0")["link"] is None
    lab.set_link("A", False)
    assert run_json(lab, "A", "netlink_probe.py", "link", "eth0")["link"]["up"] is False


def test_addresses_and_primary(lab):
    lab.run("A", "ip", "addr", "add", "172.20.0.121/24", "dev", "eth0")  # a secondary
    addrs = run_json(lab, "A", "netlink_probe.py", "addrs", "eth0")["addrs"]
    ll = next(a for a in lab.addresses("A") if a.startswith("fe80:"))
    assert set(addrs) == {"172.20.0.112/24", "172.20.0.121/24", "fd00:20::112/64", f"{ll}/64"}
    assert run_json(lab, "A", "netlink_probe.py", "addrs", "eth0", "--family", "4")["addrs"] == [
        "172.20.0.112/24",
        "172.20.0.121/24",
    ]
    assert run_json(lab, "A", "netlink_probe.py", "primary", "eth0", "--family", "4")["primary"] == "172.20.0.112"
    assert run_json(lab, "A", "netlink_probe.py", "primary", "eth0", "--family", "6")["primary"] == ll


def test_add_and_delete_vip_idempotent(lab):
    vip = "172.20.0.115/32"
    assert run_json(lab, "A", "netlink_probe.py", "add", "eth0", vip)["result"] is True
    assert "172.20.0.115" in lab.addresses("A")
    assert lab.holders("172.20.0.115") == ["A"]
    assert run_json(lab, "A", "netlink_probe.py", "add", "eth0", vip)["result"] is False
    assert run_json(lab, "A", "netlink_probe.py", "del", "eth0", vip)["result"] is True
    assert "172.20.0.115" not in lab.addresses("A")
    assert run_json(lab, "A", "netlink_probe.py", "del", "eth0", vip)["result"] is False


def test_ipv6_vip_nodad_is_usable_at_once(lab):
    # the lab turns DAD off; turn it on for eth0 so NODAD has something to prove
    lab.run("A", "sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=1")
    lab.run("A", "ip", "addr", "add", "fd00:20::116/128", "dev", "eth0")  # control, with DAD
    assert lab.address_flags("A", "fd00:20::116").get("tentative") is True
    got = run_json(lab, "A", "netlink_probe.py", "add", "eth0", "fd00:20::115/128", "--bind-check")
    assert got == {"result": True, "bind_ok": True}
    flags = lab.address_flags("A", "fd00:20::115")
    assert flags.get("nodad") is True and not flags.get("tentative")
    assert run_json(lab, "A", "netlink_probe.py", "add", "eth0", "fd00:20::115/128")["result"] is False
    assert run_json(lab, "A", "netlink_probe.py", "del", "eth0", "fd00:20::115/128")["result"] is True
    assert run_json(lab, "A", "netlink_probe.py", "del", "eth0", "fd00:20::115/128")["result"] is False


def test_link_events_down_then_up(lab):
    ev = start(lab, "A", "netlink_probe.py", "events", "--ready-on", "eth0", "--timeout", "20")
    assert ev.key("ready", 10) is True
    snap = [o["event"] for o in ev.lines if isinstance(o, dict) and "event" in o]
    assert {"ifindex": lab.link("A")["ifindex"], "ifname": "eth0", "up": True, "deleted": False} in snap
    lab.set_link("A", False)
    down = ev.expect(lambda o: isinstance(o, dict) and o.get("event", {}).get("ifname") == "eth0", 5)
    assert down["event"]["up"] is False
    lab.set_link("A", True)
    up = ev.expect(lambda o: isinstance(o, dict) and o.get("event", {}).get("ifname") == "eth0", 5)
    assert up["event"]["up"] is True
    # a partition on the switch side is not a link change for the host
    lab.detach("A")
    lab.run("A", "ip", "link", "add", "vk0", "type", "veth", "peer", "name", "vk1")  # a marker event
    nxt = ev.expect(lambda o: isinstance(o, dict) and "event" in o, 5)
    assert nxt["event"]["ifname"] in ("vk0", "vk1"), nxt


def test_link_events_end_when_netlink_closes(lab):
    ev = start(lab, "A", "netlink_probe.py", "events", "--timeout", "30", "--close-after", "0.5")
    assert ev.key("ready", 10) is True
    done = ev.expect(lambda o: isinstance(o, dict) and "done" in o, 5)  # well before the timeout
    assert done["monitor_errors"] == 0 and done["malformed"] == 0
    assert ev.proc.wait(5) == 0


# ---------------------------------------------------------------- no namespace needed


def test_parse_link_message():
    msg = {
        "header": {"type": lc.RTM_NEWLINK},
        "family": 0,
        "index": 3,
        "ifname": "eth0",
        "flags": lc.IFF_UP | lc.IFF_RUNNING,
    }
    assert parse_link_message(msg) == LinkEvent(3, "eth0", True)
    assert parse_link_message({**msg, "flags": lc.IFF_UP}) == LinkEvent(3, "eth0", False)
    assert parse_link_message({**msg, "header": {"type": lc.RTM_DELLINK}}) == LinkEvent(3, "eth0", False, True)
    assert parse_link_message({**msg, "family": 7}) is None  # AF_BRIDGE port message
    assert parse_link_message({**msg, "header": {"type": 20}}) is None
    with pytest.raises(KeyError):
        parse_link_message({"header": {"type": lc.RTM_NEWLINK}})


class FakeMonitor:
    """Stands in for an RtnlMonitor: plays batches; an Exception instance is raised."""

    def __init__(self, script):
        self.script = script
        self.closed = False

    async def get(self):
        if not self.script:
            await asyncio.sleep(3600)
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        for msg in item:
            yield msg

    def close(self):
        self.closed = True


def test_link_events_survive_garbage_and_socket_errors():
    def newlink(index, flags, name="eth0"):
        return {"header": {"type": lc.RTM_NEWLINK}, "family": 0, "index": index, "ifname": name, "flags": flags}

    up = lc.IFF_UP | lc.IFF_RUNNING
    monitors = [
        FakeMonitor(
            [
                [{}, {"header": {}}, newlink(2, up)],  # garbage, then eth0 up
                [newlink(2, up)],  # no change: no event
                OSError(105, "No buffer space available"),
            ]
        ),  # ENOBUFS: reopen + resync
        FakeMonitor([[newlink(2, up)]]),
    ]
    opened = []

    async def main():
        nl = Netlink()

        async def open_monitor(groups):
            assert groups == lc.RTMGRP_LINK
            mon = monitors.pop(0)
            opened.append(mon)
            return mon

        async def links():  # the resync after reopening: eth0 went down meanwhile
            return [LinkInfo(2, "eth0", b"", False, 1500)]

        nl._open_monitor = open_monitor
        nl.links = links
        events = []
        async for ev in nl.link_events():
            events.append(ev)
            if len(events) == 3:
                break
        return nl, events

    nl, events = asyncio.run(main())
    assert events == [LinkEvent(2, "eth0", True), LinkEvent(2, "eth0", False), LinkEvent(2, "eth0", True)]
    assert nl.malformed == 2
    assert nl.monitor_errors == 1
    assert all(m.closed for m in opened)
