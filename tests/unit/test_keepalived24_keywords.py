"""keepalived 2.2.8 - 2.4.3 keywords that change the VIP, the wire or the host: acted on or
refused (keepalived's release notes and keepalived.conf(5) of 2.4.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.linked import US, LinkedNodes
from vipkeeper.config.load import parse_string
from vipkeeper.config.to_params import router_params

HEX = "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"


def diags(text: str) -> list[str]:
    return [str(d) for d in parse_string(text, "k.conf")[1]]


def instance(body: str, vips: bool = True) -> str:
    v = "  virtual_ipaddress {\n    10.0.0.9\n  }\n" if vips else ""
    return f"vrrp_instance V {{\n  interface eth0\n  virtual_router_id 51\n{body}{v}}}\n"


# ----------------------------------------------------------------- no_virtual_ipaddress (2.2.8)


def test_no_virtual_ipaddress_allows_a_vrrpv3_instance_without_vips() -> None:
    assert any("no virtual_ipaddress; at least one is required" in d for d in diags(instance("  version 3\n", False)))
    cfg, found = parse_string(instance("  version 3\n  no_virtual_ipaddress\n", False), "k.conf")
    assert found == [] and cfg.instances[0].vips == ()


def test_no_virtual_ipaddress_is_cleared_in_strict_mode() -> None:
    found = diags(instance("  version 3\n  strict_mode\n  no_virtual_ipaddress\n", False))
    assert any("k.conf:6: warning:" in d and "strict mode incompatible" in d for d in found), found
    assert any("error" in d and "at least one is required" in d for d in found), found


def test_a_vip_less_pair_elects_one_master() -> None:
    cfg, _ = parse_string(instance("  version 3\n  advert_int 0.1\n  no_virtual_ipaddress\n", False), "k.conf")
    base = router_params(cfg.instances[0])
    net = LinkedNodes()
    for i, prio in enumerate((150, 100)):
        net.add(f"n{i}", f"10.0.0.{i + 1}", base.__class__(**{**_fields(base), "base_priority": prio}))
    net.start()
    net.run_for(2 * US)
    assert net.masters() == ["n0"]
    assert net.hosts["n0"].wire[0].payload[3] == 0  # Count IPvX Addrs 0
    assert not net.hosts["n1"].router.counters.drops


def _fields(p: object) -> dict[str, object]:
    return {f: getattr(p, f) for f in p.__slots__}  # type: ignore[attr-defined]


# ----------------------------------------------------------------- ${_ENV NAME} (2.4)


def test_env_expansion_in_an_auth_hmac_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "vrrp51").write_text(HEX + "\n")
    (tmp_path / "vrrp51").chmod(0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    text = instance("  auth_hmac {\n    key 1 file:${_ENV CREDENTIALS_DIRECTORY}/vrrp51\n    active_key 1\n  }\n")
    cfg, found = parse_string(text, "k.conf")
    assert found == [], found
    hm = cfg.instances[0].auth_hmac
    assert hm is not None and hm.keys == ((1, bytes(range(32))),)


def test_an_unset_env_variable_is_empty_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VK_NOT_SET", raising=False)
    found = diags("global_defs {\n  router_id a${_ENV VK_NOT_SET}b\n}\n")
    assert found == ["k.conf:2: warning: environment variable 'VK_NOT_SET' (${_ENV VK_NOT_SET}) is not set"]
    cfg, _ = parse_string("global_defs {\n  router_id a${_ENV VK_NOT_SET}b\n}\n", "k.conf")
    assert cfg.global_defs.router_id == "ab"


# ----------------------------------------------------------------- vrrp_delay_after_boot (2.4.0)


def test_startup_delays_take_the_longer_one() -> None:
    cfg, found = parse_string("global_defs {\n  vrrp_delay_after_boot 15.23\n  vrrp_startup_delay 2\n}\n", "k.conf")
    assert found == []
    gd = cfg.global_defs
    assert (gd.vrrp_delay_after_boot_us, gd.vrrp_startup_delay_us) == (15_230_000, 2_000_000)
    assert gd.startup_delay_us(uptime_us=10_000_000) == 5_230_000  # 15.23 s after boot
    assert gd.startup_delay_us(uptime_us=14_000_000) == 2_000_000  # the startup delay is longer
    assert gd.startup_delay_us(uptime_us=3600 * US) == 2_000_000
    assert parse_string("", "k.conf")[0].global_defs.startup_delay_us(0) == 0


# ----------------------------------------------------------------- vrrp_script in ms (2.3.2)


def test_script_interval_and_timeout_take_milliseconds() -> None:
    cfg, found = parse_string('vrrp_script s {\n  script "/bin/true"\n  interval 0.5\n  timeout 0.25\n}\n', "k.conf")
    assert found == []
    assert (cfg.scripts["s"].interval_s, cfg.scripts["s"].timeout_s) == (0.5, 0.25)
    assert any(
        "too many decimal places" in d for d in diags('vrrp_script s {\n  script "/bin/true"\n  interval 0.0005\n}\n')
    )


# ----------------------------------------------------------------- owner_ignore_adverts (2.3.3)


def owners(flag: str) -> LinkedNodes:
    cfg, found = parse_string(instance(f"  version 3\n  advert_int 0.1\n  priority 255\n{flag}"), "k.conf")
    assert found == [], found
    base = router_params(cfg.instances[0])
    net = LinkedNodes()
    for i in range(2):
        net.add(f"n{i}", f"10.0.0.{i + 1}", base)
    net.start()
    net.run_for(2 * US)
    return net


def test_owner_ignore_adverts_keeps_every_owner_master() -> None:
    assert len(owners("").masters()) == 1  # keepalived's default: owners hear each other
    net = owners("  owner_ignore_adverts\n")
    assert net.masters() == ["n0", "n1"]  # as RFC 5798 says an owner does
    assert net.hosts["n0"].router.counters.drops.get("owner_ignores", 0) > 5


def test_owner_ignore_adverts_needs_priority_255_and_has_a_global_default() -> None:
    found = diags(instance("  priority 100\n  owner_ignore_adverts\n"))
    assert any("k.conf:5: warning:" in d and "priority is not 255" in d for d in found), found
    cfg, _ = parse_string(
        "global_defs {\n  vrrp_owner_ignore_adverts\n  v3_checksum_as_v2\n}\n" + instance("  priority 255\n"), "k.conf"
    )
    inst = cfg.instances[0]
    assert inst.owner_ignore_adverts and inst.v3_checksum_as_v2


# ----------------------------------------------------------------- refused


@pytest.mark.parametrize("keyword", ["timer_expired_backup 100", "thread_timer_expired"])
def test_timer_expired_backup_is_refused(keyword: str) -> None:
    found = diags(instance(f"  {keyword}\n"))
    assert any(d.startswith("k.conf:4: error:") and "not supported by vipkeeper" in d for d in found), found
