"""vrrp_dcs beside vip-manager on one Patroni lab (issue 12): ``python -m bench.run --only dcs``.

One lab: etcd 3.4 on E1..E3 (v2 API on too), Patroni 3.0 + PostgreSQL 15 on A and B
(``ttl`` 20 s, ``retry_timeout`` 9 s: an etcd blip of 3 s, plus the seconds etcd takes to start
and elect a leader again, must not make Patroni demote its primary, or the blip would measure
Patroni rather than the tracker), vipkeeper on A and B (lab.patroni.vipkeeper_conf: ``vrrp_dcs`` follow mode +
``vrrp_pgsql``, VIP .115) and Debian's vip-manager 1.0.2 with its defaults (1 s polling) on the
same hosts, on the same leader key (through lab.vipmanager's v3 -> v2 mirror), VIP .215.

  dcs_switchover   leader key moves (``patronictl switchover``) -> first gratuitous ARP of the new
                   holder, captured on the observer; vipkeeper from the v3 change, vip-manager from
                   the moment its v2 copy was written (the mirror's few ms are not charged to it)
  dcs_partition    the leader's host cut off from the other host and every etcd member: time with
                   two holders (sampled every 5 ms in both namespaces)
  dcs_blip         every etcd member stopped for 3 s: VIP holder changes (flaps) during the blip and
                   5 s after it

The partitioned member is restarted after each partition trial (its pg_rewind may otherwise sit
out a replication connection the partition left hanging).  Trials: ``--trials`` for the
switchovers and the partitions (``--quick``: 1), one blip.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import make_record, unavailable_record
from lab.etcd import EtcdCluster, etcd_missing_reason
from lab.netns import Lab
from lab.nodes import Node
from lab.patroni import LOCAL_PG, PatroniCluster, WritableProbe, patroni_missing_reason, vipkeeper_conf
from lab.vipmanager import V2Mirror, VipManager, vip_manager_missing_reason
from tests.netns.test_hostile import HolderSampler

NAMES = ["dcs_switchover", "dcs_partition", "dcs_blip"]
VIP = "172.20.0.115"
VIP_VM = "172.20.0.215"
BLIP_S = 3.0
PATRONI_TTL_S = 20
PATRONI_RETRY_TIMEOUT_S = 9


def _garps(frames: list[tuple[float, bytes]], ip: str, mac: bytes) -> list[float]:
    """Timestamps (wall clock) of gratuitous ARPs (request or reply) for ``ip`` sent by ``mac``."""
    want = bytes(int(x) for x in ip.split("."))
    out = []
    for ts, f in frames:
        if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[22:28] == mac and f[28:32] == want and f[38:42] == want:
            out.append(ts)
    return out


class _World:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.work = Path(tempfile.mkdtemp(prefix="vkbench-dcs-"))
        self.lab = Lab(("A", "B", "E1", "E2", "E3"), ipv6=False, observer=True)
        self.etcd = EtcdCluster(self.lab, ["E1", "E2", "E3"], enable_v2=True)
        self.patroni: PatroniCluster | None = None
        self.nodes: dict[str, Node] = {}
        self.vms: dict[str, VipManager] = {}
        self.mirror: V2Mirror | None = None

    def start(self) -> None:
        self.etcd.start()
        self.patroni = PatroniCluster(
            self.lab, self.etcd, ("A", "B"), ttl_s=PATRONI_TTL_S, retry_timeout_s=PATRONI_RETRY_TIMEOUT_S
        ).start()
        for h in ("A", "B"):
            node = Node(self.lab, h, self.work / secrets.token_hex(3))
            node.write_config(vipkeeper_conf(self.etcd, self.patroni, h, VIP))
            node.start(log_level="info")
            self.nodes[h] = node
        self.mirror = V2Mirror(self.lab, self.etcd, self.patroni.leader_key, host="E1", via="E1")
        self.mirror.wait_synced()
        for h in ("A", "B"):
            self.vms[h] = VipManager(
                self.lab, h, self.etcd, key=self.patroni.leader_key, value=h, vip=VIP_VM, workdir=self.work
            )

    def settle(self, timeout_s: float = 120) -> str:
        """Wait until one member leads, the other streams, and both VIPs are on the leader only."""
        assert self.patroni is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.patroni.leader()
            if leader in ("A", "B") and self.patroni.wait_healthy(leader, 5):
                if self.lab.wait_for(lambda h=leader: self._only(h), 10):
                    return leader
        raise RuntimeError(f"the Patroni lab did not settle:\n{self.patroni.logs()}")

    def _only(self, host: str) -> bool:
        return self.lab.holders(VIP) == [host] and self.lab.holders(VIP_VM) == [host]

    def close(self) -> None:
        """Everything goes, whatever fails on the way (the lab last: it kills what is left)."""
        steps: list[Callable[[], object]] = [vm.stop for vm in self.vms.values()]
        if self.mirror is not None:
            steps.append(self.mirror.stop)
        steps += [n.stop for n in self.nodes.values()]
        if self.patroni is not None:
            steps.append(self.patroni.close)
        steps.append(self.etcd.close)
        try:
            for step in steps:
                try:
                    step()
                except Exception as exc:  # report, go on tearing down
                    self.log(f"!! teardown: {type(exc).__name__}: {exc}")
        finally:
            self.lab.close()
            shutil.rmtree(self.work, ignore_errors=True)


def _switchover(w: _World, trials: int) -> dict:
    assert w.patroni is not None and w.mirror is not None
    vk_ms: list[float] = []
    vm_ms: list[float] = []
    vk_after_writable_ms: list[float] = []
    vm_before_writable: list[int] = []
    problems: list[str] = []
    for i in range(trials):
        old = w.settle()
        new = "B" if old == "A" else "A"
        mac = w.lab.mac(new)
        offset = time.time() - time.monotonic()  # pcap timestamps are wall clock
        with w.lab.capture("observer", "arp") as cap, WritableProbe(w.lab, new, LOCAL_PG) as probe:
            time.sleep(0.3)
            t0 = time.monotonic()
            w.patroni.switchover(old, new)
            ok = w.lab.wait_for(lambda h=new: w._only(h), 20)
            time.sleep(0.3)
        frames = cap.frames
        t_writable = probe.first("writable", t0)
        events = [e for e in w.mirror.events if e[0] >= t0 and e[1] == "put" and e[2] == new]
        if not ok or not events:
            problems.append(f"trial {i}: VIPs not both on {new} (or no key move seen)")
            continue
        t_key, _, _, copy_s = events[0]
        vk = [t - offset for t in _garps(frames, VIP, mac) if t - offset >= t_key]
        vm = [t - offset for t in _garps(frames, VIP_VM, mac) if t - offset >= t_key]
        if vk:
            vk_ms.append((vk[0] - t_key) * 1000)
            if t_writable is not None:
                vk_after_writable_ms.append(round((vk[0] - t_writable) * 1000, 1))
        if vm:
            vm_ms.append((vm[0] - t_key - copy_s) * 1000)
            if t_writable is not None:
                vm_before_writable.append(int(vm[0] < t_writable))
        w.log(
            f"    switchover {i + 1}/{trials} {old} -> {new}: vipkeeper "
            f"{(vk[0] - t_key) * 1000 if vk else float('nan'):.0f} ms, vip-manager "
            f"{(vm[0] - t_key - copy_s) * 1000 if vm else float('nan'):.0f} ms after the key moved; {new} writable "
            f"{(t_writable - t_key) * 1000 if t_writable else float('nan'):.0f} ms after it"
        )
    return {"vipkeeper": vk_ms, "vip_manager": vm_ms, "problems": problems,
            "vipkeeper_garp_after_writable_ms": vk_after_writable_ms,
            "vip_manager_garp_before_writable": vm_before_writable}  # fmt: skip


def _partition(w: _World, trials: int) -> dict:
    assert w.patroni is not None
    vk_two: list[float] = []
    vm_two: list[float] = []
    problems: list[str] = []
    for i in range(trials):
        old = w.settle()
        new = "B" if old == "A" else "A"
        with HolderSampler(w.lab, ("A", "B"), [VIP, VIP_VM], interval_s=0.005) as sampler:
            time.sleep(0.5)
            w.lab.detach(old)
            try:
                ok = w.lab.wait_for(lambda h=new: sampler.latest(VIP) == [h], 60, 0.02)
                w.lab.wait_for(lambda h=new: h in (sampler.latest(VIP_VM) or []), 5, 0.02)
                time.sleep(2)
            finally:
                w.lab.attach(old)
        if not ok:
            problems.append(f"trial {i}: vipkeeper's VIP did not reach {new}")
        both = lambda held: len(held) > 1  # noqa: E731
        vk_two.append(sum(n for _t, n in sampler.episodes(VIP, both)) * 1000)
        vm_two.append(sum(n for _t, n in sampler.episodes(VIP_VM, both)) * 1000)
        w.log(f"    partition {i + 1}/{trials} ({old} cut off): two holders vipkeeper {vk_two[-1]:.0f} ms, "
              f"vip-manager {vm_two[-1]:.0f} ms")  # fmt: skip
        # the cut-off member's pg_rewind may sit out a connection the partition left hanging
        w.patroni[old].kill()
        w.patroni[old].start()
    return {"vipkeeper": vk_two, "vip_manager": vm_two, "problems": problems}


def _blip(w: _World) -> dict:
    leader = w.settle()
    with HolderSampler(w.lab, ("A", "B"), [VIP, VIP_VM], interval_s=0.005) as sampler:
        time.sleep(0.5)
        w.etcd.stop_all()
        time.sleep(BLIP_S)
        w.etcd.restart_all()
        time.sleep(5)

    def flaps(vip: str) -> int:
        seen = [tuple(h[vip]) for _t, h in sampler.samples]
        return sum(1 for a, b in zip(seen, seen[1:], strict=False) if a != b)

    vk, vm = flaps(VIP), flaps(VIP_VM)
    w.log(f"    etcd blip {BLIP_S:g} s ({leader} leads): holder changes vipkeeper {vk}, vip-manager {vm}")
    if vk:
        w.log("\n".join(w.nodes[leader].log().splitlines()[-12:]))
    return {"vipkeeper": vk, "vip_manager": vm}


def _vm_summary(xs: list[float]) -> dict:
    from bench.common import summary

    return summary(xs, 3)


def run_dcs(*, trials: int, log: Callable[[str], None], wanted: Callable[[str], bool]) -> list[dict]:
    why = etcd_missing_reason() or patroni_missing_reason() or vip_manager_missing_reason()
    if why:
        return [unavailable_record(n, n, f"not available: {why}") for n in NAMES if wanted(n)]
    out: list[dict] = []
    w = _World(log)
    try:
        w.start()
        if wanted("dcs_switchover"):
            log(f"== dcs_switchover: Patroni switchover -> first GARP of the new holder, {trials} trial(s)")
            r = _switchover(w, trials)
            rec = make_record(
                "dcs_switchover",
                "leader key moves (Patroni switchover) -> first GARP of the new holder",
                "ms",
                r["vipkeeper"],
                None,
                goal="vipkeeper median <= 200 ms and >= 5x faster than vip-manager (default 1 s polling)",
                goal_met=None,
                details={
                    "vip_manager": _vm_summary(r["vip_manager"]),
                    "trials": trials,
                    "problems": r["problems"],
                    "vipkeeper_garp_after_writable_ms": r["vipkeeper_garp_after_writable_ms"],
                    "vip_manager_garp_before_writable": r["vip_manager_garp_before_writable"],
                    "notes": [
                        "vipkeeper waits for a writable primary (vrrp_pgsql): its time includes Patroni's promotion "
                        "after the key write; vip-manager follows the key alone"
                    ],
                },
            )
            vk_med, vm_med = rec["vipkeeper"]["median"], rec["details"]["vip_manager"]["median"]
            rec["details"]["ratio_vip_manager_over_vipkeeper"] = (
                round(vm_med / vk_med, 2) if vk_med and vm_med else None
            )
            rec["goal_met"] = bool(vk_med is not None and vm_med and vk_med <= 200 and vm_med >= 5 * vk_med)
            out.append(rec)
        if wanted("dcs_partition"):
            log(f"== dcs_partition: leader cut off, time with two holders, {trials} trial(s)")
            r = _partition(w, trials)
            rec = make_record(
                "dcs_partition",
                "leader cut off from the other host and the etcd majority: time with two VIP holders",
                "ms",
                r["vipkeeper"],
                None,
                goal="vipkeeper 0 ms in every trial",
                goal_met=None,
                details={"vip_manager": _vm_summary(r["vip_manager"]), "trials": trials, "problems": r["problems"]},
            )
            rec["goal_met"] = bool(r["vipkeeper"]) and max(r["vipkeeper"]) == 0 and not r["problems"]
            out.append(rec)
        if wanted("dcs_blip"):
            log(f"== dcs_blip: every etcd member stopped {BLIP_S:g} s")
            r = _blip(w)
            rec = make_record(
                "dcs_blip",
                f"VIP holder changes during a {BLIP_S:g} s etcd blip (and 5 s after)",
                "flaps",
                [r["vipkeeper"]],
                None,
                goal="vipkeeper 0",
                goal_met=r["vipkeeper"] == 0,
                details={"vip_manager": r["vip_manager"]},
            )
            out.append(rec)
    finally:
        w.close()
    return out
