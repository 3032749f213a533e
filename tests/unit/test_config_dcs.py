"""``vrrp_dcs`` blocks: modes, defaults, every validation with its file:line, and the
``track_script`` reference from an instance."""

from __future__ import annotations

from vipkeeper.config.load import parse_string
from vipkeeper.config.model import Config, TrackRef, VrrpDcs


def parse(text: str) -> tuple[Config, list[tuple[str, int, str]]]:
    config, diagnostics = parse_string(text, path="t.conf", config_id="testhost")
    return config, [(d.severity, d.line, d.message) for d in diagnostics]


INSTANCE = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 100
    virtual_ipaddress { 10.0.0.9/24 }
    track_script {
        leader
    }
}
"""


def test_follow_mode_with_defaults_and_track_script_reference() -> None:
    text = "vrrp_dcs leader {\n endpoints http://10.0.0.1:2379 https://e2:2380\n key /service/pg/leader\n}\n"
    config, d = parse(text + INSTANCE)
    assert d == []
    assert config.dcs_checks["leader"] == VrrpDcs(
        name="leader",
        endpoints=("http://10.0.0.1:2379", "https://e2:2380"),
        mode="follow",
        key="/service/pg/leader",
        loc=config.dcs_checks["leader"].loc,
    )
    dcs = config.dcs_checks["leader"]
    assert (dcs.value, dcs.interval_s, dcs.timeout_s, dcs.weight) == (None, 1.0, 1.0, 0)
    assert (dcs.loc.file, dcs.loc.line) == ("t.conf", 1)
    assert config.instances[0].track_scripts[0].name == "leader"
    assert isinstance(config.instances[0].track_scripts[0], TrackRef)


def test_lock_mode_every_keyword() -> None:
    text = """vrrp_dcs leader {
    endpoints https://[fd00::1]:2379
    lock /vipkeeper/pg/VI_1
    value pg-a
    ttl 10
    interval 0.5
    timeout 0.25
    weight -20 reverse
    cacert /etc/ca.pem
    cert /etc/c.pem
    tls_key /etc/k.pem
    user vk
    password s3cret
}
"""
    config, d = parse(text + INSTANCE)
    assert d == []
    dcs = config.dcs_checks["leader"]
    assert dcs.mode == "lock" and dcs.key == "/vipkeeper/pg/VI_1" and dcs.value == "pg-a"
    assert (dcs.ttl_s, dcs.interval_s, dcs.timeout_s) == (10, 0.5, 0.25)
    assert (dcs.weight, dcs.weight_reverse) == (-20, True)
    assert (dcs.cacert, dcs.cert, dcs.tls_key, dcs.user, dcs.password) == (
        "/etc/ca.pem", "/etc/c.pem", "/etc/k.pem", "vk", "s3cret",
    )  # fmt: skip
    assert dcs.endpoints == ("https://[fd00::1]:2379",)


def test_errors_and_warnings_point_at_their_lines() -> None:
    text = """vrrp_dcs a {
    endpoints http://e1
    key /k
    ttl 9
}
vrrp_dcs b {
    endpoints ftp://e1:1 http://e2:99999
    lock /l
}
vrrp_dcs c {
    endpoints http://e1:2379
    key /k
    lock /l
}
vrrp_dcs d {
    endpoints http://e1:2379
}
vrrp_dcs e {
    endpoints http://e1:2379
    lock /l
    ttl 2
    cert /c
    user u
}
vrrp_dcs f {
    key /k
    interval 0
    timeout abc
}
"""
    _config, d = parse(text)
    assert d == [
        ("warning", 2, "endpoint 'http://e1' has no port; using etcd's 2379"),
        ("warning", 4, "vrrp_dcs 'a': 'ttl' is for lock mode only, ignored"),
        ("error", 7, "endpoint 'ftp://e1:1' is not http(s)://HOST[:PORT]"),
        ("error", 13, "vrrp_dcs 'c': 'key' (follow mode) and 'lock' (lock mode) exclude each other"),
        ("error", 15, "vrrp_dcs 'd' needs 'key KEY' (follow mode) or 'lock KEY' (lock mode)"),
        ("warning", 19, "vrrp_dcs 'e': TLS options are given but endpoint http://e1:2379 is plain http"),
        ("error", 21, "vrrp_dcs 'e': ttl 2 s is too short for interval 1 s and timeout 1 s "
                      "(needs more than interval + 2 x timeout = 3 s)"),
        ("error", 22, "vrrp_dcs 'e': 'cert' and 'tls_key' go together"),
        ("error", 23, "vrrp_dcs 'e': 'user' and 'password' go together"),
        ("error", 25, "vrrp_dcs 'f' has no 'endpoints'"),
        ("error", 27, "interval 0 is out of range [0.001, 3600]"),
        ("error", 28, "timeout: 'abc' is not a number"),
    ]  # fmt: skip


def test_a_broken_block_is_not_reported_again_by_its_reference() -> None:
    _config, d = parse("vrrp_dcs leader {\n key /k\n}\n" + INSTANCE)
    assert d == [("error", 1, "vrrp_dcs 'leader' has no 'endpoints'")]


def test_name_shared_with_a_vrrp_script_is_an_error() -> None:
    text = "vrrp_script leader {\n script /bin/true\n}\nvrrp_dcs leader {\n endpoints http://e:2379\n key /k\n}\n"
    _config, d = parse(text)
    assert d == [("error", 4, "vrrp_dcs 'leader' has the name of the vrrp_script at line 1")]


def test_clear_text_password_warns() -> None:
    _config, d = parse("vrrp_dcs x {\n endpoints http://e:2379\n key /k\n user u\n password p\n}\n")
    assert d == [("warning", 5, "vrrp_dcs 'x': the password travels in clear over http endpoints")]


def test_the_readme_patroni_setup_is_a_clean_configuration() -> None:
    """README "Patroni + vipkeeper": the file it shows loads without a warning, with both
    trackers at weight 0 (FAULT while failed) on the instance."""
    import pathlib

    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Patroni + vipkeeper") :]
    text = section.split("```\n", 2)[1]
    config, diagnostics = parse_string(text, path="README.md", config_id="pg-a")
    assert [str(d) for d in diagnostics] == []
    (inst,) = config.instances
    assert [t.name for t in inst.track_scripts] == ["leader", "pg"]
    assert config.dcs_checks["leader"].weight == 0 and config.pgsql_checks["pg"].weight == 0
