"""The keepalived.conf parser: the seed, the model, keepalived 2.2.7's completion rules."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from vipkeeper.config.load import load_config, parse_file, parse_string
from vipkeeper.config.model import (
    Authentication,
    Config,
    Location,
    Notify,
    TrackRef,
    VirtualAddress,
    VrrpInstance,
    VrrpScript,
)
from vipkeeper.errors import ConfigError

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed" / "keepalived.conf"
SEED_COPY = Path(__file__).parent / "configs" / "valid" / "seed.conf"
VALID = Path(__file__).parent / "configs" / "valid"


def parse_ok(text: str, **kw: object) -> Config:
    config, diagnostics = parse_string(text, path="t.conf", config_id="testhost", **kw)  # type: ignore[arg-type]
    assert [str(d) for d in diagnostics] == []
    return config


def diags(text: str) -> list[tuple[str, int, str]]:
    _config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return [(d.severity, d.line, d.message) for d in diagnostics]


def instance(body: str, head: str = "") -> VrrpInstance:
    config = parse_ok(f"{head}\nvrrp_instance VI_1 {{\n{body}\n}}\n")
    return config.instances[0]


def test_seed_copy_is_byte_identical() -> None:
    if SEED.exists():
        assert SEED.read_bytes() == SEED_COPY.read_bytes()


def test_seed_parses_to_exactly_the_expected_model() -> None:
    path = str(SEED_COPY)
    config, diagnostics = parse_file(path)
    assert diagnostics == []
    at = lambda line: Location(path, line)  # noqa: E731
    assert config.scripts == {
        "chk_haproxy": VrrpScript(
            name="chk_haproxy",
            script="/var/lib/pgsql/12/repmgr/keepalived_pgsql_chk.sh",
            interval_s=2.0,
            weight=4,
            loc=at(1),
        )
    }
    assert config.instances == (
        VrrpInstance(
            name="VI_1",
            interface="eth0",
            vrid=51,
            priority=100,
            initial_state="MASTER",
            version=2,
            family=4,
            advert_int_cs=100,
            unicast_src_ip=ipaddress.IPv4Address("172.20.0.112"),
            unicast_peers=(ipaddress.IPv4Address("172.20.0.113"),),
            auth=Authentication("PASS", b"1111", loc=at(16)),
            vips=(VirtualAddress(ipaddress.IPv4Interface("172.20.0.115/32"), loc=at(21)),),
            track_scripts=(TrackRef("chk_haproxy", None, False, loc=at(24)),),
            loc=at(6),
        ),
    )
    assert config.pgsql_checks == {} and config.track_files == {} and config.sync_groups == ()
    assert config.global_defs.vrrp_version == 2
    assert config.path == path
    inst = config.instances[0]
    assert inst.unicast and not inst.nopreempt and inst.auth is not None and inst.auth.auth_pass == b"1111"


def test_the_shared_seed_itself_has_no_diagnostics() -> None:
    if not SEED.exists():
        pytest.skip("shared seed not present")
    _config, diagnostics = parse_file(str(SEED))
    assert diagnostics == []


def test_load_config_returns_the_config_or_raises_the_first_error(tmp_path: Path) -> None:
    assert load_config(str(SEED_COPY)).instances[0].name == "VI_1"
    bad = tmp_path / "bad.conf"
    bad.write_text(SEED_COPY.read_text().replace("virtual_router_id 51", "virtual_router_id 0"))
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert (e.value.file, e.value.line) == (str(bad), 9)
    assert str(e.value).startswith(f"{bad}:9: error: virtual_router_id 0 is out of range")


def test_load_config_accepts_warnings(tmp_path: Path) -> None:
    p = tmp_path / "w.conf"
    p.write_text(SEED_COPY.read_text() + "virtual_server 1.2.3.4 80 {\n}\n")
    assert len(load_config(str(p)).instances) == 1


def test_valid_config_with_includes_globs_and_definitions() -> None:
    config, diagnostics = parse_file(str(VALID / "main.conf"))
    assert diagnostics == []
    g = config.global_defs
    assert g.router_id == "eth0_node" and g.vrrp_garp_master_delay_s == 2 and g.vrrp_check_unicast_src
    script = config.scripts["chk_pg"]
    assert script.script == "/usr/local/bin/check 'primary only'"
    assert (script.interval_s, script.weight, script.weight_reverse, script.rise, script.fall) == (3.0, -20, True, 2, 3)
    assert script.user == "postgres" and script.group is None
    assert script.loc == Location(str(VALID / "scripts" / "chk.conf"), 1)
    vi1, vi2 = config.instances
    assert vi1.interface == "eth0" and vi1.initial_state == "BACKUP" and vi1.priority == 150
    assert vi1.unicast_peers == (ipaddress.ip_address("172.20.0.113"), ipaddress.ip_address("172.20.0.114"))
    assert vi1.vips == (
        VirtualAddress(
            ipaddress.IPv4Interface("172.20.0.115/24"),
            dev="eth0",
            label="eth0:vip",
            loc=Location(str(VALID / "conf.d" / "10-vi1.conf"), 10),
        ),
    )
    assert vi1.track_scripts == (TrackRef("chk_pg", None, True, Location(str(VALID / "conf.d" / "10-vi1.conf"), 13)),)
    assert vi1.check_unicast_src and vi2.check_unicast_src  # from global vrrp_check_unicast_src
    assert (vi1.garp_master_delay_s, vi2.garp_master_delay_s) == (2, 7)  # global unless overridden


# -- completion rules (keepalived vrrp.c vrrp_complete_instance) -------------------------------

BASE = "interface eth0\nvirtual_router_id 9\nvirtual_ipaddress {\n10.0.0.9\n}\n"


@pytest.mark.parametrize(
    "body, state, priority",
    [
        ("", "BACKUP", 100),
        ("state MASTER", "MASTER", 255),
        ("state BACKUP", "BACKUP", 100),
        ("priority 255", "MASTER", 255),
        ("priority 254", "BACKUP", 254),
        ("state MASTER\npriority 50", "MASTER", 50),
        ("state BACKUP\npriority 255", "BACKUP", 255),
    ],
)
def test_state_and_priority_derive_from_each_other(body: str, state: str, priority: int) -> None:
    inst = instance(BASE + body)
    assert (inst.initial_state, inst.priority) == (state, priority)


def test_version_from_instance_or_global() -> None:
    assert instance(BASE).version == 2
    assert instance(BASE, head="global_defs {\nvrrp_version 3\n}").version == 3
    assert instance(BASE + "version 3").version == 3
    assert instance(BASE + "version 2", head="global_defs {\nvrrp_version 3\n}").version == 2


def test_ipv6_instance_uses_version_3_even_if_global_says_2() -> None:
    inst = instance(
        "interface eth0\nvirtual_router_id 9\nvirtual_ipaddress {\nfe80::9\n2001:db8::9/64\n}",
        head="global_defs {\nvrrp_version 2\n}",
    )
    assert (inst.family, inst.version) == (6, 3)
    assert inst.vips[1].address == ipaddress.IPv6Interface("2001:db8::9/64")


def test_family_from_unicast_addresses() -> None:
    text = (
        "vrrp_instance V {\ninterface eth0\nvirtual_router_id 9\nunicast_src_ip 10.0.0.1\n"
        "unicast_peer {\n2001:db8::2\n}\n}\n"
    )
    assert diags(text) == [
        ("warning", 1, "vrrp_instance V: no virtual_ipaddress; at least one is sensible"),
        ("error", 6, "unicast peer '2001:db8::2' is IPv6 but the instance is IPv4 (set by '10.0.0.1' at line 4)"),
    ]


def test_no_vip_is_an_error_for_v3() -> None:
    assert diags("vrrp_instance V {\ninterface eth0\nvirtual_router_id 9\nversion 3\n}\n") == [
        ("error", 1, "vrrp_instance V: no virtual_ipaddress; at least one is required"),
    ]


@pytest.mark.parametrize(
    "value, cs, warned",
    [("1", 100, False), ("3", 300, False), ("1.4", 100, True), ("1.5", 200, True), ("0.3", 100, True)],
)
def test_advert_int_v2_is_whole_seconds_rounded(value: str, cs: int, warned: bool) -> None:
    _config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}advert_int {value}\n}}\n")
    config = _config
    assert config.instances[0].advert_int_cs == cs
    assert [d.severity for d in diagnostics] == (["warning"] if warned else [])


@pytest.mark.parametrize(
    "value, cs, warned",
    [("1", 100, False), ("0.01", 1, False), ("0.35", 35, False), ("40.95", 4095, False), ("0.015", 2, True)],
)
def test_advert_int_v3_is_centiseconds(value: str, cs: int, warned: bool) -> None:
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}version 3\nadvert_int {value}\n}}\n")
    assert config.instances[0].advert_int_cs == cs
    assert [d.severity for d in diagnostics] == (["warning"] if warned else [])


def test_advert_int_below_10_ms_is_an_error() -> None:
    got = diags(f"vrrp_instance V {{\n{BASE}version 3\nadvert_int 0.001\n}}\n")
    assert got == [("error", 8, "advert_int 0.001 is out of range [0.01, 255]")]


def test_auth_pass_is_truncated_to_8_bytes() -> None:
    text = f"vrrp_instance V {{\n{BASE}authentication {{\nauth_type PASS\nauth_pass abcdefghij\n}}\n}}\n"
    config, diagnostics = parse_string(text)
    assert config.instances[0].auth == Authentication("PASS", b"abcdefgh", Location("<string>", 7))
    assert [(d.severity, d.line) for d in diagnostics] == [("warning", 9)]


def test_authentication_is_ignored_with_v3_and_strict() -> None:
    auth = "authentication {\nauth_type PASS\nauth_pass x\n}\n"
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}version 3\n{auth}}}\n")
    assert config.instances[0].auth is None and [d.severity for d in diagnostics] == ["warning"]
    config, diagnostics = parse_string(f"global_defs {{\nvrrp_strict\n}}\nvrrp_instance V {{\n{BASE}{auth}}}\n")
    assert config.instances[0].auth is None and [d.severity for d in diagnostics] == ["warning"]


def test_authentication_without_password_is_an_error() -> None:
    assert [(s, n) for s, n, _ in diags(f"vrrp_instance V {{\n{BASE}authentication {{\nauth_type PASS\n}}\n}}\n")] == [
        ("error", 7)
    ]


@pytest.mark.parametrize(
    "body, nopreempt, delay_s, warnings",
    [
        ("nopreempt", True, 0.0, 0),
        ("nopreempt\npriority 255", False, 0.0, 1),
        ("nopreempt\nstate MASTER\npriority 100", False, 0.0, 1),
        ("preempt_delay 30\nstate MASTER\npriority 100", False, 0.0, 1),
        ("preempt_delay 2.5", False, 2.5, 0),
        ("preempt_delay 5\nnopreempt", True, 0.0, 1),
        ("nopreempt\npreempt", False, 0.0, 0),
    ],
)
def test_preempt_rules(body: str, nopreempt: bool, delay_s: float, warnings: int) -> None:
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}{body}\n}}\n")
    inst = config.instances[0]
    assert (inst.nopreempt, inst.preempt_delay_s) == (nopreempt, delay_s)
    assert [d.severity for d in diagnostics] == ["warning"] * warnings


def test_globals_are_inherited_and_overridden() -> None:
    head = """global_defs {
        vrrp_garp_master_delay 1
        vrrp_garp_master_repeat 2
        vrrp_garp_master_refresh 60
        vrrp_garp_master_refresh_repeat 3
        vrrp_garp_interval 0.001
        vrrp_gna_interval 0.002
        vrrp_garp_lower_prio_repeat 4
        vrrp_lower_prio_no_advert
        vrrp_higher_prio_send_advert on
        vrrp_check_unicast_src
        vrrp_down_timer_adverts 5
    }"""
    inst = instance(BASE, head=head)
    assert (
        inst.garp_master_delay_s,
        inst.garp_master_repeat,
        inst.garp_master_refresh_s,
        inst.garp_master_refresh_repeat,
        inst.garp_interval_us,
        inst.gna_interval_us,
        inst.garp_lower_prio_repeat,
        inst.garp_lower_prio_delay_s,
    ) == (1, 2, 60, 3, 1000, 2000, 4, None)
    assert inst.lower_prio_no_advert and inst.higher_prio_send_advert and inst.check_unicast_src
    assert inst.down_timer_adverts == 5
    inst = instance(
        BASE + "garp_master_delay 9\ngarp_master_repeat 8\nlower_prio_no_advert off\n"
        "higher_prio_send_advert false\ngarp_interval 0.5\ndown_timer_adverts 2",
        head=head,
    )
    assert (inst.garp_master_delay_s, inst.garp_master_repeat, inst.garp_interval_us) == (9, 8, 500_000)
    assert not inst.lower_prio_no_advert and not inst.higher_prio_send_advert and inst.down_timer_adverts == 2


def test_strict_mode_defaults() -> None:
    inst = instance(BASE, head="global_defs {\nvrrp_strict\n}")
    assert inst.strict and inst.lower_prio_no_advert and not inst.higher_prio_send_advert
    assert (inst.garp_lower_prio_repeat, inst.garp_lower_prio_delay_s) == (0, 0)
    assert not instance(BASE + "strict_mode off", head="global_defs {\nvrrp_strict\n}").strict
    assert instance(BASE + "strict_mode").strict


def test_strict_mode_rejects_unicast() -> None:
    text = f"global_defs {{\nvrrp_strict\n}}\nvrrp_instance V {{\n{BASE}unicast_peer {{\n10.0.0.2\n}}\n}}\n"
    assert [(s, n) for s, n, _ in diags(text)] == [("error", 10)]


def test_track_references_may_name_scripts_pgsql_checks_and_track_files() -> None:
    text = f"""
vrrp_script s1 {{
    script /bin/true
    weight 10 reverse
}}
vrrp_pgsql pg {{
    conninfo "host=/run/postgresql dbname=postgres"
    interval 0.5
    timeout 0.25
    peer_conninfo host=10.0.0.2 user=vk
    peer_conninfo "host=10.0.0.3"
    data_directory /var/lib/postgresql/15/main
    weight 20
}}
track_file tf {{
    file /run/tf
    weight -3
    init_file 7 overwrite
}}
vrrp_instance V {{
    {BASE}
    track_script {{
        s1
        pg weight -5
        s1b weight 4 noreverse
    }}
    track_interface {{
        eth1 weight -10
        eth2
    }}
    track_file {{
        tf weight 2 reverse
    }}
}}
vrrp_script s1b {{
    script "/bin/check arg"
    weight 3 reverse
}}
"""
    config, diagnostics = parse_string(text)
    assert [d.severity for d in diagnostics] == ["warning"]  # s1b is defined after its use
    pg = config.pgsql_checks["pg"]
    assert pg.conninfo == "host=/run/postgresql dbname=postgres"
    assert (pg.interval_s, pg.timeout_s, pg.weight) == (0.5, 0.25, 20)
    assert pg.peer_conninfo == ("host=10.0.0.2 user=vk", "host=10.0.0.3")
    assert pg.data_directory == "/var/lib/postgresql/15/main"
    tf = config.track_files["tf"]
    assert (tf.file, tf.weight, tf.init_file, tf.init_value, tf.init_overwrite) == ("/run/tf", -3, True, 7, True)
    inst = config.instances[0]
    # an entry without 'reverse'/'noreverse' keeps the tracked object's own direction
    assert [(r.name, r.weight, r.weight_reverse) for r in inst.track_scripts] == [
        ("s1", None, True),
        ("pg", -5, False),
        ("s1b", 4, False),
    ]
    assert [(r.name, r.weight) for r in inst.track_interfaces] == [("eth1", -10), ("eth2", None)]
    assert [(r.name, r.weight, r.weight_reverse) for r in inst.track_files] == [("tf", 2, True)]


def test_script_command_words() -> None:
    config = parse_ok(
        "vrrp_script a {\nscript \"/bin/check --x 'a b'\"\ntimeout 5\nuser nobody nogroup\ninit_fail\n}\n"
    )
    s = config.scripts["a"]
    assert s.script == "/bin/check --x 'a b'"
    assert (s.timeout_s, s.effective_timeout_s, s.user, s.group, s.init_fail) == (5.0, 5.0, "nobody", "nogroup", True)
    assert diags("vrrp_script a {\nscript /bin/check arg\n}\n")[0][:2] == ("warning", 2)


def test_notify_scripts() -> None:
    inst = instance(
        BASE + 'notify "/bin/notify all"\nnotify_master /bin/m\nnotify_backup /bin/b\n'
        'notify_fault "/bin/f x"\nnotify_stop /bin/s'
    )
    assert inst.notify == Notify(
        master="/bin/m", backup="/bin/b", fault="/bin/f x", stop="/bin/s", any="/bin/notify all"
    )


def test_virtual_address_options() -> None:
    inst = instance(
        "interface eth0\nvirtual_router_id 9\nvirtual_ipaddress {\n"
        "10.0.0.9/24 brd + dev eth1 scope link label eth1:9\n10.0.0.10/24 broadcast -\n"
        "10.0.0.11/24 brd 10.0.0.200\n}\nvirtual_ipaddress_excluded {\n2001:db8::1\n10.1.0.1\n}"
    )
    a, b, c = inst.vips
    assert (a.address, a.dev, a.brd, a.scope, a.label) == (
        ipaddress.IPv4Interface("10.0.0.9/24"),
        "eth1",
        ipaddress.IPv4Address("10.0.0.255"),
        "link",
        "eth1:9",
    )
    assert b.brd == ipaddress.IPv4Address("10.0.0.0") and c.brd == ipaddress.IPv4Address("10.0.0.200")
    assert [v.family for v in inst.vips_excluded] == [6, 4]


def test_sync_group() -> None:
    text = f"""vrrp_script chk {{
  script /bin/true
}}
vrrp_instance A {{
{BASE}}}
vrrp_instance B {{
interface eth0
virtual_router_id 10
virtual_ipaddress {{
10.0.0.10
}}
}}
vrrp_sync_group G {{
  group {{
    A B
  }}
  notify_master /bin/gm
  track_script {{
    chk weight 5
  }}
}}
"""
    config = parse_ok(text)
    g = config.sync_groups[0]
    assert (g.name, g.members, g.notify.master) == ("G", ("A", "B"), "/bin/gm")
    assert [(r.name, r.weight) for r in g.track_scripts] == [("chk", 5)]


def test_sync_group_instance_in_two_groups_and_single_member() -> None:
    text = (
        f"vrrp_instance A {{\n{BASE}}}\nvrrp_sync_group G {{\ngroup {{\nA\n}}\n}}\n"
        "vrrp_sync_group H {\ngroup {\nA\n}\n}\n"
    )
    assert [(s, n) for s, n, _ in diags(text)] == [("warning", 8), ("error", 15)]


def test_global_defs_values() -> None:
    g = parse_ok("""global_defs {
        router_id r1
        script_user keepalived_script scripts
        enable_script_security
        vrrp_mcast_group4 224.0.0.19
        vrrp_mcast_group6 ff02::13
        notify_fifo /run/k.fifo
        notify_fifo_script "/bin/fifo handler"
        vrrp_notify_fifo /run/v.fifo
        vrrp_notify_fifo_script /bin/vfifo
        vrrp_rt_priority 50
        vrrp_priority -5
        vrrp_skip_check_adv_addr
        metrics_listen 127.0.0.1:9650
    }""").global_defs
    assert (g.router_id, g.script_user, g.script_group, g.enable_script_security) == (
        "r1",
        "keepalived_script",
        "scripts",
        True,
    )
    assert (str(g.vrrp_mcast_group4), str(g.vrrp_mcast_group6)) == ("224.0.0.19", "ff02::13")
    assert (g.notify_fifo, g.notify_fifo_script, g.vrrp_notify_fifo, g.vrrp_notify_fifo_script) == (
        "/run/k.fifo",
        "/bin/fifo handler",
        "/run/v.fifo",
        "/bin/vfifo",
    )
    assert (g.vrrp_rt_priority, g.vrrp_priority, g.vrrp_skip_check_adv_addr, g.metrics_listen) == (
        50,
        -5,
        True,
        "127.0.0.1:9650",
    )
    assert g.loc.line == 0


def test_vrrp_min_garp() -> None:
    g = parse_ok("global_defs {\nvrrp_min_garp\nvrrp_garp_master_repeat 3\n}").global_defs
    assert (g.vrrp_garp_master_repeat, g.vrrp_garp_master_delay_s, g.vrrp_garp_master_refresh_repeat) == (3, 0, 0)


@pytest.mark.parametrize(
    "line, message",
    [
        ("vrrp_mcast_group4 10.0.0.1", "is not a multicast address"),
        ("vrrp_mcast_group4 ff02::12", "is not an IPv4 address"),
        ("vrrp_version 4", "vrrp_version 4 is out of range [2, 3]"),
        ("vrrp_garp_interval 1.0000001", "too many decimal places"),
        ("vrrp_lower_prio_no_advert maybe", "is not one of on/off"),
    ],
)
def test_global_defs_errors(line: str, message: str) -> None:
    got = diags(f"global_defs {{\n{line}\n}}\n")
    assert [(s, n) for s, n, _ in got] == [("error", 2)] and message in got[0][2]


def test_braces_on_their_own_lines_and_one_line_blocks() -> None:
    config = parse_ok("vrrp_instance V\n{\ninterface eth0\nvirtual_router_id 9\nvirtual_ipaddress { 10.0.0.9 }\n}\n")
    assert config.instances[0].vips[0].address == ipaddress.IPv4Interface("10.0.0.9/32")


def test_duplicate_script_name_between_script_and_pgsql_is_an_error() -> None:
    text = "vrrp_script x {\nscript /bin/true\n}\nvrrp_pgsql x {\nconninfo a=b\n}\n"
    assert [(s, n) for s, n, _ in diags(text)] == [("error", 4)]


def test_diagnostics_are_sorted_by_file_then_line(tmp_path: Path) -> None:
    (tmp_path / "inc.conf").write_text("bogus_inc 1\n")
    (tmp_path / "main.conf").write_text("bogus_a 1\ninclude inc.conf\nbogus_b 1\n}\n")
    _config, diagnostics = parse_file(str(tmp_path / "main.conf"))
    assert [(Path(d.file).name, d.line) for d in diagnostics] == [
        ("main.conf", 1),
        ("main.conf", 3),
        ("main.conf", 4),
        ("inc.conf", 1),
    ]


@pytest.mark.parametrize(
    "extra, severity, text",
    [
        # where keepalived itself ignores the authentication block, so does vipkeeper
        ("version 3\n", "warning", "VRRP version 3 does not support authentication, ignored"),
        ("strict_mode\n", "warning", "strict mode does not support authentication, ignored"),
        # keepalived vrrp_complete_instance: "Initial state master is incompatible with AH - clearing"
        ("state MASTER\npriority 100\n", "warning", "initial state MASTER is incompatible with auth_type AH"),
    ],
)
def test_auth_type_ah_where_keepalived_ignores_or_adjusts_it(extra: str, severity: str, text: str) -> None:
    auth = "authentication {\nauth_type AH\nauth_pass x\n}\n"
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}{extra}{auth}}}\n")
    assert [(d.severity, text in d.message) for d in diagnostics] == [(severity, True)], [str(d) for d in diagnostics]
    assert len(config.instances) == 1
    assert config.instances[0].initial_state == "BACKUP"


def test_auth_type_ah_is_accepted_with_its_key() -> None:
    from vipkeeper.config.to_params import router_params
    from vipkeeper.core.constants import AUTH_AH

    auth = "authentication {\nauth_type AH\nauth_pass secret123\n}\n"
    config, diagnostics = parse_string(f"vrrp_instance V {{\n{BASE}{auth}}}\n")
    assert [d.severity for d in diagnostics] == ["warning"]  # auth_pass truncated to 8, as keepalived
    inst = config.instances[0]
    assert inst.auth is not None and inst.auth.auth_type == "AH"
    params = router_params(inst)
    assert (params.auth_type, params.auth_data) == (AUTH_AH, b"secret12")


def test_source_and_peer_addresses_with_a_prefix_length_are_the_address() -> None:
    """keepalived 2.2.7 reads `unicast_src_ip 192.168.0.91/24`, `unicast_peer { .../24 }` and
    `mcast_src_ip 10.0.0.5/24` as the address (it used to be refused here)."""
    text = (
        "vrrp_instance V {\ninterface eth0\nvirtual_router_id 9\nunicast_src_ip 192.168.0.91/24\n"
        "mcast_src_ip 10.0.0.5/24\nunicast_peer {\n192.168.0.92/24\n192.168.0.93\n}\n"
        "virtual_ipaddress {\n192.168.0.100\n}\n}\n"
    )
    config, diags = parse_string(text, path="t.conf")
    assert [str(d) for d in diags if d.is_error] == []
    (inst,) = config.instances
    assert inst.unicast_src_ip == ipaddress.ip_address("192.168.0.91")
    assert inst.mcast_src_ip == ipaddress.ip_address("10.0.0.5")
    assert inst.unicast_peers == (ipaddress.ip_address("192.168.0.92"), ipaddress.ip_address("192.168.0.93"))
    bad, diags = parse_string(text.replace("192.168.0.92/24", "192.168.0.92/x"), path="t.conf")
    assert [str(d) for d in diags if d.is_error] == [
        "t.conf:7: error: unicast peer: '192.168.0.92/x' is not a valid IP address"
    ]
