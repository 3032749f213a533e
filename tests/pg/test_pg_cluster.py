"""vipkeeper with ``vrrp_pgsql`` on a real PostgreSQL 15 + repmgr cluster.

One cluster per module (host A primary, host B a repmgr standby, in network
namespaces); the scenarios run in order, each starting from the state the
previous one left, and each asserting where the VIP is or that it is nowhere.

Every vipkeeper runs two instances side by side:

- VI_PG (VIP 172.20.0.115): ``vrrp_pgsql chk_pg`` (weight 0, fall 2, interval
  0.2 s, timeout 1 s, the peer as ``peer_conninfo``, the data directory watched)
  with ``fast_preempt``; priorities 250 (A) and 240 (B);
- VI_SEED (VIP 172.20.0.116): the seed's ``keepalived_pgsql_chk.sh``, unchanged,
  with the seed's settings (priority 100/99, weight 4, interval 2); it finds its
  paths through a per-host mount namespace (``/var/lib/pgsql/12/data`` is the
  host's real data directory).

So every scenario also records where the seed's check puts its VIP, and the
last test prints both columns side by side (scenario 9).

A background sampler looks at both hosts every 50 ms for the whole module: the
PostgreSQL VIP must never be on two hosts at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from lab.netns import Lab
from lab.nodes import Node
from lab.pg import SEED_VIP, VIP, PgCluster, vipkeeper_conf
from lab.seed import install_seed_check, seed_dir

pytestmark = [pytest.mark.netns, pytest.mark.pg]

CHECK_TIMEOUT_S = 1.0
FALL = 2
# Master_Down_Interval at advert_int 1 is 3 s + skew; the seed's check runs every 2 s.
SEED_SETTLE_S = 9.0


class Sampler(threading.Thread):
    """Every 50 ms: who holds each VIP; remembers every moment with two holders."""

    def __init__(self, lab: Lab) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.stop_event = threading.Event()
        self.doubles: dict[str, list[float]] = {VIP: [], SEED_VIP: []}
        self.samples = 0

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                held = {h: self.lab.addresses(h) for h in self.lab.hosts}
            except Exception:
                break  # the lab is being torn down
            self.samples += 1
            for vip in self.doubles:
                if sum(vip in a for a in held.values()) > 1:
                    self.doubles[vip].append(time.monotonic())
            self.stop_event.wait(0.05)


class World:
    def __init__(self, lab: Lab, pg: PgCluster, nodes: dict[str, Node], sampler: Sampler) -> None:
        self.lab, self.pg, self.nodes, self.sampler = lab, pg, nodes, sampler
        self.table: list[tuple[str, list[str], list[str]]] = []  # scenario, pg holders, seed holders
        self.failed = False

    def holders(self, vip: str = VIP) -> list[str]:
        return self.lab.holders(vip)

    def wait_holder(self, expected: list[str], timeout_s: float, vip: str = VIP) -> bool:
        return self.lab.wait_for(lambda: self.holders(vip) == expected, timeout_s, 0.02)

    def stays(self, expected: list[str], seconds: float, vip: str = VIP) -> bool:
        return self.lab.wait_for(lambda: self.holders(vip) != expected, seconds, 0.05) is False

    def logs(self) -> str:
        out = []
        for h, n in self.nodes.items():
            out.append(f"----- vipkeeper {h} -----\n" + "\n".join(n.log().splitlines()[-60:]))
        for h, n in self.pg.nodes.items():
            out.append(f"----- postgres {h} -----\n{n.log_tail(20)}")
        return "\n".join(out)

    def record(self, scenario: str) -> None:
        seed = self.holders(SEED_VIP)
        self.table.append((scenario, self.holders(VIP), seed))

    def no_double_pg_vip(self) -> None:
        assert not self.sampler.doubles[VIP], f"VIP {VIP} was on two hosts at {self.sampler.doubles[VIP]}"


@pytest.fixture(scope="module")
def world(pg_env, tmp_path_factory):
    work = tmp_path_factory.mktemp("pgcluster")
    seed = seed_dir()
    lab = Lab(("A", "B"))
    pg = sampler = None
    try:
        pg = PgCluster(lab).build()
        assert pg.wait_streaming("B"), pg["B"].log_tail()
        nodes = {}
        for h in ("A", "B"):
            n = Node(lab, h, work)
            n.write_config(vipkeeper_conf(pg, h, with_seed=True))
            install_seed_check(n.pgsql_dir, pg[h], seed)
            nodes[h] = n
        for n in nodes.values():
            n.start(private_var_lib=True, log_level="info")
        sampler = Sampler(lab)
        sampler.start()
        yield World(lab, pg, nodes, sampler)
    finally:
        if sampler is not None:
            sampler.stop_event.set()
            sampler.join(5)
        try:
            if pg is not None:
                pg.close()
        finally:
            lab.close()


@pytest.fixture
def w(world, request):
    if world.failed:
        pytest.skip("an earlier scenario failed; the cluster is in an unknown state")
    failed_before = request.session.testsfailed
    yield world
    if request.session.testsfailed > failed_before:
        world.failed = True


def test_1_healthy_vip_on_the_primary(w):
    assert w.wait_holder(["A"], 15), w.logs()
    assert w.stays(["A"], 2), w.logs()
    assert w.nodes["A"].wait_log("VRRP_Pgsql(chk_pg) succeeded (writable primary, timeline 1", 1)
    assert "VRRP_Pgsql(chk_pg) failed (standby" in w.nodes["B"].log()
    assert "watching" in w.nodes["A"].log()
    assert w.wait_holder(["A"], SEED_SETTLE_S, SEED_VIP), w.logs()
    # the check's state reaches `vipkeeper status`
    for host, role in (("A", "primary"), ("B", "standby")):
        out = subprocess.run(
            [sys.executable, "-m", "vipkeeper", "status", "--state-dir", str(w.nodes[host].state_dir), "--json"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert out.returncode == 0, out.stderr
        inst = next(i for i in json.loads(out.stdout)["instances"] if i["name"] == "VI_PG")
        tr = next(t for t in inst["trackers"] if t["name"] == "chk_pg")
        assert tr["kind"] == "pgsql" and tr["role"] == role and tr["timeline"] == 1, tr
    w.record("1 healthy (A primary, B standby)")
    w.no_double_pg_vip()


def test_2_primary_down_no_promotion_vip_nowhere(w):
    t0 = time.monotonic()
    w.pg["A"].stop("immediate")
    assert w.wait_holder([], 5), w.logs()
    took = time.monotonic() - t0
    # the inotify watch sees postmaster.pid go, then fall 2 quick refusals (tens of ms when idle)
    assert took < 3.0, took
    assert w.stays([], 3), w.logs()
    # the seed's check: A 100 (fails) vs B 99 (fails, standby): the VIP stays on the dead node
    assert w.stays(["A"], 3, SEED_VIP)
    w.record("2 A's PostgreSQL stopped, B not promoted")
    print(f"scenario 2: VIP left A {took:.3f}s after A's server was stopped")
    w.no_double_pg_vip()


def test_3_standby_promoted_vip_on_b(w):
    t0 = time.monotonic()
    w.pg.promote("B")
    t_ret = time.monotonic()
    assert w.wait_holder(["B"], 5), w.logs()
    took = time.monotonic() - t_ret
    print(f"scenario 3: repmgr standby promote took {t_ret - t0:.3f}s; VIP on B {took:.3f}s after it returned")
    # detection (inotify) + B's skew time (A resigned with priority 0): (256-240)/256 s
    assert took < 1.0, took
    assert w.nodes["B"].wait_log("succeeded (writable primary, timeline 2", 1), w.logs()
    assert w.wait_holder(["B"], SEED_SETTLE_S, SEED_VIP), w.logs()
    w.record("3 B promoted (repmgr standby promote)")
    w.no_double_pg_vip()


def test_4_old_primary_restarted_without_rejoin_is_fenced(w):
    a = w.pg["A"]
    a.start()
    assert a.in_recovery() is False and a.timeline() == 1 and w.pg["B"].timeline() == 2
    assert w.nodes["A"].wait_log("SPLIT BRAIN: peer 172.20.0.113:5432 is a writable primary on timeline 2", 5), w.logs()
    assert w.stays(["B"], 4), w.logs()
    alarms = [ln for ln in w.nodes["A"].log().splitlines() if "SPLIT BRAIN" in ln]
    assert len(alarms) == 1, alarms  # one clear line, not one per probe
    # the seed's check passes on both (no standby.signal on A): 104 > 103, the VIP goes back to A
    assert w.wait_holder(["A"], SEED_SETTLE_S, SEED_VIP), w.logs()
    w.record("4 A restarted as a primary without rejoin (timelines 1 and 2)")
    w.no_double_pg_vip()


def test_5_old_primary_rejoined_as_standby(w):
    a = w.pg["A"]
    a.stop("immediate")
    w.pg.rejoin("A", "B", force_rewind=True)
    assert a.in_recovery() is True and w.pg.wait_streaming("A")
    assert a.timeline() == 2
    assert w.stays(["B"], 2), w.logs()
    assert w.nodes["A"].wait_log("alarm cleared", 5), w.logs()
    assert w.wait_holder(["B"], SEED_SETTLE_S, SEED_VIP), w.logs()
    w.record("5 A rejoined as a standby (repmgr node rejoin --force-rewind)")
    w.no_double_pg_vip()


def test_6_planned_switchover_vip_follows(w):
    """``repmgr standby switchover`` run on the standby A: repmgr stops the primary B
    over "ssh" (this machine has no sshd: the lab puts a stand-in on postgres's PATH,
    see lab.pg_rsh), promotes A, and rejoins B as A's standby."""
    t0 = time.monotonic()
    out = w.pg.switchover("A")
    assert "STANDBY SWITCHOVER has completed successfully" in out.stdout + out.stderr
    took_sw = time.monotonic() - t0
    assert w.wait_holder(["A"], 5), w.logs()
    print(
        f"scenario 6: repmgr standby switchover took {took_sw:.3f}s; VIP on A "
        f"{time.monotonic() - t0:.3f}s after it began"
    )
    assert w.pg["B"].in_recovery() is True and w.pg.wait_streaming("B")
    assert w.pg["A"].timeline() == 3
    assert w.stays(["A"], 2), w.logs()
    assert w.wait_holder(["A"], SEED_SETTLE_S, SEED_VIP), w.logs()
    w.record("6 switchover B -> A (repmgr standby switchover)")
    w.no_double_pg_vip()


def test_7_hung_primary_loses_the_vip_at_timeout(w):
    """SIGSTOP every process of A's server (the postmaster alone would not hang
    the check's open connection: its backend is another process).

    Asserted: A's check fails after fall × timeout (2 × 1 s), so the VIP leaves
    A and is nowhere: nobody promoted B, and a standby must not get the VIP.
    Then B is promoted while A is still hung: A's unreachable server does not
    block B, and the VIP goes to B."""
    a = w.pg["A"]
    pids = a.freeze()
    try:
        t0 = time.monotonic()
        assert w.wait_holder([], FALL * CHECK_TIMEOUT_S + 3), w.logs()
        took = time.monotonic() - t0
        print(f"scenario 7: VIP left the hung primary {took:.3f}s after SIGSTOP")
        assert FALL * CHECK_TIMEOUT_S - 0.3 <= took, took
        assert "timed out" in w.nodes["A"].log()
        # the seed's check: pg_isready hangs, the script times out: A 100 vs B 99, the VIP stays
        assert w.holders(SEED_VIP) == ["A"]
        w.record("7a A's server hung (SIGSTOP), B not promoted")
        # the daemon on A is alive and its loop runs: it still logs
        assert w.nodes["A"].running
        # promote B: repmgr sees no reachable primary (its connect_timeout ends the wait)
        t1 = time.monotonic()
        w.pg.promote("B")
        assert w.wait_holder(["B"], 5), w.logs()
        print(f"scenario 7: B promoted while A hung; VIP on B {time.monotonic() - t1:.3f}s after promote began")
        assert w.wait_holder(["B"], SEED_SETTLE_S, SEED_VIP), w.logs()
        w.record("7b B promoted while A hangs")
    finally:
        a.thaw(pids)
    # A wakes up as a stale primary on timeline 3 (B is on 4): fenced
    assert w.nodes["A"].wait_log("SPLIT BRAIN", 5), w.logs()
    assert w.stays(["B"], 2), w.logs()
    a.stop("immediate")
    w.pg.rejoin("A", "B", force_rewind=True)
    assert w.pg.wait_streaming("A")
    assert w.stays(["B"], 1), w.logs()
    w.no_double_pg_vip()


def test_8_vipkeeper_on_the_primary_killed_and_restarted(w):
    b = w.nodes["B"]
    assert w.wait_holder(["B"], 5)
    b.kill()
    assert VIP in w.lab.addresses("B")  # SIGKILL: no chance to release
    # A (standby) does not take it: its check fails
    assert w.stays(["B"], 4), w.logs()
    b.start(private_var_lib=True, log_level="info")
    assert b.wait_log("stale VIP", 10), b.log()
    assert w.wait_holder(["B"], 10), w.logs()
    assert w.stays(["B"], 1)
    w.no_double_pg_vip()


def test_9_seed_check_beside_vrrp_pgsql(w):
    """Where the seed's check and vrrp_pgsql agree and where they differ."""
    rows = {s.split()[0]: (pg, seed) for s, pg, seed in w.table}
    print(f"\n{'scenario':66s}{'vrrp_pgsql':13s}seed check")
    for s, pg, seed in w.table:
        print(f"{s:66s}{','.join(pg) or 'nowhere':13s}{','.join(seed) or 'nowhere'}")
    assert rows["1"] == (["A"], ["A"])
    assert rows["2"] == ([], ["A"])  # seed: VIP on a dead node
    assert rows["3"] == (["B"], ["B"])
    assert rows["4"] == (["B"], ["A"])  # seed: split brain, VIP back to the stale primary
    assert rows["5"] == (["B"], ["B"])
    assert rows["6"] == (["A"], ["A"])
    assert rows["7a"] == ([], ["A"])  # seed: VIP on a hung server
    assert rows["7b"] == (["B"], ["B"])
    assert w.sampler.samples > 100
    w.no_double_pg_vip()
    # the seed's VIP was on both hosts while B's daemon was dead (scenario 8: keepalived's hole,
    # vipkeeper's restart cleans up); the PostgreSQL VIP never was.
    print(f"seed VIP on two hosts in {len(w.sampler.doubles[SEED_VIP])} samples; PostgreSQL VIP in 0")
