"""``use_vmac`` (issue 13): the configuration as keepalived 2.2.7 reads it (vrrp_parser.c
vrrp_vmac_handler, vrrp.c vrrp_complete_instance) and the names and MACs of io.vmac."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.io.vmac import default_mac, pick_name

BASE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
%s
    virtual_ipaddress { 172.20.0.115 }
}
"""


def parse(body: str):
    cfg, diags = parse_string(BASE % body)
    return (cfg.instances[0] if cfg.instances else None), [f"{d.severity}: {d.message}" for d in diags]


def test_bare_use_vmac_leaves_name_and_mac_to_the_daemon() -> None:
    inst, diags = parse("    use_vmac")
    assert diags == []
    assert inst.use_vmac and inst.vmac_ifname is None and inst.vmac_mac is None and not inst.vmac_xmit_base


@pytest.mark.parametrize(
    "line, name, mac",
    [
        ("use_vmac vk51", "vk51", None),
        ("use_vmac 02:11:22:33:44:55", None, "02:11:22:33:44:55"),
        ("use_vmac vk51 02:11:22:33:44", "vk51", "02:11:22:33:44:33"),  # five octets: the VRID is the sixth
        ("use_vmac 02:11:22:33:44: vk51", "vk51", "02:11:22:33:44:33"),
    ],
)
def test_use_vmac_name_and_mac(line: str, name: str | None, mac: str | None) -> None:
    inst, diags = parse("    " + line)
    assert diags == []
    assert inst.vmac_ifname == name
    assert (inst.vmac_mac.hex(":") if inst.vmac_mac else None) == mac


@pytest.mark.parametrize(
    "body, message",
    [
        ("use_vmac 00:00:5e:00:01:05", "not allowed to be an RFC 5798 address"),
        ("use_vmac 01:00:5e:00:00:05", "is multicast"),
        ("use_vmac 02:11:zz:33:44:55", "invalid VMAC address"),
        ("use_vmac a/b", "too long or invalid characters"),
        ("use_vmac abcdefghijklmnop", "too long or invalid characters"),
        ("use_vmac a b", "VMAC interface name already specified"),
        ("vmac_xmit_base", "vmac_xmit_base is only valid with use_vmac"),
        (
            "use_vmac\n unicast_src_ip 10.0.0.1\n unicast_peer { 10.0.0.2 }",
            "unicast with use_vmac requires vmac_xmit_base",
        ),
        ("use_vmac 02:11:22:33:44:55\n strict_mode", "cannot be given in strict mode"),
        ("use_vmac\n vmac_xmit_base\n strict_mode", "vmac_xmit_base is incompatible with strict mode"),
    ],
)
def test_what_keepalived_reports_is_an_error(body: str, message: str) -> None:
    _, diags = parse("    " + body)
    assert any(d.startswith("error:") and message in d for d in diags), diags


def test_unicast_with_vmac_xmit_base() -> None:
    inst, diags = parse("    use_vmac\n    vmac_xmit_base\n    unicast_src_ip 10.0.0.1\n    unicast_peer { 10.0.0.2 }")
    assert diags == [] and inst.vmac_xmit_base and inst.unicast


def test_default_mac_is_rfc5798() -> None:
    assert default_mac(51, 4).hex(":") == "00:00:5e:00:01:33"
    assert default_mac(7, 6).hex(":") == "00:00:5e:00:02:07"


def test_names_follow_keepalived_create_vmac_name() -> None:
    assert pick_name(51, []) == "vrrp.51"
    assert pick_name(51, ["vrrp.51"]) == "vrrp1.51"
    assert pick_name(51, ["vrrp.51", "vrrp1.51"]) == "vrrp2.51"
    assert pick_name(200, [], prefix="averyveryverylongprefix") == "averyveryve.200"
    used = ["vrrp.51"]
    for want in ("vrrp6.51", "vrrp1.51", "vrrp2.51", "vrrp3.51", "vrrp4.51", "vrrp5.51", "vrrp7.51"):
        assert pick_name(51, used, 6) == want
        used.append(want)


def test_the_daemon_imports_pyroute2_for_vmac_only_when_used() -> None:
    code = "import sys, vipkeeper.io.vmac; print('pyroute2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_reload_that_changes_use_vmac_recreates_the_instance() -> None:
    from vipkeeper.daemon.reload import plan_reload

    plain, _ = parse_string(BASE % "")
    vmac, _ = parse_string(BASE % "    use_vmac")
    named, _ = parse_string(BASE % "    use_vmac vk51")
    for old, new in ((plain, vmac), (vmac, named), (vmac, plain)):
        plan = plan_reload(old, new, ["VI_1"])
        assert plan.remove == ("VI_1",) and [i.name for i in plan.add] == ["VI_1"] and not plan.keep
    plan = plan_reload(vmac, vmac, ["VI_1"])
    assert not plan.remove and not plan.add
