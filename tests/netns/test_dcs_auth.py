"""Scenario 7 of issue 12, the parts a real etcd can show: TLS and authentication enabled.

One etcd 3.4 member on E, serving clients over https only (a certificate from a CA made for the
run, lab.etcd.make_tls) with authentication on (``auth enable``, user root).  vipkeeper on A runs
four instances: one whose ``vrrp_dcs`` has the right CA and password (it must pass: TLS and auth
work for real), one with a wrong password, one that trusts another CA, and one without a tracker
whose adverts must stay on time while the other trackers fail."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.conf import block, global_defs, vrrp_instance
from lab.etcd import EtcdCluster, etcd_missing_reason, make_tls
from lab.netns import Lab
from lab.nodes import Node
from tests.conftest import unavailable
from tests.netns.test_dcs import status_of

pytestmark = pytest.mark.netns

PASSWORD = "s3cret-root"
VIPS = {"VI_GOOD": "172.20.0.201", "VI_BADPW": "172.20.0.202", "VI_BADCA": "172.20.0.203", "VI_PLAIN": "172.20.0.204"}


@pytest.fixture(scope="module")
def world(lab_registry, tmp_path_factory) -> Iterator[tuple[Lab, EtcdCluster, Path, Path]]:
    reason = etcd_missing_reason()
    if reason:
        unavailable(reason)
    tmp: Path = tmp_path_factory.mktemp("dcs-auth")
    lab = Lab(("A", "E"), ipv6=False, observer=False)
    lab_registry.extend(lab.namespaces)
    etcd = None
    try:
        ip = lab.host("E").ip4
        assert ip is not None
        tls = make_tls(tmp / "tls", [ip])
        other_ca = make_tls(tmp / "other", [ip], name="vk-other").ca
        etcd = EtcdCluster(lab, ["E"], tls=tls)
        etcd.start()
        etcd.etcdctl("user", "add", f"root:{PASSWORD}")
        etcd.etcdctl("auth", "enable")
        etcd.user = f"root:{PASSWORD}"
        yield lab, etcd, tmp, other_ca
    finally:
        try:
            if etcd is not None:
                etcd.close()
        finally:
            lab.close()


def test_tls_and_auth_right_credentials_pass_wrong_ones_fail_cleanly(world) -> None:
    lab, etcd, tmp, other_ca = world
    key = f"/service/{secrets.token_hex(3)}/leader"
    etcd.put(key, "A")
    assert etcd.tls is not None

    def dcs(name: str, *lines: str) -> str:
        return block(f"vrrp_dcs {name}", [f"endpoints {etcd.endpoints[0]}", f"key {key}", "value A",
                                          "interval 0.2", "timeout 0.5", *lines])  # fmt: skip

    text = (
        global_defs("vrrp_garp_master_delay 1")
        + dcs("good", f"cacert {etcd.tls.ca}", "user root", f"password {PASSWORD}")
        + dcs("badpw", f"cacert {etcd.tls.ca}", "user root", "password wrong")
        + dcs("badca", f"cacert {other_ca}", "user root", f"password {PASSWORD}")
        + "".join(
            vrrp_instance(name, state="MASTER", vrid=70 + i, priority=100, advert_int="0.2", version=3,
                          vips=[vip], track_script=tracked)
            for i, (name, vip, tracked) in enumerate(
                (("VI_GOOD", VIPS["VI_GOOD"], ["good"]), ("VI_BADPW", VIPS["VI_BADPW"], ["badpw"]),
                 ("VI_BADCA", VIPS["VI_BADCA"], ["badca"]), ("VI_PLAIN", VIPS["VI_PLAIN"], [])))
        )
    )  # fmt: skip
    node = Node(lab, "A", tmp / secrets.token_hex(3))
    node.write_config(text)
    node.start(log_level="info")
    try:
        assert node.wait_log("vipkeeper started", 20), node.log()

        def by_name() -> dict[str, dict]:
            return {i["name"]: i for i in status_of(node)["instances"]}

        want = {"VI_GOOD": "MASTER", "VI_BADPW": "FAULT", "VI_BADCA": "FAULT", "VI_PLAIN": "MASTER"}
        assert lab.wait_for(lambda: node.running and {n: i["state"] for n, i in by_name().items()} == want, 20), (
            node.log()[-3000:]
        )
        sent0, t0 = by_name()["VI_PLAIN"]["counters"]["adverts_sent"], time.monotonic()
        time.sleep(3)
        st = by_name()
        rate = (st["VI_PLAIN"]["counters"]["adverts_sent"] - sent0) / (time.monotonic() - t0)
        assert 4.0 <= rate <= 5.5, rate  # advert_int 0.2: 5 a second
        assert {n: i["state"] for n, i in st.items()} == want
        held = {n: lab.holders(v) for n, v in VIPS.items()}
        assert held == {"VI_GOOD": ["A"], "VI_BADPW": [], "VI_BADCA": [], "VI_PLAIN": ["A"]}, held
        good = st["VI_GOOD"]["trackers"][0]
        assert good["etcd_up"] is True and good["holder"] == "A" and good["endpoint"].startswith("https://")
        for n in ("VI_BADPW", "VI_BADCA"):
            t = st[n]["trackers"][0]
            assert t["etcd_up"] is False and t["etcd_errors"] >= 3, t
        log = node.log()
        assert log.count("VRRP_Dcs(badpw) etcd refuses our credentials") == 1, log[-3000:]
        badca = [line for line in log.splitlines() if "VRRP_Dcs(badca) etcd" in line]
        assert len(badca) == 1 and "CERTIFICATE_VERIFY_FAILED" in badca[0], badca
        assert "Traceback" not in log
        print(f"TLS + auth: right credentials pass; wrong password: {log.count('refuses our credentials')} line; "
              f"wrong CA: {badca[0].split('VRRP_Dcs(badca) ')[1][:160]}")  # fmt: skip
    finally:
        node.stop()
