"""``make sim SEEDS=N [FIRST=S] [SEED=S]``: run histories, print the figures, exit 1 on a violation.

python -m tests.sim.run --seeds 100000 --first 0
python -m tests.sim.run --seed 1234            # one history, described
python -m tests.sim.run --replay '<json>'      # a shrunk history as a failure printed it
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from tests.sim.history import PROFILES, History, Outcome, describe, generate, report, run


class Totals:
    def __init__(self) -> None:
        self.histories = 0
        self.violations: list[Outcome] = []
        self.states: set[str] = set()
        self.transitions: set[tuple[str, str]] = set()
        self.worst_us = 0
        self.worst_seed: int | None = None
        self.worst_ratio = 0.0
        self.sim_us = 0
        self.packets = 0
        self.lost = 0
        self.duplicated = 0
        self.reordered = 0
        self.handovers = 0
        self.nopreempt_checked = 0
        self.preempt_delay_checked = 0
        self.down_timer_checked = 0
        self.dcs_histories = 0
        self.etcd_requests = 0
        self.lease_expiries = 0
        self.vip_instants = 0  # instants checked with a VIP holder (invariant 1)

    def add(self, out: Outcome) -> None:
        self.histories += 1
        c, w = out.checker, out.world
        self.states |= c.states
        self.transitions |= c.transitions
        self.handovers += c.handovers
        self.nopreempt_checked += c.nopreempt_checked
        self.preempt_delay_checked += c.preempt_delay_checked
        self.down_timer_checked += c.down_timer_checked
        if w is not None and w.etcd is not None:
            self.dcs_histories += 1
            self.etcd_requests += w.etcd.requests
            self.lease_expiries += w.etcd.expired
            self.vip_instants += c.vip_instants
        if w is not None:
            self.sim_us += w.now_us
            self.packets += w.sent
            self.lost += w.lost
            self.duplicated += w.duplicated
            self.reordered += w.reordered
        if not out.ok:
            self.violations.append(out)
            return
        conv = c.convergence_us
        if conv > self.worst_us and c.bounds is not None:
            self.worst_us, self.worst_seed = conv, out.history.seed
            self.worst_ratio = conv / (c.bounds.one_us - c.bounds.settle_us)

    def summary(self, elapsed_s: float) -> str:
        trans = ", ".join(f"{a}->{b}" for a, b in sorted(self.transitions))
        return "\n".join(
            (
                f"histories: {self.histories} in {elapsed_s:.1f}s ({self.histories / max(elapsed_s, 1e-9):.0f}/s), "
                f"simulated {self.sim_us / 1e6 / 3600:.1f} h",
                f"violations: {len(self.violations)} {dict(Counter(o.kind for o in self.violations))}",
                f"states covered: {len(self.states)} ({', '.join(sorted(self.states))})",
                f"transitions covered: {len(self.transitions)} ({trans})",
                f"packets sent: {self.packets}, copies lost {self.lost}, duplicated {self.duplicated}, "
                f"reordered {self.reordered}",
                f"checked: {self.handovers} priority-0 handovers (exact Skew_Time), "
                f"{self.nopreempt_checked} nopreempt promotions, {self.preempt_delay_checked} delayed preemptions, "
                f"{self.down_timer_checked} promotions against the down timer",
                f"vrrp_dcs: {self.dcs_histories} histories, {self.etcd_requests} etcd requests, "
                f"{self.lease_expiries} lease expiries, {self.vip_instants} instants with a VIP holder "
                "checked for a second one",
                f"worst convergence after settle: {self.worst_us / 1e6:.3f}s (seed {self.worst_seed}, "
                f"{self.worst_ratio:.0%} of its bound)",
            )
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.sim.run")
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--seed", type=int, default=None, help="run this one seed and describe it")
    ap.add_argument("--replay", default=None, help="a history's JSON, as a failure prints it")
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--progress", type=int, default=0, help="print the figures every N histories")
    ns = ap.parse_args(argv)
    if ns.replay is not None or ns.seed is not None:
        hist = History.from_json(ns.replay) if ns.replay is not None else generate(ns.seed, ns.profile)
        out = run(hist)
        print(describe(hist))
        print("ok" if out.ok else out.violation)
        if out.ok and out.checker.bounds is not None:
            b = out.checker.bounds
            conv_s, bound_s = out.checker.convergence_us / 1e6, (b.one_us - b.settle_us) / 1e6
            print(f"converged {conv_s:.6f}s after settle; bound {bound_s:.6f}s")
        return 0 if out.ok else 1
    totals = Totals()
    t0 = time.perf_counter()
    for seed in range(ns.first, ns.first + ns.seeds):
        out = run(generate(seed, ns.profile))
        totals.add(out)
        if not out.ok:
            print(f"VIOLATION seed {seed}: {out.violation}", flush=True)
        if ns.progress and totals.histories % ns.progress == 0:
            print(totals.summary(time.perf_counter() - t0), flush=True)
            print("--", flush=True)
    print(totals.summary(time.perf_counter() - t0))
    for out in {o.kind: o for o in reversed(totals.violations)}.values():  # the first of each kind
        print()
        runner = run
        print(report(out, runner, profile=ns.profile))
    return 1 if totals.violations else 0


if __name__ == "__main__":
    sys.exit(main())
