"""Scenario 6 of issue 12: lock mode on the seed's repmgr pair, plus a third etcd host.

The classic failure of the issue's first paragraph: the primary's host A is cut off, the standby
B is promoted (``repmgr standby promote``, as repmgrd or an operator would), and A's PostgreSQL
keeps running as a primary.  Without a majority both hosts would hold the VIP.  Here etcd runs on
A, B and a third host E (one member each); vipkeeper on A and B holds the VIP only with the
``vrrp_dcs`` lock, which it takes only while ``vrrp_pgsql`` says "writable primary".  A, alone
with one etcd member of three, cannot keep its lease; B, with the majority, takes the lock once
A's lease ran out.  The VIP ends on B only, and the holders (sampled every 5 ms) are never two.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.conf import block, global_defs, vrrp_instance, vrrp_pgsql
from lab.etcd import EtcdCluster, etcd_missing_reason
from lab.netns import Lab
from lab.nodes import Node
from lab.pg import PORT, PgCluster, pg_unavailable_reason
from tests.conftest import unavailable
from tests.netns.test_hostile import HolderSampler, states

pytestmark = pytest.mark.netns

VIP = "172.20.0.115"
TTL_S = 3


def conf(cluster: PgCluster, etcd: EtcdCluster, host: str, key: str) -> str:
    me = cluster[host]
    peer = cluster["B" if host == "A" else "A"]
    return (
        global_defs("vrrp_garp_master_delay 1")
        + block(
            "vrrp_dcs leader",
            [
                f"endpoints {' '.join(etcd.endpoints)}",
                f"lock {key}",
                f"ttl {TTL_S}",
                f"value {host}",
                "interval 0.5",
                "timeout 0.5",
            ],
        )  # fmt: skip
        + vrrp_pgsql(
            "chk_pg",
            f"host=127.0.0.1 port={PORT} user=postgres dbname=postgres",
            interval="0.2",
            timeout="1",
            rise=1,
            fall=1,
            weight=0,
            peer_conninfo=[f"host={peer.addr} port={PORT} user=postgres dbname=postgres"],
            data_directory=me.data,
        )  # fmt: skip
        + vrrp_instance(
            "VI_PG",
            state="BACKUP",
            vrid=51,
            priority=250 if host == "A" else 240,
            advert_int="1",
            unicast_src=me.addr,
            unicast_peers=[peer.addr],
            auth_pass="1111",
            extra=["fast_preempt"],
            vips=[VIP],
            track_script=["leader", "chk_pg"],
        )
    )


@pytest.fixture(scope="module")
def world(lab_registry, tmp_path_factory) -> Iterator[tuple[Lab, EtcdCluster, PgCluster, Path]]:
    reason = etcd_missing_reason() or pg_unavailable_reason()
    if reason:
        unavailable(reason)
    lab = Lab(("A", "B", "E"), ipv6=False, observer=False)
    lab_registry.extend(lab.namespaces)
    etcd = EtcdCluster(lab, ["A", "B", "E"])
    cluster: PgCluster | None = None
    try:
        etcd.start()
        cluster = PgCluster(lab, ("A", "B")).build()
        yield lab, etcd, cluster, tmp_path_factory.mktemp("dcs-repmgr")
    finally:
        try:
            if cluster is not None:
                cluster.close()
        finally:
            try:
                etcd.close()
            finally:
                lab.close()


def test_lock_mode_partitioned_primary_and_promoted_standby_vip_only_on_the_majority_side(world) -> None:
    lab, etcd, cluster, tmp = world
    key = f"/vipkeeper/{secrets.token_hex(3)}/VI_PG"
    nodes: dict[str, Node] = {}
    try:
        for h in ("A", "B"):
            nodes[h] = Node(lab, h, tmp / secrets.token_hex(3))
            nodes[h].write_config(conf(cluster, etcd, h, key))
            nodes[h].start(log_level="info")
        a, b = nodes["A"], nodes["B"]

        def logs() -> str:
            return "\n".join(f"----- vipkeeper {h} -----\n" + "\n".join(n.log().splitlines()[-30:])
                             for h, n in nodes.items()) + "\n" + etcd.logs()  # fmt: skip

        assert lab.wait_for(lambda: lab.holders(VIP) == ["A"], 30), logs()
        assert lab.wait_for(lambda: states(a, b) == ["MASTER", "FAULT"], 10), logs()
        assert etcd.get(key) == "A"
        with HolderSampler(lab, ("A", "B"), [VIP], interval_s=0.005) as sampler:
            time.sleep(0.3)
            t_cut = time.monotonic()
            lab.detach("A")  # A keeps its PostgreSQL primary and one etcd member of three
            try:
                cluster.promote("B")  # repmgrd / the operator: A is unreachable
                t_promoted = time.monotonic()
                assert lab.wait_for(lambda: sampler.latest(VIP) == ["B"], 30, 0.02), logs()
                assert cluster["A"].in_recovery() is False  # the old primary still runs, writable
            finally:
                lab.attach("A")
            time.sleep(2)  # healed: A sees the lock held by B (and B primary on a newer timeline)
            assert lab.holders(VIP) == ["B"] and states(a, b) == ["FAULT", "MASTER"], logs()
        assert sampler.episodes(VIP, lambda held: len(held) > 1) == []
        assert etcd.get(key) == "B"
        a_last = max(t for t, h in sampler.samples if "A" in h[VIP])
        b_first = min(t for t, h in sampler.samples if "B" in h[VIP])
        print(
            f"repmgr pair, lock mode, A cut off: A released the VIP {a_last - t_cut:.3f} s after the cut, B promoted "
            f"{t_promoted - t_cut:.3f} s and held the VIP {b_first - t_cut:.3f} s after it (ttl {TTL_S} s)"
        )
        assert a_last < b_first
    finally:
        for n in nodes.values():
            n.stop()
