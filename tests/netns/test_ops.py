"""Operating a live cluster: status, metrics, reload without flapping."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.conf import vrrp_script
from lab.nodes import Node
from tests.netns.test_cluster import VIP4, instance_conf

pytestmark = pytest.mark.netns

HELPERS = Path(__file__).resolve().parent / "helpers"


def vk(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vipkeeper", *argv], capture_output=True, text=True, timeout=60)


def start(lab, tmp_path, host, conf) -> Node:
    n = Node(lab, host, tmp_path)
    n.write_config(conf)
    n.start()
    return n


def pair_conf_a(ok: Path) -> str:
    """A's config: VI_T at 150 tracking a check that passes (weight 5), metrics on."""
    return vrrp_script("chk_ok", ok, interval=1, weight=5) + instance_conf(
        priority=150, track_script=["chk_ok"], globals=["metrics_listen 127.0.0.1:9650"]
    )


@pytest.fixture
def pair(lab, tmp_path):
    ok = tmp_path / "ok.sh"
    ok.write_text("#!/bin/sh\nexit 0\n")
    ok.chmod(0o755)
    a = start(lab, tmp_path, "A", pair_conf_a(ok))
    assert a.wait_log("-> MASTER", 10), a.log()
    b = start(lab, tmp_path, "B", instance_conf(priority=100))
    assert b.wait_log("-> BACKUP", 10), b.log()
    assert lab.wait_for(lambda: lab.holders(VIP4) == ["A"], 10)
    return lab, a, b


def test_status_json_and_table_from_a_live_cluster(pair):
    lab, a, b = pair
    time.sleep(1.5)  # a few adverts and a check run
    sock = a.state_dir / "vipkeeper.sock"
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    r = vk("status", "--state-dir", str(b.state_dir), "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    (ib,) = st["instances"]
    assert st["schema"] == 1
    assert ib["state"] == "BACKUP"
    assert ib["master"]["address"] == "172.20.0.112"
    assert ib["master"]["priority"] == 155  # 150 + 5 from the passing check
    assert 0 <= ib["master"]["last_advert_age_s"] < 0.5
    assert ib["counters"]["adverts_received"] > 5
    assert ib["vips_held"] is False
    r = vk("status", "--state-dir", str(a.state_dir), "--json")
    (ia,) = json.loads(r.stdout)["instances"]
    assert ia["state"] == "MASTER" and ia["vips_held"] is True
    assert ia["effective_priority"] == 155 and ia["priority"] == 150
    (t,) = ia["trackers"]
    assert t["name"] == "chk_ok" and t["status"] == "OK" and t["reason"] == "exit 0" and t["latency_s"] > 0
    assert ia["counters"]["adverts_sent"] > 5 and ia["counters"]["garp_sent"] >= 5
    table = vk("status", "--state-dir", str(a.state_dir)).stdout
    assert "VI_T" in table and "MASTER" in table and "155/150" in table and "chk_ok" in table


def test_sigusr1_writes_status_file_atomically(pair):
    lab, a, b = pair
    a.send_signal(signal.SIGUSR1)
    path = a.state_dir / "vipkeeper.json"
    assert lab.wait_for(path.exists, 5)
    st = json.loads(path.read_text())
    assert st["instances"][0]["state"] == "MASTER"
    assert not list(a.state_dir.glob("*.tmp"))


def test_prometheus_metrics(pair):
    from prometheus_client.parser import text_string_to_metric_families

    lab, a, b = pair
    time.sleep(1)
    code = "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9650/metrics').read().decode())"
    out = lab.run("A", sys.executable, "-c", code).stdout
    samples = [s for fam in text_string_to_metric_families(out) for s in fam.samples]

    def value(name: str, **labels: str) -> float | None:
        for s in samples:
            if s.name == name and labels.items() <= s.labels.items():
                return s.value
        return None

    # every per-instance series carries the instance name, its VRID and interface
    assert value("vipkeeper_instance_state", instance="VI_T", vrid="42", interface="eth0", state="MASTER") == 1.0
    assert value("vipkeeper_instance_effective_priority", instance="VI_T") == 155.0
    assert value("vipkeeper_tracker_up", instance="VI_T", kind="script", tracker="chk_ok") == 1.0
    assert value("vipkeeper_vip_held", instance="VI_T", vrid="42") == 1.0
    assert value("vipkeeper_adverts_sent_total", instance="VI_T") > 0
    assert value("vipkeeper_state_transitions_total", instance="VI_T") is not None


def test_reload_with_errors_keeps_running(pair):
    lab, a, b = pair
    good = a.conf.read_text()
    a.conf.write_text(good.replace("virtual_router_id 42", "virtual_router_id 300"))
    r = vk("reload", "--state-dir", str(a.state_dir))
    assert r.returncode == 1
    assert f"{a.conf}:" in r.stderr and "virtual_router_id" in r.stderr
    assert "keeping the running configuration" in a.log()
    assert lab.holders(VIP4) == ["A"]
    a.conf.write_text(good)


def test_twenty_reloads_under_traffic_without_a_gap(pair, tmp_path):
    lab, a, b = pair
    echo = lab.popen("A", [sys.executable, str(HELPERS / "echo.py"), "serve", "9999"], stdout=subprocess.PIPE)
    assert json.loads(echo.stdout.readline())["ready"]
    cap = lab.capture("observer", "ip proto 112 and src 172.20.0.112")
    ping = lab.popen(
        "observer",
        [sys.executable, str(HELPERS / "echo.py"), "ping", VIP4, "9999", "--rate", "200", "--seconds", "8"],
        stdout=subprocess.PIPE,
    )
    base = a.conf.read_text()
    time.sleep(0.5)
    for i in range(20):
        # alternate a real change (priority) with an identical file
        a.conf.write_text(base.replace("priority 150", f"priority {150 + (i % 2)}"))
        if i % 2:
            r = vk("reload", "--state-dir", str(a.state_dir))
            assert r.returncode == 0, r.stderr
        else:
            a.send_signal(signal.SIGHUP)
        time.sleep(0.3)
    out = json.loads(ping.communicate(timeout=30)[0])
    frames = cap.stop()
    assert a.log().count("reloaded ") == 20, a.log()[-3000:]
    assert "VIPs removed" not in a.log() and "VIPs added" in a.log()
    assert a.log().count("-> MASTER") == 1, "A stayed MASTER through every reload"
    assert out["received"] >= out["sent"] * 0.99, out
    assert out["max_gap_s"] < 0.1, out
    times = [ts for ts, _ in frames]
    gaps = [t2 - t1 for t1, t2 in zip(times, times[1:])]
    assert times and max(gaps) < 0.1 * 1.6, f"advert gap {max(gaps):.3f}s at advert_int 0.05"
    assert "-> MASTER" not in b.log()


def test_a_notify_script_added_by_reload_runs(pair, tmp_path):
    """Regression: a notifier created by a reload (the config had no notify before) was never
    started, so its scripts never ran."""
    lab, a, b = pair
    seen = tmp_path / "notified"
    script = tmp_path / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$@" >> {seen}\n')
    script.chmod(0o755)
    b.conf.write_text(instance_conf(priority=100, extra=[f'notify "{script}"']))
    r = vk("reload", "--state-dir", str(b.state_dir))
    assert r.returncode == 0, r.stderr
    a.stop()  # A resigns: B becomes MASTER, and its new notify script says so
    assert lab.wait_for(lambda: seen.exists() and "INSTANCE VI_T MASTER" in seen.read_text(), 10), b.log()


def test_sd_notify_ready_after_setup(lab, tmp_path):
    import socket

    path = tmp_path / "notify.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(path))
    srv.settimeout(15)
    a = Node(lab, "A", tmp_path)
    a.write_config(instance_conf(priority=150))
    a.start(extra_env={"NOTIFY_SOCKET": str(path)})
    msg = srv.recv(4096).decode()
    assert "READY=1" in msg and f"MAINPID={a.proc.pid}" in msg and "STATUS=" in msg
    assert "vipkeeper started" in a.log(), "READY comes after sockets are open and stale VIPs are gone"
    a.send_signal(signal.SIGHUP)
    assert srv.recv(4096) == b"RELOADING=1"
    assert srv.recv(4096).startswith(b"READY=1")
    a.stop()
    assert srv.recv(4096) == b"STOPPING=1"
    srv.close()
