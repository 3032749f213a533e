"""lab.conf, the keepalived.conf builder of the integration tests, bench and demo: what it
renders is what the daemon's parser reads, without a diagnostic."""

from __future__ import annotations

from lab.conf import global_defs, section, vrrp_instance, vrrp_pgsql, vrrp_script, vrrp_sync_group, vrrp_track_file
from vipkeeper.config.load import parse_string


def parse(text: str):
    config, diagnostics = parse_string(text, path="t.conf", config_id="A")
    assert [str(d) for d in diagnostics] == [], text
    return config


def test_instance_renders_every_keyword_in_one_block() -> None:
    text = vrrp_instance(
        "VI_1",
        state="BACKUP",
        vrid=51,
        priority=100,
        advert_int=1,
        version=2,
        unicast_src="172.20.0.112",
        unicast_peers=["172.20.0.113"],
        auth_pass="1111",
        extra=["nopreempt"],
        vips=["172.20.0.115"],
        track_interface=["eth1"],
    )
    assert (
        text
        == """vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    version 2
    unicast_src_ip 172.20.0.112
    unicast_peer {
        172.20.0.113
    }
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    nopreempt
    virtual_ipaddress {
        172.20.0.115
    }
    track_interface {
        eth1
    }
}
"""
    )
    (inst,) = parse(text).instances
    assert (inst.name, inst.vrid, inst.priority, inst.version) == ("VI_1", 51, 100, 2)
    assert inst.unicast and inst.nopreempt and inst.auth is not None and inst.auth.auth_pass == b"1111"


def test_left_out_keywords_are_absent() -> None:
    text = vrrp_instance("VI_4", vrid=1, vips=["172.20.0.115"])
    assert "state" not in text and "priority" not in text and "version" not in text
    assert "interface eth0" in text


def test_tracker_blocks_and_a_sync_group_parse() -> None:
    text = (
        global_defs("vrrp_garp_master_delay 1", "enable_script_security", "script_user root")
        + vrrp_script("chk", '"/bin/true"', interval=1, timeout=1, weight=4)
        + vrrp_track_file("tf", "/tmp/prio", weight=10)
        + vrrp_pgsql(
            "chk_pg",
            "host=127.0.0.1 port=5432",
            interval="0.2",
            timeout="1",
            rise=1,
            fall=2,
            weight=0,
            peer_conninfo=["host=172.20.0.113 port=5432"],
            data_directory="/tmp/data",
        )
        + vrrp_instance(
            "VI_1",
            vrid=42,
            priority=150,
            advert_int="0.1",
            version=3,
            vips=["172.20.0.115"],
            extra=[section("virtual_ipaddress_excluded", ["172.20.0.117/24"])],
            track_script=["chk weight 0", "chk_pg"],  # a sync group member: keepalived ignores weights
            track_file=["tf weight 0"],
        )
        + vrrp_instance("VI_2", vrid=43, priority=150, advert_int="0.1", version=3, vips=["172.20.0.116"])
        + vrrp_sync_group("G", ["VI_1", "VI_2"])
    )
    config = parse(text)
    assert [i.name for i in config.instances] == ["VI_1", "VI_2"]
    assert '    conninfo "host=127.0.0.1 port=5432"\n' in text
    assert '    peer_conninfo "host=172.20.0.113 port=5432"\n' in text
