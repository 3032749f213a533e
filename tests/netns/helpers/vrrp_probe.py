"""Probe: VrrpSocket send/receive inside a lab namespace. Prints JSON lines.

vrrp_probe.py recv --family 4 --ifname eth0 [--join G ...] [--count N] [--timeout S] [--raise-first]
    {"ready": ...}, then {"pkt": {...}} per packet, then {"done": ..., "counters": {...}}
vrrp_probe.py send --family 4 --ifname eth0 --dst D [--src S] --payload HEX [--repeat N]
                   [--interval S] [--no-kernel-checksum]
    {"results": [bool, ...], "counters": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys

from vipkeeper.core.constants import IPPROTO_VRRP
from vipkeeper.core.events import Received
from vipkeeper.io.vrrp_socket import VrrpSocket


def out(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def counters(sock: VrrpSocket) -> dict:
    return {
        "sent": sock.sent,
        "received": sock.received,
        "send_errors": sock.send_errors,
        "recv_errors": sock.recv_errors,
        "callback_errors": sock.callback_errors,
        "last_send_errno": sock.last_send_errno,
        "ip_errors": sock.ip_errors,
    }


async def recv(args: argparse.Namespace) -> None:
    got: list[Received] = []
    done = asyncio.Event()
    raised = [False]

    def on_packet(pkt: Received) -> None:
        if args.raise_first and not raised[0]:
            raised[0] = True
            raise RuntimeError("callback failure on purpose")
        got.append(pkt)
        out(
            {
                "pkt": {
                    "family": pkt.family,
                    "src": str(pkt.src),
                    "dst": str(pkt.dst),
                    "ttl": pkt.ttl,
                    "ifindex": pkt.ifindex,
                    "payload": pkt.payload.hex(),
                    "types": [type(pkt.src).__name__, type(pkt.dst).__name__],
                }
            }
        )
        if len(got) >= args.count:
            done.set()

    sock = VrrpSocket(
        family=args.family, ifname=args.ifname, ifindex=socket.if_nametoindex(args.ifname), on_packet=on_packet
    )
    sock.open()
    joined = [sock.join(g) for g in args.join]
    out({"ready": True, "joined": joined, "ifindex": sock.ifindex})
    try:
        await asyncio.wait_for(done.wait(), args.timeout)
    except TimeoutError:
        pass
    out({"done": len(got), "counters": counters(sock)})
    sock.close()


async def send(args: argparse.Namespace) -> None:
    payload = bytes.fromhex(args.payload)
    results = []
    if args.no_kernel_checksum:  # a plain raw socket: the payload goes out as given
        af = socket.AF_INET if args.family == 4 else socket.AF_INET6
        raw = socket.socket(af, socket.SOCK_RAW, IPPROTO_VRRP)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.ifname.encode())
        if args.family == 6:
            raw.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
            dst = (args.dst, 0, 0, socket.if_nametoindex(args.ifname))
        else:
            raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
            dst = (args.dst, 0)
        for _ in range(args.repeat):
            results.append(raw.sendto(payload, dst) == len(payload))
            await asyncio.sleep(args.interval)
        raw.close()
        out({"results": results})
        return
    sock = VrrpSocket(
        family=args.family, ifname=args.ifname, ifindex=socket.if_nametoindex(args.ifname), on_packet=lambda p: None
    )
    sock.open()
    for _ in range(args.repeat):
        results.append(sock.send(payload, args.dst, args.src))
        await asyncio.sleep(args.interval)
    out({"results": results, "counters": counters(sock)})
    sock.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("recv", "send"))
    ap.add_argument("--family", type=int, default=4)
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--join", action="append", default=[])
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--raise-first", action="store_true")
    ap.add_argument("--dst")
    ap.add_argument("--src")
    ap.add_argument("--payload", default="")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--no-kernel-checksum", action="store_true")
    args = ap.parse_args()
    asyncio.run(recv(args) if args.mode == "recv" else send(args))


if __name__ == "__main__":
    sys.exit(main())
