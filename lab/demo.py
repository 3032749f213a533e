"""``make demo``: vipkeeper keeps the VIP on the PostgreSQL primary, for real.

Builds a two-host PostgreSQL 15 cluster in network namespaces (nothing leaves
this machine): host A (172.20.0.112) the primary, host B (172.20.0.113) a
streaming standby made with ``repmgr standby clone``.  vipkeeper runs on both
with ``vrrp_pgsql`` (and ``fast_preempt``) for the VIP 172.20.0.115; beside it,
the seed's own check script (unchanged, priority 100/99, weight 4) drives a
second VIP, 172.20.0.116, so the two can be compared.

Then it walks through:

1. healthy: the VIP is on the primary, A;
2. A's PostgreSQL stops (immediate), nobody promotes B yet: the VIP is nowhere;
3. ``repmgr standby promote`` on B: the VIP moves to B;
4. A's old data directory is started again as a primary, without rejoin
   (timeline 1 against B's 2): the VIP stays on B, A's vipkeeper logs the
   split-brain alarm; the seed's check sends its VIP back to A.

It prints a timeline (each event, who holds each VIP, how long a move took)
and tears everything down, also on failure or Ctrl-C.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from lab.netns import Lab, netns_unavailable_reason
from lab.nodes import Node
from lab.pg import SEED_VIP, VIP, PgCluster, pg_unavailable_reason, vipkeeper_conf
from lab.seed import install_seed_check, seed_dir


class Timeline:
    """Prints events with the time since start; watches who holds each VIP."""

    def __init__(self, lab: Lab) -> None:
        self.t0 = time.monotonic()
        self.lab = lab
        self.holder: dict[str, str] = {VIP: "?", SEED_VIP: "?"}
        self.changed_at: dict[str, float] = {VIP: self.t0, SEED_VIP: self.t0}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def stamp(self, t: float | None = None) -> str:
        return f"[{(t or time.monotonic()) - self.t0:7.3f}s]"

    def say(self, msg: str) -> None:
        with self._lock:
            print(f"{self.stamp()} {msg}", flush=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _watch(self) -> None:
        names = {VIP: "VIP (vrrp_pgsql)", SEED_VIP: "seed-check VIP"}
        while not self._stop.is_set():
            try:
                held = {h: self.lab.addresses(h) for h in self.lab.hosts}
            except Exception:
                return
            now = time.monotonic()
            for vip in (VIP, SEED_VIP):
                who = ",".join(h for h, a in held.items() if vip in a) or "nowhere"
                if who != self.holder[vip]:
                    old = self.holder[vip]
                    self.holder[vip], self.changed_at[vip] = who, now
                    if old != "?":
                        with self._lock:
                            print(f"{self.stamp(now)}   {names[vip]} {vip}: {old} -> {who}", flush=True)
            self._stop.wait(0.01)

    def wait(self, vip: str, who: str, timeout_s: float) -> float | None:
        """Wait until ``who`` holds ``vip``; the time it happened (monotonic), or None."""
        if Lab.wait_for(lambda: self.holder[vip] == who, timeout_s, 0.005):
            return self.changed_at[vip]
        return None


def _alarm_line(node: Node) -> str | None:
    for line in node.log().splitlines():
        if "SPLIT BRAIN" in line:
            return line
    return None


def main() -> int:
    why = netns_unavailable_reason() or pg_unavailable_reason()
    if why:
        print(f"demo: cannot run here: {why}", file=sys.stderr)
        return 1
    try:
        import psycopg  # noqa: F401
    except ImportError:
        print("demo: psycopg 3 is missing: pip install 'vipkeeper[pgsql]'", file=sys.stderr)
        return 1
    seed = seed_dir()
    with tempfile.TemporaryDirectory(prefix="vipkeeper-demo-") as tmp, Lab(("A", "B")) as lab:
        tl = Timeline(lab)
        pg = PgCluster(lab)
        try:
            return _walk(lab, pg, tl, Path(tmp), seed)
        except KeyboardInterrupt:
            tl.say("interrupted")
            return 130
        finally:
            tl.stop()
            try:
                tl.say("tearing down: stopping PostgreSQL and vipkeeper, removing the namespaces")
            finally:  # also when stdout is gone (demo | head)
                pg.close()


def _walk(lab: Lab, pg: PgCluster, tl: Timeline, work: Path, seed: Path) -> int:
    a, b = pg["A"], pg["B"]
    tl.say(f"lab {lab.tag}: host A {a.addr}, host B {b.addr} on one bridge (network namespaces)")
    pg.build()
    pg.wait_streaming("B")
    tl.say(f"PostgreSQL 15: A primary (timeline {a.timeline()}), B streaming standby (repmgr standby clone)")
    nodes = {}
    for h in ("A", "B"):
        n = Node(lab, h, work)
        n.write_config(vipkeeper_conf(pg, h, with_seed=True))
        install_seed_check(n.pgsql_dir, pg[h], seed)
        n.start(private_var_lib=True, log_level="info")
        nodes[h] = n
    tl.start()
    tl.say(f"vipkeeper started on A and B: vrrp_pgsql + fast_preempt for {VIP}, the seed's check script for {SEED_VIP}")

    # 1 ----------------------------------------------------------------
    if tl.wait(VIP, "A", 15) is None:
        tl.say("FAILED: the VIP did not come to A")
        print(nodes["A"].log()[-3000:])
        return 1
    tl.wait(SEED_VIP, "A", 10)
    tl.say(f"1. healthy: VIP on {tl.holder[VIP]}, seed-check VIP on {tl.holder[SEED_VIP]}")
    time.sleep(1)

    # 2 ----------------------------------------------------------------
    tl.say("2. stopping A's PostgreSQL (immediate); B is not promoted")
    t = time.monotonic()
    a.stop("immediate")
    moved = tl.wait(VIP, "nowhere", 10)
    tl.say(f"   VIP is nowhere, {moved - t:.3f}s after the stop" if moved else "   VIP did not leave A!")
    time.sleep(3)
    tl.say(f"   seed-check VIP is on {tl.holder[SEED_VIP]} (A 100 vs B 99: both checks fail)")

    # 3 ----------------------------------------------------------------
    tl.say("3. repmgr standby promote on B")
    t = time.monotonic()
    pg.promote("B")
    t_ret = time.monotonic()
    moved = tl.wait(VIP, "B", 10)
    tl.say(f"   promote returned after {t_ret - t:.3f}s (B now on timeline {b.timeline()})")
    if moved:
        tl.say(f"   VIP on B {moved - t_ret:+.3f}s after promote returned ({moved - t:.3f}s after it began)")
    else:
        tl.say("   VIP did not come to B!")
    seed_moved = tl.wait(SEED_VIP, "B", 12)
    if seed_moved:
        tl.say(f"   seed-check VIP on B {seed_moved - t_ret:.3f}s after promote returned")

    # 4 ----------------------------------------------------------------
    tl.say("4. starting A's old data directory again as a primary, without rejoin")
    a.start()
    tl.say(f"   two primaries: A on timeline {a.timeline()}, B on timeline {b.timeline()}")
    Lab.wait_for(lambda: _alarm_line(nodes["A"]) is not None, 5, 0.05)
    line = _alarm_line(nodes["A"])
    tl.say("   A's vipkeeper: " + (line.split("VRRP_Pgsql", 1)[-1] if line else "(no alarm?!)"))
    time.sleep(8)
    tl.say(
        f"   VIP is on {tl.holder[VIP]}; the seed-check VIP is on {tl.holder[SEED_VIP]}"
        + ("  <- split brain: the seed's check passes on the stale primary" if tl.holder[SEED_VIP] == "A" else "")
    )

    print("\n--- vipkeeper on A and B: state changes and check results ---")
    for h, n in nodes.items():
        for ln in n.log().splitlines():
            if "VI_PG" in ln and "->" in ln or "VRRP_Pgsql" in ln:
                print(f"{h}: {ln}")
    ok = tl.holder[VIP] == "B"
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
