"""Probe: is a host reachable? UDP, IPv4 or IPv6.

udp_probe.py listen PORT [--timeout S]   {"ready": true} then {"got": "text" | null}
udp_probe.py send IP PORT [--repeat N]   {"sent": n}
"""

from __future__ import annotations

import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=("listen", "send"))
ap.add_argument("a")
ap.add_argument("b", nargs="?")
ap.add_argument("--timeout", type=float, default=2.0)
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()
if args.mode == "listen":
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(args.a)))
    s.settimeout(args.timeout)
    print(json.dumps({"ready": True}), flush=True)
    try:
        data = s.recv(2048).decode()
    except TimeoutError:
        data = None
    print(json.dumps({"got": data}), flush=True)
else:
    fam = socket.AF_INET6 if ":" in args.a else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    n = 0
    for _ in range(args.repeat):
        n += s.sendto(b"hello", (args.a, int(args.b))) > 0
        time.sleep(0.05)
    print(json.dumps({"sent": n}), flush=True)
