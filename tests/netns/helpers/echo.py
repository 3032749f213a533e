"""Traffic to a VIP: a UDP echo server and a pinger that measures gaps.

echo.py serve PORT
echo.py ping IP PORT --rate R --seconds S  -> {"sent": n, "received": m, "max_gap_s": g}
"""

from __future__ import annotations

import argparse
import json
import socket
import time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=("serve", "ping"))
ap.add_argument("a")
ap.add_argument("b", nargs="?")
ap.add_argument("--rate", type=float, default=100)
ap.add_argument("--seconds", type=float, default=5)
args = ap.parse_args()
if args.mode == "serve":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(args.a)))
    print(json.dumps({"ready": True}), flush=True)
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0)
    dst = (args.a, int(args.b))
    period = 1.0 / args.rate
    end = time.monotonic() + args.seconds
    sent = received = 0
    last_reply = None
    max_gap = 0.0
    nxt = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= nxt:
            s.sendto(str(sent).encode(), dst)
            sent += 1
            nxt += period
        try:
            while True:
                s.recv(2048)
                received += 1
                t = time.monotonic()
                if last_reply is not None:
                    max_gap = max(max_gap, t - last_reply)
                last_reply = t
        except BlockingIOError:
            pass
        time.sleep(min(period / 4, 0.002))
    print(json.dumps({"sent": sent, "received": received, "max_gap_s": round(max_gap, 4)}), flush=True)
