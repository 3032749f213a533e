"""Histories: one seed -> one cluster and one list of timed faults; running, shrinking, replaying.

A :class:`History` is plain data (JSON round-trips it), so a failure prints both its seed
(``make sim SEED=...`` regenerates it) and the shrunk history itself (``python -m tests.sim.run
--replay '<json>'`` runs it without the generator).  The shrinker is a greedy delta debugger:
drop chunks of actions, then single actions, then hosts (with their actions), then host options,
then simplify the settle (no lost advert, no revived hosts), keeping every change under which the
same invariant still fails.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from tests.sim.checks import Checker, Violation
from tests.sim.dcs import DcsCfg
from tests.sim.world import CoreRaised, World

Action = tuple  # (time_us, kind, *args); kinds are World._do_<kind>
US = 1_000_000


@dataclass(frozen=True)
class HostCfg:
    name: str
    addr: str
    priority: int
    nopreempt: bool = False
    preempt_delay_s: int = 0
    ppm: int = 0  # clock rate error, parts per million (±10,000 = ±1 %)
    clock0_us: int = 0  # what its monotonic clock reads at true time 0
    state_master: bool = False  # ``state MASTER``
    fast_preempt: bool = False
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False


@dataclass(frozen=True)
class History:
    seed: int
    version: int
    advert_int_cs: int
    unicast: bool
    hosts: tuple[HostCfg, ...]
    delay_min_us: int
    delay_max_us: int
    actions: tuple[Action, ...]  # sorted by time; the last one is the settle
    tail_us: int = 0  # extra quiet time after the convergence bound
    down_timer_adverts: int = 3
    family: int = 4  # 6: VRRPv3 over IPv6 (link-local sources on multicast, as RFC 5798 §5.1.2.1)
    dcs: DcsCfg | None = None  # every host's instance tracks a vrrp_dcs (invariant 1)
    sync: bool = False  # a second instance VI_2 on every host, with VI_1 in vrrp_sync_group G

    @property
    def settle_us(self) -> int:
        return int(self.actions[-1][0])

    def to_json(self) -> str:
        d = asdict(self)
        d["actions"] = [list(a) for a in self.actions]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> History:
        d = json.loads(text)
        d["hosts"] = tuple(HostCfg(**h) for h in d["hosts"])
        if d.get("dcs") is not None:
            d["dcs"] = DcsCfg(**d["dcs"])
        d["actions"] = tuple(tuple(tuple(x) if isinstance(x, list) else x for x in a) for a in d["actions"])
        return cls(**d)


@dataclass
class Outcome:
    history: History
    violation: str | None = None
    kind: str | None = None
    checker: Checker = field(default_factory=Checker)
    world: World | None = None

    @property
    def ok(self) -> bool:
        return self.violation is None


PROFILES = ("default", "heavy", "dcs", "dcs-cut", "sync")


def generate(seed: int, profile: str = "default") -> History:
    """The history of ``seed``: a 2..4-host cluster, a few seconds of faults, then the settle.
    ``heavy``: 3..6 hosts and up to 30 faults over a longer chaos (slower, rarer interleavings),
    and reloads that remove the instance and add it back.  ``dcs``: see :func:`generate_dcs`."""
    if profile == "dcs":
        return generate_dcs(seed)
    if profile == "dcs-cut":
        return generate_dcs_cut(seed)
    if profile == "sync":  # the default history, each host with two instances in one sync group
        return replace(generate(seed), sync=True)
    rng = random.Random(seed)
    heavy = profile == "heavy"
    n = rng.choice((3, 4, 5, 6)) if heavy else rng.choice((2, 3, 3, 3, 4))
    version = rng.choice((2, 3))
    family = 6 if version == 3 and rng.random() < 0.3 else 4
    unicast = rng.random() < 0.25
    addr_fmt = "10.0.0.{}" if family == 4 else "fd00::{:x}" if unicast else "fe80::{:x}"
    advert_int_cs = 100 if version == 2 else rng.choice((100, 50, 20))
    a_us = advert_int_cs * 10_000
    tie = rng.random() < 0.2
    owner = rng.randrange(n) if rng.random() < 0.05 else -1  # one address owner (priority 255)
    hosts = []
    for i in range(n):
        nopreempt = rng.random() < 0.15
        hosts.append(
            HostCfg(
                name=f"h{i + 1}",
                addr=addr_fmt.format(i + 1),
                priority=255 if i == owner else rng.choice((100, 150)) if tie else rng.randint(1, 254),
                nopreempt=nopreempt,
                preempt_delay_s=0 if nopreempt or rng.random() > 0.1 else rng.randint(1, 3),
                ppm=rng.randint(-10_000, 10_000),
                clock0_us=rng.randrange(10**12),
                state_master=rng.random() < 0.15 or (i == owner and rng.random() < 0.7),
                fast_preempt=rng.random() < 0.1,
                lower_prio_no_advert=rng.random() < 0.1,
                higher_prio_send_advert=rng.random() < 0.1,
            )
        )
    names = [h.name for h in hosts]
    delay_max_us = rng.randint(100, max(200, min(50_000, a_us // 5)))
    delay_min_us = rng.randint(50, delay_max_us)
    chaos_us = rng.randint(3, 40 if heavy else 12) * a_us + rng.randrange(a_us)
    actions: list[Action] = [(0, "restart", nm) for nm in names if rng.random() < 0.95]
    if rng.random() < 0.3:
        actions.append((0, "net", rng.choice((0, 100, 300)), rng.choice((0, 0, 100))))
    for _ in range(rng.randint(0, 30 if heavy else 9)):
        t = rng.randrange(chaos_us)
        h = rng.choice(names)
        kinds = ("partition", "partition", "heal", "net", "link", "track", "crash", "restart", "stop", "stop", "reload")
        kind = rng.choice(kinds + (("unconfigure", "configure") if heavy else ()))
        if kind == "partition":
            other = rng.choice([x for x in names if x != h])
            actions.append((t, "partition", h, other))
            if rng.random() < 0.5:
                actions.append((t, "partition", other, h))
        elif kind == "heal":
            actions.append((t, "heal"))
        elif kind == "net":
            actions.append((t, "net", rng.choice((0, 50, 200, 500, 1000)), rng.choice((0, 0, 50, 300))))
        elif kind == "link":
            actions.append((t, "link", h, rng.random() < 0.5))
        elif kind == "track":
            # offset, fault, pending (a weight-0 tracker not reported yet: the instance stays in INIT)
            verdict = (rng.choice((0, -50, -100, 30, 60)), rng.random() < 0.2, rng.random() < 0.1)
            actions.append((t, "track", h, *verdict))
        elif kind == "crash":
            actions.append((t, "crash", h, rng.random() < 0.5))
        elif kind == "restart":
            actions.append((t, "restart", h))
        elif kind in ("stop", "unconfigure", "configure"):
            actions.append((t, kind, h))
        else:
            actions.append((t, "reload", h, rng.randint(1, 254)))
    actions.sort(key=lambda a: a[0])
    revive = tuple(nm for nm in names if rng.random() < 0.8)
    settle = (chaos_us + rng.randrange(a_us), "settle", rng.random() < 0.2, revive)
    return History(
        seed=seed,
        version=version,
        advert_int_cs=advert_int_cs,
        unicast=unicast,
        hosts=tuple(hosts),
        delay_min_us=delay_min_us,
        delay_max_us=delay_max_us,
        actions=(*actions, settle),
        tail_us=rng.randrange(2 * a_us),
        down_timer_adverts=rng.choice((3, 3, 3, 2, 4)),
        family=family,
    )


DCS_KINDS = (
    *("partition", "isolate", "isolate", "isolate", "heal", "net", "link", "track", "crash", "restart", "stop"),
    *("reload", "late", "etcd_cut", "etcd_cut", "etcd_quorum", "etcd_net", "etcd_slow"),
)


def generate_dcs(seed: int) -> History:
    """A ``vrrp_dcs`` history (invariant 1): 2..3 hosts whose instance tracks a ``vrrp_dcs``
    (weight 0), lock or follow mode (follow: a Patroni-like writer on every host), an etcd
    model; faults: host partitions, hosts cut off from etcd, the etcd majority lost and
    regained, a slow or lossy etcd, late loop wakes, link flaps, tracker flips, power losses,
    SIGTERM, restarts and reloads.  Host clocks and etcd's run within ±0.49 % of true time, so
    any two are within ``decide.CLOCK_RATE_BOUND`` (1 %) of each other.  No ``kill -9``: a
    killed daemon leaves its VIP on the interface whatever any protocol says (an operator's
    problem, see ``world``), so invariant 1 cannot hold across it."""
    rng = random.Random(seed)
    n = rng.choice((2, 2, 3, 3))
    worst_clocks = rng.random() < 0.3  # every host 0.49 % slow, etcd 0.49 % fast: the bound's edge
    version = rng.choice((2, 3))
    unicast = rng.random() < 0.25
    advert_int_cs = 100 if version == 2 else rng.choice((100, 50, 20))
    a_us = advert_int_cs * 10_000
    hosts = tuple(
        HostCfg(
            name=f"h{i + 1}",
            addr=f"10.0.0.{i + 1}",
            priority=rng.choice((100, 99, 150, 50, 254)),
            nopreempt=rng.random() < 0.1,
            ppm=-4_900 if worst_clocks else rng.randint(-4_900, 4_900),
            clock0_us=rng.randrange(10**12),
            state_master=rng.random() < 0.2,
            fast_preempt=rng.random() < 0.5,
        )
        for i in range(n)
    )
    names = [h.name for h in hosts]
    while True:
        ttl_s = rng.choice((2, 3, 4, 6))
        interval_ms = rng.choice((200, 500, 1000))
        timeout_ms = rng.choice((200, 500, 1000))
        if ttl_s * 1000 > interval_ms + 2 * timeout_ms:
            break
    lat_max_us = rng.randint(200, 20_000)
    dcs = DcsCfg(
        mode=rng.choice(("lock", "follow")),
        ttl_s=ttl_s,
        interval_ms=interval_ms,
        timeout_ms=timeout_ms,
        etcd_ppm=4_900 if worst_clocks else rng.randint(-4_900, 4_900),
        lat_min_us=rng.randint(50, lat_max_us),
        lat_max_us=lat_max_us,
        vip_delay_max_us=rng.choice((0, 1_000, 5_000, 20_000, 100_000)),
        writer_ttl_s=rng.choice((4, 6, 10)),  # see DcsCfg.writer_ttl_s
    )
    delay_max_us = rng.randint(100, max(200, min(50_000, a_us // 5)))
    delay_min_us = rng.randint(50, delay_max_us)
    chaos_us = rng.randint(3_000_000, 16_000_000)
    actions: list[Action] = [(0, "restart", nm) for nm in names if rng.random() < 0.95]
    for _ in range(rng.randint(0, 14)):
        t = rng.randrange(chaos_us)
        h = rng.choice(names)
        kind = rng.choice(DCS_KINDS)
        if kind == "partition":
            other = rng.choice([x for x in names if x != h])
            actions.append((t, "partition", h, other))
            if rng.random() < 0.5:
                actions.append((t, "partition", other, h))
        elif kind == "isolate":  # the classic: a host cut off from the others and from etcd
            actions += [(t, "partition", h, o) for o in names if o != h]
            actions += [(t, "partition", o, h) for o in names if o != h]
            actions.append((t, "etcd_cut", h, True))
        elif kind == "heal":
            actions.append((t, "heal"))
        elif kind == "net":
            actions.append((t, "net", rng.choice((0, 50, 200, 500)), rng.choice((0, 0, 50))))
        elif kind == "link":
            actions.append((t, "link", h, rng.random() < 0.5))
        elif kind == "track":
            actions.append((t, "track", h, 0, rng.random() < 0.3, False))
        elif kind == "crash":
            actions.append((t, "crash", h, True))  # power loss only (see above)
        elif kind in ("restart", "stop"):
            actions.append((t, kind, h))
        elif kind == "reload":
            actions.append((t, "reload", h, rng.choice((100, 99, 150, 50, 254))))
        elif kind == "late":
            actions.append((t, "late", h, rng.choice((0, 5_000, 50_000, 200_000))))
        elif kind == "etcd_cut":
            actions.append((t, "etcd_cut", h, rng.random() < 0.7))
        elif kind == "etcd_slow":
            actions.append((t, "etcd_slow", h, rng.choice((0, 100_000, timeout_ms * 450))))
        elif kind == "etcd_quorum":
            actions.append((t, "etcd_quorum", False))
            actions.append((t + rng.randint(100_000, 8_000_000), "etcd_quorum", True))
        else:
            slow = rng.choice((lat_max_us, 100_000, timeout_ms * 400, timeout_ms * 1000))
            actions.append((t, "etcd_net", rng.choice((0, 0, 100, 500)), slow))
    actions.sort(key=lambda a: a[0])
    actions = [a for a in actions if a[0] < chaos_us]
    revive = tuple(nm for nm in names if rng.random() < 0.8)
    settle = (chaos_us + rng.randrange(a_us), "settle", False, revive)
    return History(
        seed=seed,
        version=version,
        advert_int_cs=advert_int_cs,
        unicast=unicast,
        hosts=hosts,
        delay_min_us=delay_min_us,
        delay_max_us=delay_max_us,
        actions=(*actions, settle),
        tail_us=rng.randrange(2 * a_us),
        dcs=dcs,
    )


def generate_dcs_cut(seed: int) -> History:
    """The ``vrrp_dcs`` partition, aimed: two hosts with ``fast_preempt`` (the new holder takes
    the VIP as soon as its tracker passes), lock or follow mode; one host's path to etcd may turn
    slow first (answers up to 0.9 x timeout late: its last confirmation arrives late), then that host is
    cut off from the other and from etcd (or, in 30 %, its other tracker fails: in lock mode it
    gives the lock up); its loop may wake late, VIP changes take up to 100 ms;
    half the histories have the clocks at the edge of the bound.  Where the lease arithmetic
    has no slack, this is where it shows."""
    rng = random.Random(seed)
    worst = rng.random() < 0.5
    hosts = tuple(
        HostCfg(
            name=f"h{i + 1}",
            addr=f"10.0.0.{i + 1}",
            priority=rng.choice((100, 99, 150)),
            ppm=-4_900 if worst else rng.randint(-4_900, 4_900),
            clock0_us=rng.randrange(10**12),
            fast_preempt=True,
        )
        for i in range(2)
    )
    ttl_s = rng.choice((2, 3, 4, 6))
    dcs = DcsCfg(
        mode=rng.choice(("lock", "lock", "follow")),
        ttl_s=ttl_s,
        interval_ms=rng.choice((200, 300, 500)),
        timeout_ms={2: rng.choice((200, 500)), 3: 1000, 4: 1500, 6: 2500}[ttl_s],  # ttl > interval + 2 x timeout
        etcd_ppm=4_900 if worst else rng.randint(-4_900, 4_900),
        lat_min_us=50,
        lat_max_us=rng.randint(100, 2_000),
        vip_delay_max_us=rng.choice((5_000, 20_000, 100_000)),
        writer_ttl_s=4,
    )
    a_us = 100 * 10_000 if rng.random() < 0.5 else 20 * 10_000
    victim = rng.choice(("h1", "h2"))
    other = "h2" if victim == "h1" else "h1"
    t_cut = rng.randint(5_000_000, 9_000_000)
    actions: list[Action] = [(0, "restart", "h1"), (0, "restart", "h2")]
    if rng.random() < 0.5:
        slow_us = rng.randint(dcs.timeout_ms * 250, dcs.timeout_ms * 450)
        actions.append((t_cut - rng.randint(0, 5_000_000), "etcd_slow", victim, slow_us))
    if rng.random() < 0.3:
        actions.append((t_cut - 1_000_000, "late", victim, rng.choice((50_000, 200_000))))
    if rng.random() < 0.3:  # its other tracker fails instead (lock mode: it gives the lock up)
        actions.append((t_cut, "track", victim, 0, True, False))
    else:
        actions += [(t_cut, "partition", victim, other), (t_cut, "partition", other, victim)]
        actions.append((t_cut, "etcd_cut", victim, True))
    actions.sort(key=lambda a: a[0])
    settle = (t_cut + (max(ttl_s, dcs.writer_ttl_s) + 2) * 1_000_000, "settle", False, ("h1", "h2"))
    return History(
        seed=seed,
        version=3,
        advert_int_cs=a_us // 10_000,
        unicast=rng.random() < 0.5,
        hosts=hosts,
        delay_min_us=100,
        delay_max_us=rng.randint(200, 5_000),
        actions=(*actions, settle),
        dcs=dcs,
    )


def run(hist: History) -> Outcome:
    """Run one history to its end; the first violated invariant ends it."""
    checker = Checker()
    out = Outcome(hist, checker=checker)
    world = World(hist, checker)
    out.world = world
    try:
        world.run_until(hist.settle_us)
        assert checker.bounds is not None, "the settle action did not run"
        world.run_until(checker.bounds.end_us)
        checker.finish(world)
    except Violation as v:
        out.violation, out.kind = str(v), v.kind
    except CoreRaised as exc:
        out.violation, out.kind = f"[exception] at {world.now_us / 1e6:.6f}s: {exc}", "exception"
    return out


def shrink(hist: History, kind: str, runner: Callable[[History], Outcome] = run, budget: int = 400) -> History:
    """The smallest history found that still fails with the same invariant ``kind``."""
    tries = 0

    def fails(h: History) -> bool:
        nonlocal tries
        tries += 1
        return runner(h).kind == kind

    best = hist
    chunk = max(1, (len(best.actions) - 1) // 2)
    while chunk >= 1 and tries < budget:
        i = 0
        progressed = False
        while i < len(best.actions) - 1 and tries < budget:
            body = best.actions[:-1]
            cand = replace(best, actions=(*body[:i], *body[i + chunk :], best.actions[-1]))
            if fails(cand):
                best, progressed = cand, True
            else:
                i += chunk
        if not progressed:
            chunk //= 2
    for name in [h.name for h in best.hosts]:  # fewer hosts
        if tries >= budget or len(best.hosts) <= 2:
            break
        cand = _without_host(best, name)
        if fails(cand):
            best = cand
    flags = ("nopreempt", "fast_preempt", "lower_prio_no_advert", "higher_prio_send_advert", "state_master")
    for i in range(len(best.hosts)):  # plainer hosts
        for flag, plain in [(f, False) for f in flags] + [("preempt_delay_s", 0)]:
            if tries >= budget or getattr(best.hosts[i], flag) == plain:
                continue
            hosts = list(best.hosts)
            hosts[i] = replace(hosts[i], **{flag: plain})
            cand = replace(best, hosts=tuple(hosts))
            if fails(cand):
                best = cand
    t, _, lose_one, revive = best.actions[-1]
    for simpler in ((t, "settle", False, revive), (t, "settle", False, ())):
        if tries < budget and simpler != best.actions[-1]:
            cand = replace(best, actions=(*best.actions[:-1], simpler))
            if fails(cand):
                best = cand
    if tries < budget and best.tail_us:
        cand = replace(best, tail_us=0)
        if fails(cand):
            best = cand
    return best


def _without_host(hist: History, name: str) -> History:
    actions: list[Action] = []
    for a in hist.actions:
        if a[1] == "settle":
            actions.append((a[0], "settle", a[2], tuple(n for n in a[3] if n != name)))
        elif name not in a[2:]:
            actions.append(a)
    return replace(hist, hosts=tuple(h for h in hist.hosts if h.name != name), actions=tuple(actions))


def describe(hist: History) -> str:
    """A readable replay: the cluster and its actions, one a line."""
    lines = [
        f"seed {hist.seed}: VRRPv{hist.version} IPv{hist.family}, advert_int {hist.advert_int_cs / 100:g}s, "
        f"{'unicast' if hist.unicast else 'multicast'}, down_timer_adverts {hist.down_timer_adverts}, "
        f"delay {hist.delay_min_us}..{hist.delay_max_us} µs"
    ]
    for h in hist.hosts:
        flags = [f"priority {h.priority}"]
        flags += ["state MASTER"] if h.state_master else []
        flags += ["nopreempt"] if h.nopreempt else []
        flags += [f"preempt_delay {h.preempt_delay_s}"] if h.preempt_delay_s else []
        flags += [f for f in ("fast_preempt", "lower_prio_no_advert", "higher_prio_send_advert") if getattr(h, f)]
        lines.append(f"  {h.name} {h.addr} {' '.join(flags)}, clock {h.ppm:+d} ppm")
    for t, kind, *args in hist.actions:
        lines.append(f"  {t / 1e6:10.6f}s {kind} {' '.join(map(str, args))}")
    return "\n".join(lines)


def report(out: Outcome, runner: Callable[[History], Outcome] = run, profile: str = "default") -> str:
    """What a failure prints: the seed, the violation, the shrunk replay."""
    assert out.kind is not None
    small = shrink(out.history, out.kind, runner)
    again = runner(small)
    return (
        f"seed {out.history.seed} violates {out.kind}: {out.violation}\n"
        f"reproduce: make sim SEED={out.history.seed}{'' if profile == 'default' else f' PROFILE={profile}'}\n"
        f"minimal history ({len(small.actions)} actions, still: {again.violation}):\n{describe(small)}\n"
        f"replay: .venv/bin/python -m tests.sim.run --replay '{small.to_json()}'"
    )
