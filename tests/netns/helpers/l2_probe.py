"""Probe: L2Sender inside a lab namespace.

l2_probe.py IFNAME HEXFRAME [--repeat N]   ->  {"results": [...], "sent": n, "send_errors": n, "errno": e}
"""

from __future__ import annotations

import argparse
import json
import time

from vipkeeper.io.l2_socket import L2Sender

ap = argparse.ArgumentParser()
ap.add_argument("ifname")
ap.add_argument("frame")
ap.add_argument("--repeat", type=int, default=1)
args = ap.parse_args()
with L2Sender(ifname=args.ifname) as l2:
    results = []
    for _ in range(args.repeat):
        results.append(l2.send(bytes.fromhex(args.frame)))
        time.sleep(0.02)
    print(
        json.dumps(
            {
                "results": results,
                "sent": l2.sent,
                "send_errors": l2.send_errors,
                "errno": l2.last_send_errno,
                "ifindex": l2.ifindex,
            }
        ),
        flush=True,
    )
