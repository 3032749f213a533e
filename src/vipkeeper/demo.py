"""``make demo``: the user's keepalived setup, run by vipkeeper in a namespace lab.

Two hosts on one Ethernet segment (network namespaces, nothing leaves this
machine): A runs the seed ``keepalived.conf`` unchanged, B its mirror
(BACKUP, priority 99).  The seed's check script runs unchanged too; each host
sees its own ``/var/lib/pgsql`` (A a primary, B a standby with
``standby.signal``).  The demo shows the VIP on A, takes A's link down, and
shows the VIP on B with the failover time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .lab import Lab, netns_unavailable_reason
from .labnodes import mirror_of_seed, seed_dir, seed_node

VIP = "172.20.0.115"


class Timeline:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.3f}s] {msg}", flush=True)


def main() -> int:
    why = netns_unavailable_reason()
    if why:
        print(f"demo: network namespaces are not available: {why}", file=sys.stderr)
        return 1
    seed = seed_dir()
    conf_a = (seed / "keepalived.conf").read_text()
    tl = Timeline()
    with tempfile.TemporaryDirectory(prefix="vipkeeper-demo-") as tmp, Lab(("A", "B")) as lab:
        work = Path(tmp)
        tl.say(f"lab {lab.tag}: host A 172.20.0.112, host B 172.20.0.113 on one bridge; VIP {VIP}")
        a = seed_node(lab, "A", work, conf_a, standby=False)
        b = seed_node(lab, "B", work, mirror_of_seed(conf_a), standby=True)
        a.start(private_var_lib=True, log_level="info")
        b.start(private_var_lib=True, log_level="info")
        tl.say("vipkeeper started on A (seed keepalived.conf, unchanged) and B (mirror: BACKUP, priority 99)")
        ok = lab.wait_for(lambda: lab.holders(VIP) == ["A"], 15)
        tl.say(f"VIP holders: {lab.holders(VIP)}" + ("" if ok else "  (expected A!)"))
        if not ok:
            print(a.log()[-3000:], b.log()[-3000:], sep="\n")
            return 1
        lab.wait_for(lambda: "effective priority 100 -> 104" in a.log(), 10)
        tl.say("A's check passes (primary): priority 100 + 4 = 104; B's fails (standby.signal): 99")
        time.sleep(2)
        cap = lab.capture("observer", "arp")
        tl.say("taking A's link down (master loss)")
        t_down = time.monotonic()
        lab.set_link("A", False)
        ok = lab.wait_for(lambda: lab.holders(VIP) == ["B"], 15, 0.005)
        took = time.monotonic() - t_down
        frames = cap.stop()
        garps = [ts for ts, f in frames if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[6:12] == lab.mac("B")]
        tl.say(f"VIP holders: {lab.holders(VIP)}  failover took {took:.3f}s "
               f"(Master_Down_Interval for priority 99 at advert_int 1 is 3.613s after A's last advert)")
        tl.say(f"gratuitous ARPs from B seen by the observer: {len(garps)}")
        if not ok:
            print(b.log()[-3000:])
            return 1
        print("\n--- vipkeeper log on B (state changes) ---")
        for line in b.log().splitlines():
            if "->" in line or "VIPs" in line:
                print(line)
        tl.say("tearing down the lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
