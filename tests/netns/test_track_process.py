"""track_process on a real two-host cluster in network namespaces.

The proc connector does not answer outside the initial network namespace (keepalived 2.2.7
there logs "Failed to set/clear process event listen - errno 111" and stays in FAULT);
vipkeeper polls /proc instead.  A `sleep` with a per-run argument stands for the daemon
that host A tracks: killing it moves the VIP to B, starting it again brings it back.
"""

from __future__ import annotations

import secrets
import time

import pytest

from lab.conf import block, global_defs, vrrp_instance
from lab.nodes import Node
from tests.netns.test_cluster import VIP4
from vipkeeper.checks.process import POLL_INTERVAL_S

pytestmark = pytest.mark.netns

ADVERT_INT_S = 1.0


def master_down_interval_s(priority: int) -> float:
    """RFC 5798 §6.1: 3 × Advertisement_Interval + Skew_Time."""
    return 3 * ADVERT_INT_S + (256 - priority) / 256 * ADVERT_INT_S


def conf(prio: int, tag: str | None) -> str:
    blocks = ""
    track: list[str] = []
    if tag is not None:
        blocks = block(
            "vrrp_track_process chk_sleep",
            [f"process sleep 100000 {tag}", "weight -100", "terminate_delay 0.1"],
        )
        track = [block("track_process", ["chk_sleep"]).strip()]
    return (
        global_defs("vrrp_garp_master_delay 1")
        + blocks
        + vrrp_instance(
            "VI_1", state="BACKUP", vrid=44, priority=prio, advert_int=ADVERT_INT_S, vips=[VIP4], extra=track
        )
    )


def test_killing_the_tracked_process_moves_the_vip_and_back(lab, tmp_path):
    # GNU sleep adds its arguments up: a unique fraction of a second tags this run's process
    tag = f"0.{secrets.randbelow(10**8):08d}1"
    tracked = lab.popen("A", ["sleep", "100000", tag])
    a = Node(lab, "A", tmp_path)
    a.write_config(conf(150, tag))
    b = Node(lab, "B", tmp_path)
    b.write_config(conf(100, None))
    a.start()
    b.start()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 20), a.log() + b.log()
    assert "polling /proc every" in a.log()  # decided at start, and logged

    tracked.kill()
    killed_at = time.monotonic()
    tracked.wait()
    # detection (one poll, terminate_delay) then one Master_Down_Interval of B, plus slack
    bound_s = POLL_INTERVAL_S + 0.1 + master_down_interval_s(100) + 2.0
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["B"], bound_s), a.log() + b.log()
    took = time.monotonic() - killed_at
    print(f"VIP on B {took:.2f} s after the kill (bound {bound_s:.2f} s)")
    assert "VRRP_Process(chk_sleep) lost quorum" in a.log()

    lab.popen("A", ["sleep", "100000", tag])
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], bound_s), a.log() + b.log()
    assert "VRRP_Process(chk_sleep) gained quorum" in a.log()
