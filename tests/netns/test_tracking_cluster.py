"""Health tracking on a real two-host cluster: the VIP follows the checks.

The seed table (examples/seed/README.md) is reproduced with the user's own
keepalived.conf and check script, unchanged; each host sees its own
/var/lib/pgsql (a private mount namespace), so a test flips a host's check
by creating or removing its standby.signal.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from lab.conf import global_defs, vrrp_instance, vrrp_script, vrrp_sync_group, vrrp_track_file
from lab.netns import Lab
from lab.nodes import Node
from lab.seed import mirror_of_seed, seed_dir, seed_node, set_standby
from tests.netns.test_cluster import VIP4

pytestmark = pytest.mark.netns

VIP2 = "172.20.0.116"


def stable_holder(lab: Lab, vip: str, want: list[str], timeout_s: float, hold_s: float = 1.5) -> list[str]:
    """Wait for ``want`` to hold ``vip``, then check it stays so for ``hold_s``."""
    lab.wait_for(lambda: lab.holders(vip) == want, timeout_s)
    end = time.monotonic() + hold_s
    while time.monotonic() < end:
        got = lab.holders(vip)
        if got != want:
            return got
        time.sleep(0.05)
    return lab.holders(vip)


def test_seed_table_all_four_combinations(lab, tmp_path):
    conf = (seed_dir() / "keepalived.conf").read_text()
    a = seed_node(lab, "A", tmp_path, conf, standby=False)
    b = seed_node(lab, "B", tmp_path, mirror_of_seed(conf), standby=True)
    a.start(private_var_lib=True)
    b.start(private_var_lib=True)
    rows = [
        # (A passes, B passes, expected holder, priorities)
        (True, False, "A", "104 vs 99"),
        (False, True, "B", "100 vs 103"),
        (False, False, "A", "100 vs 99: VIP on a dead node, as keepalived"),
        (True, True, "A", "104 vs 103: split brain, as keepalived"),
    ]
    for a_ok, b_ok, holder, why in rows:
        set_standby(a, not a_ok)
        set_standby(b, not b_ok)
        got = stable_holder(lab, VIP4, [holder], 20)
        assert got == [holder], (
            f"check A {a_ok} / check B {b_ok}: expected {holder} ({why})\n" + a.log()[-4000:] + b.log()[-4000:]
        )
        print(f"check A {'pass' if a_ok else 'fail'} / check B {'pass' if b_ok else 'fail'}: VIP on {holder} ({why})")


def conf(
    prio: int,
    *,
    extra: Sequence[str] = (),
    blocks: str = "",
    globals: Sequence[str] = (),
    vip: str = VIP4,
    track_script: Sequence[str] = (),
    track_file: Sequence[str] = (),
    track_interface: Sequence[str] = (),
) -> str:
    """VI_1 (VRID 42, v3, 0.1 s) after ``blocks`` (vrrp_script, vrrp_track_file...)."""
    return (
        global_defs("vrrp_garp_master_delay 1", *globals)
        + blocks
        + vrrp_instance(
            "VI_1",
            state="BACKUP",
            vrid=42,
            priority=prio,
            advert_int="0.1",
            version=3,
            extra=extra,
            vips=[vip],
            track_script=track_script,
            track_file=track_file,
            track_interface=track_interface,
        )
    )


def sync_pair_conf(prio: int, *, track: bool, track_file_path: Path) -> str:
    """VI_1 and VI_2 (VRID 43, VIP2) in sync group G; with ``track``, VI_2 tracks the file
    (weight 0: a non-zero value is FAULT)."""
    block = vrrp_track_file("tf", track_file_path) if track else ""
    return (
        conf(prio, blocks=block)
        + vrrp_instance(
            "VI_2",
            state="BACKUP",
            vrid=43,
            priority=prio,
            advert_int="0.1",
            version=3,
            vips=[VIP2],
            track_file=["tf weight 0"] if track else (),
        )
        + vrrp_sync_group("G", ["VI_1", "VI_2"])
    )


def start(lab, tmp_path, host, text, **kw) -> Node:
    n = Node(lab, host, tmp_path)
    n.write_config(text)
    n.start(**kw)
    return n


def test_hanging_script_is_killed_at_timeout_and_fails(lab, tmp_path):
    chk = tmp_path / "chk.sh"
    flag = tmp_path / "hang"
    pids = tmp_path / "pids"
    chk.write_text(f"#!/bin/sh\nif [ -f {flag} ]; then echo $$ >> {pids}; exec sleep 100; fi\nexit 0\n")
    chk.chmod(0o755)
    block = vrrp_script("chk", chk, interval=1, timeout=1)
    a = start(lab, tmp_path, "A", conf(150, blocks=block, track_script=["chk"]))
    _b = start(lab, tmp_path, "B", conf(100))
    assert stable_holder(lab, VIP4, ["A"], 15) == ["A"], a.log()
    flag.touch()
    t0 = time.monotonic()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 10), a.log()
    took = time.monotonic() - t0
    assert "timeout after 1s" in a.log()
    assert "-> FAULT" in a.log()
    assert took < 4, took  # next run (≤1 s) + timeout (1 s) + skew
    flag.unlink()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10), a.log()
    hung = [int(p) for p in pids.read_text().split()]
    assert hung, "the hanging script ran"
    alive = [p for p in hung if os.path.exists(f"/proc/{p}")]
    assert alive == [], "every timed-out script was killed"


def test_notify_scripts_and_fifo_see_every_change_in_order(lab, tmp_path):
    out = tmp_path / "notify.out"
    fifo = tmp_path / "notify.fifo"
    script = tmp_path / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {out}\n')
    script.chmod(0o755)
    master = tmp_path / "master.sh"
    master.write_text(f"#!/bin/sh\necho notify_master >> {out}\n")
    master.chmod(0o755)
    extra = [f"notify {script}", f"notify_master {master}"]
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    a = start(lab, tmp_path, "A", conf(150, extra=extra, globals=[f"notify_fifo {fifo}"]))
    assert a.wait_log("-> MASTER", 10)
    lab.set_link("A", False)
    assert a.wait_log("-> FAULT", 10)
    lab.set_link("A", True)
    assert lab.wait_for(lambda: a.log().count("-> MASTER") == 2, 10), a.log()
    assert a.stop(signal.SIGTERM) == 0
    want = ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER", "STOP"]
    lines = [ln for ln in out.read_text().splitlines() if ln != "notify_master"]
    assert lines == [f"INSTANCE VI_1 {s} 150" for s in want]
    assert out.read_text().splitlines().count("notify_master") == 2
    data = os.read(reader, 65536).decode().splitlines()
    os.close(reader)
    assert data == [f'INSTANCE "VI_1" {s} 150' for s in want]


def test_unsafe_script_is_refused_under_script_security(lab, tmp_path):
    unsafe_dir = tmp_path / "world-writable"
    unsafe_dir.mkdir()
    unsafe_dir.chmod(0o777)
    chk = unsafe_dir / "chk.sh"
    chk.write_text("#!/bin/sh\nexit 0\n")
    chk.chmod(0o755)
    block = vrrp_script("chk", chk, interval=1, weight=0)
    a = start(
        lab,
        tmp_path,
        "A",
        conf(150, blocks=block, globals=["enable_script_security", "script_user root"], track_script=["chk"]),
    )
    _b = start(lab, tmp_path, "B", conf(100))
    assert a.wait_log("refusing to run script", 10), a.log()
    assert "writable by others" in a.log()
    # a refused check counts as failed: weight 0 holds A in FAULT, B has the VIP
    assert stable_holder(lab, VIP4, ["B"], 10) == ["B"], a.log()


def test_track_file_weight_moves_the_vip(lab, tmp_path):
    f = tmp_path / "prio"
    f.write_text("0\n")
    block = vrrp_track_file("tf", f, weight=10)
    a = start(lab, tmp_path, "A", conf(150, blocks=block, track_file=["tf"]))
    _b = start(lab, tmp_path, "B", conf(100))
    assert stable_holder(lab, VIP4, ["A"], 10) == ["A"]
    f.write_text("-6\n")  # 150 - 60 = 90 < 100
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 5), a.log()
    assert "effective priority 150 -> 90" in a.log()
    tmp = tmp_path / "prio.new"
    tmp.write_text("0\n")
    tmp.rename(f)  # an atomic replace is seen too
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 5), a.log()
    f.write_text("-26\n")  # -260: FAULT
    assert a.wait_log("-> FAULT", 5), a.log()


def test_track_interface_down_means_fault(lab, tmp_path):
    lab.run("A", "ip", "link", "add", "tk0", "type", "veth", "peer", "name", "tk1")
    lab.run("A", "ip", "link", "set", "tk0", "up")
    lab.run("A", "ip", "link", "set", "tk1", "up")
    a = start(lab, tmp_path, "A", conf(150, track_interface=["tk0"]))
    _b = start(lab, tmp_path, "B", conf(100))
    assert stable_holder(lab, VIP4, ["A"], 10) == ["A"], a.log()
    lab.run("A", "ip", "link", "set", "tk1", "down")  # tk0 loses carrier
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], 5), a.log()
    assert "tracked interface tk0 is down" in a.log()
    lab.run("A", "ip", "link", "set", "tk1", "up")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 5), a.log()


def test_sync_group_members_move_together(lab, tmp_path):
    f = tmp_path / "fault"
    f.write_text("0\n")

    a = start(lab, tmp_path, "A", sync_pair_conf(150, track=True, track_file_path=f))
    _b = start(lab, tmp_path, "B", sync_pair_conf(100, track=False, track_file_path=f))
    assert stable_holder(lab, VIP4, ["A"], 10) == ["A"]
    assert lab.holders(VIP2) == ["A"]
    f.write_text("1\n")  # VI_2 FAULT on A: VI_1 must follow
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"] and lab.holders(VIP2) == ["B"], 5), a.log()
    assert "sync group G: VI_2 in FAULT" in a.log()
    f.write_text("0\n")
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"] and lab.holders(VIP2) == ["A"], 10), a.log()
