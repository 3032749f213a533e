"""Send prebuilt Ethernet frames from a lab host at a steady rate, bounded in count and time.

  flood.py --plan PLAN.json --ifname eth0 --rate 12000 --seconds 10 [--max-packets N]

PLAN.json is ``{"kinds": [{"name": "bad_ttl", "frames": ["<hex>", ...]}, ...]}``.  Kinds are
sent in turn (kind ``i % K`` for packet ``i``; a kind with several frames cycles through them),
so every kind gets the same share.  One AF_PACKET socket: the frames go out exactly as built,
no local IP stack in between.  Stops at ``--seconds`` or ``--max-packets``, whichever comes
first; prints one JSON line::

    {"sent": {"bad_ttl": n, ...}, "send_errors": {"<errno>": n}, "elapsed_s": s, "rate_pps": r}

A frame counts as sent when ``send()`` accepted it; a refused one (ENOBUFS...) as an error.
"""

from __future__ import annotations

import argparse
import errno
import json
import socket
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", required=True)
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--rate", type=float, required=True, help="packets per second")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--max-packets", type=int, default=1_000_000)
    args = ap.parse_args()
    with open(args.plan) as f:
        plan = json.load(f)
    kinds = [(k["name"], [bytes.fromhex(x) for x in k["frames"]]) for k in plan["kinds"]]
    names = [name for name, _ in kinds]
    sent = dict.fromkeys(names, 0)
    errors: dict[str, int] = {}
    limit = min(args.max_packets, int(args.rate * args.seconds) + 1)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind((args.ifname, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    send = sock.send
    k = len(kinds)
    print(json.dumps({"ready": True, "kinds": names}), flush=True)
    t0 = time.monotonic()
    n = 0
    elapsed = 0.0
    while n < limit:
        elapsed = time.monotonic() - t0
        if elapsed >= args.seconds:
            break
        due = min(limit, int(elapsed * args.rate) + 1)
        if n >= due:
            time.sleep(0.0005)
            continue
        while n < due:
            name, frames = kinds[n % k]
            try:
                send(frames[(n // k) % len(frames)])
                sent[name] += 1
            except OSError as exc:
                key = errno.errorcode.get(exc.errno or 0, str(exc.errno))
                errors[key] = errors.get(key, 0) + 1
            n += 1
    elapsed = time.monotonic() - t0
    sock.close()
    total = sum(sent.values())
    print(
        json.dumps(
            {
                "sent": sent,
                "send_errors": errors,
                "elapsed_s": round(elapsed, 3),
                "rate_pps": round(total / elapsed, 1) if elapsed else 0.0,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
