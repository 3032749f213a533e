"""The wire keywords beside ``auth_type AH``: ``mcast_dst_ip``, ``unicast_ttl`` (and the
unicast peers' ``min_ttl``/``max_ttl`` receive check), ``skip_check_adv_addr`` /
``vrrp_skip_check_adv_addr``, with keepalived 2.2.7's semantics (vrrp_parser.c, vrrp.c,
vrrp_data.c)."""

from __future__ import annotations

import ipaddress

import pytest

from vipkeeper.config.load import parse_string
from vipkeeper.config.to_params import router_params
from vipkeeper.core import codec
from vipkeeper.core.codec import Advertisement
from vipkeeper.core.events import AdvertDropped, Received, State, Transmit
from vipkeeper.core.node import VrrpNode
from vipkeeper.core.params import RouterLink, RouterParams

US = 1_000_000
ME = ipaddress.IPv4Address("10.0.0.1")
PEER = ipaddress.IPv4Address("10.0.0.2")
OTHER = ipaddress.IPv4Address("10.0.0.3")
VIP = ipaddress.IPv4Address("10.0.0.9")


def instance(body: str, gd: str = "") -> tuple[object, list[str]]:
    text = (f"global_defs {{\n{gd}}}\n" if gd else "") + (
        f"vrrp_instance V {{\ninterface eth0\nvirtual_router_id 9\n{body}virtual_ipaddress {{\n10.0.0.9\n}}\n}}\n"
    )
    config, diagnostics = parse_string(text)
    return config, [f"{d.severity}: {d.message}" for d in diagnostics]


def params_of(body: str, gd: str = "") -> RouterParams:
    config, diags = instance(body, gd)
    assert [d for d in diags if d.startswith("error")] == [], diags
    return router_params(config.instances[0], config.global_defs)  # type: ignore[attr-defined]


# ------------------------------------------------------------------ configuration


def test_mcast_dst_ip_is_the_instance_group() -> None:
    p = params_of("mcast_dst_ip 224.0.0.19\n", gd="vrrp_mcast_group4 224.0.0.20\n")
    assert p.destinations == (ipaddress.IPv4Address("224.0.0.19"),)
    assert params_of("", gd="vrrp_mcast_group4 224.0.0.20\n").destinations == (ipaddress.IPv4Address("224.0.0.20"),)


@pytest.mark.parametrize(
    "line, text",
    [
        ("mcast_dst_ip 10.0.0.5\n", "is not a multicast address; ignored"),
        ("mcast_dst_ip bogus\n", "not a valid IP address; ignored"),
        ("mcast_dst_ip ff05::12\n", "is not a link-local multicast address; ignored"),
        ("mcast_src_ip 10.0.0.1\nmcast_dst_ip ff02::12\n", "is not an IPv4 address like the instance"),
        ("mcast_dst_ip 224.0.0.19\nunicast_peer {\n10.0.0.2\n}\n", "mcast_dst_ip is given with unicast peers; ignored"),
    ],
)
def test_mcast_dst_ip_that_keepalived_skips(line: str, text: str) -> None:
    config, diags = instance(line)
    assert len(diags) == 1 and diags[0].startswith("warning") and text in diags[0], diags
    p = router_params(config.instances[0])  # type: ignore[attr-defined]
    assert p.group == ipaddress.IPv4Address("224.0.0.18")


def test_ipv6_mcast_dst_ip_must_be_link_local_multicast() -> None:
    body = "virtual_ipaddress {\nfe80::9\n}\n"
    config, diags = parse_string(
        f"vrrp_instance V {{\ninterface eth0\nvirtual_router_id 9\nmcast_dst_ip ff02::13\n{body}}}\n"
    )
    assert diags == []
    assert router_params(config.instances[0]).group == ipaddress.IPv6Address("ff02::13")
    _config, diags = parse_string(
        f"vrrp_instance V {{\ninterface eth0\nvirtual_router_id 9\nmcast_dst_ip ff05::13\n{body}}}\n"
    )
    assert ["link-local multicast" in d.message for d in diags] == [True]


def test_unicast_ttl() -> None:
    assert params_of("unicast_ttl 64\nunicast_peer {\n10.0.0.2\n}\n").unicast_ttl == 64
    config, diags = instance("unicast_ttl 64\n")  # keepalived: "Cannot use unicast_ttl without unicast peers"
    assert len(diags) == 1 and diags[0].startswith("warning: vrrp_instance V: unicast_ttl needs unicast peers; ignored")
    assert router_params(config.instances[0]).unicast_ttl == 255  # type: ignore[attr-defined]
    _config, diags = instance("unicast_ttl 256\nunicast_peer {\n10.0.0.2\n}\n")
    assert len(diags) == 1 and diags[0].startswith("error"), diags


def test_peer_ttl_range_turns_on_check_unicast_src() -> None:
    p = params_of("unicast_peer {\n10.0.0.2 min_ttl 250 max_ttl 255\n10.0.0.3\n}\n")
    assert p.check_unicast_src and p.peer_ttl == ((PEER, 250, 255),)
    _config, diags = instance("unicast_peer {\n10.0.0.2 min_ttl 9 max_ttl 3\n}\n")
    assert ["every packet from this peer is dropped" in d for d in diags] == [True]


@pytest.mark.parametrize(
    "body, gd, want, warned",
    [
        ("", "", False, False),
        ("", "vrrp_skip_check_adv_addr\n", True, False),
        ("skip_check_adv_addr\n", "", True, False),
        ("skip_check_adv_addr yes\n", "", True, False),
        # keepalived 2.2.7 sets it for any valid boolean, off included (vrrp_parser.c)
        ("skip_check_adv_addr off\n", "", True, True),
        ("skip_check_adv_addr maybe\n", "", False, True),
    ],
)
def test_skip_check_adv_addr_as_keepalived_reads_it(body: str, gd: str, want: bool, warned: bool) -> None:
    config, diags = instance(body, gd)
    assert bool(diags) == warned, diags
    assert router_params(config.instances[0]).skip_check_adv_addr is want  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body, want",
    [
        ("track_src_ip\nunicast_src_ip 10.0.0.1\nunicast_peer {\n10.0.0.2\n}\n", True),
        ("track_src_ip\nmcast_src_ip 10.0.0.1\n", True),
        # keepalived vrrp_complete_instance: "Clear track_saddr if no saddr specified"
        ("track_src_ip\n", False),
    ],
)
def test_track_src_ip_needs_a_configured_source(body: str, want: bool) -> None:
    """keepalived.conf(5): "if the configured src_ip doesn't exist or is removed put the instance
    into fault state" (the daemon's address events act on it); without a configured source it is
    cleared, silently, as keepalived does."""
    config, diags = instance(body)
    assert diags == []
    assert config.instances[0].track_src_ip is want  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the node


def started_master(p: RouterParams) -> tuple[VrrpNode, list[Transmit]]:
    node = VrrpNode()
    node.add_router(
        RouterParams(**{**{f: getattr(p, f) for f in p.__slots__}, "base_priority": 255, "want_master": True}),
        RouterLink(2, ME, bytes(6)),
    )  # type: ignore[attr-defined]
    sent = [e for e in node.start(0) if isinstance(e, Transmit)]
    t = 0
    while not sent:
        t += US
        sent = [e for e in node.on_timer(t) if isinstance(e, Transmit)]
    assert node.router(p.name).state is State.MASTER
    return node, sent


def node_with(p: RouterParams) -> VrrpNode:
    node = VrrpNode()
    node.add_router(p, RouterLink(2, ME, bytes(6)))
    node.start(0)
    return node


def base(**kw: object) -> RouterParams:
    fields = dict(name="V", vrid=9, version=2, family=4, base_priority=100, advert_int_cs=100, vips=(VIP,))
    fields.update(kw)
    return RouterParams(**fields)  # type: ignore[arg-type]


def advert(src: ipaddress.IPv4Address, dst: ipaddress.IPv4Address, ttl: int = 255, **kw: object) -> Received:
    fields = dict(version=2, vrid=9, priority=150, addresses=(VIP,), advert_int_cs=100)
    fields.update(kw)
    adv = Advertisement(**fields)  # type: ignore[arg-type]
    return Received(4, src, dst, ttl, 2, codec.encode(adv, family=4))


def reasons(effects: list) -> list[str]:
    return [e.reason for e in effects if isinstance(e, AdvertDropped)]


def test_unicast_ttl_on_every_advert_and_not_on_multicast() -> None:
    _node, sent = started_master(base(unicast_peers=(PEER,), unicast_ttl=3))
    assert {(t.dst, t.ttl) for t in sent} == {(PEER, 3)}
    _node, sent = started_master(base(unicast_ttl=3))
    assert {t.ttl for t in sent} == {255}


def test_peer_ttl_range_is_checked() -> None:
    node = node_with(base(unicast_peers=(PEER,), check_unicast_src=True, peer_ttl=((PEER, 250, 255),)))
    assert reasons(node.receive(advert(PEER, ME, ttl=64), US)) == ["bad_ttl"]
    assert reasons(node.receive(advert(PEER, ME, ttl=251), US)) == []
    # without a range only the source is checked; unicast adverts need no TTL 255
    node = node_with(base(unicast_peers=(PEER,), check_unicast_src=True))
    assert reasons(node.receive(advert(PEER, ME, ttl=1), US)) == []


def test_multicast_to_another_group_is_not_ours() -> None:
    group = ipaddress.IPv4Address("224.0.0.19")
    node = node_with(base(mcast_group=group))
    assert reasons(node.receive(advert(PEER, ipaddress.IPv4Address("224.0.0.18")), US)) == ["wrong_cast"]
    assert reasons(node.receive(advert(PEER, group), US)) == []
    assert node.router("V").state is State.BACKUP


def test_skip_check_adv_addr_only_for_the_master_followed() -> None:
    """keepalived vrrp_state_backup(): once a BACKUP follows a master, that master's adverts
    skip the VIP checks (count, list, unicast source); anyone else's are checked."""
    group = ipaddress.IPv4Address("224.0.0.18")
    wrong = (ipaddress.IPv4Address("10.0.0.99"),)
    for skip, want in ((False, ["addr_list"]), (True, [])):
        node = node_with(base(skip_check_adv_addr=skip))
        # the first advert from a master is always checked
        assert reasons(node.receive(advert(PEER, group, addresses=wrong), US)) == ["addr_list"]
        assert reasons(node.receive(advert(PEER, group), 2 * US)) == []
        assert reasons(node.receive(advert(PEER, group, addresses=wrong), 3 * US)) == want
        assert reasons(node.receive(advert(PEER, group, addresses=wrong + wrong), 4 * US)) == (
            ["addr_count"] if not skip else []
        )
        # another router's adverts are still checked
        assert reasons(node.receive(advert(OTHER, group, addresses=wrong, priority=200), 5 * US)) == ["addr_list"]


def test_skip_check_adv_addr_does_not_apply_as_master() -> None:
    group = ipaddress.IPv4Address("224.0.0.18")
    node, _sent = started_master(base(skip_check_adv_addr=True))
    wrong = (ipaddress.IPv4Address("10.0.0.99"),)
    assert reasons(node.receive(advert(PEER, group, addresses=wrong), US)) == ["addr_list"]


# ------------------------------------------------------------------ vipkeeper explain


def test_explain_flags_hosts_on_different_multicast_groups() -> None:
    from vipkeeper.explain import HostInput, explain

    def host(label: str, extra: str) -> HostInput:
        text = (
            f"vrrp_instance V {{\ninterface eth0\nvirtual_router_id 9\n{extra}virtual_ipaddress {{\n10.0.0.9\n}}\n}}\n"
        )
        config, diags = parse_string(text)
        return HostInput(label, config, tuple(diags), {})

    report = explain([host("A", "priority 150\nmcast_dst_ip 224.0.0.19\n"), host("B", "priority 100\n")])
    found = [f for f in report.findings if f.code == "mcast-group-mismatch"]
    assert [(f.severity, f.host) for f in found] == [("error", "B")]
    assert "A sends its adverts to mcast_dst_ip 224.0.0.19, B to the global group" in found[0].message
    same = explain([host("A", "priority 150\nmcast_dst_ip 224.0.0.19\n"), host("B", "mcast_dst_ip 224.0.0.19\n")])
    assert "mcast-group-mismatch" not in [f.code for f in same.findings]
