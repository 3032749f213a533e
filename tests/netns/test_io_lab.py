"""The namespace lab itself: topology, faults, captures, teardown, stale cleanup."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from lab import ROOT
from lab import netns as lablib
from lab.netns import Lab
from tests.conftest import require_binary
from tests.netns.helpers import run_json, start

pytestmark = pytest.mark.netns


def reaches(lab, src: str, dst_host: str, ip: str) -> bool:
    rx = start(lab, dst_host, "udp_probe.py", "listen", "9999", "--timeout", "1.0")
    rx.key("ready")
    run_json(lab, src, "udp_probe.py", "send", ip, "9999")
    return rx.key("got", 5) == "hello"


def test_topology(lab):
    assert set(lab.hosts) == {"A", "B"}
    a, b, obs = lab.hosts["A"], lab.hosts["B"], lab.observer
    assert (a.ip4, a.ip6, b.ip4, obs.ip4) == ("172.20.0.112", "fd00:20::112", "172.20.0.113", "172.20.0.200")
    assert a.ns == f"vk{lab.tag}-a" and obs.ns == f"vk{lab.tag}-obs"
    assert set(lab.namespaces) <= lablib.netns_names()
    addrs = lab.addresses("A")
    assert {"172.20.0.112", "fd00:20::112"} <= addrs
    assert any(x.startswith("fe80:") for x in addrs)
    assert lab.holders("172.20.0.113") == ["B"]
    assert lab.holders("fd00:20::112") == ["A"]
    assert lab.holders("172.20.0.200") == []  # the observer is not a host
    # link-local and global IPv6 usable at once (no DAD), IPv4 too
    assert lab.address_flags("A", "fd00:20::112").get("tentative") is None
    assert reaches(lab, "A", "B", "172.20.0.113")
    assert reaches(lab, "B", "A", "fd00:20::112")
    ll_b = next(x for x in lab.addresses("B") if x.startswith("fe80:"))
    assert reaches(lab, "A", "B", f"{ll_b}%eth0")
    # nothing of the lab lives in the root namespace
    root = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout
    assert f"vk{lab.tag}" not in root and "pa" not in {link["ifname"] for link in json.loads(root)}


def test_three_hosts_and_custom_addresses(make_lab):
    lab = make_lab(hosts=("A", "B", "C", "D"), addrs4={"D": "172.20.0.150"}, observer=False, ipv6=False)
    assert [lab.hosts[h].ip4 for h in "ABCD"] == ["172.20.0.112", "172.20.0.113", "172.20.0.114", "172.20.0.150"]
    assert lab.observer is None and lab.hosts["C"].ip6 is None
    assert not any(":" in a for a in lab.addresses("C"))
    assert reaches(lab, "C", "D", "172.20.0.150")


def test_two_labs_at_once_do_not_meet(make_lab):
    one, two = make_lab(), make_lab()
    assert one.tag != two.tag and not set(one.namespaces) & set(two.namespaces)
    rx = start(two, "B", "udp_probe.py", "listen", "9999", "--timeout", "1.0")
    rx.key("ready")
    run_json(one, "A", "udp_probe.py", "send", "172.20.0.113", "9999")  # lab one's B, not two's
    assert rx.key("got", 5) is None


def test_partition_keeps_host_link_up(lab):
    lab.detach("B")
    assert "LOWER_UP" in lab.link("B")["flags"] and lab.link("B")["operstate"] == "UP"
    assert not reaches(lab, "A", "B", "172.20.0.113")
    lab.attach("B")
    assert reaches(lab, "A", "B", "172.20.0.113")


def test_set_link(lab):
    lab.set_link("B", False)
    assert "UP" not in lab.link("B")["flags"]
    assert not reaches(lab, "A", "B", "172.20.0.113")
    lab.set_link("B", True)
    assert lab.wait_for(lambda: reaches(lab, "A", "B", "172.20.0.113"), 5, 0.1)


def test_capture_sees_unicast_between_hosts(lab):
    require_binary("tcpdump")
    cap = lab.capture("observer", "udp port 9999")
    assert reaches(lab, "A", "B", "172.20.0.113")
    frames = cap.stop()
    assert frames and all(isinstance(ts, float) for ts, _ in frames)
    assert any(f[-5:] == b"hello" and f[30:34] == bytes([172, 20, 0, 113]) for _ts, f in frames)
    assert cap.stop() is frames  # idempotent


def test_teardown_on_exception_and_reaps_processes(lab_registry):
    tag = secrets.token_hex(2)
    with pytest.raises(RuntimeError, match="boom"):
        with Lab(("A", "B"), tag=tag) as lab:
            names = list(lab.namespaces)
            lab_registry.extend(names)
            proc = lab.popen("A", ["sleep", "1000"])
            assert set(names) <= lablib.netns_names()
            raise RuntimeError("boom")
    assert proc.returncode is not None  # killed and waited for
    assert not set(names) & lablib.netns_names()
    assert not (lablib.MARKER_DIR / f"vk{tag}").exists()
    lab.close()  # idempotent


def test_teardown_when_setup_fails_midway(lab_registry, monkeypatch):
    tag = secrets.token_hex(2)
    real = Lab._setup_host
    calls = []

    def flaky(self, host):
        calls.append(host.name)
        if len(calls) == 2:
            raise lablib.LabError("injected failure")
        real(self, host)

    monkeypatch.setattr(Lab, "_setup_host", flaky)
    with pytest.raises(lablib.LabError, match="injected"):
        Lab(("A", "B"), tag=tag)
    assert calls == ["A", "B"]
    assert not [n for n in lablib.netns_names() if n.startswith(f"vk{tag}-")]
    assert not (lablib.MARKER_DIR / f"vk{tag}").exists()


def test_cleanup_stale_only_touches_dead_owners(lab_registry):
    dead = subprocess.Popen(["true"])
    dead.wait()
    tags = [secrets.token_hex(2) for _ in range(2)]
    owners = {tags[0]: (dead.pid, 1), tags[1]: (os.getpid(), lablib._proc_start_time(os.getpid()))}
    made = []
    try:
        for tag, (pid, start_time) in owners.items():
            ns = f"vk{tag}-a"
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append(ns)
            lab_registry.append(ns)
            (lablib.MARKER_DIR / f"vk{tag}").write_text(
                json.dumps({"pid": pid, "start": start_time, "namespaces": [ns]})
            )
        removed = lablib.cleanup_stale()
        assert f"vk{tags[0]}-a" in removed
        assert f"vk{tags[0]}-a" not in lablib.netns_names()
        assert not (lablib.MARKER_DIR / f"vk{tags[0]}").exists()
        assert f"vk{tags[1]}-a" in lablib.netns_names()  # owner alive: untouched
        assert (lablib.MARKER_DIR / f"vk{tags[1]}").exists()
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for tag in tags:
            (lablib.MARKER_DIR / f"vk{tag}").unlink(missing_ok=True)


def test_read_pcap_rejects_garbage():
    assert lablib.read_pcap(b"") == []
    with pytest.raises(ValueError):
        lablib.read_pcap(b"x" * 40)


def test_lab_from_a_killed_process_is_cleaned_up(lab_registry):
    """A run killed with SIGKILL leaves namespaces; cleanup_stale removes them."""
    code = "import sys, time; from lab.netns import Lab; lab = Lab(('A',)); print(lab.tag, flush=True); time.sleep(60)"
    # the lab package is at the repository root, not installed: say where, whatever our cwd
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        tag = proc.stdout.readline().strip()
        assert tag, "child lab did not start"
        names = [n for n in lablib.netns_names() if n.startswith(f"vk{tag}-")]
        assert len(names) == 3
        lab_registry.extend(names)
        assert not set(names) & set(lablib.cleanup_stale())
        assert set(names) <= lablib.netns_names()  # owner alive: kept
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    removed = lablib.cleanup_stale()
    assert set(names) <= set(removed)
    assert not set(names) & lablib.netns_names()
