"""Warnings keepalived 2.2.7 gives that vipkeeper was silent about, with keepalived's effect
(vrrp.c vrrp_complete_instance): the address owner ignores weights, an instance's own
interface is not a tracked interface."""

from __future__ import annotations

from vipkeeper.config.load import parse_string

OWNER = """vrrp_script chk {
    script "/bin/true"
    weight 2
}
vrrp_script chk0 {
    script "/bin/true"
}
track_file tf {
    file /tmp/x
}
track_file tf2 {
    file /tmp/y
    weight 3
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 255
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
        chk0
    }
    track_file {
        tf
        tf2
    }
    track_interface {
        eth0 weight 5
        eth1 weight 5
        eth2
    }
}
"""


def test_address_owner_ignores_weighted_trackers_as_keepalived() -> None:
    config, diagnostics = parse_string(OWNER, path="t.conf")
    got = [(d.severity, d.line, d.message) for d in diagnostics]
    assert got == [
        ("warning", 23, "(VI_1) ignoring tracked script chk with weights due to address_owner"),
        ("warning", 27, "(VI_1) ignoring weight from tracked file tf due to address_owner; specify weight 0"),
        ("warning", 28, "(VI_1) ignoring tracked file tf2 with weight 3 due to address_owner"),
        (
            "warning",
            31,
            "(VI_1) ignoring track_interface eth0 since own interface "
            "(an instance is always in FAULT while its interface is down)",
        ),
        ("warning", 32, "(VI_1) ignoring eth1 tracked interface due to address owner"),
    ]
    (inst,) = config.instances
    assert [(r.name, r.weight) for r in inst.track_scripts] == [("chk0", None)]
    assert [(r.name, r.weight) for r in inst.track_files] == [("tf", 0)]
    assert [r.name for r in inst.track_interfaces] == ["eth2"]


def test_not_an_owner_keeps_its_weights() -> None:
    config, diagnostics = parse_string(OWNER.replace("priority 255", "priority 254"), path="t.conf")
    assert [d.line for d in diagnostics] == [31]  # only the own interface
    (inst,) = config.instances
    assert [r.name for r in inst.track_scripts] == ["chk", "chk0"]
    assert [r.name for r in inst.track_files] == ["tf", "tf2"]
    assert [r.name for r in inst.track_interfaces] == ["eth1", "eth2"]


def test_garp_interval_zero_is_a_defect_keepalived_runs_with(tmp_path) -> None:
    from vipkeeper import cli
    from vipkeeper.config.load import load_config

    text = (
        "global_defs {\n   vrrp_garp_interval 0\n   vrrp_gna_interval 0\n}\n"
        + "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"
    )
    _config, diagnostics = parse_string(text, path="t.conf")
    assert [(d.severity, d.line, d.fatal) for d in diagnostics] == [("error", 2, False), ("error", 3, False)]
    assert "ignored, as keepalived does" in diagnostics[0].message
    path = tmp_path / "k.conf"
    path.write_text(text)
    config = load_config(str(path))  # the daemon runs, with the default
    assert (config.global_defs.vrrp_garp_interval_us, config.global_defs.vrrp_gna_interval_us) == (0, 0)
    assert cli.main(["check", "-f", str(path)]) == 1  # as keepalived -t


SYNC = """vrrp_script chk {
    script "/bin/true"
    weight 5
}
track_file tf {
    file /tmp/x
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
    track_script {
        chk
    }
    track_file {
        tf
    }
    track_interface {
        eth1 weight 4
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    priority 100
    virtual_ipaddress {
        10.0.0.2
    }
}
"""


def test_sync_group_members_ignore_their_weights_as_keepalived() -> None:
    config, diagnostics = parse_string(SYNC, path="t.conf")
    assert [(d.line, d.message) for d in diagnostics] == [
        (22, "(VI_1) ignoring tracked script chk with weights due to SYNC group"),
        (25, "(VI_1) ignoring weight from tracked file tf due to SYNC group; specify weight 0"),
        (28, "(VI_1) ignoring eth1 tracked interface weight due to SYNC group"),
    ]
    inst = config.instances[0]
    assert (inst.track_scripts, [(r.name, r.weight) for r in inst.track_files]) == ((), [("tf", 0)])
    assert [(r.name, r.weight) for r in inst.track_interfaces] == [("eth1", 0)]


def test_sync_group_tracking_weight_keeps_them() -> None:
    text = SYNC.replace("vrrp_sync_group G {", "vrrp_sync_group G {\n    sync_group_tracking_weight")
    config, diagnostics = parse_string(text, path="t.conf")
    assert diagnostics == []
    assert config.sync_groups[0].tracking_weight
    inst = config.instances[0]
    assert [r.name for r in inst.track_scripts] == ["chk"] and inst.track_interfaces[0].weight == 4


def test_sync_group_with_an_owner_member_tracks_with_weight_0() -> None:
    text = (
        'vrrp_script chk {\n script "/bin/true"\n weight 5\n}\n'
        "vrrp_track_process tp {\n process haproxy\n weight 3\n}\n"
        "vrrp_sync_group G {\n group {\n VI_1\n VI_2\n }\n track_script {\n chk\n }\n track_process {\n tp\n }\n}\n"
        + "".join(
            f"vrrp_instance VI_{n} {{\n interface eth0\n virtual_router_id {n}\n priority {prio}\n"
            f" virtual_ipaddress {{\n 10.0.0.{n}\n }}\n}}\n"
            for n, prio in ((1, 255), (2, 255))
        )
    )
    config, diagnostics = parse_string(text, path="t.conf")
    assert [(d.line, d.message) for d in diagnostics] == [
        (15, "(G) Cannot have weighted track script 'chk' with member having priority 255 - clearing weight"),
        (18, "(G) Cannot have weighted track process 'tp' with member having priority 255 - setting weight 0"),
    ]
    (g,) = config.sync_groups
    assert [(r.name, r.weight) for r in g.track_scripts + g.track_processes] == [("chk", 0), ("tp", 0)]
