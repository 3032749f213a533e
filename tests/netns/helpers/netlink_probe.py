"""Probe: vipkeeper.io.netlink inside a lab namespace. Prints JSON lines.

netlink_probe.py link IFNAME                     {"link": {...} | null}
netlink_probe.py addrs IFNAME [--family F]       {"addrs": ["172.20.0.112/24", ...]}
netlink_probe.py primary IFNAME --family F       {"primary": "..." | null}
netlink_probe.py add IFNAME ADDR [--bind-check]  {"result": bool, "bind_ok": bool | null}
netlink_probe.py del IFNAME ADDR                 {"result": bool}
netlink_probe.py events --ready-on IFNAME [--timeout S] [--close-after S]
    {"event": {...}} per LinkEvent (snapshot first), {"ready": true} once IFNAME's
    snapshot event is out; runs until killed, timeout, or Netlink.close() after S s
    (the iterator must then end by itself); finally {"done": true, ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import json
import socket
import sys

from vipkeeper.io.netlink import Netlink


def out(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def bind_check(addr: str) -> bool:
    ip = addr.split("/")[0]
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:  # tentative (DAD running) or absent
                return False
            raise
    return True


async def main(args: argparse.Namespace) -> None:
    async with Netlink() as nl:
        if args.cmd == "events":

            async def consume() -> None:
                async for ev in nl.link_events(snapshot=True):
                    out({"event": dataclasses.asdict(ev)})
                    if ev.ifname == args.ready_on and not consume.ready:
                        consume.ready = True
                        out({"ready": True})

            consume.ready = False
            if args.close_after is not None:
                asyncio.get_running_loop().call_later(args.close_after, nl.close)
            try:
                await asyncio.wait_for(consume(), args.timeout)
            except TimeoutError:
                pass
            out({"done": True, "monitor_errors": nl.monitor_errors, "malformed": nl.malformed})
            return
        link = await nl.link_by_name(args.ifname)
        if args.cmd == "link":
            out({"link": None if link is None else {**dataclasses.asdict(link), "mac": link.mac.hex()}})
            return
        assert link is not None, f"no link {args.ifname}"
        if args.cmd == "addrs":
            out({"addrs": [str(a) for a in await nl.addresses(link.ifindex, args.family)]})
        elif args.cmd == "primary":
            p = await nl.primary_address(link.ifindex, args.family)
            out({"primary": None if p is None else str(p)})
        elif args.cmd == "add":
            result = await nl.add_address(link.ifindex, args.addr)
            out({"result": result, "bind_ok": bind_check(args.addr) if args.bind_check else None})
        elif args.cmd == "del":
            out({"result": await nl.del_address(link.ifindex, args.addr)})


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=("link", "addrs", "primary", "add", "del", "events"))
    ap.add_argument("ifname", nargs="?", default="eth0")
    ap.add_argument("addr", nargs="?")
    ap.add_argument("--family", type=int, default=None)
    ap.add_argument("--bind-check", action="store_true")
    ap.add_argument("--ready-on", default="eth0")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--close-after", type=float, default=None)
    sys.exit(asyncio.run(main(ap.parse_args())))
