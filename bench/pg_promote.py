"""How fast does the VIP follow ``repmgr standby promote``?

    python -m bench.pg_promote [--trials N]     (root; PostgreSQL 15, repmgr, keepalived, tcpdump)

For each daemon, N times, on a fresh two-host PostgreSQL 15 cluster in a
namespace lab (host A primary, host B repmgr standby; advert_int 1):

1. wait until the VIP (172.20.0.115) is where the daemon puts it with A healthy;
2. stop A's PostgreSQL (immediate), wait until the daemon has reacted;
3. capture ARP on the lab observer, run ``repmgr standby promote`` on B;
4. measure from the moment promote *returned* to the first gratuitous ARP for
   the VIP sent by B (capture timestamps; both clocks are this machine's
   CLOCK_REALTIME).  Negative: the VIP moved before repmgr returned (repmgr
   still updates its metadata after the server is promoted).

Daemons:

- vipkeeper, ``vrrp_pgsql`` (interval 0.2 s, timeout 1 s, fall 2, weight 0,
  data directory watched) + ``fast_preempt``, priorities 250/240 (and again
  with the seed's 100/99: with ``fast_preempt`` a backup leaving FAULT after
  the master resigned takes over at once, so the priorities no longer matter);
- keepalived 2.2.7 with the seed's keepalived.conf (priority 100/99, weight 4)
  and the seed's check script, unchanged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lab.netns import Lab, netns_unavailable_reason
from lab.nodes import Node
from lab.pg import VIP, PgCluster, pg_unavailable_reason, vipkeeper_conf
from lab.seed import install_seed_check, mirror_of_seed, seed_dir


def first_garp_from(frames: list[tuple[float, bytes]], vip: str, mac: bytes) -> float | None:
    want = bytes(int(x) for x in vip.split("."))
    for ts, f in frames:
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[6:12] == mac and f[28:32] == want and f[38:42] == want:
            return ts
    return None


def trial(kind: str, work: Path, seed: Path, *, b_priority: int | None = None) -> dict:
    with Lab(("A", "B")) as lab:
        pg = PgCluster(lab)
        try:
            pg.build()
            pg.wait_streaming("B")
            nodes = {}
            for h in ("A", "B"):
                n = Node(lab, h, work / f"{kind}-{b_priority}-{lab.tag}", kind=kind)
                if kind == "vipkeeper":
                    prio = None if h == "A" or b_priority is None else b_priority
                    if h == "A" and b_priority is not None and b_priority < 200:
                        prio = 100
                    n.write_config(vipkeeper_conf(pg, h, pg_priority=prio))
                else:
                    text = (seed / "keepalived.conf").read_text()
                    n.write_config(text if h == "A" else mirror_of_seed(text))
                install_seed_check(n.pgsql_dir, pg[h], seed)
                n.start(private_var_lib=True, log_level="info")
                nodes[h] = n
            if not lab.wait_for(lambda: lab.holders(VIP) == ["A"], 20):
                raise RuntimeError(f"{kind}: VIP never on A\n{nodes['A'].log()[-2000:]}")
            if kind == "keepalived":
                # both checks have run (interval 2): A 104, B 99
                time.sleep(4)
            pg["A"].stop("immediate")
            expect_after_stop = [] if kind == "vipkeeper" else ["A"]
            lab.wait_for(lambda: lab.holders(VIP) == expect_after_stop, 10)
            time.sleep(2.5)
            held_before = lab.holders(VIP)
            cap = lab.capture("observer", "arp")
            t_start = time.time()
            pg.promote("B")
            t_ret = time.time()
            moved = lab.wait_for(lambda: lab.holders(VIP) == ["B"], 20, 0.005)
            time.sleep(0.3)
            frames = cap.stop()
            t_garp = first_garp_from(frames, VIP, lab.mac("B"))
            return {
                "kind": kind,
                "b_priority": b_priority,
                "held_before": held_before,
                "moved": moved,
                "promote_s": t_ret - t_start,
                "garp_after_return_s": None if t_garp is None else t_garp - t_ret,
                "garp_after_start_s": None if t_garp is None else t_garp - t_start,
            }
        finally:
            pg.close()


def fmt(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:+.3f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    why = netns_unavailable_reason() or pg_unavailable_reason()
    if why:
        print(f"pg_promote: cannot run here: {why}", file=sys.stderr)
        return 1
    seed = seed_dir()
    setups = [
        ("vipkeeper", None, "vipkeeper vrrp_pgsql + fast_preempt, priority 250/240"),
        ("vipkeeper", 99, "vipkeeper vrrp_pgsql + fast_preempt, priority 100/99"),
        ("keepalived", None, "keepalived 2.2.7, seed config + seed check (100/99, weight 4)"),
    ]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="vipkeeper-bench-") as tmp:
        for kind, bprio, label in setups:
            for i in range(args.trials):
                r = trial(kind, Path(tmp), seed, b_priority=bprio)
                results.setdefault(label, []).append(r)
                print(
                    f"{label} #{i + 1}: VIP before promote on {r['held_before'] or 'nowhere'}; promote took "
                    f"{r['promote_s']:.3f}s; first GARP from B {fmt(r['garp_after_return_s'])}s after it returned",
                    flush=True,
                )
    print(
        "\nfirst gratuitous ARP for the VIP from B, seconds after `repmgr standby promote` returned "
        f"(advert_int 1, {args.trials} trials)"
    )
    print(f"{'setup':66s} {'median':>8s} {'min':>8s} {'max':>8s}")
    for label, rs in results.items():
        xs = [r["garp_after_return_s"] for r in rs if r["garp_after_return_s"] is not None]
        if not xs:
            print(f"{label:66s} no GARP seen")
            continue
        print(f"{label:66s} {statistics.median(xs):+8.3f} {min(xs):+8.3f} {max(xs):+8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
