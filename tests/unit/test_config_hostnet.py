"""Host changes in the configuration: virtual_routes / virtual_rules, static_ipaddress /
static_routes / static_rules, accept / no_accept, promote_secondaries and garp_extra_if,
parsed as keepalived 2.2.7 parses them (vrrp_iproute.c, vrrp_iprule.c, vrrp_parser.c, vrrp.c)."""

from __future__ import annotations

import ipaddress

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.config.model import RTPROT_KEEPALIVED, Config, Location, Route, Rule, VrrpInstance

BASE = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress { 192.0.2.10/24 }
"""


def parse(text: str) -> tuple[Config, list[tuple[str, int, str]]]:
    config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return config, [(d.severity, d.line, d.message) for d in diagnostics]


def instance(extra: str, head: str = "") -> tuple[VrrpInstance | None, list[tuple[str, int, str]]]:
    config, diags = parse(head + BASE + extra + "\n}\n")
    return (config.instances[0] if config.instances else None), diags


def route_line(line: str) -> tuple[Route | None, list[tuple[str, int, str]]]:
    """One line in virtual_routes, at line 7 of the file."""
    inst, diags = instance(f"    virtual_routes {{\n        {line}\n    }}")
    if inst is None or not inst.virtual_routes:
        return None, diags
    return inst.virtual_routes[0], diags


def rule_line(line: str) -> tuple[Rule | None, list[tuple[str, int, str]]]:
    inst, diags = instance(f"    virtual_rules {{\n        {line}\n    }}")
    if inst is None or not inst.virtual_rules:
        return None, diags
    return inst.virtual_rules[0], diags


# -- virtual_routes ------------------------------------------------------------------------


def test_route_with_every_common_option() -> None:
    route, diags = route_line(
        "src 192.0.2.10 to 198.51.100.0/24 via 192.0.2.1 dev eth0 scope link table 100 metric 5 onlink"
    )
    assert diags == []
    assert route == Route(
        family=4,
        dst=ipaddress.ip_interface("198.51.100.0/24"),
        src=ipaddress.ip_address("192.0.2.10"),
        via=ipaddress.ip_address("192.0.2.1"),
        dev="eth0",
        scope=253,
        table=100,
        metric=5,
        protocol=RTPROT_KEEPALIVED,
        onlink=True,
        loc=Location("t.conf", 7),
    )


@pytest.mark.parametrize(
    ("line", "rtype", "dst"),
    [
        ("blackhole 198.51.100.0/24 dev eth0", "blackhole", "198.51.100.0/24"),
        ("unreachable 198.51.100.7 dev eth0", "unreachable", "198.51.100.7/32"),
        ("prohibit 2001:db8::/64 dev eth0", "prohibit", "2001:db8::/64"),
        ("throw 198.51.100.0/24 table 7 dev eth0", "throw", "198.51.100.0/24"),
    ],
)
def test_route_types(line: str, rtype: str, dst: str) -> None:
    route, diags = route_line(line)
    assert diags == []
    assert route is not None and route.type == rtype and route.dst == ipaddress.ip_interface(dst)


def test_default_route_and_table_names() -> None:
    route, diags = route_line("default via 192.0.2.1 dev eth0 table main")
    assert diags == []
    assert route is not None and route.dst is None and route.family == 4 and route.table == 254
    route, _ = route_line("default via 2001:db8::1 dev eth0")
    assert route is not None and route.family == 6 and route.dst is None
    route, diags = route_line("default6 via 2001:db8::1 dev eth0")
    assert route is not None and route.family == 6
    assert diags == [("warning", 7, "'default6' is deprecated - please replace with 'inet6 default'")]
    route, diags = route_line("198.51.100.0/33 dev eth0")
    assert route is not None and route.dst == ipaddress.ip_interface("198.51.100.0/32")
    assert diags == [("warning", 7, "Invalid address prefix len 33 for address 198.51.100.0/33 - using 32")]


def test_keepalived_quirks_are_refused_as_keepalived_refuses_them() -> None:
    """keepalived 2.2.7 (checked with keepalived -t): 'inet6 default via ...' says "Route must
    have a destination" (it steps over the word after inet/inet6), and 'default' after an
    address has set the family is "Cannot mix IPv4 and IPv6 addresses for route (default)"."""
    route, diags = route_line("inet6 default via 2001:db8::1 dev eth0")
    assert route is None and diags[0][:2] == ("error", 7) and "skips the word after it ('default')" in diags[0][2]
    route, _ = route_line("default via 2001:db8::1 dev eth0 inet6")  # last word: fine
    assert route is not None and route.family == 6
    route, diags = route_line("src 192.0.2.10 default via 192.0.2.1 dev eth0")
    assert route is None and diags == [("error", 7, "Cannot mix IPv4 and IPv6 addresses for route (default)")]
    rule, diags = rule_line("to 198.51.100.0/24 from all table 5")
    assert rule is None and diags == [("error", 7, "rule specification has mixed IPv4 and IPv6")]
    rule, diags = rule_line("from all to 198.51.100.0/24 table 5 priority 4")
    assert rule is not None and rule.src is None and diags == []


def test_gw_and_or_are_deprecated_but_work() -> None:
    """keepalived: '"gw" for routes is deprecated', '"or" ... deprecated'; 'or' makes a
    multipath route of the via address and the 'or' address."""
    route, diags = route_line("198.51.100.0/24 gw 192.0.2.1 or 192.0.2.2 dev eth0")
    assert diags == [
        ("warning", 7, '"gw" for routes is deprecated. Please use "via"'),
        ("warning", 7, '"or" for routes is deprecated. Please use "nexthop"'),
    ]
    assert route is not None and route.via is None
    assert route.nexthops == (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("192.0.2.2"))


def test_route_without_dev_is_not_tracked_and_protocol_is_keepalived() -> None:
    route, diags = route_line("198.51.100.0/24 via 192.0.2.1")
    assert diags == [
        ("warning", 7, "Warning - cannot track route 198.51.100.0/24 with no interface specified, not tracking")
    ]
    assert route is not None and route.protocol == RTPROT_KEEPALIVED


def test_route_protocol_kept_only_with_no_track() -> None:
    route, diags = route_line("198.51.100.0/24 dev eth0 protocol static no_track")
    assert diags == [] and route is not None and route.protocol == 4 and route.no_track
    route, diags = route_line("198.51.100.0/24 dev eth0 protocol bird")
    assert route is not None and route.protocol == RTPROT_KEEPALIVED
    assert diags[0][:2] == ("warning", 7) and "resetting protocol" in diags[0][2]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # keepalived 2.2.7's own messages (checked with keepalived -t)
        ("198.51.100.0/24 via 192.0.2.300 dev eth0", "invalid route via address 192.0.2.300"),
        ("999.1.1.1/32 dev eth0", "unknown route keyword 999.1.1.1/32"),
        ("198.51.100.0/24 proto static dev eth0", "unknown route keyword proto"),
        ("src 192.0.2.999 198.51.100.0/24 dev eth0", "invalid route src address 192.0.2.999"),
        ("198.51.100.0/24 via 2001:db8::1 dev eth0", "Cannot mix IPv4 and IPv6 addresses for route"),
        ("198.51.100.0/24 table nosuch dev eth0", "Routing table nosuch not found for route"),
        ("198.51.100.0/24 scope galaxy dev eth0", "Scope galaxy not found or invalid for route"),
        ("via 192.0.2.1 dev eth0", "Route must have a destination"),
        # options keepalived knows that vipkeeper refuses, by name
        ("198.51.100.0/24 dev eth0 mtu 1400", "virtual route option 'mtu' is not supported by vipkeeper"),
        (
            "198.51.100.0/24 nexthop via 192.0.2.1 dev eth0",
            "virtual route option 'nexthop' is not supported by vipkeeper",
        ),
        ("local 198.51.100.0/24 dev eth0", "virtual route type 'local' is not supported by vipkeeper"),
    ],
)
def test_route_errors_name_file_line_and_problem(line: str, message: str) -> None:
    route, diags = route_line(line)
    assert route is None
    assert ("error", 7, message) in diags


# -- virtual_rules -------------------------------------------------------------------------


def test_rule_with_every_common_option() -> None:
    rule, diags = rule_line(
        "from 192.0.2.10 to 198.51.100.0/24 table 100 priority 50 fwmark 0x10/0xff iif eth0 oif eth1"
    )
    assert diags == []
    assert rule == Rule(
        family=4,
        action="table",
        priority=50,
        src=ipaddress.ip_interface("192.0.2.10/32"),
        dst=ipaddress.ip_interface("198.51.100.0/24"),
        table=100,
        fwmark=0x10,
        fwmask=0xFF,
        iif="eth0",
        oif="eth1",
        protocol=RTPROT_KEEPALIVED,
        loc=Location("t.conf", 7),
    )


def test_rules_without_preference_count_down_from_16384_per_family_over_the_file() -> None:
    """keepalived: 'Rule has no preference specified - setting to 16384. This is probably
    not what you want.', then 16383, ... (one countdown per family, static rules included)."""
    text = (
        "static_rules {\n  from 192.0.2.0/24 table 1\n  from 2001:db8::/64 table 1\n}\n"
        + BASE
        + "    virtual_rules {\n        to 198.51.100.0/24 lookup 2\n"
        + "        blackhole from 203.0.113.0/24 priority 9\n    }\n}\n"
    )
    config, diags = parse(text)
    assert [r.priority for r in config.static_rules] == [16384, 16384]
    assert [(r.priority, r.action) for r in config.instances[0].virtual_rules] == [(16383, "table"), (9, "blackhole")]
    assert (
        "warning",
        11,
        "Rule has no preference specified - setting to 16383. This is probably not what you want.",
    ) in diags


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("from 192.0.2.0/24 nosuch 1", "Unknown rule option nosuch"),
        ("from 192.0.2.0/24", "No action specified for rule - ignoring"),
        ("from 192.0.2.0/24 table 0", "Table 0 is not valid"),
        ("from 192.0.2.300 table 1", "Invalid rule from address 192.0.2.300"),
        ("from 192.0.2.0/24 to 2001:db8::/32 table 1", "rule specification has mixed IPv4 and IPv6"),
        (
            "from 192.0.2.0/24 table 1 blackhole",
            "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable for rule",
        ),
        ("from 192.0.2.0/24 goto 100", "Invalid rule - goto target 100 specified without preference"),
        ("from 192.0.2.0/24 table 1 uidrange 1-2", "virtual rule option 'uidrange' is not supported by vipkeeper"),
    ],
)
def test_rule_errors(line: str, message: str) -> None:
    rule, diags = rule_line(line)
    assert rule is None
    assert ("error", 7, message) in diags


# -- static_* ------------------------------------------------------------------------------


def test_static_blocks_are_top_level_and_add_up() -> None:
    config, diags = parse(
        "static_ipaddress {\n  192.0.2.200/24 dev eth0 label eth0:st\n}\n"
        "static_routes {\n  198.51.100.0/24 via 192.0.2.1 dev eth0\n}\n"
        "static_routes {\n  blackhole 203.0.113.0/24\n}\n"
        "static_rules {\n  from 192.0.2.200 table 5 priority 100\n}\n" + BASE + "}\n"
    )
    assert [d for d in diags if d[0] == "error"] == []
    assert [str(a.address) for a in config.static_addresses] == ["192.0.2.200/24"]
    assert config.static_addresses[0].label == "eth0:st" and not config.static_addresses[0].no_track
    assert [str(r) for r in config.static_routes] == [
        "198.51.100.0/24 via 192.0.2.1 dev eth0",
        "blackhole 203.0.113.0/24",
    ]
    assert [str(r) for r in config.static_rules] == ["100: from 192.0.2.200/32 lookup 5"]
    config, diags = parse("static_ipaddress {\n  192.0.2.200/24 dev eth0 no_track\n}\n" + BASE + "}\n")
    assert diags == [] and config.static_addresses[0].no_track


def test_static_errors_name_the_line() -> None:
    config, diags = parse(
        "static_ipaddress {\n  192.0.2.200/24\n  192.0.2.201/24 dev eth0\n}\n"
        "static_routes {\n  198.51.100.0/24 dev eth0 window 9\n}\n" + BASE + "}\n"
    )
    assert ("error", 2, "static address '192.0.2.200/24' needs 'dev IFNAME' "
            "(vipkeeper does not implement keepalived's default_interface)") in diags  # fmt: skip
    assert ("error", 6, "static route option 'window' is not supported by vipkeeper") in diags
    assert [str(a.address) for a in config.static_addresses] == ["192.0.2.201/24"]


# -- accept / no_accept, promote_secondaries, garp_extra_if ---------------------------------


@pytest.mark.parametrize(
    ("head", "extra", "accept", "warning"),
    [
        ("", "", True, False),  # keepalived's default: accept
        ("", "no_accept", False, False),
        ("global_defs { vrrp_strict }\n", "version 3", False, False),  # strict: no_accept by default
        ("global_defs { vrrp_strict }\n", "version 3\naccept", True, False),
        # strict VRRPv2 resets 'accept' (keepalived: "does not comply with RFC3768 - resetting")
        ("global_defs { vrrp_strict }\n", "accept", False, True),
        ("global_defs { vrrp_strict }\n", "version 3\npriority 255\nstate MASTER", True, False),  # owner
        ("", "priority 255\nno_accept", True, False),  # an owner always accepts
    ],
)
def test_accept_mode(head: str, extra: str, accept: bool, warning: bool) -> None:
    inst, diags = instance(extra, head)
    assert inst is not None and inst.accept is accept
    assert any("does not comply with RFC3768" in d[2] for d in diags) is warning


def test_promote_secondaries_and_garp_extra_if() -> None:
    extra_vip = "virtual_ipaddress_excluded { 192.0.2.20/24 dev eth1 }\n"
    inst, diags = instance("promote_secondaries\ngarp_extra_if all 100\n" + extra_vip)
    assert diags == []
    assert inst is not None and inst.promote_secondaries and inst.garp_extra_if_s == 100 and inst.garp_extra_if_all
    # keepalived turns it off without a VIP on another interface, and without 'all' when there
    # is no VMAC to send on (vipkeeper has none)
    inst, diags = instance("garp_extra_if all 100")
    assert inst is not None and inst.garp_extra_if_s == 0 and diags == []
    inst, diags = instance("vmac_garp_intvl 30\n" + extra_vip)
    assert inst is not None and inst.garp_extra_if_s == 0
    assert diags == [("warning", 6, 'Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"')]
    # the global default, and the instance's own value over it
    inst, diags = instance(extra_vip, head="global_defs { vrrp_garp_extra_if all 60 }\n")
    assert inst is not None and inst.garp_extra_if_s == 60 and diags == []
    inst, _ = instance("garp_extra_if all 5\n" + extra_vip, head="global_defs { vrrp_garp_extra_if all 60 }\n")
    assert inst is not None and inst.garp_extra_if_s == 5
    _inst, diags = instance("garp_extra_if all")
    assert ("error", 6, "garp_extra_if specified without time") in diags
    _inst, diags = instance("garp_extra_if 86401")
    assert diags[0][:2] == ("error", 6)
