"""The HTTP listener on ``metrics_listen``: ``/status``, ``/healthz`` and ``/metrics`` over a
real socket on loopback, answered by a real event loop, and ``/healthz`` turning 503 while the
loop is wedged (a callback that blocks) and 200 again once it runs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import unavailable
from vipkeeper.daemon.metrics import MetricsServer, render_metrics

DEADLINE_S = 30.0  # generous: how long a test waits for something that must happen


def sample_status(*, state: str = "MASTER", held: bool = True, alarm: str | None = None) -> dict[str, Any]:
    return {
        "schema": 1, "version": "0.1.0", "pid": 1, "config": "/etc/keepalived/keepalived.conf", "uptime_s": 3.0,
        "summary": f"1 {state}",
        "instances": [{
            "name": "VI_1", "state": state, "reason": "test", "vrid": 51, "interface": "eth0", "family": "ipv4",
            "version": 2, "priority": 100, "effective_priority": 104, "advert_int_s": 1.0,
            "source": "172.20.0.112", "destinations": ["224.0.0.18"],
            "master": {"address": "172.20.0.113", "priority": 110, "last_advert_age_s": 0.4, "is_self": False},
            "vips": ["172.20.0.115/32", "172.20.0.116/32"], "vips_held": held, "faults": [],
            "trackers": [
                {"name": "chk_haproxy", "kind": "script", "weight": 4, "reverse": False, "status": "OK",
                 "reason": "exit 0", "latency_s": 0.004, "last_run_age_s": 0.8, "runs": 7, "failures": 0},
                {"name": "chk_pg", "kind": "pgsql", "weight": 0, "reverse": False, "status": "FAIL",
                 "reason": "two primaries", "latency_s": 0.01, "last_run_age_s": 0.1, "runs": 3, "failures": 3,
                 "role": "primary", "timeline": 2, "alarm": alarm},
            ],
            "counters": {"adverts_sent": 10, "adverts_received": 5, "priority_zero_sent": 0,
                         "priority_zero_received": 0, "transitions": 2, "became_master": 1,
                         "released_master": 0, "garp_sent": 5, "drops": {"auth_failure": 3}},
        }],
        "packets": {"unknown_vrid": 1, "decode_errors": {"bad_checksum": 2}, "received": 20, "recv_errors": 0,
                    "ip_errors": {}},
    }  # fmt: skip


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_metrics_carry_vrid_interface_and_one_series_per_vip() -> None:
    m = samples(render_metrics(sample_status()).decode())
    held = {lab["vip"]: v for lab, v in m["vipkeeper_vip_held"]}
    assert held == {"172.20.0.115/32": 1.0, "172.20.0.116/32": 1.0}
    state = {lab["state"]: v for lab, v in m["vipkeeper_instance_state"]}
    assert state["MASTER"] == 1.0 and state["BACKUP"] == 0.0
    for name in ("vipkeeper_instance_state", "vipkeeper_instance_vips_held", "vipkeeper_state_transitions_total",
                 "vipkeeper_advert_drops_total", "vipkeeper_master_last_advert_age_seconds",
                 "vipkeeper_instance_advert_interval_seconds"):  # fmt: skip
        for lab, _ in m[name]:
            assert (lab["instance"], lab["vrid"], lab["interface"]) == ("VI_1", "51", "eth0"), name
    drops = {lab["reason"]: v for lab, v in m["vipkeeper_advert_drops_total"]}
    assert drops["auth_failure"] == 3.0
    # every reason has a series from the start (so increase() sees the first drop)
    assert drops["interval_mismatch"] == drops["version_mismatch"] == drops["auth_type_mismatch"] == 0.0
    assert m["vipkeeper_build_info"] == [({"version": "0.1.0"}, 1.0)]
    # the names existing dashboards use are still there
    for name in ("vipkeeper_instance_effective_priority", "vipkeeper_instance_priority", "vipkeeper_tracker_up",
                 "vipkeeper_tracker_latency_seconds", "vipkeeper_pgsql_role", "vipkeeper_pgsql_timeline",
                 "vipkeeper_adverts_sent_total", "vipkeeper_adverts_received_total",
                 "vipkeeper_gratuitous_sent_total", "vipkeeper_packets_unknown_vrid_total",
                 "vipkeeper_packet_decode_errors_total"):  # fmt: skip
        assert name in m, name


def test_no_advert_age_on_the_master() -> None:
    st = sample_status()
    st["instances"][0]["master"] = {"address": "172.20.0.112", "priority": 104, "last_advert_age_s": 90.0,
                                    "is_self": True}  # fmt: skip
    assert "vipkeeper_master_last_advert_age_seconds" not in samples(render_metrics(st).decode())


def test_a_host_without_the_vip_reports_zero_per_vip() -> None:
    m = samples(render_metrics(sample_status(state="BACKUP", held=False)).decode())
    assert {v for _, v in m["vipkeeper_vip_held"]} == {0.0}


@pytest.mark.parametrize(("alarm", "expected"), [
    (None, {"split_brain": 0.0, "wrong_cluster": 0.0}),
    ("SPLIT BRAIN: peer b is also a writable primary", {"split_brain": 1.0, "wrong_cluster": 0.0}),
    ("WRONG CLUSTER: peer b has system_identifier 1", {"split_brain": 0.0, "wrong_cluster": 1.0}),
])  # fmt: skip
def test_pgsql_alarm_metric_follows_the_check(alarm: str | None, expected: dict[str, float]) -> None:
    m = samples(render_metrics(sample_status(alarm=alarm)).decode())
    assert {lab["alarm"]: v for lab, v in m["vipkeeper_pgsql_alarm"]} == expected
    assert all(lab["tracker"] == "chk_pg" for lab, _ in m["vipkeeper_pgsql_alarm"])


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE_S) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def head(url: str) -> int:
    req = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE_S) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_status_healthz_and_metrics_over_http() -> None:
    st = sample_status()

    async def main() -> None:
        server = MetricsServer(lambda: st, "127.0.0.1:0")
        await server.start()
        try:
            base = server.url
            code, ctype, body = await asyncio.to_thread(get, base + "/status")
            assert (code, ctype) == (200, "application/json") and json.loads(body) == st
            code, ctype, body = await asyncio.to_thread(get, base + "/healthz")
            assert (code, json.loads(body)["status"]) == (200, "ok")
            assert await asyncio.to_thread(head, base + "/healthz") == 200
            code, ctype, body = await asyncio.to_thread(get, base + "/metrics")
            assert code == 200 and ctype.startswith("text/plain")
            assert 'vipkeeper_vip_held{instance="VI_1",interface="eth0",vip="172.20.0.115/32",vrid="51"} 1.0' in (
                body.decode()
            )
            code, _, _ = await asyncio.to_thread(get, base + "/nothing")
            assert code == 404
        finally:
            await server.close()

    asyncio.run(main())


def test_ipv6_listen_address() -> None:
    if not socket.has_ipv6 or not os.path.exists("/proc/net/if_inet6"):
        unavailable("no IPv6 on this machine")

    async def main() -> tuple[int, bytes]:
        server = MetricsServer(sample_status, "[::1]:0")
        await server.start()
        try:
            assert server.url.startswith("http://[::1]:")
            code, _, body = await asyncio.to_thread(get, server.url + "/healthz")
            return code, body
        finally:
            await server.close()

    code, body = asyncio.run(main())
    assert code == 200 and json.loads(body)["status"] == "ok"


def test_no_listener_is_left_after_close() -> None:
    async def main() -> str:
        server = MetricsServer(sample_status, "127.0.0.1:0")
        await server.start()
        await server.close()
        return server.url

    url = asyncio.run(main())
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=DEADLINE_S)


def poll_until(url: str, want: int) -> tuple[int, bytes]:
    """GET ``url`` until it answers ``want`` (or the deadline passes): the last answer."""
    end = time.monotonic() + DEADLINE_S
    while True:
        code, _, body = get(url)
        if code == want or time.monotonic() > end:
            return code, body
        time.sleep(0.05)


def test_healthz_is_503_while_the_loop_is_wedged_and_200_once_it_runs_again() -> None:
    """A callback that blocks the loop (as a bug would): the listener thread still answers,
    /healthz and /status say 503; released, the loop stamps its heartbeat and /healthz is 200."""
    release = threading.Event()
    seen: dict[str, Any] = {}

    def operator(base: str) -> None:
        try:
            seen["wedged"] = poll_until(base + "/healthz", 503)
            seen["status_wedged"] = get(base + "/status")[0]
        finally:
            release.set()

    async def main() -> None:
        # short settings so the test is quick; the assertions wait for answers, not for times
        server = MetricsServer(sample_status, "127.0.0.1:0", wedged_after_s=1.0, heartbeat_interval_s=0.1,
                               loop_answer_timeout_s=1.0)  # fmt: skip
        await server.start()
        try:
            base = server.url
            assert (await asyncio.to_thread(poll_until, base + "/healthz", 200))[0] == 200
            t = threading.Thread(target=operator, args=(base,))
            t.start()
            release.wait(DEADLINE_S)  # the bug: blocks the event loop's thread
            t.join()
            seen["after"] = await asyncio.to_thread(poll_until, base + "/healthz", 200)
        finally:
            await server.close()

    asyncio.run(main())
    code, body = seen["wedged"]
    assert code == 503 and json.loads(body)["status"] == "wedged"
    assert seen["status_wedged"] == 503
    code, body = seen["after"]
    assert code == 200 and json.loads(body)["status"] == "ok"
